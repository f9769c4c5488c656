//! Input that could hurt: a 20,000-character name, names that climb out of their folder,
//! terminal escapes in names and in the deployment repository, a password in the daemon
//! address, and a configuration over a YAML budget. Each one is refused or shown in one
//! short, escaped line, by `dk` before it connects and by `dkd` for any other client.

mod support;

use datakit::proto::{
    ApproveRequest, GetPromotionRequest, ListPromotionsRequest, LogsRequest, PromoteRequest,
    RollbackRequest, StatusRequest, WatchRequest, data_kit_service_client::DataKitServiceClient,
};
use support::{Clone, TestHome, eventually, stderr, stdout};
use tonic::{Code, transport::Channel};

/// What `dk` printed on stderr, after checking it is one line without a raw control
/// character.
fn one_safe_line(output: &std::process::Output) -> String {
    let message = stderr(output);
    assert_eq!(message.lines().count(), 1, "{message:?}");
    assert!(
        !message.trim_end().chars().any(char::is_control),
        "raw control character: {message:?}"
    );
    message
}

#[test]
fn a_twenty_thousand_character_name_is_refused_in_one_short_line_without_dkd() {
    let home = TestHome::new();
    let long = "a".repeat(20_000);
    // No dkd runs and none may start: dk refuses before it connects.
    for args in [
        &["promote", long.as_str(), "v1.0.0", "--to", "dev"][..],
        &["status", long.as_str()],
        &["history", "my-package", "--env", long.as_str()],
    ] {
        let output = home.dk(args);
        let message = one_safe_line(&output);
        assert_eq!(output.status.code(), Some(2), "{message}");
        assert!(message.len() < 400, "{message}");
        assert!(message.contains("… (20000 characters)"), "{message}");
    }
}

async fn client(home: &TestHome) -> DataKitServiceClient<Channel> {
    DataKitServiceClient::new(support::channel(&home.socket()).await)
}

/// Asserts `result` is InvalidArgument with a short, escaped one-line message.
fn invalid_argument<T: std::fmt::Debug>(what: &str, result: Result<T, tonic::Status>) {
    let status = result.expect_err(what);
    assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
    let message = status.message();
    assert!(
        message.chars().count() <= 1_000,
        "{what}: {}",
        message.len()
    );
    assert!(
        !message.chars().any(char::is_control),
        "{what}: {message:?}"
    );
}

#[tokio::test]
async fn dkd_answers_a_huge_name_or_version_with_a_short_invalid_argument() {
    datakit::install_crypto_provider();
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let mut dkd = client(&home).await;
    let long = "a".repeat(20_000);
    let promote = |package: &str, version: &str| PromoteRequest {
        package: package.into(),
        version: version.into(),
        environment: "dev".into(),
        ..Default::default()
    };
    invalid_argument(
        "a huge package name",
        dkd.promote(promote(&long, "v1.0.0")).await,
    );
    invalid_argument(
        "a huge version",
        dkd.promote(promote("my-package", &long)).await,
    );
    invalid_argument(
        "a huge promotion id",
        dkd.get_promotion(GetPromotionRequest {
            id: long.clone(),
            ..Default::default()
        })
        .await,
    );
    let escaped = dkd
        .promote(promote("my-package", "v1\u{1b}[31m"))
        .await
        .expect_err("malformed");
    assert!(
        escaped.message().contains("\\u{1b}[31m"),
        "{}",
        escaped.message()
    );
}

#[test]
fn invalid_names_exit_2_in_every_command_before_dk_connects() {
    let home = TestHome::new();
    for args in [
        &["history", "../x"][..],
        &["history", "my-package", "--env", "../x"],
        &["status", "../../x"],
        &["status", "--env", "../x"],
        &["status", "../x", "--watch"],
        &["logs", "../x", "--env", "dev"],
        &["logs", "my-package", "--env", "../x"],
        &["promote", "../x", "v1.0.0", "--to", "dev"],
        &["promote", "my-package", "v1.0.0", "--to", "../x"],
        &["promote", "../x", "v1.0.0", "--to", "dev", "--status"],
        &["rollback", "../x", "--env", "dev"],
        &["rollback", "my-package", "--env", "../x"],
        &["approve", "../p-1"],
        &["approve", "p-1", "--as", "../alice"],
        &["env", "show", "../x"],
    ] {
        let output = home.dk(args);
        let message = one_safe_line(&output);
        assert_eq!(output.status.code(), Some(2), "dk {args:?}: {message}");
        assert!(
            message.starts_with("error: invalid "),
            "dk {args:?}: {message}"
        );
    }
}

