//! `Status` responses of one package, precomputed: the rows of every environment of its
//! path, converted to proto once (status, hold) with the soak's stable parts (the version
//! promotable, from where, from when, what blocks it), so a call is a lookup, an RBAC
//! filter and an encode. Only the clock-dependent part ("promotable at" and "now") is
//! computed per call. The event log keeps it up to date: a package's entry is dropped by
//! any event about the package and every entry by a lagging subscription. An entry is
//! kept for the configuration's contents, not its revision, so a push or a merge that
//! leaves `config/` as it was keeps every other package's answer. An entry is used only
//! while the cache has applied every visible event, so a client that saw an event never
//! reads an answer older than it.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock, Weak,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::sync::{Notify, broadcast::error::RecvError};

use super::cached_row::CachedRow;
use crate::promotion::{EventKind, EventLog};

/// A package's rows, in path order, for one configuration's contents.
#[derive(Debug)]
struct Entry {
    /// [`crate::promotion::LoadedConfig::content`] of the configuration they were made with.
    config: [u8; 32],
    rows: Arc<[CachedRow]>,
}

/// What the cache has applied, so a lookup knows whether it may trust it.
#[derive(Debug, Default)]
struct Progress {
    /// Bumped by every invalidation: an entry computed across one is not stored.
    epoch: AtomicU64,
    /// The newest event sequence whose invalidation is applied.
    applied: AtomicU64,
    /// How many times every entry was dropped (a lagging subscription).
    emptied: AtomicU64,
}

/// The precomputed `Status` answers, by package.
#[derive(Debug)]
pub struct StatusCache {
    events: Arc<EventLog>,
    entries: RwLock<HashMap<Box<str>, Entry>>,
    progress: Progress,
    /// Signalled once a configuration event or a lag was applied.
    outdated: Notify,
}

/// A ticket to store an entry computed after it was taken, unless something changed since.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    epoch: u64,
}

impl StatusCache {
    /// A cache following `events`; its follower task ends when the cache is dropped.
    pub fn start(events: Arc<EventLog>) -> Arc<Self> {
        let mut live = events.subscribe();
        let cache = Arc::new(Self {
            progress: Progress {
                epoch: AtomicU64::new(0),
                emptied: AtomicU64::new(0),
                applied: AtomicU64::new(events.last_sequence().unwrap_or(u64::MAX)),
            },
            events,
            entries: RwLock::default(),
            outdated: Notify::new(),
        });
        let weak: Weak<Self> = Arc::downgrade(&cache);
        tokio::spawn(async move {
            loop {
                let received = live.recv().await;
                let Some(cache) = weak.upgrade() else { return };
                match received {
                    Ok(event) => cache.apply(event.sequence, &event.kind),
                    Err(RecvError::Lagged(_)) => cache.forget_all(),
                    Err(RecvError::Closed) => return,
                }
            }
        });
        cache
    }

    fn apply(&self, sequence: u64, kind: &EventKind) {
        self.progress.epoch.fetch_add(1, Ordering::SeqCst);
        let package = match kind {
            EventKind::Promotion(promotion) => Some(promotion.package.as_str()),
            EventKind::Status { status, .. } => Some(status.package.as_str()),
            EventKind::Hold(hold) => Some(hold.package.as_str()),
            EventKind::Config { .. } => None,
        };
        if let Some(package) = package
            && let Ok(mut entries) = self.entries.write()
        {
            entries.remove(package);
        }
        self.progress.applied.store(sequence, Ordering::SeqCst);
        if package.is_none() {
            // Entries of another configuration's contents no longer match; the warmer
            // recomputes those.
            self.outdated.notify_one();
        }
    }

    /// Drops everything (the subscription lagged): what was missed is unknown.
    fn forget_all(&self) {
        self.progress.epoch.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
        self.progress.emptied.fetch_add(1, Ordering::SeqCst);
        let visible = self.events.last_sequence().unwrap_or(u64::MAX);
        self.progress.applied.store(visible, Ordering::SeqCst);
        self.outdated.notify_one();
    }

    /// Resolves once a configuration event or a lagging subscription was applied since the
    /// last call returned: entries may be missing or of another configuration, and
    /// refilling then sticks.
    pub async fn outdated(&self) {
        self.outdated.notified().await;
    }

    /// How many times every entry was dropped so far: a warmer that filled the cache
    /// since the last drop, for the same configuration contents, has nothing to add.
    pub fn times_emptied(&self) -> u64 {
        self.progress.emptied.load(Ordering::SeqCst)
    }

