//! `approval:` of an environment: who must approve a promotion (and a rollback) before it
//! merges, read from YAML, checked, and described in words.

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::fields::EnvironmentFields;
use crate::manifest::error::ManifestError;
use crate::manifest::names::validate_name;

/// Who must approve a promotion before it merges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRule {
    /// Whether approvals are needed at all (`false` means auto-merge once checks pass).
    pub required: bool,
    /// Whether the system merges by itself once approvals (if any) and checks are done.
    pub auto_merge: bool,
    /// Reviewer groups, without the '@'; at least one approval must come from each.
    pub approvers: Vec<String>,
    /// How many distinct approvals are needed (never from the promoter).
    pub count: u32,
    /// Expedited approval for rollbacks; `None` means rollbacks follow this rule.
    pub rollback: Option<RollbackRule>,
}

/// Expedited approval for rollbacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackRule {
    /// Reviewer groups, without the '@'; at least one approval must come from each.
    pub approvers: Vec<String>,
    /// How many distinct approvals are needed; 0 merges once checks pass, which must be
    /// asked for with `auto_merge: true`.
    pub count: u32,
}

/// Where each value of an approval rule was written, for errors found later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ApprovalSpans {
    pub(super) approvers: Vec<Location>,
    pub(super) count: Location,
    pub(super) rollback: Option<RollbackSpans>,
}

