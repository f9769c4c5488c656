//! Ending an unfinished promotion by a person's decision: an approver rejects it, or its
//! promoter (or an admin) cancels it. Either closes the change request through the forge,
//! under the lock of the promotion's target, so a merge can never follow (or race) the
//! decision.

use super::Engine;
pub use crate::promotion::ports::Decision;
use crate::promotion::{
    PromotionError,
    model::{Approver, Promotion, PromotionState},
    policy::{EffectiveRule, Policy},
    ports::{ChangeState, Declined},
};

impl Engine {
    /// Ends promotion `id` by `decision` of `by` (the authenticated caller), with `reason`
    /// when given: closes its change request and records who and why. Refused once the
    /// promotion merged or ended.
    pub async fn decide(
        &self,
        id: &str,
        decision: Decision,
        by: &str,
        reason: Option<&str>,
    ) -> Result<Promotion, PromotionError> {
        // A promotion accepted a moment ago gets its change request first, so the decision
        // closes it instead of leaving it to be opened after.
        self.await_change_request(id).await?;
        let _guard = self.lock_target_of(id).await?;
        let mut promotion = self.get(id)?;
        if !promotion.state.is_open() {
            return Err(PromotionError::Refused(format!(
                "promotion {id} is already {}: only a promotion that has not merged can be {}",
                promotion.state.name(),
                decision.past()
            )));
        }
        let declined = Declined {
            decision,
            by: by.to_owned(),
            reason: reason.map(str::to_owned),
        };
        if let Some(change) = &promotion.change {
            // Merged on the forge behind dkd's back (a person merging on GitHub): too late.
            if let ChangeState::Merged { .. } = self.ports.forge.change_status(change).await?.state
            {
                return Err(PromotionError::Refused(format!(
                    "promotion {id}'s change request already merged on the forge: it can no longer be {}",
                    decision.past()
                )));
            }
            self.ports.forge.decline(change, &declined).await?;
        }
        promotion.enter(decision.state(), declined.summary());
        self.persist(&promotion).await?;
        tracing::info!(promotion_id = %id, by, "promotion {}", decision.past());
        Ok(promotion)
    }

    /// Whether `approver` could approve `promotion` now: it waits for approvals, the rule
    /// is not met yet, they have not approved it already, and the rule allows them (not
    /// their own promotion where self-approval is forbidden, in a required group).
    pub fn could_approve(&self, promotion: &Promotion, approver: &Approver) -> bool {
        if promotion.state != PromotionState::ChangeProposed
            || promotion
                .approvals
                .iter()
                .any(|a| a.user.eq_ignore_ascii_case(&approver.user))
        {
            return false;
        }
        let Some(config) = self.ports.catalog.snapshot().current else {
            return false;
        };
        let Some(environment) = config.environments.get(&promotion.environment) else {
            return false;
        };
        let rule = EffectiveRule::for_promotion(environment, promotion.kind);
        let forge_teams = self.forge_teams();
        let policy = Policy {
            rule: &rule,
            teams: forge_teams.as_deref().or(config.teams.as_ref()),
            promoter: &promotion.promoter,
            count_asserted: self.count_asserted,
        };
        !policy.evaluate(&promotion.approvals).met
            && policy
                .check_approver(&approver.user, &approver.groups)
                .is_ok()
    }
}
