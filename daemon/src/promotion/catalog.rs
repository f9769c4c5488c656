//! The environment catalog: the last good configuration from the base branch, served
//! from memory and persisted in the state store, plus the problems of any newer revision
//! that was refused. A revision is good when its configuration, its Stores and every
//! `DeployedPackage` validate; a broken push never replaces a good configuration.

use std::{sync::Arc, time::Duration};

use tokio::sync::{Mutex, Notify, watch};
use tokio_util::sync::CancellationToken;

use super::ports::{
    ForgeError, GitForge, GroupSource, RevisionChanges, StateStore, StoreError, blocking,
};
use super::{ConfigProblem, ConfigSource, DeployedManifests, LoadedConfig, read_config_source};

/// How far back the catalog looks for a revision that validates when it has nothing to
/// serve and the newest one is refused.
const FALL_BACK_DEPTH: usize = 50;

/// What the catalog serves.
#[derive(Debug, Clone, Default)]
pub struct CatalogState {
    /// The configuration in force; `None` until one revision was accepted.
    pub current: Option<Arc<LoadedConfig>>,
    /// The files `current` was read from.
    pub source: Option<Arc<ConfigSource>>,
    /// Why the newest examined revision was refused; empty when it was accepted.
    pub problems: Vec<ConfigProblem>,
    /// The newest base-branch revision examined, accepted or not.
    pub examined_revision: Option<String>,
    /// How `current` differs from the revision examined before it, when the forge could
    /// tell: a reader that applied that revision reads only this.
    pub changes: Option<Arc<RevisionChanges>>,
}

/// What the newest refresh examined, kept so the next one reads only what changed since.
#[derive(Debug, Default)]
struct Examined {
    manifests: DeployedManifests,
    /// The configuration files of the newest revision examined (shared with
    /// [`CatalogState::source`] when that revision was accepted).
    source: Option<Arc<ConfigSource>>,
}

