//! The checks a promotion must pass before anything is written, in the contract's
//! order: a rollback goes back to a version the environment ran, the artifact resolves
//! (its digest is pinned, and is the one that ran for a rollback), it is signed when the
//! environment requires signatures (rollbacks too), the upstream
//! environment runs the version, it has soaked there as long as the environment requires,
//! its verification there passed (when the upstream requires one),
//! no freeze window is open, and every binding resolves in the target.

use std::time::SystemTime;

use datakit::manifest::{Environment, Version};

use super::{Engine, PromoteRequest, run_history::RanAs};
use crate::promotion::{LoadedConfig, PromotionError, model::PromotionKind, ports::SyncState};

/// What a validated request promotes: the exact version and the pinned artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub version: String,
    pub reference: String,
    pub digest: String,
    /// The checks `--force` skipped, in words (the upstream environment does not run the
    /// version, it has not soaked there); empty when none was.
    pub forced_past: Vec<String>,
}

fn rfc3339(time: SystemTime) -> String {
    prost_types::Timestamp::from(time).to_string()
}

impl Engine {
    /// Whether one of the commits that set `ran` was a revision dkd would accept (a version
    /// written by a commit that was refused, and reverted, never ran).
    async fn ran_in_an_accepted_revision(&self, ran: &RanAs) -> Result<bool, PromotionError> {
        for commit in &ran.commits {
            let accepted = self
                .ports
                .catalog
                .accepts(self.ports.forge.as_ref(), commit)
                .await
                .map_err(|error| PromotionError::Unavailable(error.to_string()))?;
            if accepted {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub(super) async fn validate(
        &self,
        config: &LoadedConfig,
        environment: &Environment,
        request: &PromoteRequest,
        version: &Version,
    ) -> Result<Target, PromotionError> {
        let ran = if request.kind == PromotionKind::Rollback {
            let history = self
                .run_history(&request.package, &environment.name)
                .await?;
            let ran = history.ran(version.as_str()).cloned().ok_or_else(|| {
                PromotionError::Refused(history.refusal(
                    &request.package,
                    &environment.name,
                    version.as_str(),
                ))
            })?;
            if !self.ran_in_an_accepted_revision(&ran).await? {
                return Err(PromotionError::Refused(format!(
                    "{} {version} never ran in {}: every revision of the base branch that set it was refused; promote {version} through the upstream environments instead",
                    request.package, environment.name,
                )));
            }
            Some(ran)
        } else {
            None
        };
        let resolved = self
            .ports
            .registry
            .resolve(&request.package, version.as_str())
            .await?;
        if let Some(ran) = ran
            && !ran.digests.contains(&resolved.digest)
        {
            return Err(PromotionError::Refused(format!(
                "{} {version} ran in {} as {}, but the registry serves {}: a rollback goes back to exactly what ran; promote {version} instead",
                request.package,
                environment.name,
                ran.digests.join(" and "),
                resolved.digest
            )));
        }
        self.check_signatures(
            config,
            environment,
            &request.package,
            version.as_str(),
            &resolved.digest,
        )
        .await?;
        let mut forced_past = Vec::new();
        if request.kind == PromotionKind::Promotion {
            let skipped = self
                .environments_not_running(config, environment, &request.package, version.as_str())
                .await?;
            if !skipped.is_empty() {
                if !request.force {
                    return Err(PromotionError::Refused(format!(
                        "{} {} does not run in {} yet (skipped: {}): promote it there first, or use --force",
                        request.package,
                        version,
                        environment.upstream.as_deref().unwrap_or_default(),
                        skipped.join(", ")
                    )));
                }
                forced_past.push(format!(
                    "{} does not run it (skipped: {})",
                    environment.upstream.as_deref().unwrap_or_default(),
                    skipped.join(", ")
                ));
            }
            if let Some(skipped) = self
                .check_soak(
                    environment,
                    &request.package,
                    version.as_str(),
                    request.force,
                )
                .await?
            {
                forced_past.push(skipped);
            }
            let upstream = environment
                .upstream
                .as_deref()
                .and_then(|name| config.environments.get(name));
            if let Some(upstream) = upstream
                && let Some(unverified) =
                    self.check_verified_upstream(upstream, &request.package, version.as_str())?
            {
                if !request.force {
                    return Err(PromotionError::Refused(format!(
                        "{unverified}; a version is promoted onward only once its verification passed (or use --force)"
                    )));
                }
                forced_past.push(unverified);
            }
            if let Some(freeze) = environment.active_freeze(SystemTime::now()) {
                return Err(PromotionError::Refused(format!(
                    "{} is frozen until {} ({}): promotions are refused, rollbacks are allowed",
                    environment.name,
                    rfc3339(freeze.end),
                    freeze.reason
                )));
            }
        }
        let stores = config
            .stores
            .get(&environment.name)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (key, store) in &resolved.bindings {
            if !stores.iter().any(|entry| &entry.store.name == store) {
                return Err(PromotionError::Refused(format!(
                    "binding {key} of {} needs store {store} in {}, which is not defined: expected {} (add it with dk store add {} {store} --type TYPE --set KEY=VALUE)",
                    request.package,
                    environment.name,
                    environment.store_manifest_path(store),
                    environment.name
                )));
            }
        }
        Ok(Target {
            version: version.as_str().to_owned(),
            reference: resolved.reference,
            digest: resolved.digest,
            forced_past,
        })
    }

    /// The environments on the path to `environment` (not itself) that do not run
    /// `version` of `package`, Synced; empty when the upstream runs it.
    async fn environments_not_running(
        &self,
        config: &LoadedConfig,
        environment: &Environment,
        package: &str,
        version: &str,
    ) -> Result<Vec<String>, PromotionError> {
        let path = config.environments.path_to(&environment.name);
        let upstreams = &path[..path.len().saturating_sub(1)];
        let Some(upstream) = upstreams.last() else {
            return Ok(Vec::new());
        };
        if self.runs(&upstream.name, package, version).await? {
            return Ok(Vec::new());
        }
        let mut skipped = Vec::new();
        for env in upstreams {
            if !self.runs(&env.name, package, version).await? {
                skipped.push(env.name.clone());
            }
        }
        Ok(skipped)
    }

    async fn runs(
        &self,
        environment: &str,
        package: &str,
        version: &str,
    ) -> Result<bool, PromotionError> {
        let status = self
            .ports
            .cluster
            .package_status(environment, package)
            .await?;
        Ok(status.is_some_and(|s| s.version == version && s.sync == SyncState::Synced))
    }
}
