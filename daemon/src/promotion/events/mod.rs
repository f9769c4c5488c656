//! The event log: every change clients can watch — promotion states, package status,
//! configuration — numbered, written to the state store first and then published live.
//! A reader that falls behind re-reads the store; nothing is dropped silently. With
//! replicas, only the leader numbers events (stamped with its lease term); followers copy
//! its log event for event (`mirror`), so a sequence number means the same everywhere, and
//! clients see an event only once the followers that keep up hold it (`visibility`).

mod visibility;

use std::{
    sync::{
        Arc, Mutex as StdMutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::SystemTime,
};

use tokio::{
    sync::{Mutex, broadcast, watch},
    time::Instant,
};
use visibility::Visibility;

use super::{ConfigProblem, Leadership, Promotion, PromotionError};
use crate::promotion::ports::{
    PackageSync, StateStore,
    blocking::{self, WRITE_DEADLINE},
};

/// How many events the live channel buffers for a subscriber before it lags (and then
/// catches up from the store).
const LIVE_BUFFER: usize = 1024;

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A promotion changed state, got an approval, merged or synced.
    Promotion(Box<Promotion>),
    /// A package's status in an environment changed; `deployed: false` when it was removed.
    Status { status: PackageSync, deployed: bool },
    /// The base branch's configuration changed (or a broken one was refused).
    Config {
        revision: String,
        problems: Vec<ConfigProblem>,
    },
    /// A hold was set (by hand or by a rollback) or released, as the base branch records it.
    Hold(Box<datakit::manifest::Hold>),
}

/// One numbered event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Strictly increasing, persisted, never reused.
    pub sequence: u64,
    /// The lease term of the replica that numbered it (0 for a lone dkd): two replicas
    /// holding an event with the same sequence and term hold the same event.
    pub term: u64,
    pub at: SystemTime,
    pub kind: EventKind,
}

impl Event {
    /// The package the event is about, if any.
    pub fn package(&self) -> Option<&str> {
        match &self.kind {
            EventKind::Promotion(p) => Some(&p.package),
            EventKind::Status { status, .. } => Some(&status.package),
            EventKind::Hold(hold) => Some(&hold.package),
            EventKind::Config { .. } => None,
        }
    }

    /// The environment the event is about, if any.
    pub fn environment(&self) -> Option<&str> {
        match &self.kind {
            EventKind::Promotion(p) => Some(&p.environment),
            EventKind::Status { status, .. } => Some(&status.environment),
            EventKind::Hold(hold) => Some(&hold.environment),
            EventKind::Config { .. } => None,
        }
    }

    /// Whether a watcher filtering on `package` / `environment` (empty = any) wants it.
    /// Configuration events go to watchers without filters.
    pub fn matches(&self, package: &str, environment: &str) -> bool {
        match (self.package(), self.environment()) {
            (Some(p), Some(e)) => {
                (package.is_empty() || p == package) && (environment.is_empty() || e == environment)
            }
            _ => package.is_empty() && environment.is_empty(),
        }
    }
}

/// Why events could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error(
        "resume point {requested} is older than the retained events (the oldest is {oldest}): take a fresh snapshot"
    )]
    Expired { requested: u64, oldest: u64 },
    #[error(
        "resume point {requested} is newer than the newest event ({last}): dkd's event log was reset; take a fresh snapshot"
    )]
    Ahead { requested: u64, last: u64 },
    #[error(transparent)]
    Unavailable(#[from] PromotionError),
}

/// What clients see of the log: the visibility state, the live channel and the progress
/// followers' copiers wait on. Shared with appends running on the blocking pool.
struct Shown {
    visibility: StdMutex<Visibility>,
    /// `visibility`'s newest visible sequence, readable without the lock: every `Status`
    /// call reads it. Stored before the events it reveals are sent.
    visible: AtomicU64,
    live: broadcast::Sender<Arc<Event>>,
    /// (newest stored, newest visible), for the leader's copiers.
    progress: watch::Sender<(u64, u64)>,
}