/// Why a refresh could not run.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error(transparent)]
    Forge(#[from] ForgeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The environment catalog.
#[derive(Debug)]
pub struct EnvironmentCatalog {
    state: watch::Sender<CatalogState>,
    groups: GroupSource,
    /// Held for a whole refresh, so concurrent refreshes examine each revision once.
    examined: Mutex<Examined>,
    /// Rung when dkd itself moved the base branch, so the new revision is examined now
    /// rather than at the next poll.
    moved: Notify,
}

impl EnvironmentCatalog {
    /// A catalog serving what the state store cached, if it can be read and still
    /// validates; otherwise an empty one that the first refresh fills from the repository.
    /// `groups` is where the forge's reviewer groups come from.
    pub fn from_store(store: &dyn StateStore, groups: GroupSource) -> Self {
        let cached = match store.load_config() {
            Ok(cached) => cached,
            Err(error) => {
                tracing::warn!(%error, "cached configuration unreadable; reloading it from the repository");
                None
            }
        };
        let (current, source) = match cached {
            Some(source) => match LoadedConfig::from_source(&source, groups) {
                Ok(config) => (Some(Arc::new(config)), Some(Arc::new(source))),
                Err(problem) => {
                    tracing::warn!(%problem, "cached configuration no longer validates; reloading it");
                    (None, None)
                }
            },
            None => (None, None),
        };
        let state = CatalogState {
            examined_revision: current.as_ref().map(|c| c.revision.clone()),
            current,
            source: source.clone(),
            ..CatalogState::default()
        };
        Self {
            state: watch::Sender::new(state),
            groups,
            examined: Mutex::new(Examined {
                manifests: DeployedManifests::default(),
                source,
            }),
            moved: Notify::new(),
        }
    }

    /// Tells [`follow_base_branch`] that the base branch moved (a merge landed), so it
    /// examines the new revision right away.
    pub fn base_moved(&self) {
        self.moved.notify_one();
    }

    /// What the catalog serves now.
    pub fn snapshot(&self) -> CatalogState {
        self.state.borrow().clone()
    }

    /// Changes as they happen.
    pub fn subscribe(&self) -> watch::Receiver<CatalogState> {
        self.state.subscribe()
    }

    /// `source` validated as a whole: its configuration, then every deployed manifest
    /// (with `known`, what changed since an earlier revision, when it was read already).
    async fn validate(
        &self,
        forge: &dyn GitForge,
        manifests: &mut DeployedManifests,
        source: &ConfigSource,
        known: Option<&RevisionChanges>,
    ) -> Result<Result<LoadedConfig, ConfigProblem>, RefreshError> {
        let config = match LoadedConfig::from_source(source, self.groups) {
            Ok(config) => config,
            Err(problem) => return Ok(Err(problem)),
        };
        let accepted = self.state.borrow().current.clone();
        if let Some(accepted) = accepted.filter(|_| manifests.is_unfilled()) {
            manifests.trust(accepted);
        }
        Ok(match manifests.check(forge, &config, known).await? {
            None => Ok(config),
            Some(problem) => Err(problem),
        })
    }

    /// Whether `revision` of the base branch validates as a whole (configuration and
    /// manifests): the one served now does; another is read and checked afresh, re-reading
    /// only the manifests that differ from the served revision's.
    pub async fn accepts(
        &self,
        forge: &dyn GitForge,
        revision: &str,
    ) -> Result<bool, RefreshError> {
        let serving = self.state.borrow().current.clone();
        if serving.is_some_and(|config| config.revision == revision) {
            return Ok(true);
        }
        let source = read_config_source(forge, revision).await?;
        let mut manifests = DeployedManifests::default();
        Ok(self
            .validate(forge, &mut manifests, &source, None)
            .await?
            .is_ok())
    }

    /// Serves the newest of the last `FALL_BACK_DEPTH` revisions before `refused` that
    /// validates, saved as the last good one.
    async fn fall_back(
        &self,
        forge: &dyn GitForge,
        store: &Arc<dyn StateStore>,
        manifests: &mut DeployedManifests,
        refused: &str,
    ) -> Result<(), RefreshError> {
        for revision in forge.base_history(FALL_BACK_DEPTH).await? {
            if revision == refused {
                continue;
            }
            let source = read_config_source(forge, &revision).await?;
            if let Ok(config) = self.validate(forge, manifests, &source, None).await? {
                let source = Arc::new(source);
                let saved = source.clone();
                blocking::write(store, move |store| store.save_config(&saved)).await?;
                tracing::warn!(%revision, refused, "the newest revision is refused and nothing was cached: serving the newest earlier one that validates");
                self.state.send_modify(|state| {
                    state.current = Some(Arc::new(config));
                    state.source = Some(source);
                });
                return Ok(());
            }
        }
        Ok(())
    }

    /// Examines the base branch; a new revision is validated as a whole, saved durably and
    /// then served, or refused with its problems. Returns whether anything changed.
    pub async fn refresh(
        &self,
        forge: &dyn GitForge,
        store: &Arc<dyn StateStore>,
    ) -> Result<bool, RefreshError> {
        let mut examined = self.examined.lock().await;
        let Examined { manifests, source } = &mut *examined;
        let revision = forge.base_revision().await?;
        if self.state.borrow().examined_revision.as_deref() == Some(revision.as_str()) {
            return Ok(false);
        }
        let changes = match source.as_ref() {
            Some(earlier) => changes_since(forge, &earlier.revision, &revision).await,
            None => None,
        };
        let unchanged = source
            .as_ref()
            .zip(changes.as_ref())
            .and_then(|(earlier, known)| earlier.unchanged_at(&revision, known.changes.paths()));
        let newest = Arc::new(match unchanged {
            Some(newest) => newest,
            None => read_config_source(forge, &revision).await?,
        });
        *source = Some(newest.clone());
        let validated = self
            .validate(forge, manifests, &newest, changes.as_ref())
            .await?;
        if validated.is_err() && self.state.borrow().current.is_none() {
            // Nothing to serve (a first start, or the state database was lost) and the
            // newest revision is refused: serve the newest earlier one that validates.
            self.fall_back(forge, store, manifests, &revision).await?;
        }
        match validated {
            Ok(config) => {
                let saved = newest.clone();
                blocking::write(store, move |store| store.save_config(&saved)).await?;
                tracing::info!(%revision, environments = config.environments.environments().len(), "configuration accepted");
                self.state.send_replace(CatalogState {
                    current: Some(Arc::new(config)),
                    source: Some(newest),
                    problems: Vec::new(),
                    examined_revision: Some(revision),
                    changes: changes.map(Arc::new),
                });
            }
            Err(problem) => {
                tracing::warn!(%revision, %problem, "configuration refused; serving the last good one");
                self.state.send_modify(|state| {
                    state.problems = vec![problem];
                    state.examined_revision = Some(revision);
                });
            }
        }
        Ok(true)
    }
}

/// How the whole tree changed from `from` to `to`, when the forge can tell cheaply; `None`
/// otherwise, or when `from` cannot be read any more (history rewritten), so the caller
/// reads `to` afresh.
async fn changes_since(forge: &dyn GitForge, from: &str, to: &str) -> Option<RevisionChanges> {
    match forge.changed_files(from, to, "").await {
        Ok(changes) => changes.map(|changes| RevisionChanges {
            from: from.to_owned(),
            to: to.to_owned(),
            changes,
        }),
        Err(error) => {
            tracing::debug!(%error, from, to, "cannot compare with the revision examined last; reading the new one whole");
            None
        }
    }
}

/// Publishes every change of what the catalog serves (a new revision accepted, or one
/// refused) as a configuration event, until `shutdown`.
pub async fn publish_config_changes(
    catalog: Arc<EnvironmentCatalog>,
    events: Arc<super::EventLog>,
    shutdown: CancellationToken,
) {
    let mut changes = catalog.subscribe();
    let mut served = catalog.snapshot().current;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        let state = changes.borrow_and_update().clone();
        let revision = state.examined_revision.clone().unwrap_or_default();
        let kind = super::EventKind::Config {
            revision,
            problems: state.problems,
        };
        if let Err(error) = events.publish(kind).await {
            tracing::warn!(%error, "cannot record a configuration change");
        }
        if let Some(current) = state.current {
            for hold in changed_holds(served.as_deref(), &current) {
                let kind = super::EventKind::Hold(Box::new(hold.clone()));
                if let Err(error) = events.publish(kind).await {
                    tracing::warn!(%error, "cannot record a hold set or released");
                }
            }
            served = Some(current);
        }
    }
}

