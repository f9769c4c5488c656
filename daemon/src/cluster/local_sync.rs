//! The built-in sync loop for the embedded cluster: applies `environments/<env>/` of the
//! newest accepted revision of the base branch to the local target whenever it changes
//! (and re-checks health now and then), as Argo CD would apply it to a cluster. A revision
//! the catalog refused is never applied. Health: Healthy when the pinned digest still
//! resolves in the registry, Degraded when it does not (another digest, not published, or
//! a blob of it missing), Unknown when the registry cannot be read.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use datakit::manifest::{ANNOTATION_PROMOTION_ID, parse_deployed_package};
use tokio_util::sync::CancellationToken;

use super::{AppliedPackage, LocalTarget};
use crate::promotion::{
    Engine, EnvironmentCatalog, LoadedConfig, StatusBoard,
    ports::{
        ClusterStatus, ForgeError, GitForge, HealthState, Registry, RegistryError, StateStore,
    },
};

/// How often the loop looks at the base branch.
const SYNC_INTERVAL: Duration = Duration::from_millis(300);
/// How often health is re-checked when nothing changed.
const HEALTH_RECHECK: Duration = Duration::from_secs(15);

/// The ports the sync loop works with.
pub struct LocalSync {
    pub catalog: Arc<EnvironmentCatalog>,
    pub forge: Arc<dyn GitForge>,
    /// Where the catalog saves a revision it accepts.
    pub store: Arc<dyn StateStore>,
    pub registry: Arc<dyn Registry>,
    pub target: Arc<LocalTarget>,
    pub engine: Arc<Engine>,
    pub board: Arc<StatusBoard>,
}

impl LocalSync {
    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut applied: Option<String> = None;
        let mut checked = Instant::now();
        loop {
            // Examine a new base revision right away rather than at the catalog's next
            // poll, so an accepted merge is applied within one interval.
            if let Err(error) = self.catalog.refresh(self.forge.as_ref(), &self.store).await {
                tracing::warn!(%error, "cannot read the base branch to sync; retrying");
            }
            if let Some(config) = self.catalog.snapshot().current
                && (applied.as_deref() != Some(config.revision.as_str())
                    || checked.elapsed() > HEALTH_RECHECK)
            {
                match self.sync(&config).await {
                    Ok(()) => {
                        applied = Some(config.revision.clone());
                        checked = Instant::now();
                        self.engine.wake();
                    }
                    Err(error) => tracing::warn!(%error, "sync failed; retrying"),
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(SYNC_INTERVAL) => {}
            }
        }
    }

    /// Applies every environment of `config` at its revision.
    async fn sync(&self, config: &LoadedConfig) -> Result<(), ForgeError> {
        let revision = config.revision.as_str();
        for environment in config.environments.environments() {
            let folder = format!("environments/{}/", environment.name);
            let paths: Vec<String> = self
                .forge
                .list_files(revision, &folder)
                .await?
                .into_iter()
                .filter(|p| !p[folder.len()..].contains('/') && p.ends_with(".yaml"))
                .collect();
            let contents = self.forge.read_files(revision, &paths).await?;
            let mut packages = Vec::new();
            for (path, bytes) in paths.iter().zip(contents) {
                let Some(bytes) = bytes else { continue };
                let manifest = String::from_utf8_lossy(&bytes).into_owned();
                let deployed = match parse_deployed_package(path, &manifest) {
                    Ok(deployed) => deployed,
                    Err(error) => {
                        // Only a revision accepted before this check existed can hold one.
                        tracing::warn!(%error, "not applying an invalid manifest");
                        continue;
                    }
                };
                let (health, message) = self
                    .health(&deployed.name, &deployed.version, &deployed.digest)
                    .await;
                packages.push(AppliedPackage {
                    package: deployed.name.clone(),
                    promotion_id: deployed.annotations.get(ANNOTATION_PROMOTION_ID).cloned(),
                    version: deployed.version,
                    digest: deployed.digest,
                    manifest,
                    health,
                    message,
                });
            }
            let unavailable =
                |error: &dyn std::fmt::Display| ForgeError::Unavailable(error.to_string());
            // Applying writes and syncs files under DK_HOME: on the blocking pool. A full
            // disk fails it (and is retried on the next pass); it never blocks a worker.
            let (target, name, at) = (
                self.target.clone(),
                environment.name.clone(),
                revision.to_owned(),
            );
            tokio::task::spawn_blocking(move || target.apply(&name, &at, &packages))
                .await
                .map_err(|e| unavailable(&e))?
                .map_err(|e| unavailable(&e))?;
            let applied = self
                .target
                .environment_status(&environment.name)
                .await
                .map_err(|e| unavailable(&e))?;
            self.board
                .observe(&environment.name, applied)
                .await
                .map_err(|e| unavailable(&e))?;
        }
        Ok(())
    }

    async fn health(&self, package: &str, version: &str, digest: &str) -> (HealthState, String) {
        match self.registry.resolve(package, version).await {
            Ok(resolved) if resolved.digest == digest => (HealthState::Healthy, String::new()),
            Ok(resolved) => (
                HealthState::Degraded,
                format!(
                    "the registry serves {} for {version}, not the pinned {digest}",
                    resolved.digest
                ),
            ),
            Err(error @ (RegistryError::NotFound { .. } | RegistryError::BlobMissing { .. })) => {
                (HealthState::Degraded, error.to_string())
            }
            Err(error) => (HealthState::Unknown, error.to_string()),
        }
    }
}
