//! Issue 12 as a platform team would try it, through the real `dk` and `dkd`: a dev → int →
//! prod pipeline where int is auto-promoted and verified, prod is auto-promoted after a
//! soak, needs two approvals and takes only signed versions; a bad version fails
//! verification in int and never reaches prod; a rollback's hold keeps automation away
//! until it is released.

mod support;

use support::{Clone, TestHome, eventually, package::PackageDir, stderr, stdout};

const AUTO_PROMOTER: &str = "dkd (auto-promotion)";
const RELEASE_PUB: &str = include_str!("support/keys/release.pub");
/// The version int's verification fails.
const BAD_VERSION: &str = "v1.1.0";
const PIPELINE: &str = r#"environments:
  dev:
    cluster: dev-cluster
    namespace: dev
    approval: { required: false, auto_merge: true }
  int:
    cluster: staging-cluster
    namespace: int
    auto_promote: true
    approval: { required: false, auto_merge: true }
    verify: { timeout: 30s }
  prod:
    cluster: prod-cluster
    namespace: production
    auto_promote: true
    promotion: { soak: 2s }
    approval: { required: true, approvers: ["@team-leads", "@security"], count: 2 }
    require_signatures: { keys: [config/keys/release.pub] }
"#;

/// A demo-mode home (`dk approve --as`) whose dkd runs verification commands, serving the
/// pipeline: int's verification fails for [`BAD_VERSION`] only.
fn pipeline() -> (TestHome, support::Daemon) {
    let home = TestHome::new();
    std::fs::write(
        home.path().join("dkd.yaml"),
        "forge:\n  type: embedded\n  asserted_approvers: true\ncluster: { type: embedded, run_verifications: true }\n",
    )
    .expect("write dkd.yaml");
    let daemon = home.start_daemon();
    let clone = Clone::of(&home);
    clone.push_file(
        "environments/int/verify/default.yaml",
        &format!(
            "command: [\"sh\", \"-c\", \"echo smoke testing $DK_PACKAGE $DK_VERSION; test $DK_VERSION != {BAD_VERSION}\"]\n"
        ),
        "Smoke test every package in int",
    );
    clone.push_file(
        "config/keys/release.pub",
        RELEASE_PUB,
        "Add the release key",
    );
    let revision = clone.push_file("config/environments.yaml", PIPELINE, "Gated pipeline");
    eventually("dkd to serve the pipeline", || {
        let served = support::json(&home.dk(&["-o", "json", "env", "list"]));
        (served["revision"] == revision.as_str()).then_some(())
    });
    (home, daemon)
}

