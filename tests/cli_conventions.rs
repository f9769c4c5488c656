//! The command-line conventions users reach for first, through the real binaries:
//! `dk version` (client and daemon), `--wait --timeout`, `-o json` everywhere (errors and
//! streams included), colour only on a terminal, and rollback's promote-like flags.

mod support;

use support::{TestHome, json, json_documents, package::PackageDir, stderr, stdout};

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

/// `dk -o json ARGS…`: every document it printed on stdout (one, or NDJSON one per line).
fn json_of(home: &TestHome, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["-o", "json"];
    all.extend(args);
    let documents = json_documents(&home.dk(&all));
    assert!(!documents.is_empty(), "dk {args:?} printed nothing");
    documents
}

/// Each line of `text` is one JSON document (NDJSON).
fn ndjson_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn every_command_prints_valid_json_under_o_json_and_errors_are_one_json_object() {
    let home = TestHome::demo();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    package.publish(&home, "v1.0.0");
    let dev = home.dk(&["promote", "my-package", "v1.0.0", "--to", "dev", "--wait"]);
    assert!(dev.status.success(), "{}", stderr(&dev));
    package.touch("second");
    let dir = package.path().to_string_lossy().into_owned();
    json_of(&home, &["build", &dir, "--version", "v1.1.0"]);
    json_of(&home, &["publish", &dir]);
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/keys/release.key"
    );
    json_of(&home, &["sign", "my-package", "v1.1.0", "--key", key]);
    json_of(&home, &["env", "list"]);
    json_of(&home, &["env", "show", "dev"]);
    json_of(
        &home,
        &[
            "promote",
            "my-package",
            "v1.1.0",
            "--to",
            "dev",
            "--dry-run",
        ],
    );
    let waited = stdout(&home.dk(&[
        "-o",
        "json",
        "promote",
        "my-package",
        "v1.1.0",
        "--to",
        "dev",
        "--wait",
    ]));
    assert_eq!(
        ndjson_lines(&waited)
            .last()
            .map(|l| &l["promotion"]["state"]),
        Some(&"Healthy".into())
    );
    json_of(
        &home,
        &["promote", "my-package", "v1.1.0", "--to", "dev", "--status"],
    );
    // Promotions into int: one rejected, one cancelled, one approved with --wait.
    let open_into_int = || {
        let opened = json_of(&home, &["promote", "my-package", "v1.1.0", "--to", "int"]);
        opened[0]["promotion"]["id"]
            .as_str()
            .expect("a promotion id")
            .to_owned()
    };
    let rejected = open_into_int();
    let listed = json_of(&home, &["promotions", "--state", "waiting"]);
    assert!(
        listed[0]
            .as_array()
            .is_some_and(|all| all.iter().any(|p| p["id"] == rejected.as_str())),
        "{listed:?}"
    );
    let to_approve = json_of(&home, &["promotions", "--to-approve", "--env", "int"]);
    assert!(to_approve[0].is_array(), "{to_approve:?}");
    let declined = json_of(&home, &["reject", &rejected, "--reason", "not this week"]);
    assert_eq!(declined[0]["state"], "Rejected", "{declined:?}");
    let cancelled = json_of(&home, &["cancel", &open_into_int()]);
    assert_eq!(cancelled[0]["state"], "Cancelled", "{cancelled:?}");
    let approved = ndjson_lines(&stdout(&home.dk(&[
        "-o",
        "json",
        "approve",
        &open_into_int(),
        "--as",
        "alice",
        "--wait",
    ])));
    assert_eq!(
        approved.last().map(|l| &l["state"]),
        Some(&"Healthy".into()),
        "{approved:?}"
    );
    json_of(
        &home,
        &["rollback", "my-package", "--env", "dev", "--dry-run"],
    );
    json_of(&home, &["history", "my-package"]);
    json_of(&home, &["status", "my-package"]);
    json_of(&home, &["status", "--env", "dev"]);
    let logs = stdout(&home.dk(&["-o", "json", "logs", "my-package", "--env", "dev", "--sync"]));
    let lines = ndjson_lines(&logs);
    assert!(
        !lines.is_empty()
            && lines
                .iter()
                .all(|l| l["source"] == "sync" && l["text"].is_string()),
        "{logs}"
    );
    json_of(&home, &["token", "create", "ci-bot", "--groups", "ci"]);
    json_of(&home, &["token", "list"]);
    json_of(&home, &["token", "revoke", "ci-bot"]);
    json_of(&home, &["whoami"]);
    let held = json_of(
        &home,
        &["hold", "my-package", "--env", "int", "--reason", "incident"],
    );
    assert_eq!(held[0]["released"], false, "{held:?}");
    json_of(&home, &["hold", "list"]);
    let released = json_of(&home, &["hold", "release", "my-package", "--env", "int"]);
    assert_eq!(released[0]["released"], true, "{released:?}");
    json_of(&home, &["notifications", "status"]);
    // A new package and its store: dk init, dk store scaffold, dk store add (dev auto-merges).
    let empty = tempfile::tempdir().expect("tempdir");
    let new_package = empty.path().join("new-package");
    let scaffolded = json_of(&home, &["init", &new_package.to_string_lossy()]);
    assert_eq!(scaffolded[0]["name"], "new-package", "{scaffolded:?}");
    let store = [
        "dev",
        "events-store",
        "--type",
        "kafka-topic",
        "--set",
        "brokers=dev-kafka:9092",
        "--set",
        "topic=events-dev",
    ];
    let manifest = json_of(&home, &[&["store", "scaffold"][..], &store].concat());
    assert_eq!(manifest[0]["kind"], "Store", "{manifest:?}");
    let added = json_of(&home, &[&["store", "add"][..], &store].concat());
    assert_eq!(added[0]["merged"], true, "{added:?}");
    json_of(&home, &["audit"]);
    json_of(&home, &["version"]);

    // --watch: one JSON line per change, the first one at once.
    let mut watch = home
        .dk_command(&["-o", "json", "status", "my-package", "--watch"], false)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn dk status --watch");
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(watch.stdout.take().expect("stdout")),
        &mut first,
    )
    .expect("read the first line");
    let _ = watch.kill();
    let _ = watch.wait();
    let snapshot: serde_json::Value = serde_json::from_str(&first).expect("a JSON line");
    assert_eq!(snapshot["package"], "my-package", "{first}");

    // Errors: one JSON object on stderr, with the code, the exit code and the message.
    for (args, exit) in [
        (&["-o", "json", "env", "show", "Not-A-Name"][..], 2),
        (
            &[
                "-o",
                "json",
                "promote",
                "my-package",
                "v9.9.9",
                "--to",
                "dev",
            ][..],
            3,
        ),
        (&["-o", "json", "no-such-command"][..], 2),
        (&["-o", "json", "cancel", "p-999"][..], 3),
        (
            &[
                "-o",
                "json",
                "hold",
                "release",
                "my-package",
                "--env",
                "dev",
            ][..],
            3,
        ),
    ] {
        let output = home.dk(args);
        assert_eq!(
            output.status.code(),
            Some(exit),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(output.stdout.is_empty(), "{args:?}");
        let error: serde_json::Value =
            serde_json::from_str(stderr(&output).trim()).expect("one JSON object on stderr");
        assert_eq!(error["error"]["exit"], exit, "{error}");
        assert!(error["error"]["code"].is_string() && error["error"]["message"].is_string());
    }
}

