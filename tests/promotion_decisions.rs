//! `dk promotions`, `dk reject` and `dk cancel` on the embedded forge (issue 11), through
//! the real binaries with callers authenticated by service tokens on the TLS listener:
//! every filter of the list, RBAC read filtering, who may reject and cancel, refusals of
//! finished promotions, and the decisions in history, Watch and the audit log.

mod support;

use std::{collections::BTreeSet, time::Duration};

use datakit::proto::{
    WatchRequest, data_kit_service_client::DataKitServiceClient, watch_event::Event,
};
use serde_json::Value;
use support::{
    TestHome, eventually, git, json, package::PackageDir, shared::Shared, shared::refused, stderr,
    stdout,
};
use tokio_stream::StreamExt;

/// Everyone named may do everything but admin; dev-bot only in dev.
const POLICY: &str = "roles:
  everything:
    - actions: [read, promote, rollback, approve]
      environments: [\"*\"]
  dev-only:
    - actions: [read, promote, rollback, approve]
      environments: [dev]
bindings:
  - role: everything
    users: [carol, lead-bot]
  - role: dev-only
    users: [dev-bot]
";

/// The ids of a `dk -o json promotions …` answer, as a set.
fn ids(output: &std::process::Output) -> BTreeSet<String> {
    assert!(output.status.success(), "{}", stderr(output));
    json(output)
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Promotes `package` v1.0.0 to `env` as the holder of `token` (the socket's owner when
/// `None`); the new promotion's id.
fn promote(shared: &Shared, token: Option<&str>, package: &str, env: &str) -> String {
    let args = ["-o", "json", "promote", package, "v1.0.0", "--to", env];
    let output = match token {
        Some(token) => shared.dk_as(token, &args),
        None => shared.home.dk(&args),
    };
    assert!(output.status.success(), "{}", stderr(&output));
    json(&output)["promotion"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

fn state_of(home: &TestHome, package: &str, id: &str) -> Value {
    home.history(package)
        .into_iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("{id} in the history of {package}"))
}

fn branches(home: &TestHome) -> String {
    git(
        home.path(),
        &[
            "--git-dir",
            "deploy.git",
            "for-each-ref",
            "--format=%(refname)",
        ],
    )
}

#[test]
fn promotions_lists_across_packages_with_every_filter_and_reject_and_cancel_end_them() {
    let shared = Shared::start("");
    shared.set_policy(POLICY);
    let carol = shared.token(&["carol", "--groups", "team-leads"]);
    let lead = shared.token(&["lead-bot", "--groups", "team-leads"]);
    let dev_bot = shared.token(&["dev-bot", "--groups", "team-leads"]);
    for package in ["my-package", "other-package"] {
        PackageDir::new(package, &[]).publish(&shared.home, "v1.0.0");
        let dev = shared
            .home
            .dk(&["promote", package, "v1.0.0", "--to", "dev", "--wait"]);
        assert!(dev.status.success(), "{}", stderr(&dev));
    }
    let mine = promote(&shared, Some(&carol), "my-package", "int");
    let other = promote(&shared, None, "other-package", "int");
    eventually("both int promotions to wait for approval", || {
        let waiting = ids(&shared
            .home
            .dk(&["-o", "json", "promotions", "--state", "waiting"]));
        (waiting == set(&[&mine, &other])).then_some(())
    });

    // The list and its filters.
    let unfinished = ids(&shared.home.dk(&["-o", "json", "promotions"]));
    assert_eq!(unfinished, set(&[&mine, &other]), "dev ones are finished");
    let healthy_dev = json(&shared.home.dk(&[
        "-o",
        "json",
        "promotions",
        "--env",
        "dev",
        "--state",
        "healthy",
    ]));
    let healthy_dev = healthy_dev.as_array().expect("array");
    assert_eq!(healthy_dev.len(), 2, "{healthy_dev:?}");
    assert!(
        healthy_dev
            .iter()
            .all(|p| p["environment"] == "dev" && p["state"] == "Healthy")
    );
    assert_eq!(
        ids(&shared.home.dk(&[
            "-o",
            "json",
            "promotions",
            "--state",
            "open,Failed",
            "--env",
            "int"
        ])),
        set(&[&mine, &other])
    );
    assert_eq!(
        ids(&shared.dk_as(&carol, &["-o", "json", "promotions", "--mine"])),
        set(&[&mine])
    );
    assert_eq!(
        ids(&shared.dk_as(&carol, &["-o", "json", "promotions", "--to-approve"])),
        set(&[&other]),
        "not her own promotion"
    );
    assert_eq!(
        ids(&shared.dk_as(&lead, &["-o", "json", "promotions", "--to-approve"])),
        set(&[&mine, &other])
    );
    assert_eq!(
        ids(&shared.dk_as(&dev_bot, &["-o", "json", "promotions", "--to-approve"])),
        set(&[]),
        "in team-leads, but RBAC allows dev-bot to approve in dev only"
    );
    let seen_by_dev_bot = json(&shared.dk_as(
        &dev_bot,
        &["-o", "json", "promotions", "--state", "finished,unfinished"],
    ));
    let seen_by_dev_bot = seen_by_dev_bot.as_array().expect("array");
    assert_eq!(seen_by_dev_bot.len(), 2, "{seen_by_dev_bot:?}");
    assert!(seen_by_dev_bot.iter().all(|p| p["environment"] == "dev"));
    let table = shared.home.dk(&["promotions"]);
    let table = stdout(&table);
    assert!(
        table.starts_with("ID") && table.contains("Package"),
        "{table}"
    );
    assert!(
        table.contains(&other) && table.contains("other-package"),
        "{table}"
    );
    let unknown = shared.home.dk(&["promotions", "--state", "pending"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
    assert!(stderr(&unknown).contains("waiting"), "{}", stderr(&unknown));

    // Approving takes a promotion off lead-bot's list.
    let approved = shared.dk_as(&lead, &["approve", &mine]);
    assert!(approved.status.success(), "{}", stderr(&approved));
    assert_eq!(
        ids(&shared.dk_as(&lead, &["-o", "json", "promotions", "--to-approve"])),
        set(&[&other])
    );
    eventually("my-package to run in int", || {
        (state_of(&shared.home, "my-package", &mine)["state"] == "Healthy").then_some(())
    });

    // Watch from here on: the decisions must show as events.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut stream = runtime.block_on(async {
        let mut client = DataKitServiceClient::new(support::channel(&shared.home.socket()).await);
        let mut stream = client
            .watch(WatchRequest::default())
            .await
            .expect("watch")
            .into_inner();
        let snapshot = stream.next().await.expect("snapshot").expect("event");
        assert!(matches!(snapshot.event, Some(Event::Snapshot(_))));
        stream
    });

    // Reject: a reason is required, an approver's right in the environment, and only
    // before the promotion finished.
    let missing = shared.dk_as(&lead, &["reject", &other]);
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    let empty = shared.dk_as(&lead, &["reject", &other, "--reason", "  "]);
    assert_eq!(empty.status.code(), Some(2), "{}", stderr(&empty));
    refused(
        &shared.dk_as(&dev_bot, &["reject", &other, "--reason", "no"]),
        &["dev-bot", "approve"],
    );
    refused(
        &shared.dk_as(&lead, &["reject", &mine, "--reason", "too late"]),
        &[&mine, "already Healthy"],
    );
    let rejected = shared.dk_as(
        &lead,
        &["reject", &other, "--reason", "not before the audit"],
    );
    assert!(rejected.status.success(), "{}", stderr(&rejected));
    assert!(
        stdout(&rejected).contains("rejected by lead-bot: not before the audit"),
        "{}",
        stdout(&rejected)
    );
    let view = state_of(&shared.home, "other-package", &other);
    assert_eq!(view["state"], "Rejected", "{view}");
    let branch = format!("refs/heads/promote/int/other-package/{other}");
    let closed = format!("refs/closed/promote/int/other-package/{other}");
    let refs = branches(&shared.home);
    assert!(!refs.contains(&branch) && refs.contains(&closed), "{refs}");

    // Cancel: the promoter (or an admin) only, and only before it finished.
    let prod = promote(&shared, Some(&carol), "my-package", "prod");
    refused(
        &shared.dk_as(&lead, &["cancel", &prod]),
        &["only carol", "or an admin"],
    );
    let cancelled = shared.dk_as(
        &carol,
        &["-o", "json", "cancel", &prod, "--reason", "wrong window"],
    );
    assert!(cancelled.status.success(), "{}", stderr(&cancelled));
    let cancelled = json(&cancelled);
    assert_eq!(cancelled["state"], "Cancelled", "{cancelled}");
    assert_eq!(cancelled["message"], "cancelled by carol: wrong window");
    refused(
        &shared.dk_as(&carol, &["cancel", &prod]),
        &[&prod, "already Cancelled"],
    );
    assert!(
        !branches(&shared.home).contains(&format!("refs/heads/promote/prod/my-package/{prod}")),
        "the change request is closed"
    );

    // History shows who and why.
    let history = stdout(&shared.home.dk(&["history", "other-package"]));
    assert!(
        history.contains("Rejected: rejected by lead-bot: not before the audit"),
        "{history}"
    );
    let history = stdout(&shared.home.dk(&["history", "my-package"]));
    assert!(
        history.contains("Cancelled: cancelled by carol: wrong window"),
        "{history}"
    );

    // Watch saw both.
    runtime.block_on(async {
        let mut seen = BTreeSet::new();
        while seen.len() < 2 {
            let event = tokio::time::timeout(Duration::from_secs(20), stream.next())
                .await
                .expect("the decisions as Watch events")
                .expect("stream open")
                .expect("event");
            if let Some(Event::Promotion(promotion)) = event.event {
                let state = datakit::proto::PromotionState::try_from(promotion.state);
                if (promotion.id == other && state == Ok(datakit::proto::PromotionState::Rejected))
                    || (promotion.id == prod
                        && state == Ok(datakit::proto::PromotionState::Cancelled))
                {
                    seen.insert(promotion.id);
                }
            }
        }
    });

    // The audit log records each decision and each refusal.
    let audit = json(&shared.home.dk(&["-o", "json", "audit"]));
    let audit = audit.as_array().expect("events");
    let recorded = |method: &str, principal: &str, outcome: &str| {
        audit.iter().any(|e| {
            e["rpc"] == format!("/datakit.v1.DataKitService/{method}").as_str()
                && e["principal"] == principal
                && e["outcome"] == outcome
        })
    };
    assert!(recorded("Reject", "lead-bot", "ok"), "{audit:#?}");
    assert!(
        recorded("Reject", "dev-bot", "PERMISSION_DENIED"),
        "{audit:#?}"
    );
    assert!(recorded("Cancel", "carol", "ok"), "{audit:#?}");
    assert!(
        recorded("Cancel", "lead-bot", "PERMISSION_DENIED"),
        "{audit:#?}"
    );
}
