//! The audit log through the real binaries: a dev → int → prod story on a shared dkd, with
//! a refused `--as` over TLS, a revoked token and a call without credentials in it, is
//! recorded whole in `DK_HOME/audit.log` (mode 0600, no secret) and read back with
//! `dk audit` and its filters; the log rotates by size; a change that cannot be recorded
//! is not made.

mod support;

use std::os::unix::fs::PermissionsExt;

use datakit::proto::{PromoteRequest, data_kit_service_client::DataKitServiceClient};
use serde_json::Value;
use support::{
    TestHome, eventually, json, last_json,
    package::PackageDir,
    shared::{Shared, refused},
    stderr, stdout,
};

/// Every line of `audit.log`, parsed.
fn audit_lines(home: &TestHome) -> Vec<Value> {
    std::fs::read_to_string(home.path().join("audit.log"))
        .expect("audit.log")
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
        .collect()
}

/// The events of `events` for `method` by `principal` with `outcome`.
fn find<'a>(events: &'a [Value], method: &str, principal: &str, outcome: &str) -> Vec<&'a Value> {
    let rpc = format!("/datakit.v1.DataKitService/{method}");
    events
        .iter()
        .filter(|e| {
            e["rpc"] == rpc.as_str() && e["principal"] == principal && e["outcome"] == outcome
        })
        .collect()
}

/// `dk -o json promote PACKAGE VERSION --to ENV --status` until its state is Healthy.
fn wait_healthy(home: &TestHome, version: &str, env: &str) {
    eventually(&format!("{env} to run {version}"), || {
        let view = json(&home.dk(&[
            "-o",
            "json",
            "promote",
            "my-package",
            version,
            "--to",
            env,
            "--status",
        ]));
        (view["state"] == "Healthy").then_some(())
    });
}

