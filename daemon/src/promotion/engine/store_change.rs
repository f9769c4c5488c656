//! Adding a `Store` to an environment as a change record like a promotion (kind `Store`,
//! an id `p-N` from the same counter): the manifest is validated, recorded, proposed on
//! the forge (whose checks validate the whole revision), approved under the
//! environment's rule with `dk approve`, merged by the reconcile loop, and finished
//! `Healthy` once dkd serves the revision that merged it.

use std::time::Duration;

use datakit::manifest::{parse_store, validate_name};

use super::Engine;
use crate::promotion::{
    PromotionError,
    model::{Promotion, PromotionKind, PromotionState},
    policy::EffectiveRule,
    ports::blocking,
};

/// How long an add-store request follows a change that needs no approval, to answer
/// once dkd serves the store.
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
    /// True once the change merged and dkd serves the store.
    pub merged: bool,
    pub file: String,
    pub policy: String,
    pub message: String,
    /// The store change's record, as it stands when the request answers.
    pub promotion: Promotion,
}

impl Engine {
    /// Validates the store and opens its change record; where the environment's rule needs
    /// no approval, follows it until dkd serves the store (at most [`PATIENCE`]).
    pub async fn add_store(
        &self,
        request: StoreChangeRequest,
    ) -> Result<StoreChangeOutcome, PromotionError> {
        let invalid = |e: &dyn std::fmt::Display| PromotionError::InvalidInput(e.to_string());
        validate_name("environment", &request.environment).map_err(|e| invalid(&e))?;
        validate_name("store", &request.name).map_err(|e| invalid(&e))?;
        let config = self.config()?;
        let environment = config
            .environment(&request.environment)
            .map_err(PromotionError::NotFound)?;
        let file = environment.store_manifest_path(&request.name);
        parse_store(&file, &request.manifest).map_err(|e| invalid(&e))?;
        if !request.replace && self.current_text(&file).await?.is_some() {
            return Err(PromotionError::Refused(format!(
                "store {} already exists in {} ({file}): pass --replace to change it",
                request.name, request.environment
            )));
        }
        let rule = EffectiveRule::for_promotion(environment, PromotionKind::Store);
        self.await_records().await?;
        let guard = self
            .targets
            .lock(super::Target::new(
                &request.environment,
                &request.name,
                true,
            ))
            .await;
        let number = blocking::write(&self.ports.store, |s| s.next_promotion_number()).await?;
        let now = super::super::model::now();
        let mut change = Promotion {
            id: format!("p-{number}"),
            package: request.name.clone(),
            version: String::new(),
            environment: request.environment.clone(),
            artifact: String::new(),
            digest: String::new(),
            previous_version: None,
            kind: PromotionKind::Store,
            state: PromotionState::Requested,
            message: "accepted".into(),
            promoter: request.author.clone(),
            forced: false,
            change: None,
            approvals: Vec::new(),
            checks: Vec::new(),
            merge_commit: None,
            superseded_by: None,
            created_at: now,
            updated_at: now,
            transitions: Vec::new(),
            store_manifest: Some(request.manifest.clone()),
            reason: None,
        };
        change.enter(PromotionState::Requested, "accepted");
        self.persist(&change).await?;
        change.enter(PromotionState::Validated, format!("{file} validated"));
        self.persist(&change).await?;
        let older: Vec<Promotion> = self
            .ports
            .store
            .load_package_promotions(&change.package)?
            .into_iter()
            .filter(|p| p.id != change.id && p.state.is_open() && p.same_target(&change))
            .collect();
        for older in older {
            self.supersede(older, &change.id).await?;
        }
        drop(guard);
        let mut change = self.propose_now(&change.id).await?;
        self.wake();
        if rule.automatic {
            let deadline = tokio::time::Instant::now() + PATIENCE;
            while !change.state.is_terminal() && tokio::time::Instant::now() < deadline {
                if let Err(error) = self.reconcile_one(&change.id).await {
                    tracing::debug!(promotion_id = %change.id, %error, "store change not served yet");
                }
                change = self.get(&change.id)?;
                if !change.state.is_terminal() {
                    tokio::time::sleep(POLL).await;
                }
            }
        }
        let served = change.state == PromotionState::Healthy;
        let message = match change.state {
            PromotionState::Healthy => format!(
                "store {} added to {} ({})",
                request.name, request.environment, rule.description
            ),
            PromotionState::Rejected | PromotionState::Failed => {
                return Err(PromotionError::InvalidInput(format!(
                    "the store does not validate with the rest of the repository: {} ({})",
                    change.message, change.id
                )));
            }
            _ if rule.automatic => format!(
                "store change {} opened ({}); still {}: {}",
                change.id,
                rule.description,
                change.state.name(),
                change.message
            ),
            _ => {
                let needed = Some(self.explain(&change).needed)
                    .filter(|needed| !needed.is_empty())
                    .unwrap_or_else(|| rule.description.clone());
                let how = match &change.change {
                    Some(request) if self.forge_teams().is_some() => {
                        format!("review the pull request {}", request.url)
                    }
                    _ => format!("approve it with dk approve {}", change.id),
                };
                format!("store change {} opened; {needed}: {how}", change.id)
            }
        };
        Ok(StoreChangeOutcome {
            merged: served,
            file,
            policy: rule.description,
            message,
            promotion: change,
        })
    }

    /// The last step of a merged store change: `Healthy` once dkd serves the revision
    /// that merged it (a store has nothing to sync).
    pub(super) async fn await_served(&self, mut change: Promotion) -> Result<bool, PromotionError> {
        let Some(commit) = change.merge_commit.clone() else {
            return Ok(false);
        };
        if !self.serves(&commit).await? {
            return Ok(false);
        }
        change.enter(
            PromotionState::Healthy,
            format!(
                "dkd serves store {} in {}",
                change.package, change.environment
            ),
        );
        self.persist(&change).await?;
        Ok(true)
    }

    /// Whether dkd serves a configuration that contains `commit`.
    pub(super) async fn serves(&self, commit: &str) -> Result<bool, PromotionError> {
        let Some(current) = self.ports.catalog.snapshot().current else {
            return Ok(false);
        };
        Ok(self.ports.forge.contains(&current.revision, commit).await?)
    }
}
