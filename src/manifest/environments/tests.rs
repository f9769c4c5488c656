//! Tests of `config/environments.yaml` parsing, defaults and the promotion graph.

use super::{MAX_ENVIRONMENTS, parse_environments, test_fixtures::*};
use crate::manifest::test_support::{err, ok};

#[test]
fn the_contract_example_parses_in_file_order() {
    let config = ok(parse(CONTRACT_EXAMPLE));
    assert_eq!(config.names(), ["dev", "int", "prod", "perf"]);
    let prod = config.get("prod");
    assert_eq!(prod.map(|env| env.namespace.as_str()), Some("production"));
    assert_eq!(prod.map(|env| env.cluster.as_str()), Some("prod-cluster"));
    assert_eq!(config.environments().len(), 4);
    assert!(config.get("qa").is_none());
}

#[test]
fn the_upstream_is_after_or_else_the_previous_entry() {
    let config = ok(parse(CONTRACT_EXAMPLE));
    let upstream = |name: &str| config.get(name).and_then(|env| env.upstream.clone());
    assert_eq!(upstream("dev"), None);
    assert_eq!(upstream("int").as_deref(), Some("dev"));
    assert_eq!(upstream("prod").as_deref(), Some("int"));
    assert_eq!(upstream("perf").as_deref(), Some("dev"));
    assert_eq!(
        config.upstream_of("perf").map(|env| env.name.as_str()),
        Some("dev")
    );
    assert!(config.upstream_of("dev").is_none());
    assert!(config.upstream_of("qa").is_none());
}

#[test]
fn path_to_runs_from_the_root_to_the_environment() {
    let config = ok(parse(CONTRACT_EXAMPLE));
    let path = |name: &str| names(&config.path_to(name));
    assert_eq!(path("prod"), ["dev", "int", "prod"]);
    assert_eq!(path("perf"), ["dev", "perf"]);
    assert_eq!(path("dev"), ["dev"]);
    assert!(path("qa").is_empty());
}

#[test]
fn path_order_puts_every_environment_after_its_upstream_otherwise_in_file_order() {
    assert_eq!(
        names(&ok(parse(CONTRACT_EXAMPLE)).path_order()),
        ["dev", "int", "prod", "perf"]
    );
    let config = ok(parse(&file(&[
        entry("a", "", AUTO),
        entry("b", "after: d, ", AUTO),
        entry("c", "", AUTO),
        entry("d", "after: a, ", AUTO),
    ])));
    assert_eq!(names(&config.path_order()), ["a", "d", "b", "c"]);
}

#[test]
fn stores_default_to_the_environment_folder_and_are_normalized() {
    let config = ok(parse(&file(&[
        entry("dev", "", AUTO),
        entry("int", "stores: ./infra//int, ", AUTO),
    ])));
    let stores = |name: &str| config.get(name).map(|env| env.stores_path.clone());
    assert_eq!(stores("dev").as_deref(), Some("environments/dev/stores/"));
    assert_eq!(stores("int").as_deref(), Some("infra/int/"));
    let dev = config.get("dev");
    assert_eq!(
        dev.map(|env| env.store_manifest_path("events-store"))
            .as_deref(),
        Some("environments/dev/stores/events-store.yaml")
    );
}

#[test]
fn a_stores_path_outside_the_repository_is_refused_with_its_line() {
    for stores in ["/etc/stores", "../stores", "a/../b"] {
        let error = err(parse(&file(&[
            entry("dev", "", AUTO),
            entry("int", &format!("stores: {stores}, "), AUTO),
        ])));
        assert_eq!(
            (error.field.as_str(), error.line),
            ("environments.int.stores", Some(3)),
            "{error}"
        );
    }
}

// Structure errors

#[test]
fn an_empty_environments_map_is_refused() {
    for text in ["environments: {}\n", "environments:\n"] {
        let error = err(parse(text));
        assert_eq!(error.field, "environments", "{error}");
        assert!(error.message.contains("no environments"), "{error}");
    }
}

#[test]
fn a_duplicate_environment_is_refused_with_the_line_of_the_second() {
    let error = err(parse(&file(&[
        entry("dev", "", AUTO),
        entry("int", "", AUTO),
        entry("dev", "", AUTO),
    ])));
    assert_eq!(error.line, Some(4));
    assert!(error.message.contains("duplicate key \"dev\""), "{error}");
}