#[tokio::test]
async fn dkd_refuses_invalid_names_in_every_rpc_that_takes_one() {
    datakit::install_crypto_provider();
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let mut dkd = client(&home).await;
    let bad = "../x";
    invalid_argument(
        "Promote",
        dkd.promote(PromoteRequest {
            package: bad.into(),
            version: "v1.0.0".into(),
            environment: "dev".into(),
            ..Default::default()
        })
        .await,
    );
    invalid_argument(
        "Rollback",
        dkd.rollback(RollbackRequest {
            package: "my-package".into(),
            environment: bad.into(),
            ..Default::default()
        })
        .await,
    );
    invalid_argument(
        "GetPromotion by id",
        dkd.get_promotion(GetPromotionRequest {
            id: bad.into(),
            ..Default::default()
        })
        .await,
    );
    invalid_argument(
        "GetPromotion by package",
        dkd.get_promotion(GetPromotionRequest {
            package: bad.into(),
            version: "v1.0.0".into(),
            environment: "dev".into(),
            ..Default::default()
        })
        .await,
    );
    invalid_argument(
        "ListPromotions",
        dkd.list_promotions(ListPromotionsRequest {
            package: bad.into(),
            ..Default::default()
        })
        .await,
    );
    invalid_argument(
        "Approve",
        dkd.approve(ApproveRequest {
            promotion_id: bad.into(),
            ..Default::default()
        })
        .await,
    );
    invalid_argument(
        "Approve as",
        dkd.approve(ApproveRequest {
            promotion_id: "p-1".into(),
            as_user: "al\u{1b}ice".into(),
        })
        .await,
    );
    invalid_argument(
        "Status",
        dkd.status(StatusRequest {
            package: bad.into(),
            ..Default::default()
        })
        .await,
    );
    invalid_argument(
        "Watch",
        dkd.watch(WatchRequest {
            environment: bad.into(),
            ..Default::default()
        })
        .await,
    );
    invalid_argument(
        "Logs",
        dkd.logs(LogsRequest {
            package: bad.into(),
            environment: "dev".into(),
            ..Default::default()
        })
        .await,
    );
}

#[test]
fn terminal_escapes_in_names_and_in_the_repository_are_shown_escaped() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();

    let output = home.dk(&["status", "pa\u{1b}[31mRED"]);
    let message = one_safe_line(&output);
    assert!(message.contains("\"pa\\u{1b}[31mRED\""), "{message}");

    // A store whose connection value carries an escape that would retitle the terminal.
    Clone::of(&home).push_file(
        "environments/dev/stores/events.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Store\nmetadata: { name: events }\nspec:\n  type: kafka-topic\n  connection: { topic: \"user\\e]0;owned\\aevents\" }\n  secretRef: { name: events-creds }\n",
        "A store with an escape in its topic",
    );
    let shown = eventually("the store to be served", || {
        let shown = stdout(&home.dk(&["env", "show", "dev"]));
        shown.contains("events").then_some(shown)
    });
    assert!(
        !shown.contains(['\u{1b}', '\u{7}']),
        "raw escape on stdout: {shown:?}"
    );
    assert!(
        shown.contains("topic=user\\u{1b}]0;owned\\u{7}events"),
        "{shown}"
    );
}

#[test]
fn a_password_in_the_daemon_address_never_reaches_a_message() {
    let home = TestHome::new();
    let output = home.dk(&["--daemon", "https://user:secret@127.0.0.1:1", "env", "list"]);
    let message = one_safe_line(&output);
    assert_eq!(output.status.code(), Some(5), "{message}");
    assert!(
        message.contains("https://user:***@127.0.0.1:1"),
        "{message}"
    );
    assert!(!message.contains("secret"), "{message}");

    let output = home.dk(&["--daemon", "ftp://user:secret@127.0.0.1:1", "env", "list"]);
    let message = one_safe_line(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(!message.contains("secret"), "{message}");
}

#[test]
fn a_configuration_over_the_event_budget_is_refused_naming_that_budget() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let environments: String = (0..10_000)
        .map(|n| {
            format!(
                "  env{n}: {{ cluster: c{n}, namespace: n{n}, approval: {{ required: false, auto_merge: true }} }}\n"
            )
        })
        .collect();
    Clone::of(&home).push_file(
        "config/environments.yaml",
        &format!("environments:\n{environments}"),
        "Ten thousand environments",
    );
    let output = eventually("the refusal to be reported", || {
        let output = home.dk(&["env", "list"]);
        stderr(&output).contains("budget").then_some(output)
    });
    assert!(output.status.success(), "the last good configuration stays");
    let warning = one_safe_line(&output);
    assert!(warning.contains("config/environments.yaml:"), "{warning}");
    assert!(
        warning.contains("YAML over the event budget: more than 100000 parser events"),
        "{warning}"
    );
    assert!(!warning.contains("alias"), "{warning}");
}
