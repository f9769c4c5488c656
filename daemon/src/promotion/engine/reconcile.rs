//! The reconcile loop: moves every unfinished promotion one step at a time, saving after
//! each step, so a crash resumes where it stopped. Steps are idempotent: proposing reuses
//! the branch, and a merge that already landed is found by its `Promotion-Id` trailer.
//! Promotions are reconciled side by side (each under its target's lock), so one waiting
//! on a slow forge call holds up no other; a pass starts only those not already moving.

use std::{collections::HashSet, time::Duration};

use futures::{StreamExt, future::BoxFuture, stream::FuturesUnordered};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{Engine, change};
use crate::promotion::{
    PromotionError,
    model::{CheckOutcome, Promotion, PromotionKind, PromotionState},
    policy::{EffectiveRule, Policy},
    ports::{ChangeState, ForgeError, HealthState, SyncState},
};

/// How often the loop runs when nothing wakes it.
const RECONCILE_INTERVAL: Duration = Duration::from_millis(500);
/// At most this many steps per promotion per pass (each step saves).
const STEPS_PER_PASS: usize = 8;
/// At most this many promotions are reconciled at once.
const MOVING_AT_ONCE: usize = 16;

/// The promotions being reconciled now: their ids, and the steps moving them (each
/// yields its id when it stops).
#[derive(Default)]
struct Moving<'a> {
    ids: HashSet<String>,
    steps: FuturesUnordered<BoxFuture<'a, String>>,
}

impl Moving<'_> {
    /// Waits for the next promotion to stop moving; `None` when none moves.
    async fn next(&mut self) -> Option<String> {
        let id = self.steps.next().await?;
        self.ids.remove(&id);
        Some(id)
    }
}

/// What one step did.
pub(super) enum Step {
    /// The promotion moved (and was saved); try the next step.
    Moved,
    /// Nothing to do until something outside changes.
    Wait,
}

