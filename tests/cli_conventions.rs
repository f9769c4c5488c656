//! The command-line conventions users reach for first, through the real binaries:
//! `dk version` (client and daemon), `--wait --timeout`, `-o json` everywhere (errors and
//! streams included), colour only on a terminal, and rollback's promote-like flags.

mod support;

use support::{TestHome, json, stdout};

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
