//! With `forge: github`, dkd's state database is a cache too: deleted while dkd is stopped,
//! merged promotions come back from GitHub's pull requests, an open one resumes with the
//! reviews already given, new ids never repeat one GitHub knows, and rejected and cancelled
//! ones come back with who decided and why from dkd's closing comments.

#[path = "../../tests/support/github_fake/mod.rs"]
mod github_fake;
#[path = "../../tests/support/mod.rs"]
mod support;

use github_fake::GithubFake;
use support::{TestHome, eventually, json, os_user, package::PackageDir, stderr};

fn promotion(home: &TestHome, id: &str) -> serde_json::Value {
    home.history("my-package")
        .into_iter()
        .find(|p| p["id"] == id)
        .unwrap_or_default()
}

/// `dk promote`, forced past the upstream check (the test skips int).
fn promote(home: &TestHome, version: &str, env: &str) -> String {
    let args = [
        "-o",
        "json",
        "promote",
        "my-package",
        version,
        "--to",
        env,
        "--force",
    ];
    json(&home.dk(&args))["promotion"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

#[test]
fn a_lost_state_database_is_rebuilt_from_github_pull_requests_and_reviews() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime for the fake GitHub");
    let fake = runtime.block_on(GithubFake::start());
    let home = TestHome::new();
    fake.configure_home(home.path());
    let mut daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    package.publish(&home, "v1.0.0");
    package.touch("v1.1.0");
    package.publish(&home, "v1.1.0");

    let dev = promote(&home, "v1.0.0", "dev");
    eventually("dev to run v1.0.0", || {
        (promotion(&home, &dev)["state"] == "Healthy").then_some(())
    });
    // prod needs two approvals including @security: alice reviews before dkd loses its state.
    let prod = promote(&home, "v1.0.0", "prod");
    eventually("prod to wait for reviews", || {
        (promotion(&home, &prod)["state"] == "ChangeProposed").then_some(())
    });
    let pull = runtime
        .block_on(fake.pulls())
        .into_iter()
        .find(|p| p.head_ref.starts_with("promote/prod/"))
        .expect("prod pull request")
        .number
        .to_string();
    runtime
        .block_on(fake.review(&pull, "alice", "APPROVED"))
        .expect("review");
    eventually("alice's review to count", || {
        (promotion(&home, &prod)["approvals"].as_array()?.len() == 1).then_some(())
    });
    daemon.signal("TERM");
    let _ = daemon.wait();

    std::fs::remove_dir_all(home.path().join("state.sled")).expect("delete state.sled");
    let _daemon = home.start_daemon();

    let restored = promotion(&home, &dev);
    assert!(restored["mergeCommit"].is_string(), "{restored}");
    let resumed = eventually("prod to come back with alice's review", || {
        let view = promotion(&home, &prod);
        (view["approvals"].as_array()?.len() == 1).then_some(view)
    });
    assert_eq!(resumed["state"], "ChangeProposed", "{resumed}");
    runtime
        .block_on(fake.review(&pull, "bob", "APPROVED"))
        .expect("review");
    eventually("prod to run v1.0.0", || {
        (promotion(&home, &prod)["state"] == "Healthy").then_some(())
    });

    let newest = promote(&home, "v1.1.0", "dev");
    assert!(newest != dev && newest != prod, "{newest} repeats an id");
    eventually("dev to run v1.1.0", || {
        (promotion(&home, &newest)["state"] == "Healthy").then_some(())
    });
    let merged = runtime
        .block_on(fake.pulls())
        .into_iter()
        .filter(|p| p.merge_commit.is_some())
        .count();
    assert_eq!(merged, 3, "each promotion merged once");
}

#[test]
fn rejected_and_cancelled_pull_requests_come_back_with_who_decided_and_why_after_the_database_is_lost()
 {
    let runtime = tokio::runtime::Runtime::new().expect("runtime for the fake GitHub");
    let fake = runtime.block_on(GithubFake::start());
    let home = TestHome::new();
    fake.configure_home(home.path());
    let mut daemon = home.start_daemon();
    PackageDir::new("my-package", &[]).publish(&home, "v1.0.0");
    let awaiting_review = |id: &str| {
        eventually(&format!("{id} to wait for a review"), || {
            (promotion(&home, id)["state"] == "ChangeProposed").then_some(())
        });
    };
    let rejected = promote(&home, "v1.0.0", "int");
    awaiting_review(&rejected);
    let output = home.dk(&["reject", &rejected, "--reason", "not before the audit -->"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let cancelled = promote(&home, "v1.0.0", "int");
    awaiting_review(&cancelled);
    let output = home.dk(&["cancel", &cancelled, "--reason", "wrong version"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let by_hand = promote(&home, "v1.0.0", "int");
    awaiting_review(&by_hand);
    let pull = runtime
        .block_on(fake.pulls())
        .into_iter()
        .find(|p| p.head_ref.ends_with(&format!("/{by_hand}")))
        .expect("its pull request");
    runtime.block_on(fake.close_by_hand(&pull.number.to_string()));
    eventually(
        "the pull request closed by hand to end its promotion",
        || (promotion(&home, &by_hand)["state"] == "Rejected").then_some(()),
    );
    let decided = |id: &str| {
        let view = promotion(&home, id);
        let field = |key: &str| view[key].as_str().unwrap_or_default().to_owned();
        (field("state"), field("message"))
    };
    let me = os_user();
    let before = [decided(&rejected), decided(&cancelled)];
    assert_eq!(
        before,
        [
            (
                "Rejected".to_owned(),
                format!("rejected by {me}: not before the audit -->")
            ),
            (
                "Cancelled".to_owned(),
                format!("cancelled by {me}: wrong version")
            ),
        ]
    );
    daemon.signal("TERM");
    let _ = daemon.wait();

    std::fs::remove_dir_all(home.path().join("state.sled")).expect("delete state.sled");
    let _daemon = home.start_daemon();

    assert_eq!(
        [decided(&rejected), decided(&cancelled)],
        before,
        "as before the database was lost"
    );
    let (state, message) = decided(&by_hand);
    assert_eq!(state, "Rejected", "{message}");
    assert!(message.contains("closed without merging"), "{message}");
}
