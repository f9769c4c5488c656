//! dev → int → prod through the real `dkd` and `dk` binaries with `forge: github` in
//! `dkd.yaml` pointing at the fake GitHub (under a GitHub Enterprise style `/api/v3`
//! root): the repository needs no `config/teams.yaml` (and a stale one is not read), dev
//! auto-merges, int and prod wait for pull-request reviews by GitHub team members, and a
//! rate-limited GitHub leaves prod waiting, then completes it once.

#[path = "../../tests/support/github_fake/mod.rs"]
mod github_fake;
#[path = "../../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use github_fake::GithubFake;
use support::{TestHome, eventually, json, package::PackageDir, stderr, stdout};

fn status_of(home: &TestHome, env: &str) -> serde_json::Value {
    json(&home.dk(&[
        "-o",
        "json",
        "promote",
        "my-package",
        "v1.0.0",
        "--to",
        env,
        "--status",
    ]))
}

/// The number of the pull request opened for `env`.
fn pull_for(runtime: &tokio::runtime::Runtime, fake: &GithubFake, env: &str) -> String {
    let prefix = format!("promote/{env}/");
    let pulls = runtime.block_on(fake.pulls());
    let numbers: Vec<String> = pulls
        .iter()
        .filter(|p| p.head_ref.starts_with(&prefix))
        .map(|p| p.number.to_string())
        .collect();
    assert_eq!(numbers.len(), 1, "one pull request for {env}: {pulls:?}");
    numbers[0].clone()
}

#[test]
fn dev_int_prod_on_github_with_reviews_and_a_rate_limit_waited_out() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime for the fake GitHub");
    let fake = runtime.block_on(GithubFake::start());
    let home = TestHome::new();
    fake.configure_home(home.path());
    let daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    let digest = package.publish(&home, "v1.0.0");

    // The GitHub teams are the groups: with no config/teams.yaml, prod's "2 approvals
    // including @security" is accepted, and a teams.yaml too small for it is not read.
    let listing = json(&home.dk(&["-o", "json", "env", "list"]));
    assert_eq!(listing["problems"], serde_json::json!([]), "{listing}");
    assert_eq!(
        listing["environments"][2]["approval"]["description"],
        "2 approvals including one from each of @team-leads and @security"
    );
    let stale_teams =
        runtime.block_on(fake.push_to_base("config/teams.yaml", "teams:\n  team-leads: [alice]\n"));
    let listing = eventually(
        "the revision with a small teams.yaml to be examined",
        || {
            let listing = json(&home.dk(&["-o", "json", "env", "list"]));
            (listing["revision"] == stale_teams.as_str()
                || listing["problems"] != serde_json::json!([]))
            .then_some(listing)
        },
    );
    assert_eq!(
        listing["problems"],
        serde_json::json!([]),
        "accepted: {listing}"
    );

    // dev: auto-merge once the check runs are green.
    let dev = home.dk(&["promote", "my-package", "v1.0.0", "--to", "dev", "--wait"]);
    assert!(
        dev.status.success(),
        "{}{}\n{}",
        stdout(&dev),
        stderr(&dev),
        daemon.log()
    );
    let manifest = runtime
        .block_on(fake.read_base("environments/dev/my-package.yaml"))
        .expect("dev manifest on main");
    assert!(manifest.contains(&digest), "{manifest}");
    pull_for(&runtime, &fake, "dev");

    // int: one approval from @team-leads, given as a review on GitHub.
    home.dk(&["promote", "my-package", "v1.0.0", "--to", "int"]);
    let waiting = eventually("int to wait for a review", || {
        let view = status_of(&home, "int");
        (view["state"] == "ChangeProposed" && view["approvalsNeeded"].is_string()).then_some(view)
    });
    assert_eq!(
        waiting["approvalsNeeded"], "needs 1 approval from @team-leads",
        "{waiting}"
    );
    let id = waiting["id"].as_str().expect("id").to_owned();
    let refused = home.dk(&["approve", &id]);
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("approve the pull request on GitHub"),
        "{}",
        stderr(&refused)
    );
    let int_pull = pull_for(&runtime, &fake, "int");
    runtime
        .block_on(fake.review(&int_pull, "carol", "APPROVED"))
        .expect("review");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        status_of(&home, "int")["state"],
        "ChangeProposed",
        "carol is in no team"
    );
    runtime
        .block_on(fake.review(&int_pull, "alice", "APPROVED"))
        .expect("review");
    eventually("int to run v1.0.0", || {
        (status_of(&home, "int")["state"] == "Healthy").then_some(())
    });

    // prod: two approvals including @security; GitHub then rate-limits dkd for a while.
    home.dk(&["promote", "my-package", "v1.0.0", "--to", "prod"]);
    eventually("prod to wait for reviews", || {
        (status_of(&home, "prod")["state"] == "ChangeProposed").then_some(())
    });
    let prod_pull = pull_for(&runtime, &fake, "prod");
    runtime.block_on(fake.rate_limit_for(Duration::from_secs(4)));
    for user in ["alice", "bob"] {
        runtime
            .block_on(fake.review(&prod_pull, user, "APPROVED"))
            .expect("review");
    }
    let limited = eventually("prod to say it waits for the rate limit", || {
        let view = status_of(&home, "prod");
        view["message"]
            .as_str()
            .is_some_and(|m| m.contains("rate limit"))
            .then_some(view)
    });
    assert!(
        !matches!(limited["state"].as_str(), Some("Failed" | "Rejected")),
        "{limited}"
    );
    eventually("prod to run v1.0.0", || {
        (status_of(&home, "prod")["state"] == "Healthy").then_some(())
    });
    pull_for(&runtime, &fake, "prod");
    let prod = runtime
        .block_on(fake.read_base("environments/prod/my-package.yaml"))
        .expect("prod manifest on main");
    assert!(
        prod.contains("namespace: production") && prod.contains(&digest),
        "{prod}"
    );
    let merged: Vec<_> = runtime
        .block_on(fake.pulls())
        .into_iter()
        .filter(|p| p.merge_commit.is_some())
        .collect();
    assert_eq!(merged.len(), 3, "each environment merged once: {merged:?}");
}
