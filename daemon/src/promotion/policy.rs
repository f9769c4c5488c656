//! The approval rule, enforced: who may approve a promotion, and whether the approvals
//! given so far meet the rule ("needs 1 more approval from @security").

use datakit::manifest::{ApprovalRule, Environment, Teams};

#[cfg(test)]
use super::model::Approver;
use super::model::{AUTO_PROMOTER, Approval, PromotionKind};

/// The rule that applies to one promotion: the environment's, or its expedited rollback
/// rule when it is a rollback and one is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveRule {
    /// Groups (without `@`) that must each be represented; empty = anyone but the promoter.
    pub groups: Vec<String>,
    /// Distinct approvals needed.
    pub count: u32,
    /// Merged as soon as checks pass, with no approval at all.
    pub automatic: bool,
    /// The rule in words.
    pub description: String,
}

impl EffectiveRule {
    pub fn for_promotion(environment: &Environment, kind: PromotionKind) -> Self {
        let rule: &ApprovalRule = &environment.approval;
        if let (PromotionKind::Rollback, Some(rollback)) = (kind, &rule.rollback) {
            return Self {
                groups: rollback.approvers.clone(),
                count: rollback.count,
                automatic: rollback.count == 0,
                description: format!("rollback rule: {}", rollback.describe()),
            };
        }
        Self {
            groups: rule.approvers.clone(),
            count: if rule.required { rule.count.max(1) } else { 0 },
            automatic: !rule.required,
            description: rule.describe(),
        }
    }
}

/// Why someone may not approve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApproverRefusal {
    #[error("{user} promoted this and cannot approve it; ask {who}")]
    SelfApproval { user: String, who: String },
    #[error("{user} is not an allowed approver here; ask {who}")]
    Outsider { user: String, who: String },
    #[error("{user} opens promotions and never approves them; ask {who}")]
    Automation { user: String, who: String },
    #[error("no approval is needed: {rule}")]
    NotNeeded { rule: String },
}

/// Whether the approvals meet the rule, and if not what is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub met: bool,
    /// Empty when met, else e.g. "needs 1 more approval from @security".
    pub needed: String,
}

/// Applies one rule to one promotion.
#[derive(Debug)]
pub struct Policy<'a> {
    pub rule: &'a EffectiveRule,
    pub teams: Option<&'a Teams>,
    pub promoter: &'a str,
    /// Whether approvals whose approver was only claimed (`asserted_by`) count: only in the
    /// embedded forge's demo mode. Recorded ones stop counting when it is turned off.
    pub count_asserted: bool,
}

