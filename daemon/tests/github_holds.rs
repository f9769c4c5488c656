//! Holds with `forge: github` against the fake GitHub, through the real binaries: `dk hold`
//! and `dk hold release` land `holds/<env>/<package>.yaml` on main through a pull request
//! dkd merges at once, a held package's promotion is refused, and a rollback's pull request
//! carries its hold with the manifest.

#[path = "../../tests/support/github_fake/mod.rs"]
mod github_fake;
#[path = "../../tests/support/mod.rs"]
mod support;

use github_fake::GithubFake;
use support::{TestHome, json, os_user, package::PackageDir, stderr, stdout};

fn succeeds(home: &TestHome, args: &[&str]) {
    let output = home.dk(args);
    assert!(
        output.status.success(),
        "dk {args:?}: {}{}",
        stdout(&output),
        stderr(&output)
    );
}

#[test]
fn a_hold_is_set_and_released_by_merged_pull_requests_and_a_rollback_carries_its_own() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime for the fake GitHub");
    let fake = runtime.block_on(GithubFake::start());
    let home = TestHome::new();
    fake.configure_home(home.path());
    let _daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    package.publish(&home, "v1.0.0");
    package.touch("second");
    package.publish(&home, "v1.1.0");
    let me = os_user();

    succeeds(
        &home,
        &[
            "hold",
            "my-package",
            "--env",
            "dev",
            "--reason",
            "incident 7",
        ],
    );
    let file = runtime
        .block_on(fake.read_base("holds/dev/my-package.yaml"))
        .expect("the hold is on main");
    assert!(
        file.contains("kind: manual") && file.contains("incident 7"),
        "{file}"
    );
    let pulls = runtime.block_on(fake.pulls());
    let hold_pull = pulls
        .iter()
        .find(|p| p.head_ref.starts_with("hold/dev/my-package-"))
        .expect("a pull request for the hold");
    assert!(
        hold_pull.merge_commit.is_some() && !hold_pull.open,
        "{hold_pull:?}"
    );

    let refused = home.dk(&["promote", "my-package", "v1.0.0", "--to", "dev"]);
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains(&format!("manual hold by {me}"))
            && stderr(&refused).contains("incident 7"),
        "{}",
        stderr(&refused)
    );

    succeeds(&home, &["hold", "release", "my-package", "--env", "dev"]);
    let file = runtime
        .block_on(fake.read_base("holds/dev/my-package.yaml"))
        .expect("the released hold stays on main");
    assert!(file.contains("released:") && file.contains(&me), "{file}");

    for version in ["v1.0.0", "v1.1.0"] {
        succeeds(
            &home,
            &["promote", "my-package", version, "--to", "dev", "--wait"],
        );
    }
    succeeds(&home, &["rollback", "my-package", "--env", "dev", "--wait"]);
    let file = runtime
        .block_on(fake.read_base("holds/dev/my-package.yaml"))
        .expect("the rollback's hold is on main");
    assert!(
        file.contains("kind: rollback") && file.contains("rolled back from v1.1.0 to v1.0.0"),
        "{file}"
    );
    let holds = json(&home.dk(&["-o", "json", "hold", "list"]));
    assert_eq!(holds[0]["kind"], "rollback", "{holds}");
}
