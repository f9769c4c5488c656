//! Adding a `Store` to an environment through a change request, like a promotion: the
//! manifest is validated, proposed on the forge (whose checks validate the whole
//! revision), and merged by dkd only when the environment's approval rule is met now —
//! on an auto-merge environment at once. Otherwise the change request stays open for its
//! reviewers to approve and merge on the forge; dkd does not follow it further.

use std::time::Duration;

use datakit::manifest::{parse_store, validate_name};

use super::Engine;
use crate::promotion::{
    PromotionError,
    model::{CheckOutcome, PromotionKind},
    policy::{EffectiveRule, Policy},
    ports::{ChangeProposal, ChangeState},
};

/// How long dkd waits for the forge's checks, and then for the merged store to be served.
const PATIENCE: Duration = Duration::from_secs(20);
/// How often it looks again meanwhile.
const POLL: Duration = Duration::from_millis(200);

/// A request to add (or replace) a store of an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreChangeRequest {
    pub environment: String,
    pub name: String,
    /// The complete `Store` manifest.
    pub manifest: String,
    pub replace: bool,
    pub author: String,
}

/// What an add-store request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreChangeOutcome {
    pub merged: bool,
    pub change_id: String,
    pub change_url: String,
    pub file: String,
    pub policy: String,
    pub message: String,
}

impl Engine {
    /// Validates the store, opens its change request, and merges it when the environment's
    /// rule is already met.
    pub async fn add_store(
        &self,
        request: StoreChangeRequest,
    ) -> Result<StoreChangeOutcome, PromotionError> {
        let invalid = |e: &dyn std::fmt::Display| PromotionError::InvalidInput(e.to_string());
        validate_name("environment", &request.environment).map_err(|e| invalid(&e))?;
        validate_name("store", &request.name).map_err(|e| invalid(&e))?;
        let config = self.config()?;
        let environment = config
            .environments
            .get(&request.environment)
            .ok_or_else(|| {
                PromotionError::NotFound(format!(
                    "unknown environment {:?}: known environments are {}",
                    request.environment,
                    config.environments.names().join(", ")
                ))
            })?;
        let file = environment.store_manifest_path(&request.name);
        parse_store(&file, &request.manifest).map_err(|e| invalid(&e))?;
        if !request.replace && self.current_text(&file).await?.is_some() {
            return Err(PromotionError::Refused(format!(
                "store {} already exists in {} ({file}): pass --replace to change it",
                request.name, request.environment
            )));
        }
        let rule = EffectiveRule::for_promotion(environment, PromotionKind::Promotion);
        let verb = if request.replace { "Replace" } else { "Add" };
        let title = format!("{verb} store {} in {}", request.name, request.environment);
        let stamp = super::super::model::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let branch = format!("store/{}/{}-{stamp}", request.environment, request.name);
        let proposal = ChangeProposal {
            promotion_id: String::new(),
            branch: branch.clone(),
            title: title.clone(),
            body: format!(
                "## {title}\n\n| | |\n|---|---|\n| File | `{file}` |\n| Approval | {} |\n| Requested by | {} |\n\n*Opened by dkd.*\n",
                rule.description, request.author
            ),
            labels: vec!["store".to_owned(), format!("env:{}", request.environment)],
            files: vec![(file.clone(), request.manifest.clone().into_bytes())],
            commit_message: format!("{title}\n\nRequested-By: {}\n", request.author),
        };
        let change = self.ports.forge.propose_change(&proposal).await?;
        let mut outcome = StoreChangeOutcome {
            merged: false,
            change_id: change.id.clone(),
            change_url: change.url.clone(),
            file,
            policy: rule.description.clone(),
            message: String::new(),
        };
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let status = loop {
            let status = self.ports.forge.change_status(&change).await?;
            let pending = status
                .checks
                .iter()
                .any(|c| c.outcome == CheckOutcome::Pending);
            if !pending || tokio::time::Instant::now() >= deadline {
                break status;
            }
            tokio::time::sleep(POLL).await;
        };
        if let ChangeState::Merged { .. } | ChangeState::Closed = status.state {
            outcome.message = format!("change request {} is no longer open", change.id);
            return Ok(outcome);
        }
        if let Some(failed) = status
            .checks
            .iter()
            .find(|c| c.outcome == CheckOutcome::Failure)
        {
            let reason = format!("check {:?} failed: {}", failed.name, failed.description);
            self.ports.forge.close(&change, &reason).await?;
            return Err(PromotionError::InvalidInput(format!(
                "the store does not validate with the rest of the repository: {reason}"
            )));
        }
        if status
            .checks
            .iter()
            .any(|c| c.outcome == CheckOutcome::Pending)
        {
            outcome.message = format!(
                "change request {} opened; its checks still run: merge it on the forge once they pass",
                change.id
            );
            return Ok(outcome);
        }
        let teams = self.refresh_forge_teams().await?;
        let evaluation = Policy {
            rule: &rule,
            teams: teams.as_deref().or(config.teams.as_ref()),
            promoter: &request.author,
            count_asserted: self.count_asserted,
        }
        .evaluate(&status.approvals);
        if !evaluation.met {
            outcome.message = if teams.is_some() {
                format!(
                    "change request {} opened; {}: review and merge the pull request {}",
                    change.id, evaluation.needed, change.url
                )
            } else {
                // dk approve takes promotions only: on the embedded forge an approver
                // merges the branch with git.
                format!(
                    "change request {} opened; {}: an approver merges branch {} into main of the deployment repository",
                    change.id, evaluation.needed, change.branch
                )
            };
            return Ok(outcome);
        }
        let commit = {
            let _merging = self.lock.lock().await;
            self.ports.forge.merge(&change).await?
        };
        outcome.merged = true;
        outcome.message = if self.await_served(&commit).await {
            format!(
                "store {} added to {} ({})",
                request.name, request.environment, rule.description
            )
        } else {
            format!(
                "store {} merged into {}; dkd serves it once it has read the new revision",
                request.name, request.environment
            )
        };
        Ok(outcome)
    }

    /// Waits until the configuration dkd serves contains `commit`; false on timeout.
    async fn await_served(&self, commit: &str) -> bool {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while tokio::time::Instant::now() < deadline {
            if let Some(current) = self.ports.catalog.snapshot().current
                && self
                    .ports
                    .forge
                    .contains(&current.revision, commit)
                    .await
                    .unwrap_or(false)
            {
                return true;
            }
            tokio::time::sleep(POLL).await;
        }
        false
    }
}