    /// Whether the cache has applied every visible event.
    fn current(&self) -> bool {
        self.events
            .last_sequence()
            .is_ok_and(|visible| visible == self.progress.applied.load(Ordering::SeqCst))
    }

    /// The rows of `package` for the configuration whose contents are `config`, in path
    /// order, if precomputed and current.
    pub fn rows(&self, config: &[u8; 32], package: &str) -> Option<Arc<[CachedRow]>> {
        if !self.current() {
            return None;
        }
        let entries = self.entries.read().ok()?;
        let entry = entries.get(package)?;
        (entry.config == *config).then(|| entry.rows.clone())
    }

    /// Taken before reading what an entry is computed from.
    pub fn ticket(&self) -> Option<Ticket> {
        let epoch = self.progress.epoch.load(Ordering::SeqCst);
        self.current().then_some(Ticket { epoch })
    }

    /// Stores `rows` of `package` made with the configuration whose contents are `config`,
    /// unless an event arrived since `ticket`.
    pub fn store(&self, ticket: Ticket, config: [u8; 32], package: &str, rows: Vec<CachedRow>) {
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        if self.progress.epoch.load(Ordering::SeqCst) != ticket.epoch {
            return;
        }
        entries.insert(
            package.into(),
            Entry {
                config,
                rows: rows.into(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use datakit::proto;

    use super::*;
    use crate::{promotion::ports::StateStore, store::MemoryStore};

    fn row(package: &str) -> CachedRow {
        CachedRow::new(
            proto::PackageStatus {
                package: package.into(),
                environment: "dev".into(),
                ..Default::default()
            },
            None,
        )
    }

    fn status(package: &str) -> EventKind {
        EventKind::Status {
            status: crate::promotion::testing::deployed("dev", package, "1.0.0"),
            deployed: true,
        }
    }

    async fn until_current(cache: &StatusCache) {
        tokio::time::timeout(Duration::from_secs(5), async {
            while !cache.current() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the cache applies the event");
    }

    const C1: [u8; 32] = [1; 32];
    const C2: [u8; 32] = [2; 32];

    #[tokio::test]
    async fn a_configuration_event_keeps_answers_of_the_same_contents_and_says_so() {
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
        let events = Arc::new(EventLog::new(store, 100));
        let cache = StatusCache::start(events.clone());
        let ticket = cache.ticket().expect("current");
        cache.store(ticket, C1, "a", vec![row("a")]);
        events.publish(status("b")).await.expect("publish");
        until_current(&cache).await;
        let quiet = tokio::time::timeout(Duration::from_millis(50), cache.outdated()).await;
        assert!(
            quiet.is_err(),
            "an event about one package outdates nothing else"
        );

        let config = EventKind::Config {
            revision: "r2".into(),
            problems: Vec::new(),
        };
        events.publish(config).await.expect("publish");
        tokio::time::timeout(Duration::from_secs(5), cache.outdated())
            .await
            .expect("told the cache may be outdated");
        assert!(cache.current(), "told only once the event was applied");
        assert!(cache.rows(&C1, "a").is_some(), "the same contents");
        assert!(cache.rows(&C2, "a").is_none(), "other contents");
    }

    #[tokio::test]
    async fn an_event_about_a_package_drops_its_answer_and_only_its_answer() {
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
        let events = Arc::new(EventLog::new(store, 100));
        let cache = StatusCache::start(events.clone());
        for package in ["a", "b"] {
            let ticket = cache.ticket().expect("current");
            cache.store(ticket, C1, package, vec![row(package)]);
        }
        assert!(cache.rows(&C1, "a").is_some());
        assert!(cache.rows(&C2, "a").is_none(), "another configuration");
        events.publish(status("a")).await.expect("publish");
        until_current(&cache).await;
        assert!(cache.rows(&C1, "a").is_none());
        assert!(cache.rows(&C1, "b").is_some());
    }

    #[tokio::test]
    async fn an_answer_computed_across_an_event_is_not_kept() {
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
        let events = Arc::new(EventLog::new(store, 100));
        let cache = StatusCache::start(events.clone());
        let ticket = cache.ticket().expect("current");
        events.publish(status("a")).await.expect("publish");
        until_current(&cache).await;
        cache.store(ticket, C1, "a", vec![row("a")]);
        assert!(cache.rows(&C1, "a").is_none());
    }
}
