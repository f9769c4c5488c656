//! The configuration a new deployment repository starts with.

/// `config/environments.yaml` of a new deployment repository: dev → int → prod.
pub const DEFAULT_ENVIRONMENTS_YAML: &str = r#"# Environments in promotion order. Each one's upstream is the previous
# entry unless it says `after: <environment>`; a version must be in the
# upstream before it is promoted.
environments:
  dev:
    cluster: dev-cluster          # kube context / cluster name in dkd config
    namespace: dev                # Kubernetes namespace the packages run in
    # No review: merged by the system once the required checks are green.
    approval: { required: false, auto_merge: true }
    stores: environments/dev/stores/   # this environment's Store manifests
  int:
    cluster: staging-cluster
    namespace: int
    # One approval from a member of @team-leads (count defaults to 1).
    approval: { required: true, approvers: ["@team-leads"] }
    stores: environments/int/stores/
  prod:
    cluster: prod-cluster
    namespace: production
    # Two approvals, including at least one from each listed group.
    # Optional: `rollback: { approvers: [...], count: N }` for expedited rollbacks and
    # `freeze: [{ start: <RFC 3339>, end: <RFC 3339>, reason: ... }]` to pause promotions.
    approval: { required: true, approvers: ["@team-leads", "@security"], count: 2 }
    stores: environments/prod/stores/
"#;

/// `config/teams.yaml` of a new deployment repository.
pub const DEFAULT_TEAMS_YAML: &str = "\
# Reviewer groups of the embedded forge: `@team-leads` in config/environments.yaml means
# anyone listed here under team-leads. These are example reviewers: replace them with your
# own (`dk approve PROMOTION --as USER`). On GitHub, GitHub teams are used instead.
teams:
  team-leads:
    - alice
    - dave
  security:
    - bob
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::test_support::ok;
    use crate::manifest::{ENVIRONMENTS_FILE, TEAMS_FILE, parse_environments, parse_teams};

    #[test]
    fn the_default_environments_and_teams_parse_and_agree() {
        let environments = ok(parse_environments(
            ENVIRONMENTS_FILE,
            DEFAULT_ENVIRONMENTS_YAML,
        ));
        let teams = ok(parse_teams(TEAMS_FILE, DEFAULT_TEAMS_YAML));
        assert_eq!(environments.names(), ["dev", "int", "prod"]);
        assert_eq!(ok(environments.validate_teams(Some(&teams))), ());
    }

    #[test]
    fn docs_configuration_shows_the_defaults_verbatim() {
        let page = include_str!("../../docs/configuration.md");
        assert!(
            page.contains(DEFAULT_ENVIRONMENTS_YAML),
            "environments.yaml"
        );
        assert!(page.contains(DEFAULT_TEAMS_YAML), "teams.yaml");
    }

    #[test]
    fn the_default_policies_read_as_documented() {
        let environments = ok(parse_environments(
            ENVIRONMENTS_FILE,
            DEFAULT_ENVIRONMENTS_YAML,
        ));
        let describe = |name: &str| environments.get(name).map(|env| env.approval.describe());
        assert_eq!(
            describe("dev").as_deref(),
            Some("auto-merge once checks pass")
        );
        assert_eq!(
            describe("int").as_deref(),
            Some("1 approval from @team-leads")
        );
        assert_eq!(
            describe("prod").as_deref(),
            Some("2 approvals including one from each of @team-leads and @security")
        );
        let prod = environments
            .get("prod")
            .map(|env| (env.approval.count, env.approval.approvers.clone()));
        assert_eq!(
            prod,
            Some((2, vec!["team-leads".to_string(), "security".to_string()]))
        );
    }

    #[test]
    fn the_default_teams_are_the_documented_reviewers() {
        let teams = ok(parse_teams(TEAMS_FILE, DEFAULT_TEAMS_YAML));
        assert_eq!(
            teams.members("team-leads"),
            Some(&["alice".to_string(), "dave".to_string()][..])
        );
        assert_eq!(teams.members("security"), Some(&["bob".to_string()][..]));
    }
}
