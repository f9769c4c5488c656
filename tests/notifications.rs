//! Outgoing webhooks (issue 12 item 6) through the real binaries and a loopback receiver:
//! signed JSON and Slack bodies for a promotion's steps, a 500 retried and delivered once,
//! a 400 given up at once and shown by `dk notifications status`, nothing sent twice
//! across a restart of dkd, holds set and released, and configuration mistakes named by
//! key.

mod support;

use std::collections::BTreeMap;

use support::{
    TestHome, eventually, json,
    package::PackageDir,
    stderr, stdout,
    webhook::{Received, WebhookReceiver},
};

const SECRET: &str = "s3cret-for-tests";

/// Whether `received` carries `X-DataKit-Signature: sha256=HEX` with HEX the HMAC-SHA256
/// of its body under `secret` (computed with the `hmac` crate, not dkd's code).
fn signed_with(received: &Received, secret: &[u8]) -> bool {
    use hmac::{Hmac, Mac};
    let Some(hex) = received
        .signature
        .as_deref()
        .and_then(|s| s.strip_prefix("sha256="))
    else {
        return false;
    };
    let mut mac = Hmac::<sha2_010::Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(&received.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected == hex
}

/// A demo home (approvals `--as`) whose dkd.yaml has `webhooks` (YAML list items).
fn home_with(webhooks: &str) -> TestHome {
    let home = TestHome::new();
    std::fs::write(home.path().join("hook.secret"), format!("{SECRET}\n")).expect("secret");
    std::fs::write(
        home.path().join("dkd.yaml"),
        format!("forge:\n  type: embedded\n  asserted_approvers: true\nnotifications:\n{webhooks}"),
    )
    .expect("write dkd.yaml");
    home
}

fn promote(home: &TestHome, env: &str, wait: bool) -> String {
    let mut args = vec!["-o", "json", "promote", "my-package", "v1.0.0", "--to", env];
    if wait {
        args.push("--wait");
    }
    let output = home.dk(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    support::last_json(&output)["promotion"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// The event names of `received`, in order.
fn events(received: &[Received]) -> Vec<String> {
    received.iter().map(|r| r.event.clone()).collect()
}

/// How many POSTs each delivery id got.
fn attempts(received: &[Received]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in received {
        *counts.entry(r.delivery.clone()).or_insert(0) += 1;
    }
    counts
}

fn status(home: &TestHome) -> serde_json::Value {
    let output = home.dk(&["-o", "json", "notifications", "status"]);
    assert!(output.status.success(), "{}", stderr(&output));
    json(&output)
}

#[test]
fn a_promotions_steps_arrive_signed_a_500_is_retried_once_and_a_restart_sends_nothing_twice() {
    // The first POST gets a 500; every later one is taken.
    let receiver = WebhookReceiver::start(&[500], 200);
    let slack = WebhookReceiver::start(&[], 200);
    let home = home_with(&format!(
        "  - {{ name: audit, url: \"{}\", secret_file: hook.secret, timeout_ms: 2000 }}\n  - {{ name: chat, url: \"{}\", format: slack, events: [promotion.waiting_for_approval] }}\n",
        receiver.url, slack.url
    ));
    let mut daemon = home.start_daemon();
    PackageDir::new("my-package", &[]).publish(&home, "v1.0.0");

    let dev = promote(&home, "dev", true);
    let int = promote(&home, "int", false);
    let waiting = eventually("int's waiting-for-approval notice", || {
        receiver
            .taken()
            .into_iter()
            .find(|r| r.event == "promotion.waiting_for_approval")
    });
    let body = waiting.json();
    assert_eq!(body["promotion"]["id"], int.as_str(), "{body}");
    assert_eq!(body["needs"], "needs 1 approval from @team-leads", "{body}");
    let chat = eventually("the Slack notice", || slack.taken().into_iter().next());
    assert_eq!(
        chat.json(),
        serde_json::json!({
            "text": format!("my-package v1.0.0 → int is waiting for approval: needs 1 approval from @team-leads ({int})")
        })
    );
    assert_eq!(
        chat.signature, None,
        "a Slack webhook without a secret signs nothing"
    );

    // dkd stops and starts again between steps: what was delivered is not sent again.
    daemon.signal("TERM");
    assert!(daemon.wait().status.success());
    let _daemon = home.start_daemon();
    let approved = home.dk(&["approve", &int, "--as", "alice"]);
    assert!(approved.status.success(), "{}", stderr(&approved));
    eventually("int's Healthy notice", || {
        receiver
            .taken()
            .iter()
            .any(|r| r.event == "promotion.healthy" && r.json()["promotion"]["id"] == int.as_str())
            .then_some(())
    });

    let received = receiver.received();
    assert!(
        received.iter().all(|r| signed_with(r, SECRET.as_bytes())),
        "every POST carries a valid signature"
    );
    assert!(!signed_with(&received[0], b"another secret"));
    let counts = attempts(&received);
    assert_eq!(received[0].answered, 500);
    assert_eq!(
        counts[&received[0].delivery], 2,
        "the 500 was retried once: {counts:?}"
    );
    let taken = receiver.taken();
    assert_eq!(
        attempts(&taken).values().max(),
        Some(&1),
        "each delivery taken exactly once: {:?}",
        events(&taken)
    );
    let of = |id: &str| -> Vec<String> {
        taken
            .iter()
            .filter(|r| r.json()["promotion"]["id"] == id)
            .map(|r| r.event.clone())
            .collect()
    };
    assert_eq!(
        of(&dev),
        ["promotion.opened", "promotion.merged", "promotion.healthy"]
    );
    assert_eq!(
        of(&int),
        [
            "promotion.opened",
            "promotion.waiting_for_approval",
            "promotion.merged",
            "promotion.healthy"
        ]
    );
    assert_eq!(
        slack.taken().len(),
        1,
        "chat only asked for waiting_for_approval"
    );

    let status = status(&home);
    assert_eq!(status[0]["name"], "audit", "{status}");
    assert_eq!(status[0]["deliveredEvent"], "promotion.healthy", "{status}");
    assert_eq!(status[0]["consecutiveFailures"], 0, "{status}");
    assert!(status[0]["lastSuccess"].is_string(), "{status}");
    assert_eq!(
        status[1]["destination"],
        slack.url.trim_end_matches("/hook"),
        "{status}"
    );
}

#[test]
fn a_hold_set_and_released_arrive_as_signed_hold_notices() {
    let receiver = WebhookReceiver::start(&[], 200);
    let home = home_with(&format!(
        "  - {{ name: audit, url: \"{}\", secret_file: hook.secret, events: [hold.set, hold.released] }}\n",
        receiver.url
    ));
    let _daemon = home.start_daemon();
    PackageDir::new("my-package", &[]).publish(&home, "v1.0.0");
    promote(&home, "dev", true);
    let me = support::os_user();
    for args in [
        &[
            "hold",
            "my-package",
            "--env",
            "dev",
            "--reason",
            "incident 7",
        ][..],
        &[
            "hold",
            "release",
            "my-package",
            "--env",
            "dev",
            "--reason",
            "fixed",
        ],
    ] {
        let output = home.dk(args);
        assert!(output.status.success(), "dk {args:?}: {}", stderr(&output));
    }
    let taken = eventually("both hold notices", || {
        let taken = receiver.taken();
        (taken.len() >= 2).then_some(taken)
    });
    assert_eq!(events(&taken), ["hold.set", "hold.released"]);
    assert!(taken.iter().all(|r| signed_with(r, SECRET.as_bytes())));
    let set = taken[0].json();
    assert_eq!(
        set["summary"],
        format!(
            "my-package is held in dev: manual hold by {me} since {}: incident 7",
            set["hold"]["set_at"].as_str().expect("set_at")
        ),
        "{set}"
    );
    assert_eq!(set["hold"]["reason"], "incident 7", "{set}");
    let released = taken[1].json();
    assert_eq!(
        released["summary"],
        format!("the manual hold on my-package in dev was released by {me}: fixed"),
        "{released}"
    );
    assert_eq!(
        released["hold"]["released"]["by"],
        me.as_str(),
        "{released}"
    );
}

#[test]
fn a_refused_delivery_is_not_retried_and_shows_in_notifications_status() {
    let receiver = WebhookReceiver::start(&[], 400);
    let home = home_with(&format!(
        "  - {{ name: audit, url: \"{}\", secret_file: hook.secret, events: [promotion.healthy] }}\n",
        receiver.url
    ));
    let _daemon = home.start_daemon();
    PackageDir::new("my-package", &[]).publish(&home, "v1.0.0");
    promote(&home, "dev", true);
    let status = eventually("the refusal in dk notifications status", || {
        let status = status(&home);
        (status[0]["consecutiveFailures"] == 1).then_some(status)
    });
    let error = status[0]["lastError"].as_str().expect("lastError");
    assert!(
        error.contains("HTTP 400") && error.contains("not retried"),
        "{error}"
    );
    assert_eq!(status[0]["deliveredSequence"], 0, "{status}");
    assert_eq!(receiver.received().len(), 1, "a 400 is final");
    let table = stdout(&home.dk(&["notifications", "status"]));
    assert!(
        table.contains("audit") && table.contains("HTTP 400"),
        "{table}"
    );
}

#[test]
fn a_mistake_in_notifications_stops_dkd_naming_the_key() {
    for (webhook, key) in [
        (
            "{ name: a, url: \"ftp://example.com\", secret_file: hook.secret }",
            "notifications[0].url",
        ),
        (
            "{ name: a, url: \"http://127.0.0.1:1/\", secret_file: missing.secret }",
            "notifications[0].secret_file",
        ),
        (
            "{ name: a, url: \"http://127.0.0.1:1/\", secret_file: hook.secret, events: [promotion.exploded] }",
            "notifications[0].events",
        ),
        (
            "{ name: a, url: \"http://127.0.0.1:1/\", secret_file: hook.secret, retries: 3 }",
            "retries",
        ),
    ] {
        let home = home_with(&format!("  - {webhook}\n"));
        let output = support::Daemon::spawn(home.path()).wait();
        assert!(!output.status.success(), "{webhook}");
        assert!(
            stderr(&output).contains(key),
            "{webhook}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn after_the_state_database_is_lost_webhooks_resume_from_now_and_say_so() {
    let receiver = WebhookReceiver::start(&[], 200);
    let home = home_with(&format!(
        "  - {{ name: audit, url: \"{}\", secret_file: hook.secret }}\n",
        receiver.url
    ));
    let mut daemon = home.start_daemon();
    PackageDir::new("my-package", &[]).publish(&home, "v1.0.0");
    promote(&home, "dev", true);
    eventually("dev's Healthy notice", || {
        events(&receiver.taken())
            .contains(&"promotion.healthy".to_owned())
            .then_some(())
    });
    let before = receiver.received().len();
    daemon.signal("TERM");
    assert!(daemon.wait().status.success());
    std::fs::remove_dir_all(home.path().join("state.sled")).expect("delete state.sled");

    let _daemon = home.start_daemon();
    let int = promote(&home, "int", false);
    let waiting = eventually("int's waiting-for-approval notice", || {
        receiver
            .taken()
            .into_iter()
            .find(|r| r.event == "promotion.waiting_for_approval")
    });
    assert_eq!(waiting.json()["promotion"]["id"], int.as_str());
    let resent: Vec<String> = receiver.received()[before..]
        .iter()
        .filter(|r| r.json()["promotion"]["id"] != int.as_str())
        .map(|r| r.event.clone())
        .collect();
    assert_eq!(
        resent,
        Vec::<String>::new(),
        "nothing from before the loss is sent again"
    );
    let status = status(&home);
    let notice = status[0]["notice"].as_str().expect("notice");
    assert!(notice.contains("event log was reset"), "{notice}");
}
