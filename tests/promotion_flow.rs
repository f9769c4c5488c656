//! The promotion story through the real binaries on a fresh DK_HOME: dev (auto-merge) →
//! int (one approval) → prod (two, including security), with self and outsider
//! approvals refused, and what lands on `main` read back with plain git.

mod support;

use support::{TestHome, eventually, git, json, last_json, package::PackageDir, stderr, stdout};

/// `dk -o json promote PACKAGE VERSION --to ENV EXTRA…`.
fn promote_json(
    home: &TestHome,
    package: &str,
    version: &str,
    env: &str,
    extra: &[&str],
) -> serde_json::Value {
    let mut args = vec!["-o", "json", "promote", package, version, "--to", env];
    args.extend(extra);
    last_json(&home.dk(&args))
}

/// `dk -o json promote PACKAGE VERSION --to ENV --status`.
fn status_of(home: &TestHome, package: &str, version: &str, env: &str) -> serde_json::Value {
    promote_json(home, package, version, env, &["--status"])
}

/// `git show main:PATH` in the deployment repository.
fn on_main(home: &TestHome, path: &str) -> String {
    git(
        home.path(),
        &["--git-dir", "deploy.git", "show", &format!("main:{path}")],
    )
}

fn promote_and_wait(home: &TestHome, package: &str, version: &str, env: &str) {
    let output = home.dk(&["promote", package, version, "--to", env, "--wait"]);
    assert!(
        output.status.success(),
        "promote {version} to {env}: {}{}",
        stdout(&output),
        stderr(&output)
    );
}

