//! Holds through the real binaries: `dk hold` refuses promotions (exit 4, naming who held
//! the package, when and why) but not rollbacks, until `dk hold release`; a rollback leaves
//! a hold of its own, shown in `dk status`, `dk history` and Watch; and every hold is a file
//! on the deployment repository's base branch, so it outlives a deleted state database.

mod support;

use datakit::proto::{WatchRequest, data_kit_service_client::DataKitServiceClient, watch_event};
use support::{PATIENCE, TestHome, git, json, os_user, package::PackageDir, stderr, stdout};
use tokio_stream::StreamExt;

/// Publishes v1.0.0, v1.1.0 and v1.2.0 of `my-package` and runs v1.0.0 then v1.1.0 in dev.
fn two_versions_ran_in_dev(home: &TestHome) {
    let package = PackageDir::new("my-package", &[]);
    for version in ["v1.0.0", "v1.1.0", "v1.2.0"] {
        package.touch(version);
        package.publish(home, version);
    }
    for version in ["v1.0.0", "v1.1.0"] {
        succeeds(
            home,
            &["promote", "my-package", version, "--to", "dev", "--wait"],
        );
    }
}

fn succeeds(home: &TestHome, args: &[&str]) -> String {
    let output = home.dk(args);
    assert!(
        output.status.success(),
        "dk {args:?}: {}{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output) + &stderr(&output)
}

fn hold_file(home: &TestHome) -> String {
    git(
        home.path(),
        &[
            "--git-dir",
            "deploy.git",
            "show",
            "main:holds/dev/my-package.yaml",
        ],
    )
}

#[test]
fn a_manual_hold_refuses_promotions_naming_who_and_why_but_not_rollbacks_until_released() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    two_versions_ran_in_dev(&home);
    let me = os_user();

    succeeds(
        &home,
        &[
            "hold",
            "my-package",
            "--env",
            "dev",
            "--reason",
            "incident 42: bad data",
        ],
    );
    assert!(
        hold_file(&home).contains("incident 42"),
        "{}",
        hold_file(&home)
    );

    let refused = home.dk(&["promote", "my-package", "v1.2.0", "--to", "dev"]);
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    let message = stderr(&refused);
    for expected in [
        "manual hold",
        &me,
        "incident 42: bad data",
        "since 20",
        "dk hold release",
    ] {
        assert!(message.contains(expected), "names {expected:?}: {message}");
    }

    succeeds(&home, &["rollback", "my-package", "--env", "dev", "--wait"]);
    let status = succeeds(&home, &["status", "my-package"]);
    assert!(
        status.contains(&format!("Held in dev: manual hold by {me}")),
        "the rollback keeps the manual hold: {status}"
    );

    succeeds(
        &home,
        &[
            "hold",
            "release",
            "my-package",
            "--env",
            "dev",
            "--reason",
            "fixed",
        ],
    );
    succeeds(
        &home,
        &["promote", "my-package", "v1.2.0", "--to", "dev", "--wait"],
    );
    let holds = json(&home.dk(&["-o", "json", "hold", "list", "--all"]));
    assert_eq!(holds[0]["released"], true, "{holds}");
    assert_eq!(holds[0]["releasedBy"], me.as_str(), "{holds}");
    assert_eq!(holds[0]["releaseReason"], "fixed", "{holds}");
    let active = json(&home.dk(&["-o", "json", "hold", "list"]));
    assert_eq!(
        active,
        serde_json::json!([]),
        "released holds no longer apply"
    );
}

