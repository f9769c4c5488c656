//! Auto-promotion through the real binaries: with `auto_promote: true` on int, a version
//! Healthy in dev gets its promotion to int opened by `dkd (auto-promotion)` without anyone
//! calling Promote; int's approval rule still applies, a newer version supersedes an older
//! open one, a rollback's hold keeps it from coming back until released, and a restart
//! opens no duplicate.

mod support;

use datakit::manifest::DEFAULT_ENVIRONMENTS_YAML;
use support::{Clone, Daemon, TestHome, eventually, package::PackageDir, stderr, stdout};

const AUTO_PROMOTER: &str = "dkd (auto-promotion)";

/// The default environments with `auto_promote: true` on int; int merges by itself when
/// `auto_merge`, else it keeps its one approval from @team-leads.
fn auto_promoting_int(home: &TestHome, auto_merge: bool) {
    let mut environments = DEFAULT_ENVIRONMENTS_YAML.replace(
        "    namespace: int\n",
        "    namespace: int\n    auto_promote: true\n",
    );
    if auto_merge {
        environments = environments.replace(
            r#"approval: { required: true, approvers: ["@team-leads"] }"#,
            "approval: { required: false, auto_merge: true }",
        );
    }
    Clone::of(home).push_file(
        "config/environments.yaml",
        &environments,
        "Promote to int automatically",
    );
    // No wait for dkd to read it: turning auto_promote on makes dkd look again, so a
    // version already Healthy in dev is promoted either way.
}

fn succeeds(home: &TestHome, args: &[&str]) -> String {
    let output = home.dk(args);
    assert!(
        output.status.success(),
        "dk {args:?}: {}{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

/// Publishes `versions` of `package` (each with different content).
fn publish(home: &TestHome, package: &str, versions: &[&str]) {
    let dir = PackageDir::new(package, &[]);
    for version in versions {
        dir.touch(version);
        dir.publish(home, version);
    }
}

/// The promotions of `package` into int, newest first.
fn into_int(home: &TestHome, package: &str) -> Vec<serde_json::Value> {
    home.history(package)
        .into_iter()
        .filter(|p| p["environment"] == "int")
        .collect()
}

/// Waits for an auto-promotion of `package` `version` into int in `state`; returns its id.
fn auto_promotion(home: &TestHome, package: &str, version: &str, state: &str) -> String {
    eventually(
        &format!("an auto-promotion of {package} {version} to int, {state}"),
        || {
            into_int(home, package).into_iter().find_map(|p| {
                (p["promoter"] == AUTO_PROMOTER && p["version"] == version && p["state"] == state)
                    .then(|| p["id"].as_str().map(str::to_owned))
                    .flatten()
            })
        },
    )
}

/// What int runs of `package`, from `dk status`.
fn runs_in_int(home: &TestHome, package: &str) -> String {
    let status = support::json(&home.dk(&["-o", "json", "status", package, "--env", "int"]));
    status.to_string()
}

#[test]
fn a_version_healthy_in_dev_is_promoted_to_int_by_dkd_and_waits_for_int_approval() {
    let home = TestHome::demo();
    let _daemon = home.start_daemon();
    auto_promoting_int(&home, false);
    publish(&home, "my-package", &["v1.0.0"]);
    succeeds(
        &home,
        &["promote", "my-package", "v1.0.0", "--to", "dev", "--wait"],
    );

    let id = auto_promotion(&home, "my-package", "v1.0.0", "ChangeProposed");
    let listing = succeeds(&home, &["promotions"]);
    assert!(
        listing.contains(&id) && listing.contains(AUTO_PROMOTER),
        "dk promotions names the promoter: {listing}"
    );
    let refused = home.dk(&["approve", &id, "--as", AUTO_PROMOTER]);
    assert!(!refused.status.success(), "dkd never approves its own");

    succeeds(&home, &["approve", &id, "--as", "alice", "--wait"]);
    auto_promotion(&home, "my-package", "v1.0.0", "Healthy");
    let history = succeeds(&home, &["history", "my-package"]);
    assert!(history.contains(AUTO_PROMOTER), "{history}");
}

#[test]
fn an_auto_merging_int_runs_what_dev_runs_without_anyone_promoting_it() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    auto_promoting_int(&home, true);
    publish(&home, "my-package", &["v1.0.0"]);
    succeeds(
        &home,
        &["promote", "my-package", "v1.0.0", "--to", "dev", "--wait"],
    );
    auto_promotion(&home, "my-package", "v1.0.0", "Healthy");
    eventually("int to run v1.0.0", || {
        runs_in_int(&home, "my-package")
            .contains("v1.0.0")
            .then_some(())
    });
}

#[test]
fn a_newer_version_supersedes_the_open_auto_promotion_of_an_older_one() {
    let home = TestHome::demo();
    let _daemon = home.start_daemon();
    auto_promoting_int(&home, false);
    publish(&home, "my-package", &["v1.0.0", "v1.1.0"]);
    succeeds(
        &home,
        &["promote", "my-package", "v1.0.0", "--to", "dev", "--wait"],
    );
    let older = auto_promotion(&home, "my-package", "v1.0.0", "ChangeProposed");
    succeeds(
        &home,
        &["promote", "my-package", "v1.1.0", "--to", "dev", "--wait"],
    );
    let newer = auto_promotion(&home, "my-package", "v1.1.0", "ChangeProposed");
    assert_ne!(older, newer);
    auto_promotion(&home, "my-package", "v1.0.0", "Superseded");
    let open: Vec<_> = into_int(&home, "my-package")
        .into_iter()
        .filter(|p| p["state"] == "ChangeProposed")
        .collect();
    assert_eq!(open.len(), 1, "one open auto-promotion: {open:?}");
}

#[test]
fn a_rollback_in_int_is_left_alone_until_its_hold_is_released() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    auto_promoting_int(&home, true);
    publish(&home, "my-package", &["v1.0.0", "v1.1.0", "v1.2.0"]);
    publish(&home, "sentinel", &["v1.0.0"]);
    for version in ["v1.0.0", "v1.1.0"] {
        succeeds(
            &home,
            &["promote", "my-package", version, "--to", "dev", "--wait"],
        );
        auto_promotion(&home, "my-package", version, "Healthy");
    }

    succeeds(&home, &["rollback", "my-package", "--env", "int", "--wait"]);
    succeeds(
        &home,
        &["promote", "my-package", "v1.2.0", "--to", "dev", "--wait"],
    );
    // The sentinel's auto-promotion comes after dkd looked at my-package v1.2.0 in dev
    // (events are handled in order), so by then it has decided about v1.2.0.
    succeeds(
        &home,
        &["promote", "sentinel", "v1.0.0", "--to", "dev", "--wait"],
    );
    auto_promotion(&home, "sentinel", "v1.0.0", "Healthy");
    let after_rollback = into_int(&home, "my-package");
    assert_eq!(
        after_rollback[0]["state"], "Healthy",
        "the rollback is the newest: {after_rollback:?}"
    );
    assert_eq!(after_rollback[0]["version"], "v1.0.0", "{after_rollback:?}");
    assert!(runs_in_int(&home, "my-package").contains("v1.0.0"));

    succeeds(&home, &["hold", "release", "my-package", "--env", "int"]);
    auto_promotion(&home, "my-package", "v1.2.0", "Healthy");
}