/// `dk ARGS` on a pseudo-terminal (util-linux `script`), with `NO_COLOR` set or not: what
/// the terminal showed.
fn on_a_terminal(home: &TestHome, args: &[&str], no_color: bool) -> String {
    let mut command = vec![support::binary("dk").display().to_string()];
    command.extend(args.iter().map(|arg| (*arg).to_owned()));
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", &command.join(" "), "/dev/null"])
        .env("DK_HOME", home.path())
        .env("DK_NO_AUTOSTART", "1")
        .env_remove("NO_COLOR");
    if no_color {
        script.env("NO_COLOR", "1");
    }
    let output = script
        .output()
        .expect("util-linux `script` runs dk on a terminal");
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

/// Whether `text` is free of escape codes and of the marks tables put on state cells.
fn is_plain(text: &str) -> bool {
    !text.contains('\u{1b}') && !text.chars().any(|c| ('\u{E000}'..='\u{E0FF}').contains(&c))
}

#[test]
fn states_are_coloured_on_a_terminal_only_and_never_with_no_color() {
    let (home, _daemon, _package) = healthy_in_dev();
    let int = home.dk(&["promote", "my-package", "v1.0.0", "--to", "int"]);
    assert!(int.status.success(), "{}", stderr(&int));
    // Each table with states: coloured on a terminal, plain with NO_COLOR and when piped.
    for (args, state, code) in [
        (&["status", "--env", "dev"][..], "Healthy", "32"),
        (&["promotions"][..], "ChangeProposed", "33"),
        (&["history", "my-package"][..], "Healthy", "32"),
    ] {
        let coloured = on_a_terminal(&home, args, false);
        assert!(
            coloured.contains(&format!("\u{1b}[{code}m{state}\u{1b}[0m")),
            "{args:?}: {coloured:?}"
        );
        let no_color = on_a_terminal(&home, args, true);
        let piped = stdout(&home.dk(args));
        for (how, text) in [("NO_COLOR", &no_color), ("piped", &piped)] {
            assert!(
                text.contains(state) && is_plain(text),
                "{args:?} {how}: {text:?}"
            );
        }
    }
    let hold = home.dk(&[
        "hold",
        "my-package",
        "--env",
        "prod",
        "--reason",
        "incident",
    ]);
    assert!(hold.status.success(), "{}", stderr(&hold));
    // The other new tables, piped.
    for args in [
        &["hold", "list"][..],
        &["notifications", "status"][..],
        &["env", "list"][..],
        &["whoami"][..],
    ] {
        let piped = stdout(&home.dk(args));
        assert!(!piped.is_empty() && is_plain(&piped), "{args:?}: {piped:?}");
    }
}

#[test]
fn rollback_takes_promotes_flags_and_the_old_form_still_works_with_one_warning() {
    let (home, _daemon, package) = healthy_in_dev();
    package.touch("second");
    package.publish(&home, "v1.1.0");
    let newer = home.dk(&["promote", "my-package", "v1.1.0", "--to", "dev", "--wait"]);
    assert!(newer.status.success(), "{}", stderr(&newer));

    let output = home.dk(&[
        "-o",
        "json",
        "rollback",
        "my-package",
        "--to",
        "dev",
        "--version",
        "v1.0.0",
        "--wait",
    ]);
    let rollback = support::last_json(&output);
    assert_eq!(rollback["promotion"]["kind"], "rollback", "{rollback}");
    assert_eq!(rollback["promotion"]["version"], "v1.0.0", "{rollback}");
    assert_eq!(rollback["promotion"]["state"], "Healthy", "{rollback}");
    assert!(
        !stderr(&output).contains("deprecated"),
        "{}",
        stderr(&output)
    );

    let old = home.dk(&[
        "rollback",
        "my-package",
        "--env",
        "dev",
        "--to",
        "v1.1.0",
        "--dry-run",
    ]);
    assert!(old.status.success(), "{}", stderr(&old));
    assert!(stdout(&old).contains("v1.1.0"), "{}", stdout(&old));
    let warnings: Vec<String> = stderr(&old)
        .lines()
        .filter(|line| line.contains("deprecated"))
        .map(str::to_owned)
        .collect();
    assert_eq!(warnings.len(), 1, "{}", stderr(&old));
    assert!(
        warnings[0].contains("--to ENV [--version VERSION]"),
        "{warnings:?}"
    );
}