#[test]
fn a_hold_needs_a_reason_and_a_second_manual_hold_is_refused() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let no_reason = home.dk(&["hold", "my-package", "--env", "dev", "--reason", " "]);
    assert_eq!(no_reason.status.code(), Some(2), "{}", stderr(&no_reason));
    succeeds(
        &home,
        &["hold", "my-package", "--env", "dev", "--reason", "audit"],
    );
    let again = home.dk(&["hold", "my-package", "--env", "dev", "--reason", "again"]);
    assert_eq!(again.status.code(), Some(4), "{}", stderr(&again));
    let nothing = home.dk(&["hold", "release", "other", "--env", "dev"]);
    assert_eq!(nothing.status.code(), Some(3), "{}", stderr(&nothing));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollback_leaves_a_hold_in_status_history_and_watch_that_outlives_a_lost_database() {
    let home = TestHome::new();
    let daemon = home.start_daemon();
    two_versions_ran_in_dev(&home);
    let me = os_user();
    succeeds(&home, &["rollback", "my-package", "--env", "dev", "--wait"]);

    let reason = format!("rolled back from v1.1.0 to v1.0.0 by {me}");
    let file = hold_file(&home);
    assert!(
        file.contains("kind: rollback") && file.contains(&reason),
        "{file}"
    );
    let status = succeeds(&home, &["status", "my-package"]);
    assert!(
        status.contains(&format!("Held in dev: rollback hold by {me}")) && status.contains(&reason),
        "{status}"
    );
    let history = succeeds(&home, &["history", "my-package"]);
    assert!(history.contains("Hold in dev: rollback hold"), "{history}");

    let mut client = DataKitServiceClient::new(support::channel(&home.socket()).await);
    let request = WatchRequest {
        package: "my-package".into(),
        resume_after: Some(0),
        ..Default::default()
    };
    let mut stream = client.watch(request).await.expect("watch").into_inner();
    let hold = tokio::time::timeout(PATIENCE, async {
        while let Some(event) = stream.next().await {
            if let Some(watch_event::Event::Hold(hold)) = event.expect("event").event {
                return hold;
            }
        }
        panic!("the stream ended without a hold event");
    })
    .await
    .expect("a hold event within the patience");
    assert_eq!(
        (hold.kind.as_str(), hold.blocks_version.as_str()),
        ("rollback", "v1.1.0")
    );
    assert_eq!(hold.blocks_newer_than, "v1.0.0");
    let fresh = WatchRequest {
        package: "my-package".into(),
        ..Default::default()
    };
    let mut stream = client.watch(fresh).await.expect("watch").into_inner();
    let first = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("a snapshot within the patience")
        .expect("stream open")
        .expect("event");
    let Some(watch_event::Event::Snapshot(snapshot)) = first.event else {
        panic!("a fresh Watch starts with a snapshot: {first:?}");
    };
    let dev = snapshot
        .packages
        .iter()
        .find(|row| row.environment == "dev")
        .expect("my-package in dev");
    assert_eq!(
        dev.hold.as_ref().map(|h| h.reason.as_str()),
        Some(reason.as_str())
    );

    // A rollback hold stops automation only: promoting by hand warns and goes ahead.
    let promoted = succeeds(&home, &["promote", "my-package", "v1.2.0", "--to", "dev"]);
    assert!(
        promoted.contains("blocks this version from automatic promotion"),
        "{promoted}"
    );

    let mut daemon = daemon;
    daemon.signal("TERM");
    let _ = daemon.wait();
    std::fs::remove_dir_all(home.path().join("state.sled")).expect("delete state.sled");
    let _daemon = home.start_daemon();
    let holds = json(&home.dk(&["-o", "json", "hold", "list", "--env", "dev"]));
    assert_eq!(holds[0]["reason"], reason.as_str(), "{holds}");
    assert_eq!(holds[0]["kind"], "rollback", "{holds}");
}

const POLICY: &str = "roles:
  developer:
    - actions: [read, promote, rollback]
      environments: [dev]
bindings:
  - role: developer
    users: [\"*\"]
";

#[test]
fn setting_a_hold_needs_rollback_and_releasing_it_approve_and_both_are_audited() {
    let shared = support::shared::Shared::start_bare("", "");
    shared.set_policy(POLICY);
    let carol = shared.token(&["carol", "--groups", "dev"]);
    let held = shared.dk_as(
        &carol,
        &[
            "hold",
            "my-package",
            "--env",
            "dev",
            "--reason",
            "load test",
        ],
    );
    assert!(held.status.success(), "{}", stderr(&held));
    support::shared::refused(
        &shared.dk_as(
            &carol,
            &["hold", "my-package", "--env", "int", "--reason", "x"],
        ),
        &["carol (groups: dev) may not rollback my-package in int"],
    );
    support::shared::refused(
        &shared.dk_as(&carol, &["hold", "release", "my-package", "--env", "dev"]),
        &["carol (groups: dev) may not approve my-package in dev"],
    );
    let listed = json(&shared.dk_as(&carol, &["-o", "json", "hold", "list"]));
    assert_eq!(listed[0]["setBy"], "carol", "{listed}");
    assert!(
        shared
            .home
            .dk(&["hold", "release", "my-package", "--env", "dev"])
            .status
            .success()
    );

    let audit = json(&shared.home.dk(&["-o", "json", "audit", "--env", "dev"]));
    let calls: Vec<(&str, &str)> = audit
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["rpc"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_start_matches("/datakit.v1.DataKitService/"),
                e["outcome"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    for expected in [
        ("SetHold", "ok"),
        ("ReleaseHold", "PERMISSION_DENIED"),
        ("ReleaseHold", "ok"),
    ] {
        assert!(calls.contains(&expected), "{expected:?} in {calls:?}");
    }
}