#[test]
fn an_invalid_environment_name_is_refused_with_its_line() {
    let error = err(parse(&file(&[
        entry("dev", "", AUTO),
        entry("Prod_1", "", AUTO),
    ])));
    assert_eq!(
        (error.field.as_str(), error.line, error.column),
        ("environments", Some(3), Some(3))
    );
    assert!(
        error
            .message
            .starts_with("invalid environment name \"Prod_1\""),
        "{error}"
    );
}

#[test]
fn an_unknown_field_in_an_environment_is_refused_naming_it_and_its_line() {
    let text = "environments:\n  dev:\n    cluster: c\n    namespace: n\n    approval: { required: false, auto_merge: true }\n    region: eu\n";
    let error = err(parse(text));
    assert_eq!(error.line, Some(6));
    assert!(error.message.contains("unknown field `region`"), "{error}");
}

#[test]
fn a_missing_cluster_or_approval_is_refused() {
    let error = err(parse(
        "environments:\n  dev:\n    namespace: n\n    approval: { required: false, auto_merge: true }\n",
    ));
    assert!(error.message.contains("missing field `cluster`"), "{error}");
    let error = err(parse(
        "environments:\n  dev:\n    cluster: c\n    namespace: n\n",
    ));
    assert!(
        error.message.contains("missing field `approval`"),
        "{error}"
    );
}

#[test]
fn an_invalid_cluster_or_namespace_is_refused() {
    let error = err(parse(
        "environments:\n  dev: { cluster: \"a b\", namespace: n, approval: { required: false, auto_merge: true } }\n",
    ));
    assert_eq!(
        (error.field.as_str(), error.line),
        ("environments.dev.cluster", Some(2))
    );
    let error = err(parse(
        "environments:\n  dev: { cluster: c, namespace: Prod_NS, approval: { required: false, auto_merge: true } }\n",
    ));
    assert_eq!(error.field, "environments.dev.namespace");
    assert!(error.message.contains("invalid namespace name"), "{error}");
}

// The promotion graph

#[test]
fn unknown_after_environment_is_refused_with_its_line() {
    let text = format!(
        "{}{}{}",
        "environments:\n",
        entry("dev", "", AUTO),
        "  prod:\n    after: qa\n    cluster: c\n    namespace: n\n    approval: { required: false, auto_merge: true }\n"
    );
    let error = err(parse(&text));
    assert_eq!(
        error.to_string(),
        "config/environments.yaml:4:12: environments.prod.after: unknown environment \"qa\" (known: dev, prod)"
    );
}

#[test]
fn after_naming_itself_is_refused() {
    let error = err(parse(&file(&[
        entry("dev", "", AUTO),
        entry("int", "after: int, ", AUTO),
    ])));
    assert_eq!(
        (error.field.as_str(), error.line),
        ("environments.int.after", Some(3))
    );
    assert!(
        error.message.contains("cannot come after itself"),
        "{error}"
    );
}

#[test]
fn a_cycle_among_after_is_named() {
    let error = err(parse(&file(&[
        entry("dev", "after: perf, ", AUTO),
        entry("perf", "", AUTO),
    ])));
    assert_eq!(
        (error.field.as_str(), error.line),
        ("environments.dev.after", Some(2))
    );
    assert!(
        error.message.contains("cycle: dev -> perf -> dev"),
        "{error}"
    );
}

#[test]
fn a_longer_cycle_is_named_in_promotion_order() {
    let error = err(parse(&file(&[
        entry("dev", "after: perf, ", AUTO),
        entry("int", "", AUTO),
        entry("perf", "", AUTO),
    ])));
    assert!(
        error.message.contains("cycle: dev -> int -> perf -> dev"),
        "{error}"
    );
}

#[test]
fn more_environments_than_the_budget_are_refused_naming_the_budget() {
    let mut text = String::from("environments:\n");
    for n in 0..=MAX_ENVIRONMENTS {
        text.push_str(&format!(
            "  e{n}: {{cluster: c, namespace: n{n}, approval: {{required: false, auto_merge: true}}}}\n"
        ));
    }
    let error = parse_environments("config/environments.yaml", &text).expect_err("over budget");
    let message = error.to_string();
    assert!(
        message.contains("257 environments is over the budget of 256"),
        "{message}"
    );
    let at_budget: String = text
        .lines()
        .take(MAX_ENVIRONMENTS + 1)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(parse_environments("config/environments.yaml", &at_budget).is_ok());
}

