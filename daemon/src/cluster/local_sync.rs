//! The built-in sync loop for the embedded cluster: applies `environments/<env>/` of the
//! newest accepted revision of the base branch to the local target as soon as the catalog
//! accepts it (the catalog examines the base branch right after a merge lands, and polls
//! for pushes by others), as Argo CD would apply it to a cluster. Incremental: a folder
//! whose tree did not change is skipped, and in a changed one only the manifests whose
//! blob changed are read. Health is re-checked now and then from what was applied, without
//! reading git. A revision the catalog refused is never applied. Health: Healthy when the
//! pinned digest still resolves in the registry, Degraded when it does not (another
//! digest, not published, or a blob of it missing), Unknown when the registry cannot be
//! read.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use datakit::manifest::{ANNOTATION_PROMOTION_ID, parse_deployed_package};
use tokio_util::sync::CancellationToken;

use super::{AppliedPackage, LocalTarget};
use crate::promotion::{
    Engine, EnvironmentCatalog, LoadedConfig, StatusBoard,
    ports::{ClusterStatus, ForgeError, GitForge, HealthState, Registry, RegistryError},
};

/// How soon a failed sync is tried again.
const RETRY_AFTER: Duration = Duration::from_millis(300);
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

/// What was applied to one environment: its folder's tree id, and each manifest's blob id
/// with the package applied from it.
#[derive(Default)]
struct AppliedFolder {
    folder_id: Option<String>,
    manifests: BTreeMap<String, (String, AppliedPackage)>,
}

/// What the loop applied last, per environment.
#[derive(Default)]
struct Applied {
    revision: Option<String>,
    environments: HashMap<String, AppliedFolder>,
}

impl LocalSync {
    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut changes = self.catalog.subscribe();
        let mut applied = Applied::default();
        let mut health_due = tokio::time::Instant::now() + HEALTH_RECHECK;
        let mut retry = false;
        loop {
            let recheck = tokio::time::Instant::now() >= health_due;
            if let Some(config) = self.catalog.snapshot().current
                && (retry
                    || recheck
                    || applied.revision.as_deref() != Some(config.revision.as_str()))
            {
                match self.sync(&config, &mut applied, recheck).await {
                    Ok(()) => {
                        applied.revision = Some(config.revision.clone());
                        retry = false;
                        if recheck {
                            health_due = tokio::time::Instant::now() + HEALTH_RECHECK;
                        }
                        self.engine.wake();
                    }
                    Err(error) => {
                        retry = true;
                        tracing::warn!(%error, "sync failed; retrying");
                    }
                }
            }
            let wake_at = if retry {
                tokio::time::Instant::now() + RETRY_AFTER
            } else {
                health_due
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = changes.changed() => if changed.is_err() { return },
                () = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }

    /// Applies every environment of `config` at its revision, reading only what changed
    /// since `applied`; `recheck_health` re-resolves every applied package's health.
    async fn sync(
        &self,
        config: &LoadedConfig,
        applied: &mut Applied,
        recheck_health: bool,
    ) -> Result<(), ForgeError> {
        let revision = config.revision.as_str();
        for environment in config.environments.environments() {
            let folder = format!("environments/{}/", environment.name);
            let folder_id = self.forge.folder_id(revision, &folder).await?;
            let before = applied
                .environments
                .remove(&environment.name)
                .unwrap_or_default();
            if !recheck_health && folder_id.is_some() && before.folder_id == folder_id {
                applied
                    .environments
                    .insert(environment.name.clone(), before);
                continue;
            }
            let now = self
                .read_changed(revision, &folder, before, recheck_health)
                .await?;
            let packages: Vec<AppliedPackage> =
                now.values().map(|(_, package)| package.clone()).collect();
            let unavailable =
                |error: &dyn std::fmt::Display| ForgeError::Unavailable(error.to_string());
            // Applying writes and syncs files under DK_HOME: on the blocking pool. A full
            // disk fails it (and is retried); it never blocks a worker.
            let (target, name, at) = (
                self.target.clone(),
                environment.name.clone(),
                revision.to_owned(),
            );
            tokio::task::spawn_blocking(move || target.apply(&name, &at, &packages))
                .await
                .map_err(|e| unavailable(&e))?
                .map_err(|e| unavailable(&e))?;
            let status = self
                .target
                .environment_status(&environment.name)
                .await
                .map_err(|e| unavailable(&e))?;
            self.board
                .observe(&environment.name, status)
                .await
                .map_err(|e| unavailable(&e))?;
            applied.environments.insert(
                environment.name.clone(),
                AppliedFolder {
                    folder_id,
                    manifests: now,
                },
            );
        }
        Ok(())
    }

    /// The manifests of `folder` at `revision`: those whose blob is the one `before` applied
    /// are kept (their health re-resolved when `recheck_health`), the others read and parsed.
    async fn read_changed(
        &self,
        revision: &str,
        folder: &str,
        mut before: AppliedFolder,
        recheck_health: bool,
    ) -> Result<BTreeMap<String, (String, AppliedPackage)>, ForgeError> {
        let listing: Vec<_> = self
            .forge
            .list_tree(revision, folder)
            .await?
            .into_iter()
            .filter(|f| !f.path[folder.len()..].contains('/') && f.path.ends_with(".yaml"))
            .collect();
        let mut now = BTreeMap::new();
        let mut changed = Vec::new();
        for file in listing {
            match before.manifests.remove(&file.path) {
                Some((id, mut package)) if id == file.id => {
                    if recheck_health {
                        (package.health, package.message) = self
                            .health(&package.package, &package.version, &package.digest)
                            .await;
                    }
                    now.insert(file.path, (id, package));
                }
                _ => changed.push(file),
            }
        }
        let paths: Vec<String> = changed.iter().map(|f| f.path.clone()).collect();
        let contents = self.forge.read_files(revision, &paths).await?;
        for (file, bytes) in changed.into_iter().zip(contents) {
            let Some(bytes) = bytes else { continue };
            let manifest = String::from_utf8_lossy(&bytes).into_owned();
            let deployed = match parse_deployed_package(&file.path, &manifest) {
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
            let package = AppliedPackage {
                package: deployed.name.clone(),
                promotion_id: deployed.annotations.get(ANNOTATION_PROMOTION_ID).cloned(),
                version: deployed.version,
                digest: deployed.digest,
                manifest,
                health,
                message,
            };
            now.insert(file.path, (file.id, package));
        }
        Ok(now)
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