/// The hold files of `current` that are new or read differently than in `before`: holds
/// set or released between the two revisions.
fn changed_holds<'a>(
    before: Option<&LoadedConfig>,
    current: &'a LoadedConfig,
) -> impl Iterator<Item = &'a datakit::manifest::Hold> {
    current.holds.iter().filter_map(move |(key, hold)| {
        let known = before.and_then(|config| config.holds.get(key));
        (known != Some(hold)).then_some(hold)
    })
}

/// Follows the base branch until `shutdown`, refreshing every `interval` (pushes by others)
/// and whenever dkd says it moved the branch itself ([`EnvironmentCatalog::base_moved`]).
pub async fn follow_base_branch(
    catalog: Arc<EnvironmentCatalog>,
    forge: Arc<dyn GitForge>,
    store: Arc<dyn StateStore>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
            () = catalog.moved.notified() => {}
        }
        if let Err(error) = catalog.refresh(forge.as_ref(), &store).await {
            tracing::warn!(%error, forge = forge.describe(), "cannot refresh the configuration from the deployment repository; retrying");
        }
    }
}

#[cfg(test)]
mod tests {
    use datakit::manifest::{DEFAULT_ENVIRONMENTS_YAML, DeployedPackage, ENVIRONMENTS_FILE};

    use super::*;
    use crate::{gitops::LocalGitForge, store::MemoryStore};

