//! Cross-file rules between `config/environments.yaml` and `config/teams.yaml`: every
//! approver group exists and is non-empty, and every `count` can be reached.

use serde_saphyr::Location;

use super::EnvironmentsConfig;
use super::approval::list_groups;
use super::fields::EnvironmentFields;
use crate::manifest::TEAMS_FILE;
use crate::manifest::error::ManifestError;
use crate::manifest::teams::Teams;

/// The groups and count of one rule, with where they were written.
struct GroupRule<'a> {
    field: &'a str,
    groups: &'a [String],
    group_spans: &'a [Location],
    count: u32,
    count_span: Location,
}

impl EnvironmentsConfig {
    /// Checks approver groups against `teams`: each exists and has members, and each
    /// `count` is at most the number of distinct members of its groups. With no teams file
    /// (`None`, e.g. on GitHub where teams live on the forge) nothing is checked.
    pub fn validate_teams(&self, teams: Option<&Teams>) -> Result<(), ManifestError> {
        let Some(teams) = teams else {
            return Ok(());
        };
        for (environment, spans) in self.environments.iter().zip(&self.approval_spans) {
            let fields = EnvironmentFields {
                file: &self.file,
                environment: &environment.name,
            };
            let approval = &environment.approval;
            check_rule(
                &fields,
                teams,
                &GroupRule {
                    field: "approval",
                    groups: &approval.approvers,
                    group_spans: &spans.approvers,
                    count: approval.count,
                    count_span: spans.count,
                },
            )?;
            if let (Some(rollback), Some(rollback_spans)) = (&approval.rollback, &spans.rollback) {
                check_rule(
                    &fields,
                    teams,
                    &GroupRule {
                        field: "approval.rollback",
                        groups: &rollback.approvers,
                        group_spans: &rollback_spans.approvers,
                        count: rollback.count,
                        count_span: rollback_spans.count,
                    },
                )?;
            }
        }
        Ok(())
    }
}

fn check_rule(
    fields: &EnvironmentFields<'_>,
    teams: &Teams,
    rule: &GroupRule<'_>,
) -> Result<(), ManifestError> {
    let approvers_field = format!("{}.approvers", rule.field);
    for (index, group) in rule.groups.iter().enumerate() {
        let location = rule
            .group_spans
            .get(index)
            .copied()
            .unwrap_or(rule.count_span);
        match teams.members(group) {
            None => {
                return Err(fields.error(
                    &approvers_field,
                    location,
                    format!("unknown group @{group}: add it to {TEAMS_FILE}"),
                ));
            }
            Some([]) => {
                return Err(fields.error(
                    &approvers_field,
                    location,
                    format!("group @{group} has no members: add members to it in {TEAMS_FILE}"),
                ));
            }
            Some(_) => {}
        }
    }
    if rule.groups.is_empty() {
        return Ok(());
    }
    let members = teams.distinct_member_count(rule.groups);
    if usize::try_from(rule.count).is_ok_and(|count| count > members) {
        let verb = if rule.groups.len() == 1 {
            "has"
        } else {
            "have"
        };
        let all = if rule.groups.len() == 1 {
            ""
        } else {
            " in all"
        };
        let noun = if members == 1 { "member" } else { "members" };
        return Err(fields.error(
            &format!("{}.count", rule.field),
            rule.count_span,
            format!(
                "count {} can never be reached: {} {verb} {members} {noun}{all}: lower count or add members in {TEAMS_FILE}",
                rule.count,
                list_groups(rule.groups)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::manifest::environments::test_fixtures::*;
    use crate::manifest::test_support::{err, ok};

    const TEAMS: &str = "teams:\n  team-leads: [alice, dave]\n  security: [bob, alice]\n  perf-team: [carol]\n  empty: []\n";

    #[test]
    fn without_a_teams_file_nothing_is_checked() {
        let config = ok(parse(&file(&[entry(
            "prod",
            "",
            "{ required: true, approvers: [\"@nobody\"], count: 9 }",
        )])));
        assert_eq!(config.validate_teams(None), Ok(()));
    }

    #[test]
    fn known_groups_with_reachable_counts_pass() {
        assert_eq!(
            ok(parse(CONTRACT_EXAMPLE)).validate_teams(Some(&teams(TEAMS))),
            Ok(())
        );
    }

    #[test]
    fn an_unknown_approver_group_is_refused_with_its_line() {
        let config = ok(parse(CONTRACT_EXAMPLE));
        let error = err(config.validate_teams(Some(&teams(
            "teams:\n  team-leads: [alice]\n  security: [bob]\n",
        ))));
        assert_eq!(
            error.to_string(),
            "config/environments.yaml:21:45: environments.perf.approval.approvers: unknown group @perf-team: add it to config/teams.yaml"
        );
    }

    #[test]
    fn an_empty_approver_group_is_refused() {
        let config = ok(parse(&file(&[entry(
            "prod",
            "",
            "{ required: true, approvers: [\"@empty\"] }",
        )])));
        let error = err(config.validate_teams(Some(&teams(TEAMS))));
        assert!(error.message.contains("@empty has no members"), "{error}");
    }

    #[test]
    fn a_count_above_the_distinct_members_is_refused() {
        let config = ok(parse(&file(&[entry(
            "prod",
            "",
            "{ required: true, approvers: [\"@team-leads\", \"@security\"], count: 4 }",
        )])));
        let error = err(config.validate_teams(Some(&teams(TEAMS))));
        assert_eq!(
            (error.field.as_str(), error.line),
            ("environments.prod.approval.count", Some(2))
        );
        assert!(
            error.message.starts_with(
                "count 4 can never be reached: @team-leads and @security have 3 members in all"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_count_within_the_distinct_members_passes() {
        let config = ok(parse(&file(&[entry(
            "prod",
            "",
            "{ required: true, approvers: [\"@team-leads\", \"@security\"], count: 3 }",
        )])));
        assert_eq!(config.validate_teams(Some(&teams(TEAMS))), Ok(()));
    }

    #[test]
    fn rollback_groups_and_counts_are_checked_too() {
        let unknown = ok(parse(&file(&[entry(
            "prod",
            "",
            "{ required: true, rollback: { approvers: [\"@oncall\"] } }",
        )])));
        let error = err(unknown.validate_teams(Some(&teams(TEAMS))));
        assert_eq!(error.field, "environments.prod.approval.rollback.approvers");
        let too_many = ok(parse(&file(&[entry(
            "prod",
            "",
            "{ required: true, rollback: { approvers: [\"@perf-team\"], count: 2 } }",
        )])));
        let error = err(too_many.validate_teams(Some(&teams(TEAMS))));
        assert_eq!(error.field, "environments.prod.approval.rollback.count");
        assert!(
            error.message.contains("@perf-team has 1 member:"),
            "{error}"
        );
    }
}
