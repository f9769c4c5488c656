//! `dk env list` / `dk env show` against a real dkd on a fresh DK_HOME.

mod support;

use support::{Clone, TestHome, stderr, stdout};

#[test]
fn env_list_shows_the_default_path_and_rules_as_a_table() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let output = home.dk(&["env", "list"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("Environment") && lines[0].contains("Approval"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("dev") && lines[2].contains("auto-merge"),
        "{text}"
    );
    assert!(
        lines[3].starts_with("int") && lines[3].contains("1 approval from @team-leads"),
        "{text}"
    );
    assert!(
        lines[4].starts_with("prod") && lines[4].contains("@security"),
        "{text}"
    );
    assert_eq!(lines.len(), 5, "{text}");
    assert!(
        stderr(&output).is_empty(),
        "no warnings on a fresh home: {}",
        stderr(&output)
    );
}

#[test]
fn env_list_as_json_carries_path_upstream_rules_and_revision() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let output = home.dk(&["-o", "json", "env", "list"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let listing: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    let environments = listing["environments"]
        .as_array()
        .expect("environments array");
    let names: Vec<&str> = environments
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["dev", "int", "prod"]);
    let prod = &environments[2];
    assert_eq!(prod["upstream"], "int");
    assert_eq!(prod["path"], serde_json::json!(["dev", "int", "prod"]));
    assert_eq!(prod["namespace"], "production");
    assert_eq!(prod["approval"]["count"], 2);
    assert_eq!(
        prod["approval"]["approvers"],
        serde_json::json!(["@team-leads", "@security"])
    );
    assert_eq!(environments[0]["approval"]["autoMerge"], true);
    assert_eq!(environments[0]["upstream"], serde_json::Value::Null);
    assert_eq!(
        listing["revision"].as_str().map(str::len),
        Some(40),
        "{listing}"
    );
    assert_eq!(listing["problems"], serde_json::json!([]));
}

#[test]
fn env_show_as_yaml_is_valid_yaml_of_one_environment() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let output = home.dk(&["env", "show", "int", "--output", "yaml"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let parsed: serde_json::Value = serde_saphyr::from_str(&text).expect("valid YAML");
    assert_eq!(parsed["name"], "int", "{text}");
    assert_eq!(
        parsed["approval"]["description"], "1 approval from @team-leads",
        "{text}"
    );
}

#[test]
fn env_show_prod_explains_path_and_approval_in_words() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let output = home.dk(&["env", "show", "prod"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("Path:        dev → int → prod"), "{text}");
    assert!(text.contains("Upstream:    int"), "{text}");
    assert!(text.contains("Namespace:   production"), "{text}");
    assert!(
        text.contains("2 approvals") && text.contains("@security"),
        "{text}"
    );
    assert!(text.contains("Stores:      none"), "{text}");
}

#[test]
fn env_show_of_an_unknown_environment_exits_3_listing_the_known_ones() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let output = home.dk(&["env", "show", "qa"]);
    assert_eq!(output.status.code(), Some(3));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    assert!(
        message.contains("\"qa\"") && message.contains("dev, int, prod"),
        "{message}"
    );
}

#[test]
fn stores_pushed_to_the_repository_appear_in_env_show() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let clone = Clone::of(&home);
    clone.push_file(
        "environments/prod/stores/events-store.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Store\nmetadata: { name: events-store }\nspec:\n  type: kafka-topic\n  connection: { brokers: prod-kafka:9092, topic: user-events }\n  secretRef: { name: events-store-creds }\n",
        "Add the prod events store",
    );
    let text = support::eventually("the store to be served", || {
        let output = home.dk(&["env", "show", "prod"]);
        let text = stdout(&output);
        text.contains("events-store").then_some(text)
    });
    assert!(text.contains("kafka-topic"), "{text}");
    assert!(
        text.contains("brokers=prod-kafka:9092, topic=user-events"),
        "{text}"
    );
    assert!(text.contains("events-store-creds"), "{text}");
}