impl Shown {
    fn lock(&self) -> std::sync::MutexGuard<'_, Visibility> {
        self.visibility
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Records stored `event` and shows what may be shown now.
    fn stored(&self, event: Arc<Event>, leading: bool) {
        let mut visibility = self.lock();
        visibility.stored(event, Instant::now());
        self.reveal_locked(&mut visibility, leading);
    }

    fn reveal(&self, leading: bool) {
        let mut visibility = self.lock();
        self.reveal_locked(&mut visibility, leading);
    }

    fn reveal_locked(&self, visibility: &mut Visibility, leading: bool) {
        let revealed = visibility.reveal(leading, Instant::now());
        self.visible.store(visibility.visible, Ordering::SeqCst);
        for event in revealed {
            // No live subscriber is fine: the event is in the store.
            let _ = self.live.send(event);
        }
        let now = (visibility.stored, visibility.visible);
        self.progress.send_if_modified(|progress| {
            let changed = *progress != now;
            *progress = now;
            changed
        });
    }

    fn visible(&self) -> u64 {
        self.visible.load(Ordering::SeqCst)
    }

    /// Forgets every event (the log was cleared).
    fn clear(&self) {
        let mut visibility = self.lock();
        visibility.clear();
        self.visible.store(visibility.visible, Ordering::SeqCst);
    }
}

/// A follower copying the leader's log, counted until dropped.
pub struct CopyingFollower {
    shown: Arc<Shown>,
    leadership: Arc<Leadership>,
    id: u64,
}

impl CopyingFollower {
    /// The follower holds every event up to `sequence`.
    pub fn acknowledged(&self, sequence: u64) {
        let mut visibility = self.shown.lock();
        visibility.acknowledged(self.id, sequence);
        self.shown
            .reveal_locked(&mut visibility, self.leadership.may_write());
    }
}

impl Drop for CopyingFollower {
    fn drop(&mut self) {
        let mut visibility = self.shown.lock();
        visibility.follower_left(self.id);
        self.shown
            .reveal_locked(&mut visibility, self.leadership.may_write());
    }
}

