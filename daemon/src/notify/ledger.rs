//! `DK_HOME/notifications.json`: per webhook, the last event sequence handled and how its
//! deliveries went — so a restarted dkd neither re-sends nor skips, and `dk notifications
//! status` can tell. Replaced atomically (temporary file, fsync, rename).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use serde::{Deserialize, Serialize};

use super::notice::Seen;

/// What is remembered about one webhook.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookRecord {
    /// Every event up to this sequence was handled (delivered, not wanted, or given up).
    pub handled_sequence: u64,
    /// When the event at `handled_sequence` was written (ms since the epoch): a different
    /// event under that number means the event log was reset.
    pub handled_event_at_ms: u64,
    /// The last event delivered: its sequence and name.
    pub delivered_sequence: u64,
    pub delivered_event: String,
    /// When the last delivery succeeded (ms since the epoch, 0 never).
    pub last_success_ms: u64,
    pub consecutive_failures: u64,
    /// The last failure, kept after a later success.
    pub last_error: String,
    /// Something the operator should know (events skipped after a reset).
    pub notice: String,
    /// When the webhook last started from the newest event (new, or after a reset; ms since
    /// the epoch): promotions opened before then are not announced.
    #[serde(default)]
    pub since_ms: u64,
    /// Where each promotion was last seen (see `notice::Seen`).
    pub seen: Seen,
}

/// Why the ledger could not be written.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// The ledger, shared by every webhook's task and the status RPC.
#[derive(Debug, Clone)]
pub struct Ledger {
    path: PathBuf,
    records: Arc<Mutex<BTreeMap<String, WebhookRecord>>>,
    /// Writes one at a time, in order.
    writing: Arc<tokio::sync::Mutex<()>>,
}

impl Ledger {
    /// Reads `path`; a missing file is empty, an unreadable one is logged and started over.
    pub fn open(path: &Path) -> Self {
        let records = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
                tracing::warn!(path = %path.display(), %error, "notification ledger unreadable; webhooks start from the newest event");
                BTreeMap::new()
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot read the notification ledger; webhooks start from the newest event");
                BTreeMap::new()
            }
        };
        Self {
            path: path.to_owned(),
            records: Arc::new(Mutex::new(records)),
            writing: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// The record of `name`, if it has one.
    pub fn get(&self, name: &str) -> Option<WebhookRecord> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Replaces the record of `name` and writes the ledger.
    pub async fn save(&self, name: &str, record: WebhookRecord) -> Result<(), LedgerError> {
        let _writing = self.writing.lock().await;
        let bytes = {
            let mut records = self
                .records
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            records.insert(name.to_owned(), record);
            serde_json::to_vec_pretty(&*records).unwrap_or_default()
        };
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || datakit::files::write_atomically(&path, &bytes))
            .await
            .unwrap_or_else(|error| Err(std::io::Error::other(error)))
            .map_err(|source| LedgerError::Write {
                path: self.path.display().to_string(),
                source,
            })
    }
}
