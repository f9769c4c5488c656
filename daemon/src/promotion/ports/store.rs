//! The `StateStore` port: dkd's own durable state, a cache of the deployment repository and
//! the forge plus the engine's bookkeeping; and the embedded forge's change-request records
//! (`ChangeRequestStore`). Implemented in `store/` (sled, in-memory).

use std::time::{Duration, SystemTime};

use super::PackageSync;
use crate::promotion::{Approval, Check, ConfigSource, Event, HealthSpan, Promotion};

/// What a store operation can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("state database error: {0}")]
    Database(String),
    #[error("state record {key} is unreadable: {reason}")]
    Corrupt { key: String, reason: String },
    /// The store's disk is (nearly) full; the write was refused before it began.
    #[error(
        "no space left on {path} ({} free, dkd keeps {} in reserve): free some space; dkd resumes by itself",
        mebibytes(*available),
        mebibytes(*reserve)
    )]
    DiskFull {
        path: String,
        available: u64,
        reserve: u64,
    },
    /// A write did not return in time; it may still finish in the background.
    #[error(
        "writing {path} did not finish within {}: is the disk full or stuck?",
        humantime::format_duration(*after)
    )]
    Stalled { path: String, after: Duration },
}

/// `bytes` in MiB, one decimal.
fn mebibytes(bytes: u64) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    format!("{mib:.1} MiB")
}

/// A batch of status changes saved at once (`StateStore::save_status_changes`).
#[derive(Debug, Default, Clone)]
pub struct StatusChanges {
    /// Statuses to save (replacing what was saved for their environment and package).
    pub statuses: Vec<PackageSync>,
    /// Health spans to save.
    pub spans: Vec<HealthSpan>,
    /// (environment, package) no longer deployed: their status and health span go.
    pub gone: Vec<(String, String)>,
}

/// Where a store keeps its data, for messages that must name the disk.
pub trait StoreLocation: Send + Sync + 'static {
    /// A path (or a word, for stores that keep nothing on disk).
    fn location(&self) -> String;
}

/// dkd's durable state. Every write is durable when the call returns.
///
/// The calls block (a durable write waits for the disk): async code makes writes through
/// `ports::blocking::write`, never on the async workers.
pub trait StateStore: StoreLocation {
    /// The last configuration accepted from the base branch, if any.
    fn load_config(&self) -> Result<Option<ConfigSource>, StoreError>;

    /// Replaces the cached configuration.
    fn save_config(&self, source: &ConfigSource) -> Result<(), StoreError>;

    /// A new, never reused promotion number (1, 2, …).
    fn next_promotion_number(&self) -> Result<u64, StoreError>;

    /// Makes every later `next_promotion_number` return more than `number` (ids the
    /// deployment repository already knows are never handed out again).
    fn raise_promotion_counter(&self, number: u64) -> Result<(), StoreError>;

    /// Saves (inserts or replaces) a promotion, and keeps the indexes of unfinished
    /// promotions and of promotions by package in step with it, in one atomic write (a
    /// replica's mirror saves through here too). A promotion's id, package and
    /// environment never change once saved.
    fn save_promotion(&self, promotion: &Promotion) -> Result<(), StoreError>;

    /// One promotion by id.
    fn load_promotion(&self, id: &str) -> Result<Option<Promotion>, StoreError>;

    /// Every promotion, oldest first. Decodes every record ever saved: for verification,
    /// rebuilds and listings across all packages only; lookups use the indexed reads below.
    fn load_promotions(&self) -> Result<Vec<Promotion>, StoreError>;

    /// The promotions not yet finished (`!state.is_terminal()`), oldest first, read through
    /// an index that `save_promotion` keeps (never a scan of every record).
    fn load_unfinished_promotions(&self) -> Result<Vec<Promotion>, StoreError>;

    /// Every promotion (and store change) whose `package` is `package`, in any environment,
    /// oldest first, read through an index that `save_promotion` keeps.
    fn load_package_promotions(&self, package: &str) -> Result<Vec<Promotion>, StoreError>;

    /// The saved status of one package in one environment.
    fn load_status(
        &self,
        environment: &str,
        package: &str,
    ) -> Result<Option<PackageSync>, StoreError>;

    /// Hands every saved status to `each`, one at a time, so a big home is never held
    /// decoded whole. A record the store cannot read is dropped with a warning, not
    /// returned as an error: a status is what the cluster reports, and it is observed and
    /// saved again.
    fn each_status(&self, each: &mut dyn FnMut(PackageSync)) -> Result<(), StoreError>;

    /// The health span of one package in one environment, if one was recorded.
    fn load_health_span(
        &self,
        environment: &str,
        package: &str,
    ) -> Result<Option<HealthSpan>, StoreError>;

    /// Hands every saved health span to `each`, one at a time, as `each_status` does: an
    /// unreadable one is dropped (its package's soak starts again, never ends early).
    fn each_health_span(&self, each: &mut dyn FnMut(HealthSpan)) -> Result<(), StoreError>;

    /// Saves a batch of what runs where at once (one flush in a store that flushes): the
    /// statuses and health spans of `changes` (each replacing what was saved for its
    /// environment and package), and forgets its `gone` packages' status and health span.
    fn save_status_changes(&self, changes: &StatusChanges) -> Result<(), StoreError>;

    /// Stores `events` (in sequence order, above every stored one) at once, and prunes all
    /// but the newest `retention`.
    fn append_events(&self, events: &[Event], retention: u64) -> Result<(), StoreError>;

    /// Stores `event` after the newest one, as `append_events` does.
    fn append_event(&self, event: &Event, retention: u64) -> Result<(), StoreError> {
        self.append_events(std::slice::from_ref(event), retention)
    }

    /// Forgets every event (a replica about to copy the leader's log afresh).
    fn clear_events(&self) -> Result<(), StoreError>;

    /// The oldest and newest retained sequence numbers, `None` when there are none.
    fn event_bounds(&self) -> Result<Option<(u64, u64)>, StoreError>;

    /// Up to `limit` events with a sequence above `sequence`, oldest first.
    fn events_after(&self, sequence: u64, limit: usize) -> Result<Vec<Event>, StoreError>;
}

/// Where an embedded change request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalChangeState {
    Open,
    Merged { commit: String },
    Closed,
}

/// One change request of the embedded forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalChange {
    /// The branch name, which is also the change request's id.
    pub id: String,
    pub promotion_id: String,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    /// Files the change writes (replayed on a rebase).
    pub paths: Vec<String>,
    pub commit_message: String,
    pub state: LocalChangeState,
    pub approvals: Vec<Approval>,
    pub checks: Vec<Check>,
    pub created_at: SystemTime,
}

/// Where the embedded forge keeps its change-request records.
/// Blocking like `StateStore`: write through `ports::blocking::write`.
pub trait ChangeRequestStore: StoreLocation {
    fn load_change(&self, id: &str) -> Result<Option<LocalChange>, StoreError>;
    /// Durable when it returns.
    fn save_change(&self, change: &LocalChange) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_names_the_path_the_free_space_and_what_to_do() {
        let full = StoreError::DiskFull {
            path: "/home/me/.datakit/state.sled".into(),
            available: 3_250_000,
            reserve: 8 * 1024 * 1024,
        };
        assert_eq!(
            full.to_string(),
            "no space left on /home/me/.datakit/state.sled (3.1 MiB free, dkd keeps 8.0 MiB in reserve): free some space; dkd resumes by itself"
        );
    }
}