/// The event log.
pub struct EventLog {
    store: Arc<dyn StateStore>,
    shown: Arc<Shown>,
    /// Events kept in the store; older ones are pruned.
    retention: u64,
    /// Appends are numbered and published in one order: held from before an append until
    /// its event is sent live, even when the append outlives its caller's deadline.
    append: Arc<Mutex<()>>,
    /// Who may number events.
    leadership: Arc<Leadership>,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl EventLog {
    /// The log kept in `store`; every event it holds is visible.
    pub fn new(store: Arc<dyn StateStore>, retention: u64) -> Self {
        let last = store
            .event_bounds()
            .ok()
            .flatten()
            .map_or(0, |(_, last)| last);
        Self {
            store,
            shown: Arc::new(Shown {
                visibility: StdMutex::new(Visibility::starting_at(last)),
                visible: AtomicU64::new(last),
                live: broadcast::Sender::new(LIVE_BUFFER),
                progress: watch::Sender::new((last, last)),
            }),
            retention: retention.max(1),
            append: Arc::new(Mutex::new(())),
            leadership: Arc::new(Leadership::alone()),
        }
    }

    /// This log, numbering events only while `leadership` allows this process to write.
    #[must_use]
    pub fn led_by(mut self, leadership: Arc<Leadership>) -> Self {
        self.leadership = leadership;
        self
    }

    /// Persists `kind` as the next event, then publishes it (both on the blocking pool).
    /// A replica that does not lead records nothing (`None`): the leader records the
    /// change, and this replica copies it from there.
    pub async fn publish(&self, kind: EventKind) -> Result<Option<Arc<Event>>, PromotionError> {
        Ok(self.publish_all(vec![kind]).await?.pop())
    }

    /// Persists `kinds` as the next events, in order and in one store write, then
    /// publishes them (both on the blocking pool). A replica that does not lead records
    /// nothing (an empty list).
    pub async fn publish_all(
        &self,
        kinds: Vec<EventKind>,
    ) -> Result<Vec<Arc<Event>>, PromotionError> {
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        let ordered = tokio::time::timeout(WRITE_DEADLINE, self.append.clone().lock_owned())
            .await
            .map_err(|_| blocking::stalled(self.store.as_ref()))?;
        let Some(term) = self.leadership.writing_term() else {
            return Ok(Vec::new());
        };
        let (shown, retention, at) = (self.shown.clone(), self.retention, super::now());
        let events = blocking::write(&self.store, move |store| {
            let first = store.event_bounds()?.map_or(0, |(_, last)| last) + 1;
            let events: Vec<Event> = (first..)
                .zip(kinds)
                .map(|(sequence, kind)| Event {
                    sequence,
                    term,
                    at,
                    kind,
                })
                .collect();
            store.append_events(&events, retention)?;
            let events: Vec<Arc<Event>> = events.into_iter().map(Arc::new).collect();
            for event in &events {
                shown.stored(event.clone(), true);
            }
            drop(ordered);
            Ok(events)
        })
        .await?;
        Ok(events)
    }

    /// Stores an event of the leader's log as it is numbered there, and shows what the
    /// leader shows (`leader_shows`). `event` must follow the newest one held (`newest`),
    /// or the log must be empty.
    pub async fn mirror(&self, event: Event, leader_shows: u64) -> Result<(), PromotionError> {
        let ordered = tokio::time::timeout(WRITE_DEADLINE, self.append.clone().lock_owned())
            .await
            .map_err(|_| blocking::stalled(self.store.as_ref()))?;
        let (shown, retention, sequence) = (self.shown.clone(), self.retention, event.sequence);
        let leadership = self.leadership.clone();
        let in_order = blocking::write(&self.store, move |store| {
            if let Some((_, last)) = store.event_bounds()?
                && event.sequence != last + 1
            {
                return Ok(Err(last));
            }
            let event = Arc::new(event);
            store.append_event(&event, retention)?;
            shown.lock().leader_shows = Some(leader_shows);
            shown.stored(event, leadership.may_write());
            drop(ordered);
            Ok(Ok(()))
        })
        .await?;
        in_order.map_err(|last| {
            PromotionError::Unavailable(format!(
                "the leader sent event {sequence} after {last}: copying its log afresh"
            ))
        })
    }

    /// The leader now shows events up to `sequence`: so does this replica, of those it
    /// holds.
    pub fn leader_shows(&self, sequence: u64) {
        let mut visibility = self.shown.lock();
        visibility.leader_shows = Some(sequence);
        self.shown
            .reveal_locked(&mut visibility, self.leadership.may_write());
    }

    /// Shows what may be shown now: events a follower too slow to count held back, or, on
    /// a replica that just took the lead, the events it copied but did not show yet.
    pub fn reveal(&self) {
        self.shown.reveal(self.leadership.may_write());
    }

    /// Counts a follower that copies this log from after `after`, until the returned
    /// handle is dropped.
    pub fn follower_copies(&self, after: u64) -> CopyingFollower {
        let id = self.shown.lock().follower_joined(after);
        CopyingFollower {
            shown: self.shown.clone(),
            leadership: self.leadership.clone(),
            id,
        }
    }

    /// (newest stored, newest visible), changing as events are stored and shown.
    pub fn progress(&self) -> watch::Receiver<(u64, u64)> {
        self.shown.progress.subscribe()
    }

    /// Forgets every event, before copying the leader's log afresh (this replica's log
    /// has events the leader does not).
    pub async fn forget_all(&self) -> Result<(), PromotionError> {
        let ordered = tokio::time::timeout(WRITE_DEADLINE, self.append.clone().lock_owned())
            .await
            .map_err(|_| blocking::stalled(self.store.as_ref()))?;
        let shown = self.shown.clone();
        blocking::write(&self.store, move |store| {
            store.clear_events()?;
            shown.clear();
            drop(ordered);
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Waits, at most `patience`, until event `sequence` is visible: a replica's copy of
    /// the leader's log may trail it by a moment. A lone dkd does not wait.
    pub async fn until_holds(&self, sequence: u64, patience: std::time::Duration) {
        if !self.leadership.is_replicated() {
            return;
        }
        let mut progress = self.progress();
        let deadline = tokio::time::Instant::now() + patience;
        while self.shown.visible() < sequence {
            match tokio::time::timeout_at(deadline, progress.changed()).await {
                Ok(Ok(())) => {}
                Err(_) | Ok(Err(_)) => return,
            }
        }
    }

    /// The sequence and term of the newest event held, if any.
    pub fn newest(&self) -> Result<Option<(u64, u64)>, PromotionError> {
        let Some((_, last)) = self.store.event_bounds()? else {
            return Ok(None);
        };
        Ok(self
            .store
            .events_after(last.saturating_sub(1), 1)?
            .first()
            .map(|event| (event.sequence, event.term)))
    }

    /// The term of event `sequence`, if it is held.
    pub fn term_of(&self, sequence: u64) -> Result<Option<u64>, PromotionError> {
        Ok(self
            .store
            .events_after(sequence.saturating_sub(1), 1)?
            .first()
            .filter(|event| event.sequence == sequence)
            .map(|event| event.term))
    }

    /// Visible events from now on, in order. Subscribe before reading the store to miss
    /// nothing.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.shown.live.subscribe()
    }

    // Reads stay on the caller's thread: they touch no disk unless the page is not cached,
    // and they never wait for a flush.

    /// The newest visible sequence number (0 before the first event).
    pub fn last_sequence(&self) -> Result<u64, PromotionError> {
        Ok(self.shown.visible())
    }

    /// Up to `limit` visible events after `sequence`, oldest first; `Expired` when events
    /// after it were already pruned.
    pub fn read_after(&self, sequence: u64, limit: usize) -> Result<Vec<Event>, ReadError> {
        let visible = self.shown.visible();
        let mut events = self.read_stored_after(sequence, limit, visible)?;
        events.retain(|event| event.sequence <= visible);
        Ok(events)
    }

    /// Up to `limit` stored events after `sequence`, visible or not (for followers copying
    /// the log); `Expired` when events after it were already pruned.
    pub fn read_stored_after(
        &self,
        sequence: u64,
        limit: usize,
        newest: u64,
    ) -> Result<Vec<Event>, ReadError> {
        let oldest = self
            .store
            .event_bounds()
            .map_err(PromotionError::from)?
            .map_or(1, |(oldest, _)| oldest);
        if sequence > newest {
            return Err(ReadError::Ahead {
                requested: sequence,
                last: newest,
            });
        }
        if sequence.saturating_add(1) < oldest {
            return Err(ReadError::Expired {
                requested: sequence,
                oldest,
            });
        }
        Ok(self
            .store
            .events_after(sequence, limit)
            .map_err(PromotionError::from)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_publishes_go_live_in_the_order_they_were_numbered() {
        let log = Arc::new(EventLog::new(Arc::new(MemoryStore::default()), 1000));
        let mut live = log.subscribe();
        let publishers: Vec<_> = (0..50)
            .map(|i| {
                let log = log.clone();
                tokio::spawn(async move {
                    let kind = EventKind::Config {
                        revision: format!("r{i}"),
                        problems: Vec::new(),
                    };
                    log.publish(kind).await
                })
            })
            .collect();
        for publisher in publishers {
            publisher.await.expect("joined").expect("published");
        }
        let mut sequences = Vec::new();
        while let Ok(event) = live.try_recv() {
            sequences.push(event.sequence);
        }
        assert_eq!(sequences, (1..=50).collect::<Vec<u64>>());
    }
}