/// Restarts dkd (with its state database deleted when `lose_state`), then waits until it
/// auto-promoted `sentinel` v1.0.0 to int: dkd looks at everything at start before it
/// handles the sentinel's events, so by then it has decided about every other package.
fn restart(home: &TestHome, daemon: Daemon, lose_state: bool, sentinel: &str) -> Daemon {
    drop(daemon);
    if lose_state {
        std::fs::remove_dir_all(home.path().join("state.sled")).expect("delete state.sled");
    }
    let daemon = home.start_daemon();
    publish(home, sentinel, &["v1.0.0"]);
    succeeds(
        home,
        &["promote", sentinel, "v1.0.0", "--to", "dev", "--wait"],
    );
    auto_promotion(home, sentinel, "v1.0.0", "ChangeProposed");
    daemon
}

#[test]
fn a_restarted_dkd_opens_no_second_auto_promotion_even_without_its_state_database() {
    let home = TestHome::demo();
    let daemon = home.start_daemon();
    auto_promoting_int(&home, false);
    publish(&home, "my-package", &["v1.0.0"]);
    succeeds(
        &home,
        &["promote", "my-package", "v1.0.0", "--to", "dev", "--wait"],
    );
    let first = auto_promotion(&home, "my-package", "v1.0.0", "ChangeProposed");

    let daemon = restart(&home, daemon, false, "sentinel");
    let _daemon = restart(&home, daemon, true, "another-sentinel");
    let ids: Vec<_> = into_int(&home, "my-package")
        .into_iter()
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(ids, [serde_json::json!(first)], "no duplicate");
}

#[test]
fn a_version_refused_for_its_soak_is_auto_promoted_when_the_soak_ends_with_nothing_else_happening()
{
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let environments = DEFAULT_ENVIRONMENTS_YAML
        .replace(
            "    namespace: int\n",
            "    namespace: int\n    auto_promote: true\n    promotion: { soak: 3s }\n",
        )
        .replace(
            r#"approval: { required: true, approvers: ["@team-leads"] }"#,
            "approval: { required: false, auto_merge: true }",
        );
    let revision = Clone::of(&home).push_file(
        "config/environments.yaml",
        &environments,
        "Promote to int automatically after a 3s soak",
    );
    eventually("dkd serves the soak", || {
        let served = support::json(&home.dk(&["-o", "json", "env", "list"]));
        (served["revision"] == revision.as_str()).then_some(())
    });
    let shown = succeeds(&home, &["env", "show", "int"]);
    assert!(
        shown.contains("Soak:        3s of continuous health upstream")
            && shown.contains("Promotions:  auto-promotion"),
        "dk env show int says what is automatic: {shown}"
    );
    let int = support::json(&home.dk(&["-o", "json", "env", "show", "int"]));
    assert_eq!(
        (&int["autoPromote"], &int["soak"]),
        (&true.into(), &"3s".into()),
        "{int}"
    );
    publish(&home, "my-package", &["v1.0.0"]);
    succeeds(
        &home,
        &["promote", "my-package", "v1.0.0", "--to", "dev", "--wait"],
    );
    assert!(
        into_int(&home, "my-package").is_empty(),
        "nothing is opened before the soak ends"
    );
    // No event comes after dev turned Healthy: only the soak's end can wake auto-promotion.
    auto_promotion(&home, "my-package", "v1.0.0", "Healthy");
}
