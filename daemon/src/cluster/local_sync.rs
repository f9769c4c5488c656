//! The built-in sync loop for the embedded cluster: applies `environments/<env>/` of the
//! newest accepted revision of the base branch to the local target as soon as the catalog
//! accepts it (the catalog examines the base branch right after a merge lands, and notices
//! pushes by others), as Argo CD would apply it to a cluster. Incremental: a folder whose
//! tree did not change is skipped, and in a changed one only the manifests that changed
//! since the revision applied last are read, applied and recorded. That revision survives
//! a restart in the target (`.applied.json`, written last), so a restart reads only what
//! changed while dkd was down. Health (see `local_health.rs`) is re-checked in bounded
//! batches every 15 s from what was applied, without reading git. A revision the catalog
//! refused is never applied.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
    time::Duration,
};

use datakit::manifest::{ANNOTATION_PROMOTION_ID, parse_deployed_package};
use tokio_util::sync::CancellationToken;

use super::{
    AppliedMarker, AppliedPackage, LocalTarget,
    local_health::{Pinned, healths},
};
use crate::promotion::{
    Engine, EnvironmentCatalog, LoadedConfig, StatusBoard,
    ports::{ClusterError, ForgeError, GitForge, HealthState, Registry, RevisionChanges, TreeFile},
};

/// How soon a failed sync is tried again.
const RETRY_AFTER: Duration = Duration::from_millis(300);
/// How often a batch of applied packages has its health re-checked.
const HEALTH_RECHECK: Duration = Duration::from_secs(15);
/// How many applied packages of each environment one re-check resolves: the ones checked
/// longest ago first, so every package is re-checked within `count / HEALTH_BATCH` rounds.
const HEALTH_BATCH: usize = 100;

/// The ports the sync loop works with.
pub struct LocalSync {
    pub catalog: Arc<EnvironmentCatalog>,
    pub forge: Arc<dyn GitForge>,
    pub registry: Arc<dyn Registry>,
    pub target: Arc<LocalTarget>,
    pub engine: Arc<Engine>,
    pub board: Arc<StatusBoard>,
}

/// What one environment runs: the revision and folder id it was applied from (`None`:
/// nothing applied yet, the next pass applies the folder whole). Its packages are the
/// status board's, which records each one applied.
#[derive(Default)]
struct AppliedFolder {
    revision: Option<String>,
    folder_id: Option<String>,
    /// The package whose health was re-checked last; the next re-check starts after it.
    rechecked_up_to: Option<String>,
}

/// What the loop applied last, per environment.
#[derive(Default)]
struct Applied {
    revision: Option<String>,
    environments: HashMap<String, AppliedFolder>,
}

/// What a pass over one folder found to apply.
struct FolderChanges {
    /// The folder's whole content (nothing was applied before, or the forge could not
    /// tell what changed): apply it whole, pruning the rest.
    whole: bool,
    changed: Vec<AppliedPackage>,
    removed: Vec<String>,
}

/// Registry lookups of one pass, by pinned version.
type Resolved = HashMap<Pinned, (HealthState, String)>;