#[test]
fn require_signatures_lists_normalized_key_paths_and_is_absent_by_default() {
    let config = ok(parse(&file(&[
        entry("dev", "", AUTO),
        entry(
            "prod",
            "require_signatures: { keys: [./config/keys/release.pub, config/keys/release.pub, keys/ci.pub] }, ",
            AUTO,
        ),
    ])));
    let keys = |name: &str| config.get(name).map(|env| env.signature_keys.clone());
    assert_eq!(keys("dev"), Some(vec![]));
    assert_eq!(
        keys("prod"),
        Some(vec![
            "config/keys/release.pub".to_owned(),
            "keys/ci.pub".to_owned()
        ])
    );
    assert_eq!(
        config.signature_key_files(),
        ["config/keys/release.pub", "keys/ci.pub"]
    );
}

#[test]
fn require_signatures_without_keys_or_outside_the_repository_is_refused_with_its_line() {
    for value in ["{ keys: [] }", "{ keys: [../release.pub] }"] {
        let error = err(parse(&file(&[
            entry("dev", "", AUTO),
            entry("prod", &format!("require_signatures: {value}, "), AUTO),
        ])));
        assert_eq!(
            (error.field.as_str(), error.line),
            ("environments.prod.require_signatures.keys", Some(3)),
            "{error}"
        );
    }
}

#[test]
fn auto_promote_is_read_and_refused_on_an_environment_without_upstream() {
    let config = ok(parse(&file(&[
        entry("dev", "", AUTO),
        entry("int", "auto_promote: true, ", AUTO),
    ])));
    let auto = |name: &str| config.get(name).is_some_and(|env| env.auto_promote);
    assert!(!auto("dev"));
    assert!(auto("int"));
    let error = err(parse(&file(&[
        entry("dev", "auto_promote: true, ", AUTO),
        entry("int", "", AUTO),
    ])));
    assert_eq!(
        (error.field.as_str(), error.line),
        ("environments.dev.auto_promote", Some(2)),
        "{error}"
    );
    assert!(error.message.contains("no upstream"), "{error}");
}

#[test]
fn a_soak_is_a_humantime_duration_on_an_environment_with_an_upstream() {
    let config = ok(parse(&file(&[
        entry("dev", "", AUTO),
        entry("int", "promotion: { soak: 30m }, ", AUTO),
        entry("prod", "promotion: { soak: 1h 30m }, ", AUTO),
    ])));
    let soak = |name: &str| config.get(name).and_then(|env| env.soak);
    assert_eq!(soak("dev"), None);
    assert_eq!(soak("int"), Some(std::time::Duration::from_secs(30 * 60)));
    assert_eq!(soak("prod"), Some(std::time::Duration::from_secs(90 * 60)));
}

#[test]
fn a_soak_without_upstream_or_that_is_not_a_duration_is_refused_with_its_line() {
    let error = err(parse(&file(&[entry(
        "dev",
        "promotion: { soak: 30m }, ",
        AUTO,
    )])));
    assert_eq!(
        (error.field.as_str(), error.line),
        ("environments.dev.promotion.soak", Some(2)),
        "{error}"
    );
    assert!(error.to_string().contains("no upstream"), "{error}");
    for soak in ["soon", "30", "1000d"] {
        let error = err(parse(&file(&[
            entry("dev", "", AUTO),
            entry("int", &format!("promotion: {{ soak: {soak} }}, "), AUTO),
        ])));
        assert_eq!(
            (error.field.as_str(), error.line),
            ("environments.int.promotion.soak", Some(3)),
            "{error}"
        );
    }
}

#[test]
fn verify_reads_a_timeout_and_retries_with_defaults_and_refuses_bad_values_with_their_line() {
    let config = ok(parse(&file(&[
        entry("dev", "verify: {}, ", AUTO),
        entry("int", "verify: { timeout: 90s, retries: 2 }, ", AUTO),
        entry("prod", "", AUTO),
    ])));
    let verify = |name: &str| config.get(name).and_then(|env| env.verify);
    assert_eq!(
        verify("dev"),
        Some(super::Verification {
            timeout: super::DEFAULT_VERIFY_TIMEOUT,
            retries: 0
        })
    );
    assert_eq!(
        verify("int"),
        Some(super::Verification {
            timeout: std::time::Duration::from_secs(90),
            retries: 2
        })
    );
    assert_eq!(verify("prod"), None);
    for (value, field) in [
        ("{ timeout: soon }", "environments.int.verify.timeout"),
        ("{ timeout: 0s }", "environments.int.verify.timeout"),
        ("{ retries: 11 }", "environments.int.verify.retries"),
    ] {
        let error = err(parse(&file(&[
            entry("dev", "", AUTO),
            entry("int", &format!("verify: {value}, "), AUTO),
        ])));
        assert_eq!(
            (error.field.as_str(), error.line),
            (field, Some(3)),
            "{error}"
        );
    }
}
