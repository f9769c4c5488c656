//! Shared test fixtures: the contract's example file and one-line environment entries.

use super::{Environment, EnvironmentsConfig, parse_environments};
use crate::manifest::ENVIRONMENTS_FILE;
use crate::manifest::error::ManifestError;
use crate::manifest::teams::{Teams, parse_teams};
use crate::manifest::test_support::{err, ok};

pub(super) const CONTRACT_EXAMPLE: &str = r#"environments:
  dev:
    cluster: dev-cluster
    namespace: dev
    approval: { required: false, auto_merge: true }
    stores: environments/dev/stores/
  int:
    cluster: staging-cluster
    namespace: int
    approval: { required: true, approvers: ["@team-leads"] }
    stores: environments/int/stores/
  prod:
    cluster: prod-cluster
    namespace: production
    approval: { required: true, approvers: ["@team-leads", "@security"], count: 2 }
    stores: environments/prod/stores/
  perf:
    after: dev
    cluster: perf-cluster
    namespace: perf-test
    approval: { required: true, approvers: ["@perf-team"] }
"#;

pub(super) const AUTO: &str = "{ required: false, auto_merge: true }";

pub(super) fn parse(text: &str) -> Result<EnvironmentsConfig, ManifestError> {
    parse_environments(ENVIRONMENTS_FILE, text)
}

/// A one-line environment entry:
/// `  <name>: { <extra>cluster: c, namespace: n, approval: <approval> }`.
pub(super) fn entry(name: &str, extra: &str, approval: &str) -> String {
    format!("  {name}: {{ {extra}cluster: c, namespace: n, approval: {approval} }}\n")
}

/// An environments file whose entries are given one per line (so line = index + 2).
pub(super) fn file(entries: &[String]) -> String {
    format!("environments:\n{}", entries.concat())
}

/// The error for a single environment `dev` with the given approval.
pub(super) fn approval_error(approval: &str) -> ManifestError {
    err(parse(&file(&[entry("dev", "", approval)])))
}

pub(super) fn teams(text: &str) -> Teams {
    ok(parse_teams("config/teams.yaml", text))
}

pub(super) fn names(environments: &[&Environment]) -> Vec<String> {
    environments
        .iter()
        .map(|environment| environment.name.clone())
        .collect()
}
