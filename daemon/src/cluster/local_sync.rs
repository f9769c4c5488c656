//! The built-in sync loop for the embedded cluster: applies `environments/<env>/` of the
//! newest accepted revision of the base branch to the local target as soon as the catalog
//! accepts it (the catalog examines the base branch right after a merge lands, and polls
//! for pushes by others), as Argo CD would apply it to a cluster. Incremental: a folder
//! whose tree did not change is skipped, in a changed one only the manifests whose blob
//! changed are read, and only those are applied and recorded. Health is re-checked in
//! bounded batches every 15 s from what was applied, without reading git. A revision the
//! catalog refused is never applied. Health: Healthy when the
//! pinned digest still resolves in the registry, Degraded when it does not (another
//! digest, not published, or a blob of it missing), Unknown when the registry cannot be
//! read.

use std::{
    collections::{BTreeMap, HashMap},
    ops::Bound,
    sync::Arc,
    time::Duration,
};

use datakit::manifest::{ANNOTATION_PROMOTION_ID, parse_deployed_package};
use tokio_util::sync::CancellationToken;

use super::{AppliedPackage, LocalTarget};
use crate::promotion::{
    Engine, EnvironmentCatalog, LoadedConfig, StatusBoard,
    ports::{ClusterStatus, ForgeError, GitForge, HealthState, Registry, RegistryError, TreeFile},
};

/// How soon a failed sync is tried again.
const RETRY_AFTER: Duration = Duration::from_millis(300);
/// How often a batch of applied packages has its health re-checked.
const HEALTH_RECHECK: Duration = Duration::from_secs(15);
/// How many applied packages of each environment one re-check resolves: the oldest
/// checked first, so every package is re-checked within `count / HEALTH_BATCH` rounds.
const HEALTH_BATCH: usize = 500;

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
    /// The revision `manifests` were read at.
    revision: Option<String>,
    folder_id: Option<String>,
    manifests: Manifests,
    /// The path whose health was re-checked last; the next re-check starts after it.
    rechecked_up_to: Option<String>,
}

/// What the loop applied last, per environment.
#[derive(Default)]
struct Applied {
    revision: Option<String>,
    environments: HashMap<String, AppliedFolder>,
}

/// Manifest path → its blob id and the package applied from it.
type Manifests = BTreeMap<String, (String, AppliedPackage)>;

/// What a pass over one folder found: every manifest now, and what changed.
struct FolderChanges {
    now: Manifests,
    changed: Vec<AppliedPackage>,
    removed: Vec<String>,
}

