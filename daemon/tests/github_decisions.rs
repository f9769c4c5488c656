//! `dk reject` and `dk cancel` with `forge: github` against the fake GitHub, through the
//! real binaries (issue 11): a rejection asks GitHub for a request-changes review carrying
//! the reason, then closes the pull request with a comment; a cancel closes it with a
//! comment; a pull request a person closes on GitHub ends its promotion as Rejected.

#[path = "../../tests/support/github_fake/mod.rs"]
mod github_fake;
#[path = "../../tests/support/mod.rs"]
mod support;

use github_fake::{BOT, GithubFake, PullRecord};
use support::{TestHome, eventually, json, os_user, package::PackageDir, stderr, stdout};

/// Promotes my-package v1.0.0 to int and waits for its pull request; the promotion's id.
fn promote_to_int(home: &TestHome) -> String {
    let promoted = json(&home.dk(&[
        "-o",
        "json",
        "promote",
        "my-package",
        "v1.0.0",
        "--to",
        "int",
    ]));
    let id = promoted["promotion"]["id"].as_str().expect("id").to_owned();
    eventually("int to wait for a review", || {
        (state(home, &id)["state"] == "ChangeProposed").then_some(())
    });
    id
}

fn state(home: &TestHome, id: &str) -> serde_json::Value {
    home.history("my-package")
        .into_iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("{id} in history"))
}

/// The pull request of promotion `id`.
fn pull_of(runtime: &tokio::runtime::Runtime, fake: &GithubFake, id: &str) -> PullRecord {
    let suffix = format!("/{id}");
    runtime
        .block_on(fake.pulls())
        .into_iter()
        .find(|p| p.head_ref.ends_with(&suffix))
        .unwrap_or_else(|| panic!("a pull request for {id}"))
}

#[test]
fn reject_and_cancel_close_the_pull_request_and_a_pull_request_closed_by_hand_ends_it() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime for the fake GitHub");
    let fake = runtime.block_on(GithubFake::start());
    let home = TestHome::new();
    fake.configure_home(home.path());
    let daemon = home.start_daemon();
    PackageDir::new("my-package", &[]).publish(&home, "v1.0.0");
    let dev = home.dk(&["promote", "my-package", "v1.0.0", "--to", "dev", "--wait"]);
    assert!(
        dev.status.success(),
        "{}{}\n{}",
        stdout(&dev),
        stderr(&dev),
        daemon.log()
    );
    let me = os_user();

    // Reject: the review is asked for on the wire with the reason; GitHub refuses a
    // request for changes on a pull request its own author (dkd's account) opened, so the
    // closing comment carries who and why.
    let rejected_id = promote_to_int(&home);
    let rejected = home.dk(&[
        "-o",
        "json",
        "reject",
        &rejected_id,
        "--reason",
        "not before the audit",
    ]);
    assert!(rejected.status.success(), "{}", stderr(&rejected));
    let rejected = json(&rejected);
    assert_eq!(rejected["state"], "Rejected", "{rejected}");
    assert_eq!(
        rejected["message"],
        format!("rejected by {me}: not before the audit").as_str()
    );
    let pull = pull_of(&runtime, &fake, &rejected_id);
    let reviews = runtime.block_on(fake.review_requests());
    let review = reviews
        .iter()
        .find(|r| r.pull == pull.number)
        .expect("a review requested for the pull request");
    assert_eq!(review.event, "REQUEST_CHANGES", "{review:?}");
    assert_eq!(review.user, BOT);
    assert!(
        review.body.contains("not before the audit") && review.body.contains(&me),
        "{review:?}"
    );
    assert!(!pull.open, "closed: {pull:?}");
    assert!(
        pull.comments
            .iter()
            .any(|c| c.contains(&format!("rejected by {me}: not before the audit"))),
        "{pull:?}"
    );
    assert!(
        !runtime.block_on(fake.has_branch(&pull.head_ref)),
        "branch deleted"
    );
    let again = home.dk(&["reject", &rejected_id, "--reason", "again"]);
    assert_eq!(again.status.code(), Some(4), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already Rejected"),
        "{}",
        stderr(&again)
    );

    // Cancel: closed with a comment.
    let cancelled_id = promote_to_int(&home);
    let cancelled = home.dk(&["cancel", &cancelled_id, "--reason", "wrong version"]);
    assert!(cancelled.status.success(), "{}", stderr(&cancelled));
    assert_eq!(state(&home, &cancelled_id)["state"], "Cancelled");
    let pull = pull_of(&runtime, &fake, &cancelled_id);
    assert!(!pull.open, "closed: {pull:?}");
    assert!(
        pull.comments
            .iter()
            .any(|c| c.contains(&format!("cancelled by {me}: wrong version"))),
        "{pull:?}"
    );

    // A pull request closed by hand on GitHub ends the promotion as Rejected.
    let closed_id = promote_to_int(&home);
    let pull = pull_of(&runtime, &fake, &closed_id);
    runtime.block_on(fake.close_by_hand(&pull.number.to_string()));
    let ended = eventually("the promotion to end with its pull request", || {
        let view = state(&home, &closed_id);
        (view["state"] == "Rejected").then_some(view)
    });
    assert!(
        ended["message"]
            .as_str()
            .is_some_and(|m| m.contains("closed without merging")),
        "{ended}"
    );
    let cancel_closed = home.dk(&["cancel", &closed_id]);
    assert_eq!(
        cancel_closed.status.code(),
        Some(4),
        "{}",
        stderr(&cancel_closed)
    );

    let history = stdout(&home.dk(&["history", "my-package"]));
    assert!(history.contains("Rejected: rejected by"), "{history}");
    assert!(history.contains("Cancelled: cancelled by"), "{history}");
}