impl Engine {
    /// Runs until `shutdown`, reconciling every unfinished promotion.
    pub async fn run(&self, shutdown: CancellationToken) {
        while !self.records_are_ready()
            && let Err(error) = self.rebuild_records().await
        {
            tracing::warn!(%error, "cannot read past promotions from the forge; retrying");
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(RECONCILE_INTERVAL * 4) => {}
            }
        }
        let mut moving = Moving::default();
        loop {
            let next_pass = tokio::time::Instant::now() + RECONCILE_INTERVAL;
            if let Err(error) = self.start_pass(&mut moving) {
                tracing::warn!(%error, "reconcile pass failed; retrying");
            }
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => {
                        // As before: steps under way finish; none starts.
                        while moving.next().await.is_some() {}
                        return;
                    }
                    Some(id) = moving.steps.next() => {
                        moving.ids.remove(&id);
                    }
                    () = self.wake.notified() => break,
                    () = tokio::time::sleep_until(next_pass) => break,
                }
            }
        }
    }

    /// Runs the reconcile loop for one term of leadership, until `shutdown`. A replica
    /// that takes over reads the forge's records again first: the promotions the old
    /// leader accepted but whose events never reached this replica are there, and no id
    /// the forge knows is handed out again.
    pub async fn run_as_leader(&self, shutdown: CancellationToken) {
        if self.leadership.is_replicated() {
            self.records_ready.send_replace(false);
        }
        self.run(shutdown).await;
    }

    /// Starts reconciling every unfinished promotion (from the store's index of them)
    /// that is not moving already, oldest first, up to [`MOVING_AT_ONCE`].
    fn start_pass<'a>(&'a self, moving: &mut Moving<'a>) -> Result<(), PromotionError> {
        for promotion in self.ports.store.load_unfinished_promotions()? {
            if moving.ids.len() >= MOVING_AT_ONCE {
                break;
            }
            if !moving.ids.insert(promotion.id.clone()) {
                continue;
            }
            let id = promotion.id;
            moving.steps.push(Box::pin(async move {
                if let Err(error) = self.reconcile_one(&id).await {
                    tracing::warn!(promotion_id = %id, %error, "promotion step failed; will retry");
                }
                id
            }));
        }
        Ok(())
    }

    /// Opens the change request of a promotion just accepted, so the deployment repository
    /// records it before the request is acknowledged (and it survives losing the state
    /// database); when the forge cannot be reached the loop retries.
    pub(super) async fn propose_now(&self, id: &str) -> Result<Promotion, PromotionError> {
        let _guard = self.lock_target_of(id).await?;
        let promotion = self.get(id)?;
        if promotion.state == PromotionState::Validated
            && let Err(error) = self.propose(promotion).await
        {
            tracing::warn!(promotion_id = %id, %error, "cannot open the change request yet; will retry");
            self.show_waiting(id, &error).await?;
        }
        self.get(id)
    }

    /// Moves one promotion as far as it can go now.
    pub(super) async fn reconcile_one(&self, id: &str) -> Result<(), PromotionError> {
        for _ in 0..STEPS_PER_PASS {
            let _guard = self.lock_target_of(id).await?;
            let promotion = self.get(id)?;
            if promotion.state.is_terminal() {
                return Ok(());
            }
            // Instrumented, never entered: a span entered across an `.await` is left on
            // whichever worker the task resumed on, and corrupts the subscriber's span stack.
            let span = tracing::info_span!("promotion", promotion_id = %promotion.id, package = %promotion.package,
                version = %promotion.version, env = %promotion.environment);
            match self.step(promotion).instrument(span).await {
                Ok(Step::Moved) => continue,
                Ok(Step::Wait) => return Ok(()),
                Err(error) => {
                    self.show_waiting(id, &error).await?;
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    /// A step failed on something outside (forge down or rate limiting, registry,
    /// cluster): the promotion keeps its state and says why it waits; it is retried on the
    /// next pass, never failed for it.
    async fn show_waiting(&self, id: &str, error: &PromotionError) -> Result<(), PromotionError> {
        let mut promotion = self.get(id)?;
        let reason = error.to_string();
        if promotion.state.is_terminal() || promotion.message.contains(&reason) {
            return Ok(());
        }
        promotion.message = format!("waiting to retry: {reason}");
        self.persist(&promotion).await
    }

    pub(super) async fn save(&self, promotion: &Promotion) -> Result<Step, PromotionError> {
        self.persist(promotion).await?;
        tracing::info!(state = promotion.state.name(), message = %promotion.message, "promotion moved");
        Ok(Step::Moved)
    }

    /// Saves `promotion` only if what it shows changed (message, approvals, checks).
    pub(super) async fn refresh(
        &self,
        before: &Promotion,
        promotion: &Promotion,
    ) -> Result<Step, PromotionError> {
        if before != promotion {
            self.persist(promotion).await?;
        }
        Ok(Step::Wait)
    }

    async fn step(&self, mut promotion: Promotion) -> Result<Step, PromotionError> {
        match promotion.state {
            PromotionState::Requested => {
                // Never acknowledged: the request was interrupted before validation ended.
                promotion.enter(
                    PromotionState::Rejected,
                    "interrupted before validation finished: promote again",
                );
                self.save(&promotion).await
            }
            PromotionState::Validated => self.propose(promotion).await,
            PromotionState::ChangeProposed => self.await_approval(promotion).await,
            PromotionState::Approved => self.merge(promotion).await,
            PromotionState::Merged if promotion.kind == PromotionKind::Store => {
                Ok(if self.await_served(promotion).await? {
                    Step::Moved
                } else {
                    Step::Wait
                })
            }
            PromotionState::Merged => {
                promotion.enter(
                    PromotionState::Syncing,
                    "waiting for the environment to apply the merge",
                );
                self.save(&promotion).await
            }
            PromotionState::Syncing => self.await_sync(promotion).await,
            PromotionState::Verifying => self.await_verification(promotion).await,
            PromotionState::Healthy
            | PromotionState::Verified
            | PromotionState::Failed
            | PromotionState::Superseded
            | PromotionState::Rejected
            | PromotionState::Cancelled => Ok(Step::Wait),
        }
    }

    async fn propose(&self, mut promotion: Promotion) -> Result<Step, PromotionError> {
        let config = self.config()?;
        let Some(environment) = config.environments.get(&promotion.environment) else {
            promotion.enter(
                PromotionState::Rejected,
                format!("environment {} was removed", promotion.environment),
            );
            return self.save(&promotion).await;
        };
        let policy = EffectiveRule::for_promotion(environment, promotion.kind).description;
        let mut proposal = change::proposal(&promotion, environment, &policy);
        proposal
            .files
            .extend(super::holds::rollback_hold_file(&promotion, &config));
        let change = self.ports.forge.propose_change(&proposal).await?;
        promotion.change = Some(change);
        promotion.enter(
            PromotionState::ChangeProposed,
            "change request opened; running checks",
        );
        self.save(&promotion).await
    }

    async fn await_approval(&self, mut promotion: Promotion) -> Result<Step, PromotionError> {
        let before = promotion.clone();
        let Some(change) = promotion.change.clone() else {
            promotion.enter(
                PromotionState::Validated,
                "change request missing; proposing again",
            );
            return self.save(&promotion).await;
        };
        let status = self.ports.forge.change_status(&change).await?;
        promotion.approvals = status.approvals;
        promotion.checks = status.checks;
        match status.state {
            ChangeState::Merged { commit } => return self.merged(promotion, commit).await,
            ChangeState::Closed => {
                promotion.enter(
                    PromotionState::Rejected,
                    "the change request was closed without merging",
                );
                return self.save(&promotion).await;
            }
            ChangeState::Open => {}
        }
        if let Some(failed) = promotion
            .checks
            .iter()
            .find(|c| c.outcome == CheckOutcome::Failure)
        {
            let reason = format!("check {:?} failed: {}", failed.name, failed.description);
            self.ports.forge.close(&change, &reason).await?;
            promotion.enter(PromotionState::Rejected, reason);
            return self.save(&promotion).await;
        }
        if promotion
            .checks
            .iter()
            .any(|c| c.outcome == CheckOutcome::Pending)
        {
            promotion.message = "waiting for checks".into();
            return self.refresh(&before, &promotion).await;
        }
        let config = self.config()?;
        let Some(environment) = config.environments.get(&promotion.environment) else {
            return self.refresh(&before, &promotion).await;
        };
        let rule = EffectiveRule::for_promotion(environment, promotion.kind);
        let forge_teams = self.refresh_forge_teams().await?;
        let evaluation = Policy {
            rule: &rule,
            teams: forge_teams.as_deref().or(config.teams.as_ref()),
            promoter: &promotion.promoter,
            count_asserted: self.count_asserted,
        }
        .evaluate(&promotion.approvals);
        if evaluation.met {
            promotion.enter(
                PromotionState::Approved,
                format!("{} met; merging", rule.description),
            );
            return self.save(&promotion).await;
        }
        promotion.message = if forge_teams.is_some() {
            format!(
                "{} (review the pull request {})",
                evaluation.needed, change.url
            )
        } else {
            format!(
                "{} (dk approve {} --as USER)",
                evaluation.needed, promotion.id
            )
        };
        self.refresh(&before, &promotion).await
    }

    async fn merge(&self, mut promotion: Promotion) -> Result<Step, PromotionError> {
        if let Some(commit) = self.ports.forge.find_landed(&promotion.id).await? {
            return self.merged(promotion, commit).await;
        }
        let Some(change) = promotion.change.clone() else {
            promotion.enter(
                PromotionState::Validated,
                "change request missing; proposing again",
            );
            return self.save(&promotion).await;
        };
        // Merges land one batch at a time. Leadership is checked again right before a
        // batch lands; the forge's compare-and-swap on the base branch stays the last line
        // of defence.
        match self.merge_change(change.clone()).await? {
            Ok(commit) => self.merged(promotion, commit).await,
            Err(ForgeError::NotMergeable { reason, .. }) => {
                if let Err(error) = self.ports.forge.close(&change, &reason).await {
                    tracing::warn!(%error, "cannot close the unmergeable change request");
                }
                promotion.enter(PromotionState::Rejected, format!("cannot merge: {reason}"));
                self.save(&promotion).await
            }
            Err(error) => {
                promotion.message = format!("merge will be retried: {error}");
                self.persist(&promotion).await?;
                Err(error.into())
            }
        }
    }

    async fn merged(
        &self,
        mut promotion: Promotion,
        commit: String,
    ) -> Result<Step, PromotionError> {
        // The sync loop applies what the catalog accepts: have it look at the new revision
        // now, not at its next poll.
        self.ports.catalog.base_moved();
        let short = commit.get(..12).unwrap_or(&commit).to_owned();
        promotion.merge_commit = Some(commit);
        promotion.enter(PromotionState::Merged, format!("merged as {short}"));
        self.save(&promotion).await
    }

    async fn await_sync(&self, mut promotion: Promotion) -> Result<Step, PromotionError> {
        let before = promotion.clone();
        let Some(status) = self
            .ports
            .cluster
            .package_status(&promotion.environment, &promotion.package)
            .await?
        else {
            return self.refresh(&before, &promotion).await;
        };
        // Whether the environment applied a revision that contains the merge (a backend
        // that cannot name the promotion, e.g. Argo CD without the annotation, is judged
        // by this alone; one that names it must also be at or past the merge).
        let applied = match &promotion.merge_commit {
            Some(merge) if !status.revision.is_empty() => {
                Some(self.ports.forge.contains(&status.revision, merge).await?)
            }
            Some(_) => Some(false),
            None => None,
        };
        let ours = match status.promotion_id.as_deref() {
            Some(id) => id == promotion.id,
            None => applied == Some(true),
        };
        if ours {
            if status.sync != SyncState::Synced || applied == Some(false) {
                promotion.message = format!("syncing: {}", status.sync.name());
                return self.refresh(&before, &promotion).await;
            }
            match status.health {
                HealthState::Healthy => {
                    let state = self.healthy_state(&promotion);
                    let message = if state == PromotionState::Verifying {
                        format!(
                            "{} runs {}; verification is starting",
                            promotion.environment, promotion.version
                        )
                    } else {
                        format!("{} runs {}", promotion.environment, promotion.version)
                    };
                    promotion.enter(state, message);
                    return self.save(&promotion).await;
                }
                HealthState::Degraded | HealthState::Missing => {
                    promotion.enter(
                        PromotionState::Failed,
                        format!("{}: {}", status.health.name(), status.message),
                    );
                    return self.save(&promotion).await;
                }
                _ => {
                    promotion.message = format!("syncing: {}", status.health.name());
                    return self.refresh(&before, &promotion).await;
                }
            }
        }
        if applied == Some(true) {
            let by = status
                .promotion_id
                .unwrap_or_else(|| "a later change".to_owned());
            promotion.superseded_by = Some(by.clone());
            promotion.enter(
                PromotionState::Superseded,
                format!("replaced by {by} before it synced"),
            );
            return self.save(&promotion).await;
        }
        promotion.message = "waiting for the environment to apply the merge".into();
        self.refresh(&before, &promotion).await
    }
}
