//! Every refusal of `dk promote` with its exit code and a one-line reason, in the
//! contract's order of checks.

mod support;

use support::{Clone, TestHome, eventually, package::PackageDir, stderr, stdout};

/// Runs `dk ARGS`, expects exit `code`, and returns the one-line error.
fn refused(home: &TestHome, args: &[&str], code: i32) -> String {
    let output = home.dk(args);
    let message = stderr(&output);
    assert_eq!(
        output.status.code(),
        Some(code),
        "dk {args:?}: {message}{}",
        stdout(&output)
    );
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    message
}

#[test]
fn malformed_requests_exit_2_and_policy_refusals_exit_4() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    package.publish(&home, "v1.0.0");

    let bad_name = refused(&home, &["promote", "../etc", "v1.0.0", "--to", "dev"], 2);
    assert!(bad_name.contains("package name"), "{bad_name}");
    let unknown_env = refused(&home, &["promote", "my-package", "v1.0.0", "--to", "qa"], 2);
    assert!(
        unknown_env.contains("dev, int, prod"),
        "lists the known environments: {unknown_env}"
    );
    let latest = refused(
        &home,
        &["promote", "my-package", "latest", "--to", "dev"],
        4,
    );
    assert!(latest.contains("not exact"), "{latest}");
    refused(&home, &["promote", "my-package", "^1.0", "--to", "dev"], 4);
    let unpublished = refused(
        &home,
        &["promote", "my-package", "v9.9.9", "--to", "dev"],
        3,
    );
    assert!(
        unpublished.contains("dk publish"),
        "says what to do: {unpublished}"
    );
}

#[test]
fn skipping_an_environment_is_refused_naming_it_unless_forced_and_recorded() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    package.publish(&home, "v1.0.0");
    let skipped = refused(
        &home,
        &["promote", "my-package", "v1.0.0", "--to", "prod"],
        4,
    );
    assert!(
        skipped.contains("dev, int"),
        "names the skipped environments: {skipped}"
    );
    assert!(skipped.contains("--force"), "{skipped}");

    let forced = home.dk(&[
        "-o",
        "json",
        "promote",
        "my-package",
        "v1.0.0",
        "--to",
        "int",
        "--force",
    ]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    let view: serde_json::Value = serde_json::from_slice(&forced.stdout).expect("JSON");
    assert_eq!(view["promotion"]["forced"], true, "{view}");
}

#[test]
fn a_freeze_window_refuses_promotions_but_not_rollbacks() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    package.publish(&home, "v1.0.0");
    package.touch("second");
    package.publish(&home, "v1.1.0");
    for version in ["v1.0.0", "v1.1.0"] {
        let output = home.dk(&["promote", "my-package", version, "--to", "dev", "--wait"]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let frozen = "environments:\n  dev:\n    cluster: dev-cluster\n    namespace: dev\n    approval: { required: false, auto_merge: true }\n    freeze:\n      - { start: \"2020-01-01T00:00:00Z\", end: \"2999-01-01T00:00:00Z\", reason: \"year-end freeze\" }\n";
    Clone::of(&home).push_file("config/environments.yaml", frozen, "Freeze dev");
    let message = eventually("the freeze to be enforced", || {
        let output = home.dk(&["promote", "my-package", "v1.0.0", "--to", "dev"]);
        (output.status.code() == Some(4)).then(|| stderr(&output))
    });
    assert!(
        message.contains("frozen") && message.contains("year-end freeze"),
        "{message}"
    );
    let rollback = home.dk(&[
        "promote",
        "my-package",
        "v1.0.0",
        "--to",
        "dev",
        "--rollback",
    ]);
    assert!(
        rollback.status.success(),
        "rollbacks pass a freeze: {}",
        stderr(&rollback)
    );
}

#[test]
fn a_rollback_to_a_version_that_ran_only_as_another_digest_is_refused() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    let published = package.publish(&home, "v0.9.0");
    package.touch("v1");
    package.publish(&home, "v1.0.0");
    let promote = |version: &str| {
        let output = home.dk(&["promote", "my-package", version, "--to", "dev", "--wait"]);
        assert!(output.status.success(), "{}", stderr(&output));
    };
    promote("v1.0.0");
    // Someone pins v0.9.0 to a digest of their own by hand; dev runs it (Degraded).
    let pinned = format!("sha256:{}", "b".repeat(64));
    let manifest = format!(
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DeployedPackage\nmetadata:\n  name: my-package\n  namespace: dev\nspec:\n  version: v0.9.0\n  artifact: my-package:v0.9.0\n  digest: {pinned}\n"
    );
    Clone::of(&home).push_file(
        "environments/dev/my-package.yaml",
        &manifest,
        "Pin v0.9.0 by hand",
    );
    eventually("dev to run the hand-pinned v0.9.0", || {
        stdout(&home.dk(&["status", "--env", "dev"]))
            .contains("v0.9.0")
            .then_some(())
    });
    promote("v1.0.0");

    let message = refused(
        &home,
        &[
            "rollback",
            "my-package",
            "--to",
            "dev",
            "--version",
            "v0.9.0",
        ],
        4,
    );
    assert!(
        message.contains(&format!("ran in dev as {pinned}"))
            && message.contains(&format!("registry serves {published}")),
        "{message}"
    );
}