#[test]
fn a_dev_int_prod_story_with_refused_calls_is_recorded_whole_without_any_secret() {
    let shared = Shared::start("");
    let home = &shared.home;
    let alice = shared.token(&["alice", "--groups", "team-leads"]);
    let bob = shared.token(&["bob", "--groups", "security"]);
    let package = PackageDir::new("my-package", &[]);
    package.publish(home, "v1.0.0");

    let dry = home.dk(&[
        "promote",
        "my-package",
        "v1.0.0",
        "--to",
        "dev",
        "--dry-run",
    ]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    let dev = last_json(&home.dk(&[
        "-o",
        "json",
        "promote",
        "my-package",
        "v1.0.0",
        "--to",
        "dev",
        "--wait",
    ]));
    let dev_id = dev["promotion"]["id"].as_str().expect("id").to_owned();

    let int = json(&home.dk(&[
        "-o",
        "json",
        "promote",
        "my-package",
        "v1.0.0",
        "--to",
        "int",
    ]));
    let int_id = int["promotion"]["id"].as_str().expect("id").to_owned();
    refused(
        &shared.dk_as(&alice, &["approve", &int_id, "--as", "dave"]),
        &["only on dkd's local socket"],
    );
    let approved = shared.dk_as(&alice, &["approve", &int_id]);
    assert!(approved.status.success(), "{}", stderr(&approved));
    wait_healthy(home, "v1.0.0", "int");

    let prod = json(&home.dk(&[
        "-o",
        "json",
        "promote",
        "my-package",
        "v1.0.0",
        "--to",
        "prod",
    ]));
    let prod_id = prod["promotion"]["id"].as_str().expect("id").to_owned();
    for token in [&alice, &bob] {
        let approved = shared.dk_as(token, &["approve", &prod_id]);
        assert!(approved.status.success(), "{}", stderr(&approved));
    }
    wait_healthy(home, "v1.0.0", "prod");

    let revoked = home.dk(&["token", "revoke", "bob"]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    refused(&shared.dk_as(&bob, &["status", "my-package"]), &["revoked"]);
    refused(&shared.dk(&["env", "list"], &[]), &["no credentials"]);

    let path = home.path().join("audit.log");
    let mode = std::fs::metadata(&path)
        .expect("audit.log")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&path).expect("audit.log");
    for secret in [&alice, &bob] {
        // `dkt_<hex id>_<base64url secret>`: the secret itself may contain '_'.
        let random = secret.splitn(3, '_').nth(2).expect("dkt_ID_SECRET");
        assert!(
            !text.contains(random),
            "a token's secret is in the audit log"
        );
    }
    assert!(!text.contains("dkt_") && !text.contains("eyJ"), "{text}");

    let events = audit_lines(home);
    let owner = events[0]["principal"]
        .as_str()
        .expect("principal")
        .to_owned();
    assert_eq!(events[0]["auth"], "local-socket", "{}", events[0]);
    assert_eq!(events[0]["peer"], "local socket", "{}", events[0]);
    assert_eq!(find(&events, "CreateToken", &owner, "attempt").len(), 2);
    assert_eq!(find(&events, "CreateToken", &owner, "ok").len(), 2);
    let dry_runs: Vec<_> = find(&events, "Promote", &owner, "ok")
        .into_iter()
        .filter(|e| e["dry_run"] == true)
        .collect();
    assert_eq!(dry_runs.len(), 1, "a dry run is one line");
    for (id, env) in [(&dev_id, "dev"), (&int_id, "int"), (&prod_id, "prod")] {
        let promoted = find(&events, "Promote", &owner, "ok")
            .into_iter()
            .find(|e| e["promotion_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no Promote of {id} in {events:#?}"));
        assert_eq!(promoted["environment"], env);
        assert_eq!(promoted["package"], "my-package");
        assert_eq!(promoted["version"], "v1.0.0");
    }
    assert_eq!(find(&events, "Promote", &owner, "attempt").len(), 3);

    let denied = find(&events, "Approve", "alice", "PERMISSION_DENIED");
    assert_eq!(denied.len(), 1, "{events:#?}");
    assert_eq!(denied[0]["as_user"], "dave");
    assert_eq!(denied[0]["auth"], "service-token");
    assert_eq!(denied[0]["groups"], serde_json::json!(["team-leads"]));
    assert!(
        denied[0]["peer"]
            .as_str()
            .expect("peer")
            .starts_with("127.0.0.1:")
    );
    assert!(
        denied[0]["message"]
            .as_str()
            .expect("message")
            .contains("local socket")
    );
    let alice_ok = find(&events, "Approve", "alice", "ok");
    let approved_ids: Vec<_> = alice_ok.iter().map(|e| e["promotion_id"].clone()).collect();
    assert_eq!(approved_ids, [int_id.as_str(), prod_id.as_str()]);
    assert_eq!(
        alice_ok[1]["environment"], "prod",
        "the answer completes the line"
    );
    assert_eq!(find(&events, "Approve", "bob", "ok").len(), 1);
    assert_eq!(
        find(&events, "RevokeToken", &owner, "ok")[0]["token"],
        "bob"
    );

    let unauthenticated = find(&events, "Status", "", "UNAUTHENTICATED");
    assert_eq!(unauthenticated.len(), 1, "{events:#?}");
    assert_eq!(unauthenticated[0]["auth"], "none");
    assert!(
        unauthenticated[0]["message"]
            .as_str()
            .expect("message")
            .contains("service token bob")
    );
    assert_eq!(
        find(&events, "ListEnvironments", "", "UNAUTHENTICATED").len(),
        1
    );
    assert!(
        find(&events, "Status", &owner, "ok").is_empty()
            && find(&events, "GetPromotion", &owner, "ok").is_empty(),
        "reads that were allowed are not recorded"
    );
    for event in &events {
        let time = event["time"].as_str().expect("time");
        assert!(
            time.len() == 24 && time.ends_with('Z'),
            "RFC 3339 UTC, milliseconds: {time}"
        );
    }

    // dk audit reads it back, filtered.
    let in_prod = json(&home.dk(&["-o", "json", "audit", "--env", "prod"]));
    let in_prod = in_prod.as_array().expect("events");
    assert!(
        in_prod.iter().all(|e| e["environment"] == "prod"),
        "{in_prod:#?}"
    );
    assert!(
        in_prod
            .iter()
            .any(|e| e["principal"] == "bob" && e["outcome"] == "ok"),
        "{in_prod:#?}"
    );
    let by_alice = json(&home.dk(&[
        "-o",
        "json",
        "audit",
        "--principal",
        "alice",
        "--package",
        "my-package",
        "--since",
        "1h",
    ]));
    let outcomes: Vec<_> = by_alice
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["outcome"].clone())
        .collect();
    assert_eq!(
        outcomes,
        ["ok", "ok"],
        "the refused Approve named no package: {by_alice:#}"
    );
    // Attempt and outcome of the refused Approve and of the two that counted.
    let by_alice = json(&home.dk(&["-o", "json", "audit", "--principal", "alice"]));
    assert_eq!(
        by_alice.as_array().expect("events").len(),
        6,
        "{by_alice:#}"
    );
    let future = json(&home.dk(&["-o", "json", "audit", "--since", "2999-01-01T00:00:00Z"]));
    assert_eq!(future, serde_json::json!([]));
    let newest = json(&home.dk(&["-o", "json", "audit", "--limit", "1"]));
    assert_eq!(
        newest[0]["rpc"], "/datakit.v1.DataKitService/ListEnvironments",
        "newest last: {newest:#}"
    );
    let table = stdout(&home.dk(&["audit"]));
    assert!(
        table.contains("PERMISSION_DENIED")
            && table.contains("(unauthenticated)")
            && table.contains("alice [team-leads]"),
        "{table}"
    );

    // Reading the audit log is the admin's; a refusal is itself recorded.
    refused(
        &shared.dk_as(&alice, &["audit"]),
        &["may not administer", "audit log"],
    );
    let events = audit_lines(home);
    assert_eq!(
        find(&events, "ListAuditEvents", "alice", "PERMISSION_DENIED").len(),
        1
    );
}

