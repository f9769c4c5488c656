//! The command-line conventions users reach for first, through the real binaries:
//! `dk version` (client and daemon), `--wait --timeout`, `-o json` everywhere (errors and
//! streams included), colour only on a terminal, and rollback's promote-like flags.

mod support;

use support::{TestHome, json, package::PackageDir, stderr, stdout};

#[test]
fn version_shows_the_client_and_the_daemons_version_commit_api_and_backends() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let view = json(&home.dk(&["-o", "json", "version"]));
    assert_eq!(view["client"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(view["client"]["commit"].is_string(), "{view}");
    let daemon = &view["daemon"];
    assert_eq!(daemon["version"], env!("CARGO_PKG_VERSION"), "{view}");
    assert!(daemon["commit"].is_string(), "{view}");
    assert_eq!(daemon["apiVersion"], "datakit.v1");
    assert_eq!(daemon["forge"]["kind"], "embedded");
    assert_eq!(daemon["cluster"]["kind"], "embedded");
    assert_eq!(daemon["registry"]["kind"], "embedded");
    let table = stdout(&home.dk(&["version"]));
    assert!(
        table.contains("dkd ") && table.contains("API datakit.v1") && table.contains("registry:"),
        "{table}"
    );
}

#[test]
fn version_without_a_daemon_prints_the_client_and_says_the_daemon_is_not_reachable() {
    let home = TestHome::new();
    let output = home.dk(&["version"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        support::stderr(&output)
    );
    let text = stdout(&output);
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
    assert!(text.contains("dkd  not reachable"), "{text}");
    assert!(home.daemon_pid().is_none(), "dk version started a dkd");
    let view = json(&home.dk(&["-o", "json", "version"]));
    assert!(
        view["daemon"].is_null() && view["daemonError"].is_string(),
        "{view}"
    );
}

/// A home with `my-package` v1.0.0 published and Healthy in dev.
fn healthy_in_dev() -> (TestHome, support::Daemon, PackageDir) {
    let home = TestHome::demo();
    let daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    package.publish(&home, "v1.0.0");
    let dev = home.dk(&["promote", "my-package", "v1.0.0", "--to", "dev", "--wait"]);
    assert!(dev.status.success(), "{}", stderr(&dev));
    (home, daemon, package)
}

#[test]
fn wait_with_a_timeout_gives_up_with_exit_1_saying_where_the_promotion_stands() {
    let (home, _daemon, _package) = healthy_in_dev();
    let started = std::time::Instant::now();
    let output = home.dk(&[
        "promote",
        "my-package",
        "v1.0.0",
        "--to",
        "int",
        "--wait",
        "--timeout",
        "2s",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let errors = stderr(&output);
    // While waiting: what for, and from whom.
    assert!(
        errors.contains("approvals: needs 1 approval from @team-leads"),
        "{errors}"
    );
    let last = errors.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: gave up waiting after 2s")
            && last.contains("ChangeProposed")
            && last.contains("@team-leads"),
        "{errors}"
    );
}

#[test]
fn wait_under_json_prints_one_document_per_change_ending_healthy() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    package.publish(&home, "v1.0.0");
    let output = home.dk(&[
        "-o",
        "json",
        "promote",
        "my-package",
        "v1.0.0",
        "--to",
        "dev",
        "--wait",
    ]);
    let text = stdout(&output);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(lines.len() >= 2, "one line per change: {text}");
    assert!(
        lines
            .iter()
            .all(|l| l["promotion"]["id"] == lines[0]["promotion"]["id"])
    );
    assert_eq!(
        lines.last().map(|l| &l["promotion"]["state"]),
        Some(&"Healthy".into())
    );
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));
}
