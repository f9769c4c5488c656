//! dkd follows `main` of the deployment repository: good pushes are served within
//! seconds, broken ones are reported and never replace the last good configuration.

mod support;

use support::{Clone, TestHome, eventually, git, package::PackageDir, stderr, stdout};

const WITH_QA: &str = "environments:
  dev:
    cluster: dev-cluster
    namespace: dev
    approval: { required: false, auto_merge: true }
  qa:
    cluster: qa-cluster
    namespace: qa
    approval: { required: true, approvers: [\"@team-leads\"] }
  prod:
    cluster: prod-cluster
    namespace: production
    approval: { required: true, approvers: [\"@team-leads\", \"@security\"], count: 2 }
";

#[test]
fn a_pushed_configuration_is_served_within_seconds() {
    let home = TestHome::new();
    // A poll longer than the test's patience: the push itself must be noticed.
    std::fs::write(home.path().join("dkd.yaml"), "poll_interval_ms: 60000\n").expect("dkd.yaml");
    let _daemon = home.start_daemon();
    Clone::of(&home).push_file("config/environments.yaml", WITH_QA, "Replace int with qa");
    let text = eventually("qa to be listed", || {
        let text = stdout(&home.dk(&["env", "list"]));
        text.contains("qa-cluster").then_some(text)
    });
    assert!(!text.contains("int"), "{text}");
}

#[test]
fn a_broken_configuration_pushed_with_git_is_reported_and_the_last_good_one_kept() {
    let home = TestHome::new();
    let mut daemon = home.start_daemon();
    let broken = WITH_QA.replace("  qa:\n", "  qa:\n    after: staging\n");
    Clone::of(&home).push_file(
        "config/environments.yaml",
        &broken,
        "Break the configuration",
    );

    let output = eventually("the problem to be reported", || {
        let output = home.dk(&["env", "list"]);
        (!stderr(&output).is_empty()).then_some(output)
    });
    assert!(
        output.status.success(),
        "the last good configuration is still served"
    );
    let warning = stderr(&output);
    assert!(warning.starts_with("warning:"), "{warning}");
    assert!(
        warning.contains("config/environments.yaml:"),
        "names the file and line: {warning}"
    );
    assert!(warning.contains("staging"), "names the problem: {warning}");
    assert_eq!(warning.lines().count(), 1, "{warning}");
    let text = stdout(&output);
    assert!(
        text.contains("int") && !text.contains("qa-cluster"),
        "the old environments: {text}"
    );

    let json = home.dk(&["-o", "json", "env", "list"]);
    let listing: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(listing["problems"][0]["file"], "config/environments.yaml");
    assert!(
        daemon.is_running(),
        "a broken configuration never stops dkd"
    );
}

#[test]
fn a_broken_store_and_a_bad_approval_count_are_refused_too() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let clone = Clone::of(&home);
    clone.push_file(
        "environments/dev/stores/events.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Store\nmetadata: { name: events }\nspec:\n  type: kafka-topic\n  connection: { password: hunter2 }\n",
        "Inline a password",
    );
    let warning = eventually("the store problem", || {
        let warning = stderr(&home.dk(&["env", "list"]));
        warning
            .contains("environments/dev/stores/events.yaml")
            .then_some(warning)
    });
    assert!(warning.contains("secretRef"), "{warning}");

    let unreachable = WITH_QA.replace("count: 2", "count: 5");
    clone.push_file(
        "config/environments.yaml",
        &unreachable,
        "Ask for five approvals",
    );
    let warning = eventually("the count problem", || {
        let warning = stderr(&home.dk(&["env", "list"]));
        warning.contains("count").then_some(warning)
    });
    assert!(warning.contains("config/environments.yaml:"), "{warning}");
}

#[test]
fn the_accepted_configuration_survives_a_restart() {
    let home = TestHome::new();
    let mut daemon = home.start_daemon();
    Clone::of(&home).push_file("config/environments.yaml", WITH_QA, "Replace int with qa");
    eventually("qa to be listed", || {
        stdout(&home.dk(&["env", "list"]))
            .contains("qa-cluster")
            .then_some(())
    });
    daemon.signal("TERM");
    assert!(daemon.wait().status.success());
    let _daemon = home.start_daemon();
    assert!(stdout(&home.dk(&["env", "list"])).contains("qa-cluster"));
}

/// Waits until `dk env list` warns about `file`, and returns the one-line warning.
fn warning_about(home: &TestHome, file: &str) -> String {
    let warning = eventually(&format!("a warning about {file}"), || {
        let warning = stderr(&home.dk(&["env", "list"]));
        warning.contains(file).then_some(warning)
    });
    assert_eq!(warning.lines().count(), 1, "{warning}");
    warning
}

/// Waits until `dk env list` warns about nothing: the newest revision was accepted.
fn accepted(home: &TestHome) {
    eventually("the revision to be accepted", || {
        let output = home.dk(&["env", "list"]);
        (output.status.success() && stderr(&output).is_empty()).then_some(())
    });
}

fn still_runs_v1(home: &TestHome) {
    let status = home.dk(&["status", "--env", "dev"]);
    assert!(status.status.success(), "{}", stderr(&status));
    let table = stdout(&status);
    assert!(
        table
            .lines()
            .any(|line| line.contains("my-package") && line.contains("v1.0.0")),
        "the package has not vanished: {table}"
    );
}

#[test]
fn a_bad_deployed_package_or_store_refuses_the_revision_and_what_runs_stays() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    package.publish(&home, "v1.0.0");
    let promoted = home.dk(&["promote", "my-package", "v1.0.0", "--to", "dev", "--wait"]);
    assert!(promoted.status.success(), "{}", stderr(&promoted));
    still_runs_v1(&home);

    let manifest = "environments/dev/my-package.yaml";
    let good = git(
        home.path(),
        &[
            "--git-dir",
            "deploy.git",
            "show",
            &format!("main:{manifest}"),
        ],
    );
    let digest_line = good
        .lines()
        .position(|line| line.trim_start().starts_with("digest:"))
        .expect("a digest line")
        + 1;
    let bad: String = good
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("digest:") {
                "  digest: not-a-digest\n".to_owned()
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    let clone = Clone::of(&home);
    clone.push_file(manifest, &bad, "Pin the digest by hand");
    let warning = warning_about(&home, manifest);
    assert!(
        warning.contains(&format!(
            "{manifest}:{digest_line}: spec.digest: invalid digest \"not-a-digest\""
        )),
        "file:line: field: problem: {warning}"
    );
    still_runs_v1(&home);
    clone.push_file(manifest, &format!("{good}\n"), "Restore the digest");
    accepted(&home);
    still_runs_v1(&home);

    let store = "environments/dev/stores/events.yaml";
    clone.push_file(
        store,
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Store\nmetadata: { name: events }\nspec:\n  type: kafka-topic\n  connection: { password: hunter2 }\n",
        "Inline a password",
    );
    let warning = warning_about(&home, store);
    assert!(
        warning.contains(&format!("{store}:6: spec.connection.password: ")),
        "file:line: field: problem: {warning}"
    );
    still_runs_v1(&home);
    clone.push_file(
        store,
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Store\nmetadata: { name: events }\nspec:\n  type: kafka-topic\n  secretRef: { name: events-creds }\n",
        "Reference the secret",
    );
    accepted(&home);
    still_runs_v1(&home);
    let log = home.dk(&["logs", "my-package", "--env", "dev", "--sync"]);
    assert!(log.status.success(), "{}", stderr(&log));
    assert!(
        !stdout(&log).contains("pruned"),
        "a refused revision was never applied: {}",
        stdout(&log)
    );
}
