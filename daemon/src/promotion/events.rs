//! The event log: every change clients can watch — promotion states, package status,
//! configuration — numbered, written to the state store first and then published live.
//! A reader that falls behind re-reads the store; nothing is dropped silently.

use std::{
    sync::{Arc, Mutex},
    time::SystemTime,
};

use tokio::sync::broadcast;

use super::{ConfigProblem, Promotion, PromotionError};
use crate::promotion::ports::{PackageSync, StateStore};

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
}

/// One numbered event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Strictly increasing, persisted, never reused.
    pub sequence: u64,
    pub at: SystemTime,
    pub kind: EventKind,
}

impl Event {
    /// The package the event is about, if any.
    pub fn package(&self) -> Option<&str> {
        match &self.kind {
            EventKind::Promotion(p) => Some(&p.package),
            EventKind::Status { status, .. } => Some(&status.package),
            EventKind::Config { .. } => None,
        }
    }

    /// The environment the event is about, if any.
    pub fn environment(&self) -> Option<&str> {
        match &self.kind {
            EventKind::Promotion(p) => Some(&p.environment),
            EventKind::Status { status, .. } => Some(&status.environment),
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

/// The event log.
pub struct EventLog {
    store: Arc<dyn StateStore>,
    live: broadcast::Sender<Arc<Event>>,
    /// Events kept in the store; older ones are pruned.
    retention: u64,
    /// Appends are numbered and published in one order.
    append: Mutex<()>,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl EventLog {
    pub fn new(store: Arc<dyn StateStore>, retention: u64) -> Self {
        Self {
            store,
            live: broadcast::Sender::new(LIVE_BUFFER),
            retention: retention.max(1),
            append: Mutex::new(()),
        }
    }

    /// Persists `kind` as the next event, then publishes it.
    pub fn publish(&self, kind: EventKind) -> Result<Arc<Event>, PromotionError> {
        let _ordered = self
            .append
            .lock()
            .map_err(|_| PromotionError::Unavailable("event log poisoned".into()))?;
        let event = self
            .store
            .append_event(kind, super::now(), self.retention)?;
        let event = Arc::new(event);
        // No live subscriber is fine: the event is in the store.
        let _ = self.live.send(event.clone());
        Ok(event)
    }

    /// Live events from now on. Subscribe before reading the store to miss nothing.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.live.subscribe()
    }

    /// The newest sequence number (0 before the first event).
    pub fn last_sequence(&self) -> Result<u64, PromotionError> {
        Ok(self.store.event_bounds()?.map_or(0, |(_, last)| last))
    }

    /// Up to `limit` events after `sequence`, oldest first; `Expired` when events after it
    /// were already pruned.
    pub fn read_after(&self, sequence: u64, limit: usize) -> Result<Vec<Event>, ReadError> {
        let (oldest, last) = self
            .store
            .event_bounds()
            .map_err(PromotionError::from)?
            .unwrap_or((1, 0));
        if sequence > last {
            return Err(ReadError::Ahead {
                requested: sequence,
                last,
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
