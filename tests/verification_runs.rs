//! Verification runs on the embedded target, through the real binaries: with `verify:` on
//! dev and `run_verifications: true` in dkd.yaml, a promotion to dev runs the command of
//! `environments/dev/verify/…` once Healthy and ends Verified or Failed; a failed version
//! is refused downstream naming the run; `dk verify` re-runs it; `dk logs --verify` shows
//! its output; without the opt-in nothing runs.

mod support;

use datakit::manifest::DEFAULT_ENVIRONMENTS_YAML;
use support::{Clone, TestHome, eventually, package::PackageDir, stderr, stdout};

/// A home whose dkd runs verification commands when `allowed`.
fn home(allowed: bool) -> TestHome {
    let home = TestHome::new();
    let cluster = if allowed {
        "cluster: { type: embedded, run_verifications: true }\n"
    } else {
        "cluster: { type: embedded }\n"
    };
    std::fs::write(home.path().join("dkd.yaml"), cluster).expect("write dkd.yaml");
    home
}

/// Requires verification in dev (`verify`), running `command` for every package, and
/// waits until dkd serves it.
fn verifying_dev(home: &TestHome, verify: &str, command: &str) {
    verifying_dev_with(home, verify, command, "");
}

/// Like [`verifying_dev`], with `int_extra` added to int's keys (e.g. auto_promote).
fn verifying_dev_with(home: &TestHome, verify: &str, command: &str, int_extra: &str) {
    let clone = Clone::of(home);
    clone.push_file(
        "environments/dev/verify/default.yaml",
        &format!("command: [\"sh\", \"-c\", {command:?}]\n"),
        "Verify dev",
    );
    let environments = DEFAULT_ENVIRONMENTS_YAML
        .replace(
            "    cluster: dev-cluster ",
            "    cluster: verified-cluster ",
        )
        .replace(
            "    namespace: dev                # Kubernetes namespace the packages run in\n",
            &format!("    namespace: dev\n    verify: {verify}\n"),
        )
        .replace(
            "    namespace: int\n",
            &format!("    namespace: int\n{int_extra}"),
        );
    clone.push_file("config/environments.yaml", &environments, "Verify in dev");
    eventually("dkd to serve the verifying configuration", || {
        stdout(&home.dk(&["env", "list"]))
            .contains("verified-cluster")
            .then_some(())
    });
}

fn publish(home: &TestHome, version: &str) {
    let dir = PackageDir::new("my-package", &[]);
    dir.touch(version);
    dir.publish(home, version);
}

/// The newest promotion of my-package into `environment`.
fn newest_in(home: &TestHome, environment: &str) -> serde_json::Value {
    home.history("my-package")
        .into_iter()
        .find(|p| p["environment"] == environment)
        .expect("a promotion")
}

fn promote_dev(home: &TestHome, version: &str) -> std::process::Output {
    home.dk(&["promote", "my-package", version, "--to", "dev", "--wait"])
}

#[test]
fn a_passing_verification_ends_verified_its_output_is_in_the_logs_and_int_accepts_it() {
    let home = home(true);
    let _daemon = home.start_daemon();
    verifying_dev(
        &home,
        "{ timeout: 30s }",
        "echo checking $DK_PACKAGE $DK_VERSION in $DK_ENVIRONMENT",
    );
    publish(&home, "v1.0.0");
    let output = promote_dev(&home, "v1.0.0");
    assert!(output.status.success(), "{}", stderr(&output));
    let promotion = newest_in(&home, "dev");
    assert_eq!(promotion["state"], "Verified", "{promotion}");

    let logs = home.dk(&["logs", "my-package", "--env", "dev", "--verify"]);
    assert!(logs.status.success(), "{}", stderr(&logs));
    assert!(
        stdout(&logs).contains("checking my-package v1.0.0 in dev"),
        "{}",
        stdout(&logs)
    );
    let onward = home.dk(&[
        "promote",
        "my-package",
        "v1.0.0",
        "--to",
        "int",
        "--dry-run",
    ]);
    assert!(onward.status.success(), "{}", stderr(&onward));
}

