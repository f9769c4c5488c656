//! What runs where, served from memory: every package's status per environment, loaded
//! from the state store at start and updated as the cluster reports changes — saved
//! first, then cached, then published as an event. Health transitions are recorded as
//! health spans (how long the current version has been Healthy), for soak times.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::{Arc, RwLock, RwLockReadGuard},
};

use tokio::sync::watch;

use super::{EventKind, EventLog, HealthSpan, PromotionError, board_entries::BoardEntries};
use crate::promotion::ports::{Clock, PackageSync, StateStore, StatusChanges, blocking};

type Key = (String, String);

/// How many status changes are saved, cached and published together: one store write
/// each, few enough events for a live subscriber's buffer.
const BATCH: usize = 256;

/// The status cache.
pub struct StatusBoard {
    store: Arc<dyn StateStore>,
    events: Arc<EventLog>,
    /// Every status with its health span, as saved.
    entries: RwLock<BoardEntries>,
    /// Whether `entries` holds what the store saved. Until it does, a lookup of one
    /// package reads the store, and reads and writes of the whole board wait (`loaded`).
    loaded: watch::Sender<bool>,
    /// Held (written) from caching a batch until its events are published, and (read) by
    /// readers that need the board and the event log to agree.
    publishing: tokio::sync::RwLock<()>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for StatusBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusBoard").finish_non_exhaustive()
    }
}

fn poisoned() -> PromotionError {
    PromotionError::Unavailable("status cache poisoned".into())
}

impl StatusBoard {
    /// A board that reads what the store saved in the background, off the async workers,
    /// so dkd answers before a big home is read; health transitions are stamped with
    /// `clock`.
    pub fn open(
        store: Arc<dyn StateStore>,
        events: Arc<EventLog>,
        clock: Arc<dyn Clock>,
    ) -> Arc<Self> {
        let board = Arc::new(Self {
            store,
            events,
            entries: RwLock::default(),
            loaded: watch::channel(false).0,
            publishing: tokio::sync::RwLock::new(()),
            clock,
        });
        tokio::spawn({
            let board = board.clone();
            async move { board.read_saved().await }
        });
        board
    }

