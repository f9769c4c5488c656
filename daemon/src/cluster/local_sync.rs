//! The built-in sync loop for the embedded cluster: applies the base branch's
//! `environments/<env>/` to the local target whenever the branch moves (and re-checks
//! health now and then), as Argo CD would apply it to a cluster. Health: Healthy when the
//! pinned digest still resolves in the registry, Degraded otherwise.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use datakit::manifest::{ANNOTATION_PROMOTION_ID, parse_deployed_package};
use tokio_util::sync::CancellationToken;

use super::{AppliedPackage, LocalTarget};
use crate::promotion::{
    Engine, EnvironmentCatalog, StatusBoard,
    ports::{ClusterStatus, ForgeError, GitForge, HealthState, Registry, RegistryError},
};

/// How often the loop looks at the base branch.
const SYNC_INTERVAL: Duration = Duration::from_millis(300);
/// How often health is re-checked when nothing changed.
const HEALTH_RECHECK: Duration = Duration::from_secs(15);

/// The ports the sync loop works with.
pub struct LocalSync {
    pub catalog: Arc<EnvironmentCatalog>,
    pub forge: Arc<dyn GitForge>,
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
            match self.forge.base_revision().await {
                Ok(revision)
                    if applied.as_deref() != Some(revision.as_str())
                        || checked.elapsed() > HEALTH_RECHECK =>
                {
                    match self.sync(&revision).await {
                        Ok(()) => {
                            applied = Some(revision);
                            checked = Instant::now();
                            self.engine.wake();
                        }
                        Err(error) => tracing::warn!(%error, "sync failed; retrying"),
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "cannot read the base branch to sync; retrying")
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(SYNC_INTERVAL) => {}
            }
        }
    }

    /// Applies every environment of the current configuration at `revision`.
    async fn sync(&self, revision: &str) -> Result<(), ForgeError> {
        let Some(config) = self.catalog.snapshot().current else {
            return Ok(());
        };
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
            Err(error @ RegistryError::NotFound { .. }) => {
                (HealthState::Degraded, error.to_string())
            }
            Err(error) => (HealthState::Unknown, error.to_string()),
        }
    }
}