#[test]
fn a_failed_verification_refuses_the_version_downstream_until_dk_verify_passes() {
    let home = home(true);
    let _daemon = home.start_daemon();
    let marker = home.path().join("fixed");
    verifying_dev(
        &home,
        "{ timeout: 30s }",
        &format!("echo smoke test broken >&2; test -f {}", marker.display()),
    );
    publish(&home, "v1.0.0");
    let output = promote_dev(&home, "v1.0.0");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let promotion = newest_in(&home, "dev");
    assert_eq!(promotion["state"], "Failed", "{promotion}");
    let run = format!("verify-{}-1", promotion["id"].as_str().expect("id"));
    assert!(
        promotion["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&run),
        "{promotion}"
    );
    let logs = stdout(&home.dk(&["logs", "my-package", "--env", "dev", "--verify"]));
    assert!(logs.contains("smoke test broken"), "{logs}");

    let refused = home.dk(&["promote", "my-package", "v1.0.0", "--to", "int"]);
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    assert!(stderr(&refused).contains(&run), "{}", stderr(&refused));

    std::fs::write(&marker, "").expect("fix it");
    let rerun = home.dk(&["verify", "my-package", "--env", "dev", "--wait"]);
    assert!(
        rerun.status.success(),
        "{}{}",
        stdout(&rerun),
        stderr(&rerun)
    );
    assert_eq!(newest_in(&home, "dev")["state"], "Verified");
    let audit = std::fs::read_to_string(home.path().join("audit.log")).expect("audit.log");
    assert!(
        audit.lines().any(
            |line| line.contains("\"/datakit.v1.DataKitService/Verify\"")
                && line.contains("my-package")
        ),
        "dk verify is audited: {audit}"
    );
    let onward = home.dk(&[
        "promote",
        "my-package",
        "v1.0.0",
        "--to",
        "int",
        "--dry-run",
    ]);
    assert!(onward.status.success(), "{}", stderr(&onward));
}

#[test]
fn a_verification_that_outlives_its_timeout_is_killed_retried_and_fails() {
    let home = home(true);
    let _daemon = home.start_daemon();
    verifying_dev(
        &home,
        "{ timeout: 1s, retries: 1 }",
        "echo started; sleep 30",
    );
    publish(&home, "v1.0.0");
    let output = promote_dev(&home, "v1.0.0");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = newest_in(&home, "dev")["message"].to_string();
    assert!(
        message.contains("timed out after 1s") && message.contains("attempt 2 of 2"),
        "{message}"
    );
    let logs = stdout(&home.dk(&["logs", "my-package", "--env", "dev", "--verify"]));
    assert_eq!(logs.matches("started").count(), 2, "{logs}");
}

#[test]
fn without_the_opt_in_in_dkd_yaml_no_command_runs_and_the_promotion_fails_saying_so() {
    let home = home(false);
    let _daemon = home.start_daemon();
    let marker = home.path().join("ran");
    verifying_dev(&home, "{}", &format!("touch {}", marker.display()));
    publish(&home, "v1.0.0");
    let output = promote_dev(&home, "v1.0.0");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = newest_in(&home, "dev")["message"].to_string();
    assert!(message.contains("run_verifications: true"), "{message}");
    assert!(!marker.exists(), "the command must not run");
    let refused = home.dk(&["promote", "my-package", "v1.0.0", "--to", "int"]);
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
}

#[test]
fn auto_promotion_into_int_waits_for_the_verification_in_dev_to_pass() {
    let home = home(true);
    let _daemon = home.start_daemon();
    let marker = home.path().join("passing");
    verifying_dev_with(
        &home,
        "{ timeout: 30s }",
        &format!("test -f {}", marker.display()),
        "    auto_promote: true\n",
    );
    publish(&home, "v1.0.0");
    let failed = promote_dev(&home, "v1.0.0");
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    std::fs::write(&marker, "").expect("make it pass");
    let verified_from = std::time::SystemTime::now();
    let rerun = home.dk(&["verify", "my-package", "--env", "dev", "--wait"]);
    assert!(rerun.status.success(), "{}", stderr(&rerun));
    let opened = eventually("dkd to promote the verified version to int", || {
        home.history("my-package")
            .into_iter()
            .find(|p| p["environment"] == "int" && p["promoter"] == "dkd (auto-promotion)")
    });
    assert_eq!(opened["version"], "v1.0.0");
    let created: prost_types::Timestamp = opened["createdAt"]
        .as_str()
        .and_then(|at| at.parse().ok())
        .expect("createdAt");
    let created = std::time::SystemTime::try_from(created).expect("a time");
    assert!(
        created >= verified_from,
        "opened only once dev's verification passed, not while it had failed: {opened}"
    );
}