#[test]
fn dev_int_prod_with_every_approval_rule_enforced() {
    let home = TestHome::demo();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    let digest = package.publish(&home, "v1.0.0");

    // dev: auto-merge once checks pass.
    let dev = promote_json(&home, "my-package", "v1.0.0", "dev", &["--wait"]);
    assert_eq!(dev["promotion"]["state"], "Healthy", "{dev}");
    let id = dev["promotion"]["id"].as_str().expect("id").to_owned();
    let manifest = on_main(&home, "environments/dev/my-package.yaml");
    assert!(manifest.contains("kind: DeployedPackage"), "{manifest}");
    assert!(
        manifest.contains("version: v1.0.0") && manifest.contains(&digest),
        "{manifest}"
    );
    assert!(
        manifest.contains(&format!("datakit.infoblox.dev/promotion-id: {id}")),
        "{manifest}"
    );
    assert!(manifest.contains("namespace: dev"), "{manifest}");

    // int: one approval from @team-leads; the promoter and outsiders are refused.
    let int = promote_json(&home, "my-package", "v1.0.0", "int", &[]);
    let int_id = int["promotion"]["id"].as_str().expect("id").to_owned();
    let status = eventually("int to wait for approval", || {
        let view = status_of(&home, "my-package", "v1.0.0", "int");
        (view["state"] == "ChangeProposed" && view["approvalsNeeded"].is_string()).then_some(view)
    });
    assert_eq!(
        status["approvalsNeeded"], "needs 1 approval from @team-leads",
        "{status}"
    );
    let own = home.dk(&["approve", &int_id]);
    assert_eq!(
        own.status.code(),
        Some(4),
        "self approval: {}",
        stderr(&own)
    );
    assert!(stderr(&own).contains("cannot approve"), "{}", stderr(&own));
    let outsider = home.dk(&["approve", &int_id, "--as", "mallory"]);
    assert_eq!(outsider.status.code(), Some(4));
    assert!(
        stderr(&outsider).contains("alice") && stderr(&outsider).contains("dave"),
        "says who may: {}",
        stderr(&outsider)
    );
    let approved = home.dk(&["approve", &int_id, "--as", "alice"]);
    assert!(approved.status.success(), "{}", stderr(&approved));
    eventually("int to run v1.0.0", || {
        let view = status_of(&home, "my-package", "v1.0.0", "int");
        (view["state"] == "Healthy").then_some(())
    });
    assert!(on_main(&home, "environments/int/my-package.yaml").contains("namespace: int"));

    // prod: two approvals including @security.
    let prod = promote_json(&home, "my-package", "v1.0.0", "prod", &[]);
    let prod_id = prod["promotion"]["id"].as_str().expect("id").to_owned();
    eventually("prod to wait for approval", || {
        let view = status_of(&home, "my-package", "v1.0.0", "prod");
        (view["state"] == "ChangeProposed").then_some(())
    });
    let first = home.dk(&["approve", &prod_id, "--as", "alice"]);
    assert!(
        stdout(&first).contains("needs 1 more approval from @security"),
        "{}{}",
        stdout(&first),
        stderr(&first)
    );
    let second = home.dk(&["approve", &prod_id, "--as", "dave"]);
    assert!(
        stdout(&second).contains("@security"),
        "two team leads are not enough: {}",
        stdout(&second)
    );
    let waiting = stdout(&home.dk(&[
        "promote",
        "my-package",
        "v1.0.0",
        "--to",
        "prod",
        "--status",
    ]));
    assert!(
        waiting.contains("ChangeProposed") && waiting.contains("alice (@team-leads; asserted by"),
        "{waiting}"
    );
    assert!(
        home.dk(&["approve", &prod_id, "--as", "bob"])
            .status
            .success()
    );
    eventually("prod to run v1.0.0", || {
        let view = status_of(&home, "my-package", "v1.0.0", "prod");
        (view["state"] == "Healthy").then_some(())
    });
    let prod_manifest = on_main(&home, "environments/prod/my-package.yaml");
    assert!(
        prod_manifest.contains("namespace: production") && prod_manifest.contains(&digest),
        "{prod_manifest}"
    );

    let history = json(&home.dk(&["-o", "json", "history", "my-package"]));
    let rows: Vec<(&str, &str)> = history
        .as_array()
        .expect("list")
        .iter()
        .map(|p| {
            (
                p["environment"].as_str().unwrap_or_default(),
                p["state"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [("prod", "Healthy"), ("int", "Healthy"), ("dev", "Healthy")]
    );
    let approvers: Vec<&str> = history[0]["approvals"]
        .as_array()
        .expect("approvals")
        .iter()
        .filter_map(|a| a["user"].as_str())
        .collect();
    assert_eq!(approvers, ["alice", "dave", "bob"]);
    // Demo mode: every typed name is shown as claimed by the real caller.
    let caller = support::os_user();
    assert!(
        history[0]["approvals"]
            .as_array()
            .expect("approvals")
            .iter()
            .all(|a| a["assertedBy"] == caller.as_str()),
        "{history}"
    );
    let table = stdout(&home.dk(&["history", "my-package", "--env", "int"]));
    assert!(
        table.contains(&int_id)
            && table.contains(&format!("alice (@team-leads; asserted by {caller})"))
            && !table.contains(&prod_id),
        "{table}"
    );
}

#[test]
fn promoting_what_already_runs_is_a_no_op_and_the_same_request_returns_the_open_promotion() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    package.publish(&home, "v1.0.0");
    promote_and_wait(&home, "my-package", "v1.0.0", "dev");
    let again = home.dk(&["promote", "my-package", "v1.0.0", "--to", "dev"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("already runs"),
        "{}",
        stdout(&again)
    );

    let first = promote_json(&home, "my-package", "v1.0.0", "int", &[]);
    let second = promote_json(&home, "my-package", "v1.0.0", "int", &[]);
    assert_eq!(
        first["promotion"]["id"], second["promotion"]["id"],
        "one change request per request"
    );
}

#[test]
fn a_dry_run_shows_the_diff_and_changes_nothing() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    package.publish(&home, "v1.0.0");
    let before = git(
        home.path(),
        &["--git-dir", "deploy.git", "rev-parse", "main"],
    );
    let output = home.dk(&[
        "promote",
        "my-package",
        "v1.0.0",
        "--to",
        "dev",
        "--dry-run",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("+++ b/environments/dev/my-package.yaml"),
        "{text}"
    );
    assert!(text.contains("+  version: v1.0.0"), "{text}");
    assert_eq!(
        git(
            home.path(),
            &["--git-dir", "deploy.git", "rev-parse", "main"]
        ),
        before
    );
    let history = json(&home.dk(&["-o", "json", "history", "my-package"]));
    assert_eq!(history, serde_json::json!([]));
}

#[test]
fn a_rollback_returns_to_the_previous_version_with_rollback_annotations() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    package.publish(&home, "v1.0.0");
    promote_and_wait(&home, "my-package", "v1.0.0", "dev");
    package.touch("second");
    package.publish(&home, "v1.1.0");
    promote_and_wait(&home, "my-package", "v1.1.0", "dev");

    let output = home.dk(&[
        "-o",
        "json",
        "rollback",
        "my-package",
        "--env",
        "dev",
        "--wait",
    ]);
    let rollback = last_json(&output);
    assert_eq!(rollback["promotion"]["version"], "v1.0.0", "{rollback}");
    assert_eq!(rollback["promotion"]["kind"], "rollback");
    assert_eq!(rollback["promotion"]["previousVersion"], "v1.1.0");
    let manifest = on_main(&home, "environments/dev/my-package.yaml");
    assert!(manifest.contains("version: v1.0.0"), "{manifest}");
    assert!(
        manifest.contains("datakit.infoblox.dev/rollback: 'true'")
            || manifest.contains("datakit.infoblox.dev/rollback: \"true\""),
        "{manifest}"
    );
    assert!(
        manifest.contains("datakit.infoblox.dev/rollback-from: v1.1.0"),
        "{manifest}"
    );

    let explicit = home.dk(&[
        "promote",
        "my-package",
        "v1.1.0",
        "--to",
        "dev",
        "--rollback",
        "--wait",
    ]);
    assert!(explicit.status.success(), "{}", stderr(&explicit));
    assert!(on_main(&home, "environments/dev/my-package.yaml").contains("version: v1.1.0"));
}

#[test]
fn a_rollback_to_a_version_the_environment_never_ran_is_refused_listing_the_ones_it_ran() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    package.publish(&home, "v1.0.0");
    promote_and_wait(&home, "my-package", "v1.0.0", "dev");
    package.touch("second");
    package.publish(&home, "v1.1.0");
    promote_and_wait(&home, "my-package", "v1.1.0", "dev");
    package.touch("third");
    package.publish(&home, "v1.2.0");

    let refusals = [
        vec![
            "rollback",
            "my-package",
            "--to",
            "dev",
            "--version",
            "v1.2.0",
        ],
        vec![
            "promote",
            "my-package",
            "v1.2.0",
            "--to",
            "dev",
            "--rollback",
        ],
    ];
    for args in &refusals {
        let output = home.dk(args);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(4), "dk {args:?}: {message}");
        assert_eq!(message.lines().count(), 1, "one line: {message}");
        assert!(
            message.contains("v1.2.0 never ran in dev: roll back to v1.0.0 (newest first)"),
            "lists what dev ran before, not what it runs: {message}"
        );
    }
    let skipping = home.dk(&[
        "promote",
        "my-package",
        "v1.1.0",
        "--to",
        "int",
        "--rollback",
    ]);
    assert_eq!(skipping.status.code(), Some(4), "{}", stderr(&skipping));
    assert!(
        stderr(&skipping).contains("my-package never ran in int"),
        "a rollback is no way around the upstream check: {}",
        stderr(&skipping)
    );
    let history = json(&home.dk(&["-o", "json", "history", "my-package"]));
    assert_eq!(history.as_array().map(Vec::len), Some(2), "{history}");

    let accepted = home.dk(&[
        "rollback",
        "my-package",
        "--env",
        "dev",
        "--to",
        "v1.0.0",
        "--wait",
    ]);
    assert!(accepted.status.success(), "{}", stderr(&accepted));
    assert!(on_main(&home, "environments/dev/my-package.yaml").contains("version: v1.0.0"));
}