/// Where each value of a rollback rule was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RollbackSpans {
    pub(super) approvers: Vec<Location>,
    pub(super) count: Location,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApproval {
    required: Spanned<bool>,
    auto_merge: Option<Spanned<bool>>,
    #[serde(default)]
    approvers: Vec<Spanned<String>>,
    count: Option<Spanned<u32>>,
    rollback: Option<Spanned<RawRollback>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRollback {
    #[serde(default)]
    approvers: Vec<Spanned<String>>,
    count: Option<Spanned<u32>>,
    auto_merge: Option<Spanned<bool>>,
}

/// Checks an environment's `approval:` and fills in defaults.
pub(super) fn build_approval(
    fields: &EnvironmentFields<'_>,
    raw: RawApproval,
) -> Result<(ApprovalRule, ApprovalSpans), ManifestError> {
    let required = raw.required.value;
    let auto_merge = raw.auto_merge.is_some_and(|auto_merge| auto_merge.value);
    let (approvers, approver_spans) = build_groups(fields, "approval.approvers", raw.approvers)?;
    let count = raw
        .count
        .as_ref()
        .map_or(u32::from(required), |count| count.value);
    let count_span = raw
        .count
        .as_ref()
        .map_or(raw.required.referenced, |count| count.referenced);

    if required && count == 0 {
        return Err(fields.error(
            "approval.count",
            count_span,
            "count 0 with required: true lets promotions merge unreviewed: set count to 1 or more",
        ));
    }
    if !required {
        if let Some(first) = approver_spans.first() {
            return Err(fields.error(
                "approval.approvers",
                *first,
                "approvers are listed but required is false: set required: true",
            ));
        }
        if count > 0 {
            return Err(fields.error(
                "approval.count",
                count_span,
                format!("count {count} is set but required is false: set required: true"),
            ));
        }
        if !auto_merge {
            return Err(fields.error(
                "approval.required",
                raw.required.referenced,
                "nothing would ever merge: set auto_merge: true or required: true",
            ));
        }
        if let Some(rollback) = &raw.rollback {
            return Err(fields.error(
                "approval.rollback",
                rollback.referenced,
                "a rollback rule needs required: true: remove approval.rollback or set required: true",
            ));
        }
    }
    let (rollback, rollback_spans) = match raw.rollback {
        Some(rollback) => {
            let (rule, spans) = build_rollback(fields, rollback)?;
            (Some(rule), Some(spans))
        }
        None => (None, None),
    };
    let rule = ApprovalRule {
        required,
        auto_merge,
        approvers,
        count,
        rollback,
    };
    let spans = ApprovalSpans {
        approvers: approver_spans,
        count: count_span,
        rollback: rollback_spans,
    };
    Ok((rule, spans))
}

fn build_rollback(
    fields: &EnvironmentFields<'_>,
    raw: Spanned<RawRollback>,
) -> Result<(RollbackRule, RollbackSpans), ManifestError> {
    let location = raw.referenced;
    let raw = raw.value;
    let (approvers, approver_spans) =
        build_groups(fields, "approval.rollback.approvers", raw.approvers)?;
    let count = raw
        .count
        .as_ref()
        .map_or(u32::from(!approvers.is_empty()), |count| count.value);
    let count_span = raw
        .count
        .as_ref()
        .map_or(location, |count| count.referenced);
    if count == 0 && !approvers.is_empty() {
        return Err(fields.error(
            "approval.rollback.count",
            count_span,
            "count 0 with approvers listed: set count to 1 or more, or remove the approvers",
        ));
    }
    // Like `required: false` for the main rule, no review at all must be asked for.
    if count == 0 && !raw.auto_merge.is_some_and(|auto_merge| auto_merge.value) {
        return Err(fields.error(
            "approval.rollback.count",
            count_span,
            "count 0 lets rollbacks merge unreviewed: set count to 1 or more, or add auto_merge: true to merge rollbacks once checks pass",
        ));
    }
    let rule = RollbackRule { approvers, count };
    Ok((
        rule,
        RollbackSpans {
            approvers: approver_spans,
            count: count_span,
        },
    ))
}

/// Reads `["@team-leads", ...]` into group names without '@', refusing bad or repeated ones.
fn build_groups(
    fields: &EnvironmentFields<'_>,
    field: &str,
    raw: Vec<Spanned<String>>,
) -> Result<(Vec<String>, Vec<Location>), ManifestError> {
    let mut groups: Vec<String> = Vec::with_capacity(raw.len());
    let mut spans = Vec::with_capacity(raw.len());
    for approver in raw {
        let Some(group) = approver.value.strip_prefix('@') else {
            return Err(fields.error(
                field,
                approver.referenced,
                format!(
                    "approver {:?} is not a group: write a group from config/teams.yaml as \"@name\"",
                    approver.value
                ),
            ));
        };
        validate_name("group", group)
            .map_err(|error| fields.error(field, approver.referenced, error.to_string()))?;
        if groups.iter().any(|known| known == group) {
            return Err(fields.error(
                field,
                approver.referenced,
                format!("group @{group} is listed twice: list each group once"),
            ));
        }
        groups.push(group.to_string());
        spans.push(approver.referenced);
    }
    Ok((groups, spans))
}

impl ApprovalRule {
    /// The rule in words, e.g. "2 approvals including one from each of @team-leads and @security".
    pub fn describe(&self) -> String {
        if !self.required {
            return if self.auto_merge {
                "auto-merge once checks pass".to_string()
            } else {
                "no approval required; merged by hand".to_string()
            };
        }
        let approvals = describe_approvals(self.count, &self.approvers);
        if self.auto_merge {
            format!("{approvals}, then auto-merge once checks pass")
        } else {
            approvals
        }
    }
}

impl RollbackRule {
    /// The rule in words, e.g. "1 approval from @team-leads" or "merged once checks pass".
    pub fn describe(&self) -> String {
        if self.count == 0 {
            "merged once checks pass".to_string()
        } else {
            describe_approvals(self.count, &self.approvers)
        }
    }
}

fn describe_approvals(count: u32, groups: &[String]) -> String {
    let approvals = if count == 1 {
        "1 approval".to_string()
    } else {
        format!("{count} approvals")
    };
    match groups {
        [] => format!("{approvals} from anyone but the promoter"),
        [group] => format!("{approvals} from @{group}"),
        _ => format!(
            "{approvals} including one from each of {}",
            list_groups(groups)
        ),
    }
}

/// `@a`, `@a and @b`, `@a, @b and @c`.
pub(super) fn list_groups(groups: &[String]) -> String {
    let tagged: Vec<String> = groups.iter().map(|group| format!("@{group}")).collect();
    match tagged.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::environments::test_fixtures::*;
    use crate::manifest::test_support::ok;

    #[test]
    fn approval_count_defaults_to_one_when_required_and_zero_otherwise() {
        let config = ok(parse(CONTRACT_EXAMPLE));
        let count = |name: &str| config.get(name).map(|env| env.approval.count);
        assert_eq!(count("dev"), Some(0));
        assert_eq!(count("int"), Some(1));
        assert_eq!(count("prod"), Some(2));
        let int = config.get("int").map(|env| env.approval.clone());
        assert_eq!(
            int,
            Some(ApprovalRule {
                required: true,
                auto_merge: false,
                approvers: vec!["team-leads".into()],
                count: 1,
                rollback: None
            })
        );
    }

    #[test]
    fn required_with_count_zero_is_refused() {
        let error = approval_error("{ required: true, count: 0 }");
        assert_eq!(error.field, "environments.dev.approval.count");
        assert!(error.message.contains("set count to 1 or more"), "{error}");
    }

    #[test]
    fn not_required_with_approvers_is_refused() {
        let error = approval_error("{ required: false, auto_merge: true, approvers: [\"@a\"] }");
        assert_eq!(error.field, "environments.dev.approval.approvers");
        assert!(error.message.contains("set required: true"), "{error}");
    }

    #[test]
    fn not_required_with_a_count_is_refused() {
        let error = approval_error("{ required: false, auto_merge: true, count: 1 }");
        assert_eq!(error.field, "environments.dev.approval.count");
        assert!(error.message.contains("set required: true"), "{error}");
    }

    #[test]
    fn not_required_and_not_auto_merged_is_refused() {
        let error = approval_error("{ required: false }");
        assert_eq!(error.field, "environments.dev.approval.required");
        assert_eq!(
            error.message,
            "nothing would ever merge: set auto_merge: true or required: true"
        );
    }

    #[test]
    fn an_approver_without_an_at_sign_is_refused() {
        let error = approval_error("{ required: true, approvers: [team-leads] }");
        assert_eq!(
            (error.field.as_str(), error.line),
            ("environments.dev.approval.approvers", Some(2))
        );
        assert!(error.message.contains("\"@name\""), "{error}");
    }

    #[test]
    fn an_approver_with_a_bad_group_name_is_refused() {
        let error = approval_error("{ required: true, approvers: [\"@Team_Leads\"] }");
        assert!(
            error.message.contains("invalid group name \"Team_Leads\""),
            "{error}"
        );
    }

    #[test]
    fn a_duplicate_approver_group_is_refused() {
        let error = approval_error("{ required: true, approvers: [\"@a\", \"@a\"] }");
        assert!(error.message.contains("@a is listed twice"), "{error}");
    }

    #[test]
    fn an_unknown_approval_field_is_refused() {
        let error = approval_error("{ required: true, reviewers: 2 }");
        assert!(
            error.message.contains("unknown field `reviewers`"),
            "{error}"
        );
    }

    #[test]
    fn a_rollback_rule_is_read_with_its_default_count() {
        let config = ok(parse(&file(&[entry(
            "prod",
            "",
            "{ required: true, approvers: [\"@leads\"], count: 2, rollback: { approvers: [\"@oncall\"] } }",
        )])));
        let rollback = config
            .get("prod")
            .and_then(|env| env.approval.rollback.clone());
        assert_eq!(
            rollback,
            Some(RollbackRule {
                approvers: vec!["oncall".into()],
                count: 1
            })
        );
        let empty = ok(parse(&file(&[entry(
            "prod",
            "",
            "{ required: true, rollback: { auto_merge: true } }",
        )])));
        let rollback = empty
            .get("prod")
            .and_then(|env| env.approval.rollback.clone());
        assert_eq!(
            rollback,
            Some(RollbackRule {
                approvers: vec![],
                count: 0
            })
        );
    }

    #[test]
    fn a_rollback_count_of_zero_with_approvers_is_refused() {
        let error =
            approval_error("{ required: true, rollback: { approvers: [\"@a\"], count: 0 } }");
        assert_eq!(error.field, "environments.dev.approval.rollback.count");
    }

    #[test]
    fn a_rollback_count_of_zero_without_auto_merge_is_refused_like_the_main_rule() {
        for rollback in ["{}", "{ count: 0 }", "{ count: 0, auto_merge: false }"] {
            let error = approval_error(&format!(
                "{{ required: true, approvers: [\"@a\"], rollback: {rollback} }}"
            ));
            assert_eq!(
                (error.field.as_str(), error.line),
                ("environments.dev.approval.rollback.count", Some(2)),
                "{rollback}"
            );
            assert!(error.message.contains("auto_merge: true"), "{error}");
        }
        let automatic = ok(parse(&file(&[entry(
            "dev",
            "",
            "{ required: true, approvers: [\"@a\"], rollback: { count: 0, auto_merge: true } }",
        )])));
        let rollback = automatic
            .get("dev")
            .and_then(|env| env.approval.rollback.clone());
        assert_eq!(
            rollback.map(|rule| rule.describe()).as_deref(),
            Some("merged once checks pass")
        );
    }

    #[test]
    fn a_bad_rollback_approver_is_refused() {
        let error = approval_error("{ required: true, rollback: { approvers: [a] } }");
        assert_eq!(error.field, "environments.dev.approval.rollback.approvers");
    }

    #[test]
    fn a_rollback_rule_without_required_approval_is_refused() {
        let error = approval_error("{ required: false, auto_merge: true, rollback: { count: 0 } }");
        assert_eq!(error.field, "environments.dev.approval.rollback");
    }

    #[test]
    fn approval_rules_describe_themselves_in_words() {
        let rule = |required, auto_merge, approvers: &[&str], count| ApprovalRule {
            required,
            auto_merge,
            approvers: approvers.iter().map(|group| group.to_string()).collect(),
            count,
            rollback: None,
        };
        assert_eq!(
            rule(false, true, &[], 0).describe(),
            "auto-merge once checks pass"
        );
        assert_eq!(
            rule(true, false, &["team-leads"], 1).describe(),
            "1 approval from @team-leads"
        );
        assert_eq!(
            rule(true, false, &["team-leads", "security"], 2).describe(),
            "2 approvals including one from each of @team-leads and @security"
        );
        assert_eq!(
            rule(true, false, &["a", "b", "c"], 3).describe(),
            "3 approvals including one from each of @a, @b and @c"
        );
        assert_eq!(
            rule(true, false, &[], 1).describe(),
            "1 approval from anyone but the promoter"
        );
        assert_eq!(
            rule(true, true, &["team-leads"], 1).describe(),
            "1 approval from @team-leads, then auto-merge once checks pass"
        );
    }

    #[test]
    fn rollback_rules_describe_themselves_in_words() {
        let rollback = |approvers: &[&str], count| RollbackRule {
            approvers: approvers.iter().map(|group| group.to_string()).collect(),
            count,
        };
        assert_eq!(rollback(&[], 0).describe(), "merged once checks pass");
        assert_eq!(
            rollback(&["oncall"], 1).describe(),
            "1 approval from @oncall"
        );
        assert_eq!(
            rollback(&[], 2).describe(),
            "2 approvals from anyone but the promoter"
        );
    }
}