impl LocalSync {
    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut changes = self.catalog.subscribe();
        let mut applied = Applied::default();
        let mut health_due = tokio::time::Instant::now() + HEALTH_RECHECK;
        let mut retry = false;
        loop {
            let served = self.catalog.snapshot();
            if let Some(config) = served.current
                && (retry || applied.revision.as_deref() != Some(config.revision.as_str()))
            {
                match self
                    .sync(&config, served.changes.as_deref(), &mut applied)
                    .await
                {
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

    /// Applies every environment of `config` at its revision: what changed since the
    /// revision each was applied from (`known`, when the catalog compared the same two
    /// revisions), or the whole folder when none was.
    async fn sync(
        &self,
        config: &LoadedConfig,
        known: Option<&RevisionChanges>,
        applied: &mut Applied,
    ) -> Result<(), ForgeError> {
        let revision = config.revision.as_str();
        let environments = config.environments.environments();
        applied
            .environments
            .retain(|name, _| environments.iter().any(|e| &e.name == name));
        // One registry lookup per version in a pass, however many environments run it.
        let mut resolved = Resolved::new();
        for environment in environments {
            let name = environment.name.as_str();
            let folder = format!("environments/{name}/");
            let folder_id = self.forge.folder_id(revision, &folder).await?;
            let mut before = match applied.environments.remove(name) {
                Some(before) => before,
                None => self.restored(name).await?,
            };
            if before.revision.is_some() && folder_id.is_some() && before.folder_id == folder_id {
                before.revision = Some(revision.to_owned());
                applied.environments.insert(name.to_owned(), before);
                continue;
            }
            let found = self
                .read_changed(revision, &folder, &before, known, &mut resolved)
                .await?;
            if found.whole {
                self.apply_whole(name, revision, found.changed).await?;
            } else {
                self.apply_changes(name, revision, found.changed, found.removed)
                    .await?;
            }
            if let Some(folder_id) = &folder_id {
                let marker = AppliedMarker {
                    revision: revision.to_owned(),
                    folder_id: folder_id.clone(),
                };
                let (target, env) = (self.target.clone(), name.to_owned());
                blocking(move || target.save_marker(&env, &marker)).await?;
            }
            before.revision = Some(revision.to_owned());
            before.folder_id = folder_id;
            applied.environments.insert(name.to_owned(), before);
        }
        Ok(())
    }

    /// What `environment` ran when dkd stopped, as its marker and folder say; nothing
    /// applied when it has no marker. When the status board does not know as many
    /// packages there as the target runs (its database was lost and rebuilt), the board
    /// records them all again.
    async fn restored(&self, environment: &str) -> Result<AppliedFolder, ForgeError> {
        let (target, env) = (self.target.clone(), environment.to_owned());
        let (restored, running) = blocking(move || {
            Ok(match target.marker(&env) {
                Some(marker) => (
                    AppliedFolder {
                        revision: Some(marker.revision),
                        folder_id: Some(marker.folder_id),
                        rechecked_up_to: None,
                    },
                    target.package_names(&env).len(),
                ),
                None => (AppliedFolder::default(), 0),
            })
        })
        .await?;
        self.board.loaded().await;
        let known = self.board.count(environment).map_err(|e| unavailable(&e))?;
        if restored.revision.is_some() && known != running {
            self.record_whole(environment).await?;
        }
        Ok(restored)
    }

    /// Records all that `environment`'s target runs on the status board.
    async fn record_whole(&self, environment: &str) -> Result<(), ForgeError> {
        // Reads every status file of the environment: on the blocking pool.
        let (target, env) = (self.target.clone(), environment.to_owned());
        let status = blocking(move || {
            let names = target.package_names(&env);
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            Ok(target.statuses(&env, &names))
        })
        .await?;
        self.board
            .observe(environment, status)
            .await
            .map_err(|e| unavailable(&e))?;
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
        let running = blocking(move || target.apply(&name, &at, &packages)).await?;
        self.board
            .observe(environment, running)
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
        let (statuses, removed) = blocking(move || {
            let running = target.apply_changes(&name, &at, &changed, &removed)?;
            Ok((running, removed))
        })
        .await?;
        self.board
            .observe_changes(environment, statuses, &removed)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }

    /// Re-resolves the health of the next `HEALTH_BATCH` packages each environment runs,
    /// from what was applied (no git read), and applies what changed.
    async fn recheck_health(&self, applied: &mut Applied) -> Result<(), ForgeError> {
        for (environment, folder) in &mut applied.environments {
            let Some(revision) = folder.revision.clone() else {
                continue;
            };
            let start = folder.rechecked_up_to.take().unwrap_or_default();
            let batch = self
                .board
                .package_names_after(environment, &start, HEALTH_BATCH)
                .map_err(|e| unavailable(&e))?;
            folder.rechecked_up_to = batch.last().cloned();
            let (target, env) = (self.target.clone(), environment.clone());
            let running = blocking(move || {
                Ok(batch
                    .iter()
                    .filter_map(|package| target.applied(&env, package))
                    .collect::<Vec<_>>())
            })
            .await?;
            let pinned: Vec<Pinned> = running
                .iter()
                .map(|p| pinned(&p.package, &p.version, &p.digest))
                .collect();
            let found = healths(self.registry.as_ref(), &pinned).await;
            let mut changed = Vec::new();
            for (mut package, (health, message)) in running.into_iter().zip(found) {
                if (package.health, &package.message) != (health, &message) {
                    (package.health, package.message) = (health, message);
                    changed.push(package);
                }
            }
            self.apply_changes(environment, &revision, changed, Vec::new())
                .await?;
        }
        Ok(())
    }

    /// The manifests of `folder` at `revision` to apply: those changed since `before`'s
    /// revision (read and parsed; what no longer parses is removed), or all of them when
    /// nothing was applied before or the forge cannot tell what changed.
    async fn read_changed(
        &self,
        revision: &str,
        folder: &str,
        before: &AppliedFolder,
        known: Option<&RevisionChanges>,
        resolved: &mut Resolved,
    ) -> Result<FolderChanges, ForgeError> {
        let known = |from: &str| known.and_then(|known| known.between(from, revision, folder));
        let difference = match before.revision.as_deref() {
            Some(from) if let Some(known) = known(from) => Some(known),
            Some(from) => match self.forge.changed_files(from, revision, folder).await {
                Ok(difference) => difference,
                Err(error) => {
                    // Its revision is gone (history rewritten): apply the folder whole.
                    tracing::warn!(%error, %from, "cannot compare with the revision applied last; applying the folder whole");
                    None
                }
            },
            None => None,
        };
        let (whole, files, mut removed) = match difference {
            Some(difference) => {
                let removed = difference
                    .removed
                    .iter()
                    .filter(|path| in_folder(folder, path))
                    .filter_map(|path| package_of(path).map(str::to_owned))
                    .collect();
                let written: Vec<TreeFile> = difference
                    .written
                    .into_iter()
                    .filter(|file| in_folder(folder, &file.path))
                    .collect();
                (false, written, removed)
            }
            None => {
                let listing: Vec<TreeFile> = self
                    .forge
                    .list_tree(revision, folder)
                    .await?
                    .into_iter()
                    .filter(|file| in_folder(folder, &file.path))
                    .collect();
                (true, listing, Vec::new())
            }
        };
        let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
        let contents = self.forge.read_files(revision, &paths).await?;
        let mut parsed = Vec::with_capacity(files.len());
        for (file, bytes) in files.into_iter().zip(contents) {
            let Some(bytes) = bytes else { continue };
            let manifest = String::from_utf8_lossy(&bytes).into_owned();
            match parse_deployed_package(&file.path, &manifest) {
                Ok(deployed) => {
                    let key = pinned(&deployed.name, &deployed.version, &deployed.digest);
                    parsed.push((key, deployed, manifest));
                }
                Err(error) => {
                    // Only a revision accepted before this check existed can hold one.
                    tracing::warn!(%error, "not applying an invalid manifest");
                    removed.extend(package_of(&file.path).map(str::to_owned));
                }
            }
        }
        // The versions no other folder of the pass looked up, looked up together.
        let unresolved: Vec<Pinned> = parsed
            .iter()
            .map(|(key, _, _)| key)
            .filter(|key| !resolved.contains_key(*key))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let found = healths(self.registry.as_ref(), &unresolved).await;
        resolved.extend(unresolved.into_iter().zip(found));
        let changed = parsed
            .into_iter()
            .map(|(key, deployed, manifest)| {
                let (health, message) = resolved.get(&key).cloned().unwrap_or_else(|| {
                    (
                        HealthState::Unknown,
                        "not looked up in the registry".to_owned(),
                    )
                });
                AppliedPackage {
                    package: deployed.name,
                    promotion_id: deployed.annotations.get(ANNOTATION_PROMOTION_ID).cloned(),
                    version: deployed.version,
                    digest: deployed.digest,
                    manifest,
                    health,
                    message,
                }
            })
            .collect();
        Ok(FolderChanges {
            whole,
            changed,
            removed,
        })
    }
}

/// A deployed package's (package, version, digest).
fn pinned(package: &str, version: &str, digest: &str) -> Pinned {
    (package.to_owned(), version.to_owned(), digest.to_owned())
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

/// Runs file work on the blocking pool: a stuck or full disk fails it, never a worker.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ClusterError> + Send + 'static,
) -> Result<T, ForgeError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| unavailable(&e))?
        .map_err(|e| unavailable(&e))
}