#[test]
fn a_newer_promotion_supersedes_the_open_one_and_removes_its_branch() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    package.publish(&home, "v1.0.0");
    package.touch("v2");
    package.publish(&home, "v2.0.0");
    promote_and_wait(&home, "my-package", "v1.0.0", "dev");
    promote_and_wait(&home, "my-package", "v2.0.0", "dev");
    let older = promote_json(&home, "my-package", "v1.0.0", "int", &["--force"]);
    let older_id = older["promotion"]["id"].as_str().expect("id").to_owned();
    let branch = eventually("the change request to open", || {
        let view = status_of(&home, "my-package", "v1.0.0", "int");
        view["change"]["branch"].as_str().map(str::to_owned)
    });
    assert!(
        git(
            home.path(),
            &["--git-dir", "deploy.git", "branch", "--list", &branch]
        )
        .contains(&branch)
    );

    let newer = promote_json(&home, "my-package", "v2.0.0", "int", &[]);
    let newer_id = newer["promotion"]["id"].as_str().expect("id");
    let superseded = status_of(&home, "my-package", "v1.0.0", "int");
    assert_eq!(superseded["id"], older_id.as_str());
    assert_eq!(superseded["state"], "Superseded", "{superseded}");
    assert_eq!(superseded["supersededBy"], newer_id);
    assert_eq!(
        git(
            home.path(),
            &["--git-dir", "deploy.git", "branch", "--list", &branch]
        ),
        "",
        "branch removed"
    );
}

#[test]
fn approving_right_after_promoting_finds_the_change_request_even_under_load() {
    let home = TestHome::demo();
    let _daemon = home.start_daemon();
    let names: Vec<String> = (0..8).map(|i| format!("pkg-{i}")).collect();
    for name in &names {
        PackageDir::new(name, &[]).publish(&home, "v1.0.0");
    }
    // All at once: each promotes into int (one approval) and approves at once.
    std::thread::scope(|scope| {
        for name in &names {
            let home = &home;
            scope.spawn(move || {
                let promoted = promote_json(home, name, "v1.0.0", "int", &["--force"]);
                let id = promoted["promotion"]["id"].as_str().expect("id").to_owned();
                let approved = home.dk(&["approve", &id, "--as", "alice"]);
                assert!(
                    approved.status.success(),
                    "{name}: approving {id} right after promoting: {}",
                    stderr(&approved)
                );
            });
        }
    });
    for name in &names {
        eventually(&format!("{name} to run in int"), || {
            (status_of(&home, name, "v1.0.0", "int")["state"] == "Healthy").then_some(())
        });
    }
}