#[test]
fn the_audit_log_rotates_by_size_and_dk_audit_reads_the_rotated_files_too() {
    let home = TestHome::new();
    std::fs::write(
        home.path().join("dkd.yaml"),
        "audit:\n  max_bytes: 4096\n  keep: 2\n",
    )
    .expect("dkd.yaml");
    let _daemon = home.start_daemon();
    const CALLS: usize = 80;
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            let mut client = DataKitServiceClient::new(support::channel(&home.socket()).await);
            for _ in 0..CALLS {
                let request = PromoteRequest {
                    package: "ghost".into(),
                    version: "v1.0.0".into(),
                    environment: "dev".into(),
                    dry_run: true,
                    ..Default::default()
                };
                client
                    .promote(request)
                    .await
                    .expect_err("ghost is not published");
            }
        });
    let files: Vec<_> = ["audit.log", "audit.log.1", "audit.log.2"]
        .iter()
        .map(|name| home.path().join(name))
        .collect();
    let mut lines = 0;
    for file in &files {
        let metadata =
            std::fs::metadata(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            metadata.len() <= 4096,
            "{}: {} bytes",
            file.display(),
            metadata.len()
        );
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
        lines += std::fs::read_to_string(file).expect("read").lines().count();
    }
    assert!(!home.path().join("audit.log.3").exists(), "keep: 2");
    assert!(lines < CALLS, "the oldest lines rotated out");

    let listed = json(&home.dk(&[
        "-o",
        "json",
        "audit",
        "--package",
        "ghost",
        "--limit",
        "10000",
    ]));
    let listed = listed.as_array().expect("events");
    assert_eq!(
        listed.len(),
        lines,
        "every kept line, rotated files included"
    );
    assert!(
        listed
            .iter()
            .all(|e| e["dryRun"] == true && e["outcome"] == "NOT_FOUND"),
        "{listed:#?}"
    );
}

#[test]
fn a_change_that_cannot_be_recorded_in_the_audit_log_is_not_made() {
    let home = TestHome::new();
    // A directory where the log should be: it cannot be opened for appending.
    std::fs::create_dir(home.path().join("audit.log")).expect("mkdir");
    let _daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    package.publish(&home, "v1.0.0");
    let refused = home.dk(&["promote", "my-package", "v1.0.0", "--to", "dev"]);
    assert_eq!(refused.status.code(), Some(5), "{}", stderr(&refused));
    let message = stderr(&refused);
    assert!(
        message.contains("audit log") && message.contains("nothing was changed"),
        "{message}"
    );
    assert!(
        home.history("my-package").is_empty(),
        "no promotion was opened"
    );
}
