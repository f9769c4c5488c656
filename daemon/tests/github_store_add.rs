//! `dk store add` with `forge: github` (the fake GitHub) through the real binaries: a dev
//! store is proposed as a pull request and merged by dkd once its checks pass (dev
//! auto-merges), then served; an int store's pull request waits for its review and is
//! merged by dkd once a @team-leads member approves it.

#[path = "../../tests/support/github_fake/mod.rs"]
mod github_fake;
#[path = "../../tests/support/mod.rs"]
mod support;

use github_fake::GithubFake;
use support::{TestHome, eventually, json};

fn add(home: &TestHome, env: &str) -> serde_json::Value {
    json(&home.dk(&[
        "-o",
        "json",
        "store",
        "add",
        env,
        "events-store",
        "--type",
        "kafka-topic",
        "--set",
        &format!("brokers={env}-kafka:9092"),
        "--set",
        "topic=user-events",
    ]))
}

#[test]
fn store_add_opens_a_pull_request_merged_in_dev_and_merged_after_its_review_in_int() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime for the fake GitHub");
    let fake = runtime.block_on(GithubFake::start());
    let home = TestHome::new();
    fake.configure_home(home.path());
    let _daemon = home.start_daemon();

    let dev = add(&home, "dev");
    assert_eq!(dev["merged"], true, "{dev}");
    let served = runtime.block_on(fake.read_base("environments/dev/stores/events-store.yaml"));
    assert!(
        served.is_some_and(|text| text.contains("dev-kafka:9092")),
        "not on main"
    );
    let listing = json(&home.dk(&["-o", "json", "env", "show", "dev"]));
    assert!(listing.to_string().contains("events-store"), "{listing}");

    let int = add(&home, "int");
    assert_eq!(int["merged"], false, "{int}");
    let pulls = runtime.block_on(fake.pulls());
    let store_pulls: Vec<_> = pulls
        .iter()
        .filter(|p| p.head_ref.contains("/stores/events-store/"))
        .collect();
    assert_eq!(store_pulls.len(), 2, "{pulls:?}");
    assert!(store_pulls[0].merge_commit.is_some() && !store_pulls[0].open);
    assert!(store_pulls[1].open && store_pulls[1].merge_commit.is_none());
    let message = int["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("needs 1 approval from @team-leads")
            && message.contains(&format!("/pull/{}", store_pulls[1].number)),
        "{int}"
    );
    assert!(
        runtime
            .block_on(fake.read_base("environments/int/stores/events-store.yaml"))
            .is_none()
    );

    // An approving review by a @team-leads member: dkd merges it and serves the store.
    runtime
        .block_on(fake.review(&store_pulls[1].number.to_string(), "alice", "APPROVED"))
        .expect("review");
    let id = int["id"].as_str().expect("id").to_owned();
    eventually("the int store change to be served", || {
        let listed = json(&home.dk(&[
            "-o",
            "json",
            "promotions",
            "--env",
            "int",
            "--state",
            "finished",
        ]));
        listed
            .as_array()
            .and_then(|all| {
                all.iter()
                    .find(|p| p["id"] == id && p["state"] == "Healthy")
            })
            .cloned()
    });
    assert!(
        runtime
            .block_on(fake.read_base("environments/int/stores/events-store.yaml"))
            .is_some_and(|text| text.contains("int-kafka:9092"))
    );
    let shown = json(&home.dk(&["-o", "json", "env", "show", "int"]));
    assert!(shown.to_string().contains("events-store"), "{shown}");
}