fn key(name: &str) -> String {
    format!("{}/tests/support/keys/{name}", env!("CARGO_MANIFEST_DIR"))
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

/// Runs `dk ARGS`, expects exit 4, and returns the one-line refusal.
fn refused(home: &TestHome, args: &[&str]) -> String {
    let output = home.dk(args);
    assert_eq!(
        output.status.code(),
        Some(4),
        "dk {args:?}: {}{}",
        stdout(&output),
        stderr(&output)
    );
    stderr(&output)
}

/// Publishes `versions` of `package` (each with different content), signed with
/// release.key when `signed`.
fn publish(home: &TestHome, package: &str, versions: &[&str], signed: bool) {
    let dir = PackageDir::new(package, &[]);
    for version in versions {
        dir.touch(version);
        dir.publish(home, version);
        if signed {
            succeeds(
                home,
                &["sign", package, version, "--key", &key("release.key")],
            );
        }
    }
}

fn promote_to_dev(home: &TestHome, package: &str, version: &str) {
    succeeds(
        home,
        &["promote", package, version, "--to", "dev", "--wait"],
    );
}

/// The promotions of `package` into `environment`, newest first.
fn into(home: &TestHome, package: &str, environment: &str) -> Vec<serde_json::Value> {
    home.history(package)
        .into_iter()
        .filter(|p| p["environment"] == environment)
        .collect()
}

/// Waits for dkd's own promotion of `package` `version` into `environment` to be in
/// `state`; returns it.
fn auto_promotion(
    home: &TestHome,
    package: &str,
    version: &str,
    environment: &str,
    state: &str,
) -> serde_json::Value {
    eventually(
        &format!("an auto-promotion of {package} {version} to {environment}, {state}"),
        || {
            into(home, package, environment).into_iter().find(|p| {
                p["promoter"] == AUTO_PROMOTER && p["version"] == version && p["state"] == state
            })
        },
    )
}

fn id(promotion: &serde_json::Value) -> &str {
    promotion["id"].as_str().expect("a promotion id")
}

/// A good version goes to dev by hand and on to int and prod by itself; prod waits for
/// its soak and its two approvals.
fn a_good_version_flows_to_prod(home: &TestHome, version: &str) {
    let started = std::time::SystemTime::now();
    promote_to_dev(home, "my-package", version);
    let int = auto_promotion(home, "my-package", version, "int", "Verified");
    let logs = succeeds(home, &["logs", "my-package", "--env", "int", "--verify"]);
    assert!(
        logs.contains(&format!("smoke testing my-package {version}")),
        "{logs}"
    );
    let prod = auto_promotion(home, "my-package", version, "prod", "ChangeProposed");
    let created: prost_types::Timestamp = prod["createdAt"]
        .as_str()
        .and_then(|at| at.parse().ok())
        .expect("createdAt");
    let created = std::time::SystemTime::try_from(created).expect("a time");
    assert!(
        created >= started + std::time::Duration::from_secs(2),
        "prod is opened only after the 2s soak in int (int: {int}): {prod}"
    );
    succeeds(home, &["approve", id(&prod), "--as", "alice"]);
    succeeds(home, &["approve", id(&prod), "--as", "bob", "--wait"]);
    auto_promotion(home, "my-package", version, "prod", "Healthy");
}

#[test]
fn a_gated_pipeline_takes_good_signed_versions_to_prod_stops_bad_ones_and_respects_a_rollback() {
    let (home, _daemon) = pipeline();
    publish(
        &home,
        "my-package",
        &["v1.0.0", BAD_VERSION, "v1.2.0"],
        true,
    );
    publish(&home, "unsigned-package", &["v1.0.0"], false);
    publish(&home, "sentinel", &["v1.0.0"], true);
    publish(&home, "int-sentinel", &["v1.0.0"], true);

    // 1. A good, signed version reaches prod with nobody promoting it past dev.
    a_good_version_flows_to_prod(&home, "v1.0.0");

    // 2. A bad version fails verification in int and never reaches prod.
    promote_to_dev(&home, "my-package", BAD_VERSION);
    promote_to_dev(&home, "unsigned-package", "v1.0.0");
    let failed = auto_promotion(&home, "my-package", BAD_VERSION, "int", "Failed");
    let run = format!("verify-{}-1", id(&failed));
    assert!(
        failed["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&run),
        "{failed}"
    );
    // Refused for its soak first, then (the soak over) for its failed verification.
    let refusal = eventually("the soak of the bad version in int to end", || {
        let refusal = refused(
            &home,
            &["promote", "my-package", BAD_VERSION, "--to", "prod"],
        );
        refusal
            .contains("failed verification in int")
            .then_some(refusal)
    });
    assert!(refusal.contains(&run), "names the failed run: {refusal}");
    let status = stdout(&home.dk(&["status", "my-package"]));
    assert!(
        status.contains(&format!("Promotable into prod: not {BAD_VERSION}:"))
            && status.contains("failed verification in int"),
        "dk status says the bad version will not become promotable: {status}"
    );
    // The unsigned package passed int but prod takes only signed versions.
    auto_promotion(&home, "unsigned-package", "v1.0.0", "int", "Verified");
    let unsigned = refused(
        &home,
        &["promote", "unsigned-package", "v1.0.0", "--to", "prod"],
    );
    assert!(
        unsigned.contains("is not signed") && unsigned.contains("config/keys/release.pub"),
        "names the key it accepts: {unsigned}"
    );
    // Once a later package's soak ended and dkd opened its prod promotion, it had long
    // decided about the bad and the unsigned version: it opened none.
    promote_to_dev(&home, "sentinel", "v1.0.0");
    auto_promotion(&home, "sentinel", "v1.0.0", "prod", "ChangeProposed");
    let bad_in_prod: Vec<_> = into(&home, "my-package", "prod")
        .into_iter()
        .filter(|p| p["version"] == BAD_VERSION)
        .collect();
    assert!(bad_in_prod.is_empty(), "never in prod: {bad_in_prod:?}");
    let unsigned_in_prod = into(&home, "unsigned-package", "prod");
    assert!(
        unsigned_in_prod.is_empty(),
        "never in prod: {unsigned_in_prod:?}"
    );
    // 3. int rolls back to v1.0.0: its hold keeps automation from promoting newer versions
    //    into int until it is released.
    succeeds(
        &home,
        &[
            "rollback",
            "my-package",
            "--to",
            "int",
            "--version",
            "v1.0.0",
            "--wait",
        ],
    );
    let held = succeeds(&home, &["status", "my-package"]);
    assert!(held.contains("Held in int: rollback hold"), "{held}");
    promote_to_dev(&home, "my-package", "v1.2.0");
    // dkd handles events in order: once the sentinel is Verified in int, it has decided
    // about my-package v1.2.0 in dev.
    promote_to_dev(&home, "int-sentinel", "v1.0.0");
    auto_promotion(&home, "int-sentinel", "v1.0.0", "int", "Verified");
    let newest_in_int = &into(&home, "my-package", "int")[0];
    assert_eq!(
        (
            &newest_in_int["kind"],
            &newest_in_int["version"],
            &newest_in_int["state"]
        ),
        (&"rollback".into(), &"v1.0.0".into(), &"Verified".into()),
        "the rollback stays the newest in int: {newest_in_int}"
    );

    succeeds(&home, &["hold", "release", "my-package", "--env", "int"]);
    auto_promotion(&home, "my-package", "v1.2.0", "int", "Verified");
    let prod = auto_promotion(&home, "my-package", "v1.2.0", "prod", "ChangeProposed");
    succeeds(&home, &["approve", id(&prod), "--as", "alice"]);
    succeeds(&home, &["approve", id(&prod), "--as", "bob", "--wait"]);
    auto_promotion(&home, "my-package", "v1.2.0", "prod", "Healthy");
    let bad_in_int = into(&home, "my-package", "int")
        .into_iter()
        .filter(|p| p["version"] == BAD_VERSION)
        .count();
    assert_eq!(bad_in_int, 1, "the failed version is not promoted again");
}