#[test]
fn a_binding_without_its_store_in_the_target_is_refused_naming_env_key_store_and_file() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("events-loader", &[("output", "warehouse")]);
    package.publish(&home, "v1.0.0");
    let message = refused(
        &home,
        &["promote", "events-loader", "v1.0.0", "--to", "dev"],
        4,
    );
    for part in [
        "dev",
        "output",
        "warehouse",
        "environments/dev/stores/warehouse.yaml",
    ] {
        assert!(message.contains(part), "names {part}: {message}");
    }
    Clone::of(&home).push_file(
        "environments/dev/stores/warehouse.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Store\nmetadata: { name: warehouse }\nspec:\n  type: postgres-table\n  connection: { host: dev-db, table: events }\n",
        "Add the dev warehouse",
    );
    eventually("the binding to resolve", || {
        home.dk(&["promote", "events-loader", "v1.0.0", "--to", "dev"])
            .status
            .success()
            .then_some(())
    });
}

#[test]
fn approving_an_unknown_promotion_exits_3() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    refused(&home, &["approve", "p-404"], 3);
}

#[test]
fn a_rollback_to_a_version_only_a_refused_revision_set_is_refused() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("alpha", &[]);
    let mut digests = Vec::new();
    for version in ["v1.0.0", "v1.1.0", "v1.2.0"] {
        package.touch(version);
        digests.push(package.publish(&home, version));
    }
    for version in ["v1.0.0", "v1.1.0"] {
        let output = home.dk(&["promote", "alpha", version, "--to", "dev", "--wait"]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    // By hand: a broken file, then v1.2.0, then back to v1.1.0 and the file removed. Every
    // revision that set v1.2.0 was refused: it never ran.
    let file = "environments/dev/alpha.yaml";
    let running = support::git(
        home.path(),
        &["--git-dir", "deploy.git", "show", &format!("main:{file}")],
    );
    let clone = support::Clone::of(&home);
    clone.push_file("environments/dev/broken.yaml", "kind: Nonsense\n", "Broken");
    let unran = running
        .replace("v1.1.0", "v1.2.0")
        .replace(&digests[1], &digests[2]);
    clone.push_file(file, &unran, "v1.2.0 by hand");
    clone.push_file(file, &running, "Back to v1.1.0");
    clone.remove_file("environments/dev/broken.yaml", "Fixed");
    let refused = home.dk(&["rollback", "alpha", "--to", "dev", "--version", "v1.2.0"]);
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("never ran in dev"),
        "{}",
        stderr(&refused)
    );
    let accepted = home.dk(&["rollback", "alpha", "--to", "dev", "--version", "v1.0.0"]);
    assert!(accepted.status.success(), "{}", stderr(&accepted));
}