    async fn push(forge: &LocalGitForge, path: &str, text: &str) {
        let git = forge.git();
        let head = forge.base_revision().await.expect("head");
        let commit = git
            .commit_files(
                Some(&head),
                &[(path.to_owned(), text.as_bytes().to_vec())],
                "edit",
            )
            .await
            .expect("commit");
        git.update_ref("refs/heads/main", &commit, Some(&head))
            .await
            .expect("push");
    }

    fn deployed(package: &str, digest: &str) -> String {
        DeployedPackage {
            name: package.into(),
            namespace: "dev".into(),
            annotations: Default::default(),
            version: "v1.0.0".into(),
            artifact: format!("registry.example/{package}:v1.0.0"),
            digest: digest.into(),
        }
        .to_yaml()
    }

    /// An embedded forge in `dir`, an empty store and a catalog on them.
    async fn fixture(
        dir: &std::path::Path,
    ) -> (LocalGitForge, Arc<dyn StateStore>, EnvironmentCatalog) {
        let changes = Arc::new(MemoryStore::default());
        let forge = LocalGitForge::open_or_init(&dir.join("deploy.git"), changes)
            .await
            .expect("repo");
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
        let catalog = EnvironmentCatalog::from_store(store.as_ref(), GroupSource::TeamsFile);
        (forge, store, catalog)
    }

    #[tokio::test]
    async fn a_bad_deployed_package_refuses_every_revision_until_it_is_fixed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (forge, store, catalog) = fixture(dir.path()).await;
        let good = format!("sha256:{}", "a".repeat(64));
        let file = "environments/dev/my-package.yaml";
        push(&forge, file, &deployed("my-package", &good)).await;
        assert!(catalog.refresh(&forge, &store).await.expect("refresh"));
        let accepted = catalog
            .snapshot()
            .current
            .expect("accepted")
            .revision
            .clone();

        push(&forge, file, &deployed("my-package", "not-a-digest")).await;
        catalog.refresh(&forge, &store).await.expect("refresh");
        let state = catalog.snapshot();
        assert_eq!(state.current.expect("still served").revision, accepted);
        assert_eq!(state.problems.len(), 1);
        let problem = state.problems[0].to_string();
        assert!(
            problem.starts_with(&format!("{file}:9: spec.digest: invalid digest")),
            "{problem}"
        );

        // An unrelated push, and a catalog that restarted from the store, still refuse it.
        push(
            &forge,
            "environments/dev/other.yaml",
            &deployed("other", &good),
        )
        .await;
        catalog.refresh(&forge, &store).await.expect("refresh");
        assert_eq!(catalog.snapshot().problems.len(), 1, "still refused");
        let restarted = EnvironmentCatalog::from_store(store.as_ref(), GroupSource::TeamsFile);
        push(
            &forge,
            "environments/dev/third.yaml",
            &deployed("third", &good),
        )
        .await;
        restarted.refresh(&forge, &store).await.expect("refresh");
        let state = restarted.snapshot();
        assert_eq!(state.current.expect("served").revision, accepted);
        assert_eq!(state.problems.len(), 1, "refused after a restart too");