    /// Reads what the store saved into the board. What cannot be read is left to be
    /// observed again: the board starts without it rather than not at all.
    async fn read_saved(&self) {
        let started = std::time::Instant::now();
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || BoardEntries::read(store.as_ref())).await {
            Ok(Ok(entries)) => match self.entries.write() {
                Ok(mut held) => {
                    *held = entries;
                    tracing::info!(
                        took_ms = started.elapsed().as_millis(),
                        "read what runs where from the state store"
                    );
                }
                Err(_) => tracing::error!("{}", poisoned()),
            },
            Ok(Err(error)) => tracing::error!(
                %error,
                "cannot read what runs where from the state store; it is observed again"
            ),
            Err(error) => tracing::error!(
                %error,
                "reading what runs where from the state store stopped; it is observed again"
            ),
        }
        self.loaded.send_replace(true);
    }

    /// Waits until the board holds what the store saved.
    pub async fn loaded(&self) {
        // The sender is `self`'s, so it outlives this wait.
        let _ = self.loaded.subscribe().wait_for(|loaded| *loaded).await;
    }

    /// The health span of `package` in `environment`, if one is recorded.
    pub fn health_span(
        &self,
        environment: &str,
        package: &str,
    ) -> Result<Option<HealthSpan>, PromotionError> {
        let Some(entries) = self.loaded_entries()? else {
            return Ok(self.store.load_health_span(environment, package)?);
        };
        Ok(entries
            .get(environment, package)
            .and_then(|entry| entry.span()))
    }

    /// Records what `environment` runs now (its whole content): changed statuses are saved
    /// and published; packages no longer there are removed. Returns how many changed.
    pub async fn observe(
        &self,
        environment: &str,
        current: Vec<PackageSync>,
    ) -> Result<usize, PromotionError> {
        self.loaded().await;
        let known: HashMap<String, PackageSync> = self
            .for_environment(environment)?
            .into_iter()
            .map(|status| (status.package.clone(), status))
            .collect();
        let present: HashSet<&str> = current.iter().map(|s| s.package.as_str()).collect();
        let removed: Vec<String> = known
            .keys()
            .filter(|package| !present.contains(package.as_str()))
            .cloned()
            .collect();
        let changed = current
            .into_iter()
            .filter(|status| known.get(&status.package) != Some(status))
            .collect();
        self.observe_changes(environment, changed, &removed).await
    }

    /// Records a change in what `environment` runs: `changed` statuses (saved and published
    /// when they differ from what is known) and `removed` packages (no longer there). The
    /// cost follows the change, not the size of the environment: changes are saved, cached
    /// and published in batches, one store write each. Returns how many changed.
    pub async fn observe_changes(
        &self,
        environment: &str,
        changed: Vec<PackageSync>,
        removed: &[String],
    ) -> Result<usize, PromotionError> {
        let mut count = 0;
        for statuses in changed.chunks(BATCH) {
            count += self.record(environment, statuses, &[], true).await?;
        }
        for packages in removed.chunks(BATCH) {
            count += self.record(environment, &[], packages, true).await?;
        }
        Ok(count)
    }

    /// Records a status change the leader published (a follower's copy): saved and cached
    /// like an observed one, but not published again.
    pub async fn mirror(&self, status: &PackageSync, deployed: bool) -> Result<(), PromotionError> {
        let environment = status.environment.as_str();
        if deployed {
            self.record(environment, std::slice::from_ref(status), &[], false)
                .await?;
        } else {
            self.record(
                environment,
                &[],
                std::slice::from_ref(&status.package),
                false,
            )
            .await?;
        }
        Ok(())
    }

    /// Saves `changed` and forgets `removed` in one store write (with the health
    /// transitions they make), then caches them and, when `publish`, publishes an event
    /// each. Statuses equal to the known ones, and removals of unknown packages, are
    /// skipped. Returns how many changed.
    async fn record(
        &self,
        environment: &str,
        changed: &[PackageSync],
        removed: &[String],
        publish: bool,
    ) -> Result<usize, PromotionError> {
        self.loaded().await;
        let (batch, events) = self.plan(environment, changed, removed)?;
        if events.is_empty() {
            return Ok(0);
        }
        let batch = blocking::write(&self.store, move |store| {
            store.save_status_changes(&batch).map(|()| batch)
        })
        .await?;
        let _publishing = self.publishing.write().await;
        {
            let mut entries = self.entries.write().map_err(|_| poisoned())?;
            for status in batch.statuses {
                entries.set_status(status);
            }
            for span in &batch.spans {
                entries.set_span(span);
            }
            for (environment, package) in &batch.gone {
                entries.remove(environment, package);
            }
        }
        let count = events.len();
        if publish {
            self.events.publish_all(events).await?;
        }
        Ok(count)
    }

    /// Runs `read` once the board holds what was saved and while no batch is between being
    /// cached and being published: what it reads of the board and of the event log agree
    /// (a Watch snapshot and the sequence it stands for, without an event whose change
    /// the snapshot already shows).
    pub async fn consistent<T>(&self, read: impl FnOnce() -> T) -> T {
        self.loaded().await;
        let _publishing = self.publishing.read().await;
        read()
    }

    /// What recording `changed` and `removed` saves, and the events it publishes.
    fn plan(
        &self,
        environment: &str,
        changed: &[PackageSync],
        removed: &[String],
    ) -> Result<(StatusChanges, Vec<EventKind>), PromotionError> {
        let now = self.clock.now();
        let entries = self.read()?;
        let mut batch = StatusChanges::default();
        let mut events = Vec::new();
        // Spans this batch already moves on (a package named twice sees its own change).
        let mut moved: HashMap<Key, HealthSpan> = HashMap::new();
        for status in changed {
            let known = entries.get(&status.environment, &status.package);
            if known.is_some_and(|entry| entry.status.is(status)) {
                continue;
            }
            let key = (status.environment.clone(), status.package.clone());
            let recorded = known.and_then(|entry| entry.span());
            let previous = moved.get(&key).or(recorded.as_ref());
            let next = HealthSpan::after(previous, status, now);
            if previous != Some(&next) {
                moved.insert(key, next.clone());
                batch.spans.push(next);
            }
            batch.statuses.push(status.clone());
            events.push(EventKind::Status {
                status: status.clone(),
                deployed: true,
            });
        }
        for package in removed {
            let Some(gone) = entries.get(environment, package) else {
                continue;
            };
            events.push(EventKind::Status {
                status: gone.status.status(),
                deployed: false,
            });
            batch.gone.push((environment.to_owned(), package.clone()));
        }
        Ok((batch, events))
    }

    /// The whole board: an error while it is still being read (callers wait for `loaded`
    /// first, so this is a guard against an answer that would leave packages out).
    fn read(&self) -> Result<RwLockReadGuard<'_, BoardEntries>, PromotionError> {
        self.loaded_entries()?.ok_or_else(|| {
            PromotionError::Unavailable(
                "dkd is still reading what runs where from its state store; try again in a moment"
                    .into(),
            )
        })
    }

    /// The board once it holds what was saved; `None` until then.
    fn loaded_entries(&self) -> Result<Option<RwLockReadGuard<'_, BoardEntries>>, PromotionError> {
        // Set after the entries are in place: once it reads true, they are.
        if !*self.loaded.borrow() {
            return Ok(None);
        }
        self.entries.read().map(Some).map_err(|_| poisoned())
    }

    /// One package in one environment.
    pub fn get(
        &self,
        environment: &str,
        package: &str,
    ) -> Result<Option<PackageSync>, PromotionError> {
        let Some(entries) = self.loaded_entries()? else {
            return Ok(self.store.load_status(environment, package)?);
        };
        Ok(entries
            .get(environment, package)
            .map(|entry| entry.status.status()))
    }

    /// Every package of one environment, by name.
    pub fn for_environment(&self, environment: &str) -> Result<Vec<PackageSync>, PromotionError> {
        Ok(self
            .read()?
            .environment(environment)
            .map(|entry| entry.status.status())
            .collect())
    }

    /// How many packages `environment` runs.
    pub fn count(&self, environment: &str) -> Result<usize, PromotionError> {
        Ok(self.read()?.count(environment))
    }

    /// Up to `limit` names of packages `environment` runs, in name order from just after
    /// `after`, wrapping round to the first.
    pub fn package_names_after(
        &self,
        environment: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<String>, PromotionError> {
        Ok(self
            .read()?
            .after(environment, after)
            .take(limit)
            .map(|entry| entry.status.package().to_owned())
            .collect())
    }

    /// Whether any of `environments` runs `package` (a lookup per environment, not a scan).
    pub fn knows_package<'a>(
        &self,
        package: &str,
        environments: impl IntoIterator<Item = &'a str>,
    ) -> Result<bool, PromotionError> {
        let Some(entries) = self.loaded_entries()? else {
            for environment in environments {
                if self.store.load_status(environment, package)?.is_some() {
                    return Ok(true);
                }
            }
            return Ok(false);
        };
        Ok(environments
            .into_iter()
            .any(|env| entries.get(env, package).is_some()))
    }

    /// Every package some environment runs, by name.
    pub fn package_names(&self) -> Result<BTreeSet<String>, PromotionError> {
        Ok(self
            .read()?
            .all()
            .map(|entry| entry.status.package().to_owned())
            .collect())
    }

    /// Every status (for snapshots).
    pub fn all(&self) -> Result<Vec<PackageSync>, PromotionError> {
        Ok(self
            .read()?
            .all()
            .map(|entry| entry.status.status())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::{
        promotion::ports::{Clock, HealthState, SystemClock},
        store::MemoryStore,
    };

    fn status(package: &str, version: &str) -> PackageSync {
        crate::promotion::testing::deployed("dev", package, version)
    }

    #[tokio::test]
    async fn only_changes_are_saved_and_published_and_removals_are_too() {
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
        let events = Arc::new(EventLog::new(store.clone(), 100));
        let board = StatusBoard::open(store.clone(), events.clone(), Arc::new(SystemClock));
        assert_eq!(
            board
                .observe("dev", vec![status("a", "v1"), status("b", "v1")])
                .await
                .expect("observe"),
            2
        );
        assert_eq!(
            board
                .observe("dev", vec![status("a", "v1"), status("b", "v1")])
                .await
                .expect("observe"),
            0
        );
        assert_eq!(
            board
                .observe("dev", vec![status("a", "v2")])
                .await
                .expect("observe"),
            2,
            "a changed, b removed"
        );
        assert_eq!(
            board.get("dev", "a").expect("get").map(|s| s.version),
            Some("v2".into())
        );
        assert_eq!(board.get("dev", "b").expect("get"), None);
        assert_eq!(events.last_sequence().expect("seq"), 4);
        let reloaded = StatusBoard::open(store, events, Arc::new(SystemClock));
        reloaded.loaded().await;
        assert_eq!(
            reloaded.for_environment("dev").expect("env"),
            vec![status("a", "v2")]
        );
    }

    #[tokio::test]
    #[expect(
        clippy::await_holding_lock,
        reason = "the held lock is what keeps the board's read (on a blocking thread) waiting"
    )]
    async fn until_the_saved_statuses_are_read_one_package_comes_from_the_store_and_the_rest_waits()
    {
        let store = Arc::new(MemoryStore::default());
        store
            .save_status_changes(&StatusChanges {
                statuses: vec![status("a", "v1"), status("b", "v1")],
                ..StatusChanges::default()
            })
            .expect("save");
        let events = Arc::new(EventLog::new(store.clone(), 100));
        let held = store.hold_full_reads();
        let board = StatusBoard::open(store.clone(), events, Arc::new(SystemClock));
        assert_eq!(board.get("dev", "a").expect("get"), Some(status("a", "v1")));
        assert!(board.knows_package("b", ["int", "dev"]).expect("knows"));
        assert!(matches!(
            board.for_environment("dev"),
            Err(PromotionError::Unavailable(_))
        ));
        let observing = tokio::spawn({
            let board = board.clone();
            async move { board.observe("dev", vec![status("a", "v2")]).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(
            !observing.is_finished(),
            "a change waits for the saved statuses"
        );
        drop(held);
        assert_eq!(
            observing.await.expect("join").expect("observe"),
            2,
            "a changed, b removed: both known once read"
        );
        assert_eq!(
            board.for_environment("dev").expect("env"),
            vec![status("a", "v2")]
        );
    }

    #[tokio::test]
    async fn a_change_of_more_packages_than_a_batch_is_saved_and_published_whole_in_order() {
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
        let events = Arc::new(EventLog::new(store.clone(), 10_000));
        let board = StatusBoard::open(store.clone(), events.clone(), Arc::new(SystemClock));
        let count = BATCH * 2 + 3;
        let names: Vec<String> = (0..count).map(|i| format!("p{i:04}")).collect();
        let statuses = names.iter().map(|name| status(name, "v1")).collect();
        assert_eq!(
            board.observe("dev", statuses).await.expect("observe"),
            count
        );
        let published: Vec<String> = events
            .read_after(0, count + 1)
            .expect("read")
            .into_iter()
            .filter_map(|event| match event.kind {
                EventKind::Status { status, .. } => Some(status.package),
                _ => None,
            })
            .collect();
        assert_eq!(published, names, "one event each, in order");
        let mut spans = 0;
        store.each_health_span(&mut |_| spans += 1).expect("spans");
        assert_eq!(spans, count);
        let reloaded = StatusBoard::open(store, events, Arc::new(SystemClock));
        reloaded.loaded().await;
        assert_eq!(reloaded.for_environment("dev").expect("env").len(), count);
        assert_eq!(
            reloaded.observe("dev", Vec::new()).await.expect("removed"),
            count
        );
    }

    #[tokio::test]
    async fn health_spans_survive_a_restart_and_a_degraded_spell_starts_them_again() {
        use std::time::Duration;

        use crate::promotion::ports::ManualClock;

        let minute = Duration::from_secs(60);
        let clock = ManualClock::starting_at(SystemTime::UNIX_EPOCH);
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
        let events = Arc::new(EventLog::new(store.clone(), 100));
        let board = StatusBoard::open(store.clone(), events.clone(), Arc::new(clock.clone()));
        board
            .observe("dev", vec![status("a", "v1")])
            .await
            .expect("observe");
        clock.advance(20 * minute);
        let restarted = StatusBoard::open(store.clone(), events.clone(), Arc::new(clock.clone()));
        restarted
            .observe("dev", vec![status("a", "v1")])
            .await
            .expect("observe");
        let soaked = |board: &StatusBoard| {
            board
                .health_span("dev", "a")
                .expect("span")
                .and_then(|span| span.soaked("v1", clock.now()))
        };
        assert_eq!(soaked(&restarted), Some(20 * minute), "the restart kept it");
        let mut degraded = status("a", "v1");
        degraded.health = HealthState::Degraded;
        restarted
            .observe("dev", vec![degraded])
            .await
            .expect("observe");
        assert_eq!(soaked(&restarted), None);
        clock.advance(minute);
        restarted
            .observe("dev", vec![status("a", "v1")])
            .await
            .expect("observe");
        clock.advance(5 * minute);
        assert_eq!(soaked(&restarted), Some(5 * minute), "started again");
        restarted.observe("dev", vec![]).await.expect("observe");
        assert_eq!(store.load_health_span("dev", "a").expect("load"), None);
    }
}

/// One row of a status table: a package in an environment, `status: None` when it is not
/// deployed there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRow {
    pub package: String,
    pub environment: String,
    pub status: Option<PackageSync>,
}

impl StatusBoard {
    /// The rows of `dk status`: for a package, one per environment in path order; for an
    /// environment, one per deployed package; for both, the one row. `is_known` says
    /// whether a package dkd has no status for exists at all (e.g. has promotions).
    pub fn table(
        &self,
        config: &super::LoadedConfig,
        package: Option<&str>,
        environment: Option<&str>,
        is_known: impl Fn(&str) -> Result<bool, PromotionError>,
    ) -> Result<Vec<StatusRow>, PromotionError> {
        if let Some(environment) = environment
            && config.environments.get(environment).is_none()
        {
            return Err(PromotionError::NotFound(format!(
                "environment {environment:?} not found; known environments: {}",
                config.environments.names().join(", ")
            )));
        }
        if let Some(package) = package
            && !self.knows_package(package, config.environments.names())?
            && !is_known(package)?
        {
            return Err(PromotionError::NotFound(format!(
                "package {package:?} is not deployed anywhere and was never promoted (see dk history {package})"
            )));
        }
        let row = |environment: &str, package: &str| -> Result<StatusRow, PromotionError> {
            Ok(StatusRow {
                package: package.to_owned(),
                environment: environment.to_owned(),
                status: self.get(environment, package)?,
            })
        };
        match (package, environment) {
            (Some(package), Some(environment)) => Ok(vec![row(environment, package)?]),
            (Some(package), None) => config
                .environments
                .path_order()
                .iter()
                .map(|env| row(&env.name, package))
                .collect(),
            (None, Some(environment)) => Ok(self
                .for_environment(environment)?
                .into_iter()
                .map(|s| StatusRow {
                    package: s.package.clone(),
                    environment: s.environment.clone(),
                    status: Some(s),
                })
                .collect()),
            (None, None) => Err(PromotionError::InvalidInput(
                "give a package (dk status PACKAGE) or an environment (dk status --env ENV)".into(),
            )),
        }
    }
}