impl Policy<'_> {
    /// Whether `user` is in `group`: vouched for by their authentication (`vouched`), or a
    /// member in the teams (`config/teams.yaml`, the forge's teams).
    fn in_group(&self, user: &str, vouched: &[String], group: &str) -> bool {
        vouched.iter().any(|g| g.eq_ignore_ascii_case(group))
            || self
                .teams
                .and_then(|t| t.members(group))
                .is_some_and(|members| members.iter().any(|m| m.eq_ignore_ascii_case(user)))
    }

    /// The groups of the rule `user` is in (see [`Self::in_group`]).
    pub fn rule_groups_of(&self, user: &str, vouched: &[String]) -> Vec<String> {
        self.rule
            .groups
            .iter()
            .filter(|group| self.in_group(user, vouched, group))
            .cloned()
            .collect()
    }

    fn is_promoter(&self, user: &str) -> bool {
        user.eq_ignore_ascii_case(self.promoter)
    }

    /// Who may approve, in words: "a member of @team-leads (alice, dave)".
    pub fn who_may_approve(&self) -> String {
        if self.rule.groups.is_empty() {
            return format!("anyone but {}", self.promoter);
        }
        let groups: Vec<String> = self
            .rule
            .groups
            .iter()
            .map(|group| {
                let members: Vec<&str> = self
                    .teams
                    .and_then(|t| t.members(group))
                    .unwrap_or_default()
                    .iter()
                    .map(String::as_str)
                    .filter(|m| !self.is_promoter(m))
                    .collect();
                if members.is_empty() {
                    format!("@{group}")
                } else {
                    format!("@{group} ({})", members.join(", "))
                }
            })
            .collect();
        format!("a member of {}", groups.join(" or "))
    }

    /// Refuses approvers the rule does not allow; `vouched` are the groups their
    /// authentication vouches for.
    pub fn check_approver(&self, user: &str, vouched: &[String]) -> Result<(), ApproverRefusal> {
        if self.rule.automatic {
            return Err(ApproverRefusal::NotNeeded {
                rule: self.rule.description.clone(),
            });
        }
        if user.eq_ignore_ascii_case(AUTO_PROMOTER) {
            return Err(ApproverRefusal::Automation {
                user: user.to_owned(),
                who: self.who_may_approve(),
            });
        }
        if self.is_promoter(user) {
            return Err(ApproverRefusal::SelfApproval {
                user: user.to_owned(),
                who: self.who_may_approve(),
            });
        }
        if !self.rule.groups.is_empty()
            && !self
                .rule
                .groups
                .iter()
                .any(|g| self.in_group(user, vouched, g))
        {
            return Err(ApproverRefusal::Outsider {
                user: user.to_owned(),
                who: self.who_may_approve(),
            });
        }
        Ok(())
    }

    /// Counts the valid approvals (distinct, allowed, not the promoter) against the rule.
    pub fn evaluate(&self, approvals: &[Approval]) -> Evaluation {
        if self.rule.automatic {
            return Evaluation {
                met: true,
                needed: String::new(),
            };
        }
        let mut valid: Vec<&Approval> = approvals
            .iter()
            .filter(|a| self.count_asserted || a.asserted_by.is_none())
            .filter(|a| self.check_approver(&a.user, &a.groups).is_ok())
            .collect();
        valid.sort_unstable_by_key(|a| a.user.to_ascii_lowercase());
        valid.dedup_by(|a, b| a.user.eq_ignore_ascii_case(&b.user));
        let missing_groups: Vec<&String> = self
            .rule
            .groups
            .iter()
            .filter(|group| {
                !valid
                    .iter()
                    .any(|a| self.in_group(&a.user, &a.groups, group))
            })
            .collect();
        let count = u32::try_from(valid.len()).unwrap_or(u32::MAX);
        let more = self
            .rule
            .count
            .saturating_sub(count)
            .max(u32::try_from(missing_groups.len()).unwrap_or(u32::MAX));
        if more == 0 {
            return Evaluation {
                met: true,
                needed: String::new(),
            };
        }
        let plural = if more == 1 { "approval" } else { "approvals" };
        let more_word = if valid.is_empty() { "" } else { "more " };
        let from = match missing_groups.as_slice() {
            [] => String::new(),
            groups => {
                let names: Vec<String> = groups.iter().map(|g| format!("@{g}")).collect();
                let including = if more as usize > groups.len() {
                    " including"
                } else {
                    ""
                };
                format!("{including} from {}", names.join(" and "))
            }
        };
        let from = if from.is_empty() && self.rule.groups.len() == 1 {
            format!(" from @{}", self.rule.groups[0])
        } else {
            from
        };
        Evaluation {
            met: false,
            needed: format!("needs {more} {more_word}{plural}{from}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use datakit::manifest::{
        DEFAULT_ENVIRONMENTS_YAML, DEFAULT_TEAMS_YAML, parse_environments, parse_teams,
    };

    use super::*;

    fn approvals(users: &[&str]) -> Vec<Approval> {
        users
            .iter()
            .map(|u| {
                Approval::given(
                    &Approver::authenticated((*u).to_owned(), Vec::new()),
                    SystemTime::UNIX_EPOCH,
                )
            })
            .collect()
    }

    fn rule(env: &str, kind: PromotionKind) -> EffectiveRule {
        let config = parse_environments("environments.yaml", DEFAULT_ENVIRONMENTS_YAML)
            .expect("defaults parse");
        EffectiveRule::for_promotion(config.get(env).expect("env"), kind)
    }

    fn teams() -> Teams {
        parse_teams("teams.yaml", DEFAULT_TEAMS_YAML).expect("teams parse")
    }

    #[test]
    fn dev_merges_without_approval_and_refuses_approvers() {
        let rule = rule("dev", PromotionKind::Promotion);
        let teams = teams();
        let policy = Policy {
            rule: &rule,
            teams: Some(&teams),
            promoter: "carol",
            count_asserted: false,
        };
        assert!(policy.evaluate(&[]).met);
        assert!(matches!(
            policy.check_approver("alice", &[]),
            Err(ApproverRefusal::NotNeeded { .. })
        ));
    }

    #[test]
    fn int_needs_one_team_lead_and_says_so() {
        let rule = rule("int", PromotionKind::Promotion);
        let teams = teams();
        let policy = Policy {
            rule: &rule,
            teams: Some(&teams),
            promoter: "carol",
            count_asserted: false,
        };
        assert_eq!(
            policy.evaluate(&[]).needed,
            "needs 1 approval from @team-leads"
        );
        assert!(policy.evaluate(&approvals(&["alice"])).met);
    }

    #[test]
    fn prod_needs_two_including_security() {
        let rule = rule("prod", PromotionKind::Promotion);
        let teams = teams();
        let policy = Policy {
            rule: &rule,
            teams: Some(&teams),
            promoter: "carol",
            count_asserted: false,
        };
        assert_eq!(
            policy.evaluate(&[]).needed,
            "needs 2 approvals from @team-leads and @security"
        );
        let two_leads = policy.evaluate(&approvals(&["alice", "dave"]));
        assert_eq!(two_leads.needed, "needs 1 more approval from @security");
        assert!(policy.evaluate(&approvals(&["alice", "bob"])).met);
    }

    #[test]
    fn the_same_approver_twice_counts_once() {
        let rule = rule("prod", PromotionKind::Promotion);
        let teams = teams();
        let policy = Policy {
            rule: &rule,
            teams: Some(&teams),
            promoter: "carol",
            count_asserted: false,
        };
        assert!(!policy.evaluate(&approvals(&["bob", "BOB"])).met);
    }

    #[test]
    fn the_promoter_and_outsiders_are_refused_and_told_who_may_approve() {
        let rule = rule("int", PromotionKind::Promotion);
        let teams = teams();
        let policy = Policy {
            rule: &rule,
            teams: Some(&teams),
            promoter: "alice",
            count_asserted: false,
        };
        let own = policy
            .check_approver("alice", &[])
            .expect_err("self approval");
        assert_eq!(
            own.to_string(),
            "alice promoted this and cannot approve it; ask a member of @team-leads (dave)"
        );
        let outsider = policy.check_approver("mallory", &[]).expect_err("outsider");
        assert!(
            outsider
                .to_string()
                .contains("mallory is not an allowed approver"),
            "{outsider}"
        );
        assert!(
            !policy.evaluate(&approvals(&["alice", "mallory"])).met,
            "invalid approvals never count"
        );
    }

    #[test]
    fn an_auto_promotion_never_counts_dkd_as_an_approver_and_lets_every_lead_approve() {
        let rule = rule("int", PromotionKind::Promotion);
        let teams = teams();
        let policy = Policy {
            rule: &rule,
            teams: Some(&teams),
            promoter: AUTO_PROMOTER,
            count_asserted: false,
        };
        let refused = policy
            .check_approver(AUTO_PROMOTER, &["team-leads".to_owned()])
            .expect_err("automation");
        assert_eq!(
            refused.to_string(),
            "dkd (auto-promotion) opens promotions and never approves them; ask a member of @team-leads (alice, dave)"
        );
        assert!(!policy.evaluate(&approvals(&[AUTO_PROMOTER])).met);
        assert!(policy.check_approver("alice", &[]).is_ok());
        assert!(policy.evaluate(&approvals(&["dave"])).met);
    }

    #[test]
    fn groups_vouched_for_by_authentication_count_like_team_membership() {
        let rule = rule("prod", PromotionKind::Promotion);
        let teams = teams();
        let policy = Policy {
            rule: &rule,
            teams: Some(&teams),
            promoter: "carol",
            count_asserted: false,
        };
        let security = vec!["security".to_owned()];
        assert!(policy.check_approver("sec-bot", &security).is_ok());
        assert!(policy.check_approver("sec-bot", &[]).is_err());
        let mut approvals = approvals(&["alice"]);
        approvals.push(Approval::given(
            &Approver::authenticated("sec-bot".to_owned(), security.clone()),
            SystemTime::UNIX_EPOCH,
        ));
        assert!(
            policy.evaluate(&approvals).met,
            "alice + a vouched @security"
        );
        assert_eq!(policy.rule_groups_of("sec-bot", &security), security);
    }

    #[test]
    fn asserted_approvals_count_only_in_demo_mode() {
        let rule = rule("int", PromotionKind::Promotion);
        let teams = teams();
        let asserted = vec![Approval::given(
            &Approver {
                user: "alice".to_owned(),
                groups: Vec::new(),
                asserted_by: Some("carol".to_owned()),
            },
            SystemTime::UNIX_EPOCH,
        )];
        let mut policy = Policy {
            rule: &rule,
            teams: Some(&teams),
            promoter: "carol",
            count_asserted: true,
        };
        assert!(policy.evaluate(&asserted).met, "demo mode");
        policy.count_asserted = false;
        assert!(
            !policy.evaluate(&asserted).met,
            "a claim is not an approval"
        );
    }

    #[test]
    fn a_rollback_uses_the_expedited_rule_when_configured() {
        let yaml = DEFAULT_ENVIRONMENTS_YAML.replace(
            "count: 2 }",
            "count: 2, rollback: { approvers: [\"@security\"], count: 1 } }",
        );
        let config = parse_environments("environments.yaml", &yaml).expect("parses");
        let prod = config.get("prod").expect("prod");
        let teams = teams();
        let rollback = EffectiveRule::for_promotion(prod, PromotionKind::Rollback);
        let policy = Policy {
            rule: &rollback,
            teams: Some(&teams),
            promoter: "carol",
            count_asserted: false,
        };
        assert!(policy.evaluate(&approvals(&["bob"])).met);
        let normal = EffectiveRule::for_promotion(prod, PromotionKind::Promotion);
        assert_eq!(normal.count, 2);
        let without = rule("prod", PromotionKind::Rollback);
        assert_eq!(without.count, 2, "no rollback rule: the normal one applies");
    }
}