        push(&forge, file, &deployed("my-package", &good)).await;
        catalog.refresh(&forge, &store).await.expect("refresh");
        assert_serves_the_head(&catalog, &forge).await;
    }

    /// `catalog` serves the base branch's newest revision, with no problem.
    async fn assert_serves_the_head(catalog: &EnvironmentCatalog, forge: &LocalGitForge) {
        let state = catalog.snapshot();
        assert!(state.problems.is_empty(), "{:?}", state.problems);
        assert_eq!(
            state.current.expect("accepted").revision,
            forge.base_revision().await.expect("head")
        );
    }

    /// Accepts a manifest naming `dev`, then renames dev's namespace: the manifest is what
    /// refuses the revision. With `restart`, a catalog restarted from the store (trusting
    /// the accepted manifests without listing them) first takes an unrelated push.
    async fn a_namespace_change_refuses_a_manifest_naming_the_old_one(restart: bool) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (forge, store, mut catalog) = fixture(dir.path()).await;
        let digest = format!("sha256:{}", "a".repeat(64));
        let file = "environments/dev/my-package.yaml";
        push(&forge, file, &deployed("my-package", &digest)).await;
        catalog.refresh(&forge, &store).await.expect("refresh");
        assert!(catalog.snapshot().problems.is_empty());
        if restart {
            catalog = EnvironmentCatalog::from_store(store.as_ref(), GroupSource::TeamsFile);
            let other = "environments/dev/other.yaml";
            push(&forge, other, &deployed("other", &digest)).await;
            catalog.refresh(&forge, &store).await.expect("refresh");
            assert_serves_the_head(&catalog, &forge).await;
        }

        let renamed = DEFAULT_ENVIRONMENTS_YAML.replace("namespace: dev ", "namespace: develop ");
        assert_ne!(renamed, DEFAULT_ENVIRONMENTS_YAML);
        push(&forge, ENVIRONMENTS_FILE, &renamed).await;
        catalog.refresh(&forge, &store).await.expect("refresh");
        let problems = catalog.snapshot().problems;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .to_string()
                .starts_with(&format!("{file}:5: metadata.namespace: ")),
            "the first manifest by path, trusted or read: {}",
            problems[0]
        );
    }

    #[tokio::test]
    async fn a_namespace_change_refuses_the_manifests_still_naming_the_old_one() {
        a_namespace_change_refuses_a_manifest_naming_the_old_one(false).await;
    }

    #[tokio::test]
    async fn after_a_restart_the_trusted_manifests_are_checked_against_a_namespace_change() {
        a_namespace_change_refuses_a_manifest_naming_the_old_one(true).await;
    }

    /// The stores of dev that `catalog` serves, by name.
    fn dev_stores(catalog: &EnvironmentCatalog) -> Vec<String> {
        let config = catalog.snapshot().current.expect("accepted");
        (config.stores["dev"].iter())
            .map(|entry| entry.store.name.clone())
            .collect()
    }

    /// A Store manifest named `name`.
    fn store_manifest(name: &str) -> String {
        format!(
            "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Store\nmetadata: {{ name: {name} }}\nspec:\n  type: kafka-topic\n  connection: {{ brokers: dev-kafka:9092, topic: {name} }}\n"
        )
    }

    #[tokio::test]
    async fn pushes_beside_the_configuration_keep_it_and_a_store_pushed_after_them_is_served() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (forge, store, mut catalog) = fixture(dir.path()).await;
        let digest = format!("sha256:{}", "a".repeat(64));
        let stores = "environments/dev/stores/";
        push(
            &forge,
            &format!("{stores}events.yaml"),
            &store_manifest("events"),
        )
        .await;
        catalog.refresh(&forge, &store).await.expect("refresh");
        assert_eq!(dev_stores(&catalog), ["events"]);
        for restart in [false, true] {
            if restart {
                catalog = EnvironmentCatalog::from_store(store.as_ref(), GroupSource::TeamsFile);
            }
            let package = format!("package-{restart}");
            let file = format!("environments/dev/{package}.yaml");
            push(&forge, &file, &deployed(&package, &digest)).await;
            catalog.refresh(&forge, &store).await.expect("refresh");
            assert_serves_the_head(&catalog, &forge).await;
            assert_eq!(
                dev_stores(&catalog),
                ["events"],
                "kept (restart: {restart})"
            );
            assert_eq!(
                store.load_config().expect("load").expect("saved").revision,
                forge.base_revision().await.expect("head"),
                "saved at the new revision"
            );
        }
        push(
            &forge,
            &format!("{stores}audit.yaml"),
            &store_manifest("audit"),
        )
        .await;
        catalog.refresh(&forge, &store).await.expect("refresh");
        assert_eq!(dev_stores(&catalog), ["audit", "events"]);
        let hold = "holds/dev/package-false.yaml";
        let manual = datakit::manifest::Hold {
            package: "package-false".into(),
            environment: "dev".into(),
            kind: datakit::manifest::HoldKind::Manual,
            set_by: "alice".into(),
            set_at: "2026-11-30T12:00:00Z".into(),
            reason: "incident".into(),
            blocks: None,
            released: None,
        };
        push(&forge, hold, &manual.to_yaml()).await;
        catalog.refresh(&forge, &store).await.expect("refresh");
        let config = catalog.snapshot().current.expect("accepted");
        assert!(
            config.active_hold("dev", "package-false").is_some(),
            "the hold is served"
        );
    }

    #[tokio::test]
    async fn a_broken_push_keeps_the_last_good_configuration_and_reports_the_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (forge, store, catalog) = fixture(dir.path()).await;
        assert!(catalog.refresh(&forge, &store).await.expect("refresh"));
        let good = catalog
            .snapshot()
            .current
            .expect("accepted")
            .revision
            .clone();

        push(&forge, ENVIRONMENTS_FILE, "environments:\n  dev:\n    cluster: c\n    namespace: dev\n    approval: { required: false, auto_merge: true }\n    after: nowhere\n").await;
        assert!(catalog.refresh(&forge, &store).await.expect("refresh"));
        let state = catalog.snapshot();
        assert_eq!(state.current.expect("still served").revision, good);
        assert_eq!(state.problems.len(), 1);
        assert_eq!(state.problems[0].file, ENVIRONMENTS_FILE);
        assert!(state.problems[0].line.is_some(), "{}", state.problems[0]);
        assert_eq!(
            store.load_config().expect("load").expect("cached").revision,
            good,
            "the store keeps the good one"
        );

        assert!(
            !catalog.refresh(&forge, &store).await.expect("refresh"),
            "the same revision is examined once"
        );

        push(&forge, ENVIRONMENTS_FILE, DEFAULT_ENVIRONMENTS_YAML).await;
        assert!(catalog.refresh(&forge, &store).await.expect("refresh"));
        let state = catalog.snapshot();
        assert!(state.problems.is_empty());
        assert_ne!(state.current.expect("accepted").revision, good);
    }

    #[tokio::test]
    async fn a_merge_dkd_landed_is_examined_at_once_not_at_the_next_poll() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (forge, store, catalog) = fixture(dir.path()).await;
        let (forge, catalog) = (Arc::new(forge), Arc::new(catalog));
        let mut changes = catalog.subscribe();
        let stop = CancellationToken::new();
        let follower = tokio::spawn(follow_base_branch(
            catalog.clone(),
            forge.clone(),
            store,
            Duration::from_secs(3600),
            stop.clone(),
        ));
        // The first tick examines the base branch at once.
        tokio::time::timeout(Duration::from_secs(10), changes.changed())
            .await
            .expect("the first revision is examined")
            .expect("catalog alive");
        let digest = format!("sha256:{}", "b".repeat(64));
        push(
            &forge,
            "environments/dev/my-package.yaml",
            &deployed("my-package", &digest),
        )
        .await;
        let landed = forge.base_revision().await.expect("head");
        catalog.base_moved();
        tokio::time::timeout(
            Duration::from_secs(10),
            changes.wait_for(|state| state.examined_revision.as_deref() == Some(landed.as_str())),
        )
        .await
        .expect("examined long before the hour-long poll")
        .expect("catalog alive");
        stop.cancel();
        follower.await.expect("follower stops");
    }
}
