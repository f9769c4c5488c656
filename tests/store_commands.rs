//! `dk store scaffold` and `dk store add` through the real binaries: the scaffold prints a
//! valid Store for every type and names the valid types and keys when refused; `add` lands
//! on the embedded forge through a change request under the environment's approval rule,
//! shows in `dk env list`, refuses an existing store, and is checked by RBAC (`configure`).
//! Store changes as records (approve, reject, rebuild): tests/store_changes.rs.

mod support;

use std::process::Output;

use datakit::manifest::{STORE_TYPES, parse_store};
use support::{
    TestHome, git, json,
    shared::{Shared, refused},
    stderr, stdout,
};

fn succeeded(output: &Output) -> String {
    assert!(output.status.success(), "{}", stderr(output));
    stdout(output)
}

/// Exit 2 with one line on stderr containing each of `expected`.
fn invalid(output: &Output, expected: &[&str]) {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert_eq!(message.trim_end().lines().count(), 1, "{message}");
    for part in expected {
        assert!(message.contains(part), "{part:?} not in: {message}");
    }
}

/// The names of the stores `dk env list` shows for `env`.
fn stores_of(home: &TestHome, env: &str) -> Vec<String> {
    let listing = json(&home.dk(&["-o", "json", "env", "list"]));
    listing["environments"]
        .as_array()
        .and_then(|all| all.iter().find(|e| e["name"] == env))
        .and_then(|e| e["stores"].as_array())
        .map(|stores| {
            stores
                .iter()
                .filter_map(|s| s["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

const KAFKA: [&str; 6] = [
    "--type",
    "kafka-topic",
    "--set",
    "brokers=dev-kafka:9092",
    "--set",
    "topic=user-events",
];

fn add_args<'a>(env: &'a str, name: &'a str) -> Vec<&'a str> {
    let mut args = vec!["store", "add", env, name];
    args.extend(KAFKA);
    args
}

#[test]
fn store_scaffold_prints_a_valid_store_for_every_type_without_dkd() {
    let home = TestHome::new();
    for store_type in STORE_TYPES {
        let settings: Vec<String> = store_type
            .required
            .iter()
            .chain(store_type.optional)
            .map(|key| format!("{key}=some-{key}"))
            .collect();
        let mut args = vec![
            "store",
            "scaffold",
            "dev",
            "events",
            "--type",
            store_type.name,
        ];
        for setting in &settings {
            args.extend(["--set", setting.as_str()]);
        }
        args.extend(["--secret-ref", "events-creds"]);
        let text = succeeded(&home.dk(&args));
        let store = parse_store("environments/dev/stores/events.yaml", &text).expect(&text);
        assert_eq!(store.store_type, store_type.name);
        assert_eq!(store.connection.len(), settings.len(), "{text}");
        assert_eq!(store.secret_ref.as_deref(), Some("events-creds"));
    }
    assert!(
        !home.socket().exists(),
        "scaffold must not start or contact dkd"
    );
}

#[test]
fn store_scaffold_refusals_name_the_valid_types_and_keys() {
    let home = TestHome::new();
    invalid(
        &home.dk(&["store", "scaffold", "dev", "events", "--type", "redis"]),
        &[
            "unknown store type \"redis\"",
            "kafka-topic, postgres-table, s3-prefix",
        ],
    );
    invalid(
        &home.dk(&[
            "store",
            "scaffold",
            "dev",
            "events",
            "--type",
            "s3-prefix",
            "--set",
            "bucket=b",
            "--set",
            "topic=t",
        ]),
        &[
            "no connection key \"topic\"",
            "bucket, prefix, region, endpoint",
        ],
    );
    invalid(
        &home.dk(&[
            "store",
            "scaffold",
            "dev",
            "events",
            "--type",
            "s3-prefix",
            "--set",
            "bucket=b",
        ]),
        &["needs --set prefix=VALUE", "required keys: bucket, prefix"],
    );
    invalid(
        &home.dk(&["store", "add", "dev", "Events", "--type", "s3-prefix"]),
        &["invalid store name"],
    );
}

#[test]
fn store_add_lands_on_the_embedded_forge_in_an_auto_merge_environment_and_shows_in_env_list() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    assert!(stores_of(&home, "dev").is_empty());
    let added = json(&home.dk(&[&["-o", "json"][..], &add_args("dev", "events-store")].concat()));
    assert_eq!(added["merged"], true, "{added}");
    assert_eq!(added["file"], "environments/dev/stores/events-store.yaml");
    // It returns once dkd serves the store: no waiting needed.
    assert_eq!(stores_of(&home, "dev"), ["events-store"]);
    let log = git(&home.deploy_repo(), &["log", "-1", "--format=%s", "main"]);
    assert!(log.contains("Add store events-store in dev"), "{log}");

    // Again: refused (exit 4) unless --replace.
    refused(
        &home.dk(&add_args("dev", "events-store")),
        &["store events-store already exists in dev", "--replace"],
    );
    let mut replace = add_args("dev", "events-store");
    replace.push("--replace");
    succeeded(&home.dk(&replace));
}

#[test]
fn store_add_in_an_environment_that_needs_approval_opens_a_change_and_waits() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let opened = json(&home.dk(&[&["-o", "json"][..], &add_args("int", "events-store")].concat()));
    assert_eq!(opened["merged"], false, "{opened}");
    assert!(
        opened["message"]
            .as_str()
            .is_some_and(|m| m.contains("needs 1 approval from @team-leads")),
        "{opened}"
    );
    let branch = opened["changeId"].as_str().expect("change id").to_owned();
    let id = opened["id"].as_str().expect("id");
    assert_eq!(branch, format!("promote/int/stores/events-store/{id}"));
    let branches = git(&home.deploy_repo(), &["branch", "--list", "promote/*"]);
    assert!(branches.contains(&branch), "{branches}");
    assert!(
        stores_of(&home, "int").is_empty(),
        "merged without approval"
    );
    // dk approve merges it: tests/store_changes.rs.
}

#[test]
fn store_add_is_refused_by_rbac_without_the_configure_action() {
    let shared = Shared::start_bare("", "");
    shared.set_policy(
        "roles:
  developer:
    - actions: [read, promote]
      environments: [dev]
  operator:
    - actions: [read, configure]
      environments: [dev]
bindings:
  - role: developer
    users: [\"*\"]
  - role: operator
    groups: [ops]
",
    );
    let carol = shared.token(&["carol", "--groups", "dev"]);
    let ops = shared.token(&["olga", "--groups", "ops"]);
    refused(
        &shared.dk_as(&carol, &add_args("dev", "events-store")),
        &[
            "permission denied: carol (groups: dev) may not configure in dev",
            "role operator (bound to group ops) allows it",
        ],
    );
    refused(
        &shared.dk_as(&ops, &add_args("int", "events-store")),
        &["olga (groups: ops) may not configure in int"],
    );
    succeeded(&shared.dk_as(&ops, &add_args("dev", "events-store")));
    assert_eq!(stores_of(&shared.home, "dev"), ["events-store"]);
}