impl LocalSync {
    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut changes = self.catalog.subscribe();
        let mut applied = Applied::default();
        let mut health_due = tokio::time::Instant::now() + HEALTH_RECHECK;
        let mut retry = false;
        loop {
            if let Some(config) = self.catalog.snapshot().current
                && (retry || applied.revision.as_deref() != Some(config.revision.as_str()))
            {
                match self.sync(&config, &mut applied).await {
                    Ok(()) => {
                        applied.revision = Some(config.revision.clone());
                        retry = false;
                        self.engine.wake();
                    }
                    Err(error) => {
                        retry = true;
                        tracing::warn!(%error, "sync failed; retrying");
                    }
                }
            } else if tokio::time::Instant::now() >= health_due {
                if let Err(error) = self.recheck_health(&mut applied).await {
                    tracing::warn!(%error, "health re-check failed; retrying later");
                }
                health_due = tokio::time::Instant::now() + HEALTH_RECHECK;
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
    /// since `applied` and applying only that; the first pass of an environment in this
    /// process applies its whole folder (pruning what the target runs beyond it).
    async fn sync(&self, config: &LoadedConfig, applied: &mut Applied) -> Result<(), ForgeError> {
        let revision = config.revision.as_str();
        let environments = config.environments.environments();
        applied
            .environments
            .retain(|name, _| environments.iter().any(|e| &e.name == name));
        // One registry lookup per version in a pass, however many environments run it.
        let mut resolved = HashMap::new();
        for environment in environments {
            let folder = format!("environments/{}/", environment.name);
            let folder_id = self.forge.folder_id(revision, &folder).await?;
            let before = applied.environments.remove(&environment.name);
            let first = before.is_none();
            let before = before.unwrap_or_default();
            if !first && folder_id.is_some() && before.folder_id == folder_id {
                applied.environments.insert(
                    environment.name.clone(),
                    AppliedFolder {
                        revision: Some(revision.to_owned()),
                        ..before
                    },
                );
                continue;
            }
            let rechecked_up_to = before.rechecked_up_to.clone();
            let found = self
                .read_changed(revision, &folder, before, &mut resolved)
                .await?;
            if first {
                let packages: Vec<AppliedPackage> = found
                    .now
                    .values()
                    .map(|(_, package)| package.clone())
                    .collect();
                self.apply_whole(&environment.name, revision, packages)
                    .await?;
            } else {
                self.apply_changes(&environment.name, revision, found.changed, found.removed)
                    .await?;
            }
            applied.environments.insert(
                environment.name.clone(),
                AppliedFolder {
                    revision: Some(revision.to_owned()),
                    folder_id,
                    manifests: found.now,
                    rechecked_up_to,
                },
            );
        }
        Ok(())
    }

    /// Applies `packages` as the whole of `environment` and records what it runs.
    async fn apply_whole(
        &self,
        environment: &str,
        revision: &str,
        packages: Vec<AppliedPackage>,
    ) -> Result<(), ForgeError> {
        // Applying writes and syncs files under DK_HOME: on the blocking pool. A full
        // disk fails it (and is retried); it never blocks a worker.
        let (target, name, at) = (
            self.target.clone(),
            environment.to_owned(),
            revision.to_owned(),
        );
        tokio::task::spawn_blocking(move || target.apply(&name, &at, &packages))
            .await
            .map_err(|e| unavailable(&e))?
            .map_err(|e| unavailable(&e))?;
        let status = self
            .target
            .environment_status(environment)
            .await
            .map_err(|e| unavailable(&e))?;
        self.board
            .observe(environment, status)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }

    /// Applies `changed` and prunes `removed` in `environment`, and records them.
    async fn apply_changes(
        &self,
        environment: &str,
        revision: &str,
        changed: Vec<AppliedPackage>,
        removed: Vec<String>,
    ) -> Result<(), ForgeError> {
        if changed.is_empty() && removed.is_empty() {
            return Ok(());
        }
        let (target, name, at) = (
            self.target.clone(),
            environment.to_owned(),
            revision.to_owned(),
        );
        let statuses = tokio::task::spawn_blocking(move || {
            target.apply_changes(&name, &at, &changed, &removed)?;
            let names: Vec<&str> = changed.iter().map(|p| p.package.as_str()).collect();
            Ok::<_, crate::promotion::ports::ClusterError>((
                target.statuses(&name, &names),
                removed,
            ))
        })
        .await
        .map_err(|e| unavailable(&e))?
        .map_err(|e| unavailable(&e))?;
        let (statuses, removed) = statuses;
        self.board
            .observe_changes(environment, statuses, &removed)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }

    /// Re-resolves the health of the next `HEALTH_BATCH` applied packages of each
    /// environment, from what was applied (no git read), and applies what changed.
    async fn recheck_health(&self, applied: &mut Applied) -> Result<(), ForgeError> {
        let Some(revision) = applied.revision.clone() else {
            return Ok(());
        };
        for (environment, folder) in &mut applied.environments {
            let start = folder.rechecked_up_to.take().unwrap_or_default();
            let batch: Vec<String> = folder
                .manifests
                .range::<String, _>((Bound::Excluded(&start), Bound::Unbounded))
                .chain(folder.manifests.range::<String, _>(..=&start))
                .take(HEALTH_BATCH)
                .map(|(path, _)| path.clone())
                .collect();
            let mut changed = Vec::new();
            for path in &batch {
                let Some((_, package)) = folder.manifests.get_mut(path) else {
                    continue;
                };
                let (health, message) = self
                    .health(&package.package, &package.version, &package.digest)
                    .await;
                if (package.health, &package.message) != (health, &message) {
                    (package.health, package.message) = (health, message);
                    changed.push(package.clone());
                }
            }
            folder.rechecked_up_to = batch.last().cloned();
            self.apply_changes(environment, &revision, changed, Vec::new())
                .await?;
        }
        Ok(())
    }

    /// The manifests of `folder` at `revision`: those whose blob is the one `before` applied
    /// are kept, the others read and parsed; what `before` had that is gone (or no longer
    /// parses) is removed.
    async fn read_changed(
        &self,
        revision: &str,
        folder: &str,
        before: AppliedFolder,
        resolved: &mut HashMap<(String, String, String), (HealthState, String)>,
    ) -> Result<FolderChanges, ForgeError> {
        let (mut now, changed_files, mut removed) = self.compare(revision, folder, before).await?;
        let paths: Vec<String> = changed_files.iter().map(|f| f.path.clone()).collect();
        let contents = self.forge.read_files(revision, &paths).await?;
        let mut changed = Vec::new();
        for (file, bytes) in changed_files.into_iter().zip(contents) {
            let Some(bytes) = bytes else { continue };
            let manifest = String::from_utf8_lossy(&bytes).into_owned();
            let deployed = match parse_deployed_package(&file.path, &manifest) {
                Ok(deployed) => deployed,
                Err(error) => {
                    // Only a revision accepted before this check existed can hold one.
                    tracing::warn!(%error, "not applying an invalid manifest");
                    if let Some(package) = package_of(&file.path) {
                        removed.push(package.to_owned());
                    }
                    continue;
                }
            };
            let key = (
                deployed.name.clone(),
                deployed.version.clone(),
                deployed.digest.clone(),
            );
            let (health, message) = match resolved.get(&key) {
                Some(known) => known.clone(),
                None => {
                    let found = self.health(&key.0, &key.1, &key.2).await;
                    resolved.insert(key, found.clone());
                    found
                }
            };
            let package = AppliedPackage {
                package: deployed.name.clone(),
                promotion_id: deployed.annotations.get(ANNOTATION_PROMOTION_ID).cloned(),
                version: deployed.version,
                digest: deployed.digest,
                manifest,
                health,
                message,
            };
            changed.push(package.clone());
            now.insert(file.path, (file.id, package));
        }
        Ok(FolderChanges {
            now,
            changed,
            removed,
        })
    }

    /// Compares `folder` at `revision` with what `before` read: the manifests unchanged
    /// (kept), the files to read, and the packages whose manifest is gone. Asks the forge
    /// for the difference since `before`'s revision, and lists the folder only when it
    /// cannot tell or nothing was read before.
    async fn compare(
        &self,
        revision: &str,
        folder: &str,
        mut before: AppliedFolder,
    ) -> Result<(Manifests, Vec<TreeFile>, Vec<String>), ForgeError> {
        let difference = match &before.revision {
            Some(from) => self.forge.changed_files(from, revision, folder).await?,
            None => None,
        };
        let Some(difference) = difference else {
            let mut changed = Vec::new();
            let mut now = BTreeMap::new();
            for file in self.forge.list_tree(revision, folder).await? {
                if !in_folder(folder, &file.path) {
                    continue;
                }
                match before.manifests.remove(&file.path) {
                    Some((id, package)) if id == file.id => {
                        now.insert(file.path, (id, package));
                    }
                    _ => changed.push(file),
                }
            }
            // Whatever `before` still holds is gone from the folder.
            let removed = before
                .manifests
                .into_values()
                .map(|(_, package)| package.package)
                .collect();
            return Ok((now, changed, removed));
        };
        let mut removed = Vec::new();
        for path in difference.removed.iter().filter(|p| in_folder(folder, p)) {
            if let Some((_, package)) = before.manifests.remove(path) {
                removed.push(package.package);
            }
        }
        let changed: Vec<TreeFile> = difference
            .written
            .into_iter()
            .filter(|file| in_folder(folder, &file.path))
            .filter(|file| {
                before
                    .manifests
                    .remove(&file.path)
                    .is_none_or(|(id, _)| id != file.id)
            })
            .collect();
        Ok((before.manifests, changed, removed))
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

/// Whether `path` is a manifest directly in `folder`.
fn in_folder(folder: &str, path: &str) -> bool {
    path.strip_prefix(folder)
        .is_some_and(|name| !name.contains('/') && name.ends_with(".yaml"))
}

/// The package a manifest path `environments/<env>/<package>.yaml` is named after.
fn package_of(path: &str) -> Option<&str> {
    path.rsplit('/').next()?.strip_suffix(".yaml")
}

fn unavailable(error: &dyn std::fmt::Display) -> ForgeError {
    ForgeError::Unavailable(error.to_string())
}
