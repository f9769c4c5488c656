//! The `StateStore` on sled. A database that cannot be opened, or that carries another
//! schema version, is moved aside (never deleted) and a fresh one is created: everything
//! cached in it is rebuilt from the deployment repository. Writes are refused while the
//! disk is nearly full, so sled never meets ENOSPC.
//!
//! Promotions carry two indexes beside their records — the unfinished ones, and every one
//! by package — written in the same sled transaction as the record, so a crash never
//! leaves them apart. A database from before the indexes existed (no `promotion-indexes`
//! mark) gets them at open: they are checked against the records and any that differs is
//! rebuilt, then the mark is set (the schema version stays).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use serde::{Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};
use sled::{
    Transactional,
    transaction::{ConflictableTransactionError, TransactionError},
};

use super::records::{
    ConfigRecord, EventRecord, HealthSpanRecord, LocalChangeRecord, PromotionRecord,
    SCHEMA_VERSION, StatusRecord,
};
use crate::promotion::{
    ConfigSource, Event, HealthSpan, Promotion,
    ports::{
        ChangeRequestStore, LocalChange, PackageSync, StateStore, StatusChanges, StoreError,
        StoreLocation,
    },
};

const SCHEMA_KEY: &[u8] = b"schema";
const CONFIG_KEY: &[u8] = b"config";
const PROMOTION_COUNTER_KEY: &[u8] = b"promotion-counter";
/// Set once the promotion indexes match the records (from then on every save keeps them).
const PROMOTION_INDEXES_KEY: &[u8] = b"promotion-indexes";

/// Free space every write leaves on the database's disk. sled 0.34 can wedge itself after
/// an I/O error in its log (ENOSPC included: later flushes hang until a restart, even once
/// space returns), so a write is refused before it starts while less than this is free.
/// 8 MiB holds several of sled's 512 KiB log segments and the segment rewrites its
/// background cleaner may do.
const FREE_SPACE_RESERVE: u64 = 8 * 1024 * 1024;
/// sled's page cache. dkd serves reads from its own maps, but sled's default (1 GiB) kept
/// the pages read while loading a home at start: on 100,000 packages × 3 environments,
/// dkd held 700 MB when it first answered and 1.12 GB after its first pass; with this,
/// 450 MB and 690 MB (starting takes about 0.5 s longer, reading pages again). Since dkd
/// reads most records once at start and then serves statuses from its own board, a small
/// cache holds what is read again (promotions, recent events): 8 MiB, which left dkd
/// 8 MB smaller on that home than 16 MiB did, with its first sync pass as fast
/// (docs/benchmarks.md, seventh and eighth rounds).
const CACHE_BYTES: u64 = 8 * 1024 * 1024;
/// How often sled's own flusher thread wakes. dkd makes every write durable itself
/// (`flush` after each), so that thread only writes out what is buffered and cleans
/// segments. Each round costs a wake-up and an fsync, and it rewrites pages even when dkd
/// wrote nothing: at sled's default of 500 ms, its threads used 0.4 % of a core on an idle
/// 100,000-package home; every 2 s, 0.07-0.17 % (docs/benchmarks.md, ninth round).
const SLED_FLUSH_EVERY_MS: u64 = 2_000;

/// dkd's state in a sled database.
#[derive(Debug, Clone)]
pub struct SledStore {
    /// The database folder (named in errors; its disk is the one the guard watches).
    path: PathBuf,
    db: sled::Db,
    meta: sled::Tree,
    /// Promotion records, keyed by their creation sequence (big-endian) so they list in order.
    promotions: sled::Tree,
    /// Promotion id → creation sequence key.
    promotion_ids: sled::Tree,
    /// Index: creation sequence key → id, of the promotions not yet finished.
    unfinished_promotions: sled::Tree,
    /// Index: `<package>\0<creation sequence key>` → id, of every promotion.
    package_promotions: sled::Tree,
    /// Change requests of the embedded forge, by id.
    changes: sled::Tree,
    /// Package statuses, keyed `<environment>/<package>`.
    statuses: sled::Tree,
    /// How long each package's version has been Healthy, keyed `<environment>/<package>`.
    health_spans: sled::Tree,
    /// The event log, keyed by sequence number (big-endian, so it iterates in order).
    events: sled::Tree,
    /// Why the database was replaced at start, if it was.
    notice: Option<String>,
}

fn database_error(error: impl std::fmt::Display) -> StoreError {
    StoreError::Database(error.to_string())
}

/// Bytes of the SHA-256 prefix every value carries, so a garbled value is detected rather
/// than decoded into something else.
const CHECKSUM_LEN: usize = 8;

fn checksum(bytes: &[u8]) -> [u8; CHECKSUM_LEN] {
    let digest = Sha256::digest(bytes);
    let mut prefix = [0; CHECKSUM_LEN];
    prefix.copy_from_slice(&digest[..CHECKSUM_LEN]);
    prefix
}

fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, StoreError> {
    let json = serde_json::to_vec(record).map_err(database_error)?;
    let mut value = checksum(&json).to_vec();
    value.extend_from_slice(&json);
    Ok(value)
}

/// A saved status: its record, checked and decoded.
fn decode_status(key: &str, bytes: &[u8]) -> Result<PackageSync, StoreError> {
    let record: StatusRecord = decode(key, bytes)?;
    PackageSync::try_from(record).map_err(|reason| StoreError::Corrupt {
        key: key.to_owned(),
        reason,
    })
}

/// Forgets a cached record that cannot be read (what it held is observed and saved
/// again), saying so.
fn drop_unreadable(tree: &sled::Tree, key: &[u8], error: &StoreError) {
    tracing::warn!(%error, "dropped an unreadable record; it is observed and saved again");
    if let Err(error) = tree.remove(key) {
        tracing::warn!(%error, "cannot drop the unreadable record");
    }
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        key: key.to_owned(),
        reason,
    };
    let (prefix, json) = bytes
        .split_at_checked(CHECKSUM_LEN)
        .ok_or_else(|| corrupt("shorter than its checksum".into()))?;
    if prefix != checksum(json) {
        return Err(corrupt("checksum mismatch".into()));
    }
    serde_json::from_slice(json).map_err(|e| corrupt(e.to_string()))
}

/// Why a database could not be opened.
enum OpenFailure {
    /// Its contents cannot be used (corrupt, another schema, not a database at all):
    /// set it aside and start afresh.
    Unreadable(String),
    /// It may be fine but cannot be opened now (locked, no permission): never touch it.
    Unavailable(String),
}

fn classify(error: sled::Error) -> OpenFailure {
    use std::io::ErrorKind;
    match error {
        // sled reports its directory lock being held as an `Other` error with this text.
        // A full disk, a quota or a read-only mount say nothing about the contents: the
        // database must not be set aside for them.
        sled::Error::Io(io)
            if matches!(
                io.kind(),
                ErrorKind::WouldBlock
                    | ErrorKind::PermissionDenied
                    | ErrorKind::StorageFull
                    | ErrorKind::QuotaExceeded
                    | ErrorKind::ReadOnlyFilesystem
            ) || io.to_string().contains("could not acquire lock") =>
        {
            OpenFailure::Unavailable(io.to_string())
        }
        other => OpenFailure::Unreadable(other.to_string()),
    }
}

impl SledStore {
    /// Opens (or creates) the database at `path`. One whose contents cannot be used — it
    /// does not open, carries another schema, a record fails its checksum, or it hands out
    /// fewer promotion numbers than its witness file says it did (sled lost records without
    /// an error) — is moved aside (never deleted) and a fresh one is created, with a
    /// `notice` saying so; one that is merely locked or forbidden is an error and is never
    /// touched. A fresh database continues the witness's numbering.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let existed = path.exists();
        let reason = match Self::open_checked(path) {
            Ok(store) if !existed => {
                store.continue_numbering()?;
                return Ok(store);
            }
            Ok(store) => match store.verify() {
                Ok(()) => return Ok(store),
                Err(error) => error.to_string(),
            },
            Err(OpenFailure::Unavailable(reason)) => {
                return Err(StoreError::Database(format!(
                    "cannot open {}: {reason}",
                    path.display()
                )));
            }
            Err(OpenFailure::Unreadable(reason)) => reason,
        };
        let aside = set_aside(path)?;
        let notice = format!(
            "the state database could not be used ({reason}): moved to {}; promotions are rebuilt from the deployment repository",
            aside.display()
        );
        tracing::warn!(database = %path.display(), moved_to = %aside.display(), %reason,
            "state database unusable; starting a fresh one");
        let mut store = Self::open_checked(path).map_err(|failure| match failure {
            OpenFailure::Unreadable(reason) | OpenFailure::Unavailable(reason) => {
                StoreError::Database(reason)
            }
        })?;
        store.continue_numbering()?;
        store.notice = Some(notice);
        Ok(store)
    }

    /// The witness of the promotion numbers handed out: a file beside the database that
    /// sled cannot lose with it.
    fn witness(&self) -> PathBuf {
        let mut witness = self.path.as_os_str().to_owned();
        witness.push(".witness");
        PathBuf::from(witness)
    }

    /// The number the witness says was handed out last (0 without one).
    fn witnessed(&self) -> u64 {
        std::fs::read_to_string(self.witness())
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Continues the witness's numbering in a fresh database.
    fn continue_numbering(&self) -> Result<(), StoreError> {
        match self.witnessed() {
            0 => Ok(()),
            number => self.raise_promotion_counter(number),
        }
    }

    /// The promotion counter as stored (0 before the first).
    fn counter(&self) -> Result<u64, StoreError> {
        Ok(self
            .meta
            .get(PROMOTION_COUNTER_KEY)
            .map_err(database_error)?
            .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// Why the database was replaced at start, if it was.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// Reads and checks every record (a few milliseconds per thousand) but the statuses
    /// and health spans: the status board reads those after dkd answers, and one that fails
    /// its check is dropped and observed again (`each_status`).
    fn verify(&self) -> Result<(), StoreError> {
        let (counted, witnessed) = (self.counter()?, self.witnessed());
        if counted < witnessed {
            return Err(StoreError::Corrupt {
                key: "promotion-counter".into(),
                reason: format!(
                    "it had handed out promotion numbers up to {witnessed} but remembers only {counted}: records were lost"
                ),
            });
        }
        self.load_config()?;
        self.verify_promotion_indexes()?;
        for entry in &self.changes {
            let (key, bytes) = entry.map_err(database_error)?;
            let key = String::from_utf8_lossy(&key).into_owned();
            let record: LocalChangeRecord = decode(&key, &bytes)?;
            LocalChange::try_from(record).map_err(|reason| StoreError::Corrupt { key, reason })?;
        }
        for entry in &self.events {
            Self::decode_event(&entry.map_err(database_error)?.1)?;
        }
        Ok(())
    }

    fn open_checked(path: &Path) -> Result<Self, OpenFailure> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .flush_every_ms(Some(SLED_FLUSH_EVERY_MS))
            .open()
            .map_err(classify)?;
        let tree = |name: &str| db.open_tree(name).map_err(classify);
        let meta = tree("meta")?;
        match meta.get(SCHEMA_KEY).map_err(classify)? {
            Some(stored) if stored.as_ref() == SCHEMA_VERSION.to_be_bytes() => {}
            Some(stored) => {
                return Err(OpenFailure::Unreadable(format!(
                    "schema {stored:?} is not {SCHEMA_VERSION}"
                )));
            }
            None => {
                meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())
                    .map_err(classify)?;
                // A new database: no records, so its (empty) indexes match them.
                meta.insert(PROMOTION_INDEXES_KEY, &[1]).map_err(classify)?;
                db.flush().map_err(classify)?;
            }
        }
        Ok(Self {
            path: path.to_owned(),
            promotions: tree("promotions")?,
            promotion_ids: tree("promotion-ids")?,
            unfinished_promotions: tree("unfinished-promotions")?,
            package_promotions: tree("package-promotions")?,
            changes: tree("changes")?,
            statuses: tree("statuses")?,
            health_spans: tree("health-spans")?,
            events: tree("events")?,
            db,
            meta,
            notice: None,
        })
    }

    /// Makes every write so far durable.
    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(drop).map_err(database_error)
    }

    /// Refuses a write while the database's disk has less than `FREE_SPACE_RESERVE` free.
    fn ensure_room(&self) -> Result<(), StoreError> {
        let stats = rustix::fs::statvfs(&self.path).map_err(|error| {
            StoreError::Database(format!(
                "cannot tell the free space of {}: {error}",
                self.path.display()
            ))
        })?;
        let available = stats.f_bavail.saturating_mul(stats.f_frsize);
        if available < FREE_SPACE_RESERVE {
            return Err(StoreError::DiskFull {
                path: self.location(),
                available,
                reserve: FREE_SPACE_RESERVE,
            });
        }
        Ok(())
    }
}

impl StoreLocation for SledStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }
}

/// Renames an unreadable database out of the way and returns where it went.
fn set_aside(path: &Path) -> Result<PathBuf, StoreError> {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    // A name nothing has yet: several set-asides in one second each keep their own.
    let aside = (0..)
        .map(|n| {
            let mut aside = path.as_os_str().to_owned();
            aside.push(format!(".unreadable-{stamp}"));
            if n > 0 {
                aside.push(format!("-{n}"));
            }
            PathBuf::from(aside)
        })
        .find(|candidate| !candidate.exists())
        .unwrap_or_else(|| path.with_extension("unreadable"));
    if path.exists() {
        std::fs::rename(path, &aside)
            .map_err(|e| StoreError::Database(format!("cannot move {}: {e}", path.display())))?;
    }
    Ok(aside)
}

impl StateStore for SledStore {
    fn load_config(&self) -> Result<Option<ConfigSource>, StoreError> {
        let Some(bytes) = self.meta.get(CONFIG_KEY).map_err(database_error)? else {
            return Ok(None);
        };
        Ok(Some(decode::<ConfigRecord>("config", &bytes)?.into()))
    }

    fn save_config(&self, source: &ConfigSource) -> Result<(), StoreError> {
        self.ensure_room()?;
        self.meta
            .insert(CONFIG_KEY, encode(&ConfigRecord::from(source))?)
            .map_err(database_error)?;
        self.flush()
    }

    fn next_promotion_number(&self) -> Result<u64, StoreError> {
        self.ensure_room()?;
        let next = self
            .meta
            .update_and_fetch(PROMOTION_COUNTER_KEY, |old| {
                let current = old
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map_or(0, u64::from_be_bytes);
                Some((current + 1).to_be_bytes().to_vec())
            })
            .map_err(database_error)?
            .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| StoreError::Corrupt {
                key: "promotion-counter".into(),
                reason: "not a number".into(),
            })?;
        self.flush()?;
        datakit::files::write_atomically(&self.witness(), format!("{next}\n").as_bytes()).map_err(
            |error| {
                StoreError::Database(format!(
                    "cannot write {}: {error}",
                    self.witness().display()
                ))
            },
        )?;
        Ok(next)
    }

    fn raise_promotion_counter(&self, number: u64) -> Result<(), StoreError> {
        self.meta
            .fetch_and_update(PROMOTION_COUNTER_KEY, |old| {
                let current = old
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map_or(0, u64::from_be_bytes);
                Some(current.max(number).to_be_bytes().to_vec())
            })
            .map_err(database_error)?;
        self.flush()
    }

    fn save_promotion(&self, promotion: &Promotion) -> Result<(), StoreError> {
        self.ensure_room()?;
        let bytes = encode(&PromotionRecord::from(promotion))?;
        let id = promotion.id.as_bytes();
        let finished = promotion.state.is_terminal();
        let trees = (
            &self.promotions,
            &self.promotion_ids,
            &self.unfinished_promotions,
            &self.package_promotions,
        );
        trees
            .transaction(|(promotions, ids, unfinished, by_package)| {
                let key = match ids.get(id)? {
                    Some(key) => key.to_vec(),
                    None => {
                        let key = ids.generate_id()?.to_be_bytes().to_vec();
                        ids.insert(id, key.as_slice())?;
                        key
                    }
                };
                promotions.insert(key.as_slice(), bytes.as_slice())?;
                by_package.insert(package_index_key(&promotion.package, &key), id)?;
                if finished {
                    unfinished.remove(key.as_slice())?;
                } else {
                    unfinished.insert(key.as_slice(), id)?;
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(|error| match error {
                TransactionError::Abort(error) => error,
                TransactionError::Storage(error) => database_error(error),
            })?;
        self.flush()
    }

    fn load_promotion(&self, id: &str) -> Result<Option<Promotion>, StoreError> {
        let Some(key) = self.promotion_ids.get(id).map_err(database_error)? else {
            return Ok(None);
        };
        let Some(bytes) = self.promotions.get(key).map_err(database_error)? else {
            return Ok(None);
        };
        let record: PromotionRecord = decode(id, &bytes)?;
        Promotion::try_from(record)
            .map(Some)
            .map_err(|reason| StoreError::Corrupt {
                key: id.to_owned(),
                reason,
            })
    }

    fn load_promotions(&self) -> Result<Vec<Promotion>, StoreError> {
        self.promotions
            .iter()
            .map(|entry| decode_promotion(&entry.map_err(database_error)?.1))
            .collect()
    }

    fn load_unfinished_promotions(&self) -> Result<Vec<Promotion>, StoreError> {
        self.unfinished_promotions
            .iter()
            .map(|entry| self.indexed_promotion(&entry.map_err(database_error)?.0))
            .collect()
    }

    fn load_package_promotions(&self, package: &str) -> Result<Vec<Promotion>, StoreError> {
        let prefix = package_index_key(package, &[]);
        self.package_promotions
            .scan_prefix(&prefix)
            .map(|entry| {
                let (index_key, _) = entry.map_err(database_error)?;
                self.indexed_promotion(index_key.get(prefix.len()..).unwrap_or_default())
            })
            .collect()
    }

    fn load_status(
        &self,
        environment: &str,
        package: &str,
    ) -> Result<Option<PackageSync>, StoreError> {
        let key = status_key(environment, package);
        self.statuses
            .get(key.as_bytes())
            .map_err(database_error)?
            .map(|bytes| decode_status(&key, &bytes))
            .transpose()
    }

    fn each_status(&self, each: &mut dyn FnMut(PackageSync)) -> Result<(), StoreError> {
        for entry in &self.statuses {
            let (key, bytes) = entry.map_err(database_error)?;
            match decode_status(&String::from_utf8_lossy(&key), &bytes) {
                Ok(status) => each(status),
                Err(error) => drop_unreadable(&self.statuses, &key, &error),
            }
        }
        Ok(())
    }

    fn load_health_span(
        &self,
        environment: &str,
        package: &str,
    ) -> Result<Option<HealthSpan>, StoreError> {
        let key = status_key(environment, package);
        self.health_spans
            .get(key.as_bytes())
            .map_err(database_error)?
            .map(|bytes| decode::<HealthSpanRecord>(&key, &bytes).map(HealthSpan::from))
            .transpose()
    }

    fn each_health_span(&self, each: &mut dyn FnMut(HealthSpan)) -> Result<(), StoreError> {
        for entry in &self.health_spans {
            let (key, bytes) = entry.map_err(database_error)?;
            match decode::<HealthSpanRecord>(&String::from_utf8_lossy(&key), &bytes) {
                Ok(span) => each(HealthSpan::from(span)),
                Err(error) => drop_unreadable(&self.health_spans, &key, &error),
            }
        }
        Ok(())
    }

    fn save_status_changes(&self, changes: &StatusChanges) -> Result<(), StoreError> {
        self.ensure_room()?;
        for span in &changes.spans {
            let key = status_key(&span.environment, &span.package);
            self.health_spans
                .insert(key.as_bytes(), encode(&HealthSpanRecord::from(span))?)
                .map_err(database_error)?;
        }
        for status in &changes.statuses {
            let key = status_key(&status.environment, &status.package);
            self.statuses
                .insert(key.as_bytes(), encode(&StatusRecord::from(status))?)
                .map_err(database_error)?;
        }
        for (environment, package) in &changes.gone {
            let key = status_key(environment, package);
            self.health_spans
                .remove(key.as_bytes())
                .map_err(database_error)?;
            self.statuses
                .remove(key.as_bytes())
                .map_err(database_error)?;
        }
        self.flush()
    }

    fn append_events(&self, events: &[Event], retention: u64) -> Result<(), StoreError> {
        let Some(newest) = events.last() else {
            return Ok(());
        };
        self.ensure_room()?;
        for event in events {
            self.events
                .insert(
                    event.sequence.to_be_bytes(),
                    encode(&EventRecord::from(event))?,
                )
                .map_err(database_error)?;
        }
        let oldest_kept = newest
            .sequence
            .saturating_sub(retention.saturating_sub(1))
            .max(1);
        while let Some((key, _)) = self.events.first().map_err(database_error)? {
            if sequence_of(&key)? >= oldest_kept {
                break;
            }
            self.events.remove(key).map_err(database_error)?;
        }
        self.flush()
    }

    fn clear_events(&self) -> Result<(), StoreError> {
        self.events.clear().map_err(database_error)?;
        self.flush()
    }

    fn event_bounds(&self) -> Result<Option<(u64, u64)>, StoreError> {
        let first = self.events.first().map_err(database_error)?;
        let last = self.events.last().map_err(database_error)?;
        match (first, last) {
            (Some((first, _)), Some((last, _))) => {
                Ok(Some((sequence_of(&first)?, sequence_of(&last)?)))
            }
            _ => Ok(None),
        }
    }

    fn events_after(&self, sequence: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.events
            .range(sequence.saturating_add(1).to_be_bytes()..)
            .take(limit)
            .map(|entry| Self::decode_event(&entry.map_err(database_error)?.1))
            .collect()
    }
}

/// The package index's key of the promotion of `package` stored under `key` (with an empty
/// `key`: the prefix of every promotion of `package`). Names never contain a NUL.
fn package_index_key(package: &str, key: &[u8]) -> Vec<u8> {
    let mut index_key = Vec::with_capacity(package.len() + 1 + key.len());
    index_key.extend_from_slice(package.as_bytes());
    index_key.push(0);
    index_key.extend_from_slice(key);
    index_key
}

fn decode_promotion(bytes: &[u8]) -> Result<Promotion, StoreError> {
    let record: PromotionRecord = decode("promotion", bytes)?;
    let id = record.id.clone();
    Promotion::try_from(record).map_err(|reason| StoreError::Corrupt { key: id, reason })
}

/// The promotion indexes as the records say they should be.
#[derive(Default)]
struct PromotionIndexes {
    ids: BTreeMap<Vec<u8>, Vec<u8>>,
    unfinished: BTreeMap<Vec<u8>, Vec<u8>>,
    by_package: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// Whether `tree` holds exactly `wanted`.
fn tree_holds(tree: &sled::Tree, wanted: &BTreeMap<Vec<u8>, Vec<u8>>) -> Result<bool, StoreError> {
    let mut held = tree.iter();
    for (key, value) in wanted {
        match held.next().transpose().map_err(database_error)? {
            Some((k, v)) if k.as_ref() == key.as_slice() && v.as_ref() == value.as_slice() => {}
            _ => return Ok(false),
        }
    }
    Ok(held.next().is_none())
}

impl SledStore {
    /// The promotion an index names by its record key.
    fn indexed_promotion(&self, key: &[u8]) -> Result<Promotion, StoreError> {
        let bytes = self
            .promotions
            .get(key)
            .map_err(database_error)?
            .ok_or_else(|| StoreError::Corrupt {
                key: "promotion index".into(),
                reason: "it names a promotion record that does not exist".into(),
            })?;
        decode_promotion(&bytes)
    }

    /// Decodes every promotion record (verifying each); in a database without the
    /// indexes' mark, also rewrites any promotion index that does not match them, then
    /// sets the mark: indexes are caches of the records, like the rest.
    fn verify_promotion_indexes(&self) -> Result<(), StoreError> {
        if self
            .meta
            .contains_key(PROMOTION_INDEXES_KEY)
            .map_err(database_error)?
        {
            return self.load_promotions().map(drop);
        }
        let mut wanted = PromotionIndexes::default();
        for entry in &self.promotions {
            let (key, bytes) = entry.map_err(database_error)?;
            let promotion = decode_promotion(&bytes)?;
            let id = promotion.id.as_bytes().to_vec();
            if !promotion.state.is_terminal() {
                wanted.unfinished.insert(key.to_vec(), id.clone());
            }
            wanted
                .by_package
                .insert(package_index_key(&promotion.package, &key), id.clone());
            wanted.ids.insert(id, key.to_vec());
        }
        let indexes = [
            ("promotion-ids", &self.promotion_ids, &wanted.ids),
            (
                "unfinished-promotions",
                &self.unfinished_promotions,
                &wanted.unfinished,
            ),
            (
                "package-promotions",
                &self.package_promotions,
                &wanted.by_package,
            ),
        ];
        for (name, tree, wanted) in indexes {
            if tree_holds(tree, wanted)? {
                continue;
            }
            tracing::warn!(
                index = name,
                "a promotion index does not match the records; rebuilding it"
            );
            tree.clear().map_err(database_error)?;
            let mut batch = sled::Batch::default();
            for (key, value) in wanted {
                batch.insert(key.as_slice(), value.as_slice());
            }
            tree.apply_batch(batch).map_err(database_error)?;
        }
        self.meta
            .insert(PROMOTION_INDEXES_KEY, &[1])
            .map_err(database_error)?;
        self.flush()
    }
}

fn status_key(environment: &str, package: &str) -> String {
    format!("{environment}/{package}")
}

fn sequence_of(key: &[u8]) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(key)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt {
            key: "events".into(),
            reason: "a key is not a sequence number".into(),
        })
}

impl SledStore {
    fn decode_event(bytes: &[u8]) -> Result<Event, StoreError> {
        let record: EventRecord = decode("event", bytes)?;
        let sequence = record.sequence;
        Event::try_from(record).map_err(|reason| StoreError::Corrupt {
            key: format!("event {sequence}"),
            reason,
        })
    }
}

impl ChangeRequestStore for SledStore {
    fn load_change(&self, id: &str) -> Result<Option<LocalChange>, StoreError> {
        let Some(bytes) = self.changes.get(id).map_err(database_error)? else {
            return Ok(None);
        };
        let record: LocalChangeRecord = decode(id, &bytes)?;
        LocalChange::try_from(record)
            .map(Some)
            .map_err(|reason| StoreError::Corrupt {
                key: id.to_owned(),
                reason,
            })
    }

    fn save_change(&self, change: &LocalChange) -> Result<(), StoreError> {
        self.ensure_room()?;
        self.changes
            .insert(
                change.id.as_bytes(),
                encode(&LocalChangeRecord::from(change))?,
            )
            .map_err(database_error)?;
        self.flush()
    }
}

/// Opens `path`, waiting out the directory lock a just-dropped store's background
/// flusher may still hold.
#[cfg(test)]
pub(crate) fn reopen(path: &Path) -> SledStore {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match SledStore::open(path) {
            Ok(store) => return store,
            Err(error) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "cannot reopen: {error}"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_database_is_moved_aside_and_rebuilt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.sled");
        std::fs::write(&path, b"a file where the database folder should be").expect("write");
        let store = SledStore::open(&path).expect("rebuilt");
        assert_eq!(store.load_config().expect("load"), None);
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("state.sled.unreadable-")
            })
            .collect();
        assert_eq!(
            aside.len(),
            1,
            "the unreadable database is kept for inspection"
        );
        assert!(aside[0].path().is_file());
    }

    #[test]
    fn a_database_locked_by_another_opener_is_an_error_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.sled");
        let _first = SledStore::open(&path).expect("open");
        let error = SledStore::open(&path).expect_err("locked");
        assert!(error.to_string().contains("cannot open"), "{error}");
        let entries = std::fs::read_dir(dir.path()).expect("ls").count();
        assert_eq!(entries, 1, "nothing was moved aside");
    }

    /// Flips a bit of the record at `key`, past its checksum.
    fn garble(tree: &sled::Tree, key: &[u8]) {
        let mut value = tree.get(key).expect("read").expect("a record").to_vec();
        let last = value.len() - 2;
        value[last] ^= 0x01;
        tree.insert(key, value).expect("garble");
    }

    #[test]
    fn a_record_that_fails_its_checksum_sets_the_database_aside_with_a_notice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.sled");
        {
            let store = SledStore::open(&path).expect("open");
            store
                .save_promotion(&crate::promotion::testing::promotion(
                    "p-1", "alpha", "v1.0.0", "dev",
                ))
                .expect("save");
            assert_eq!(store.notice(), None);
            let (key, _) = store.promotions.first().expect("read").expect("a record");
            garble(&store.promotions, &key);
            store.flush().expect("flush");
        }
        let store = reopen(&path);
        let notice = store.notice().expect("a notice").to_owned();
        assert!(notice.contains("checksum mismatch"), "{notice}");
        assert!(notice.contains("moved to"), "{notice}");
        assert_eq!(store.load_promotions().expect("load"), Vec::new());
        let aside = std::fs::read_dir(dir.path())
            .expect("ls")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains("unreadable"))
            .count();
        assert_eq!(aside, 1, "the damaged database is kept for inspection");
    }

    #[test]
    fn an_unreadable_status_is_dropped_and_the_others_are_read() {
        use crate::promotion::{ports::StatusChanges, testing::deployed};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.sled");
        let store = SledStore::open(&path).expect("open");
        store
            .save_status_changes(&StatusChanges {
                statuses: vec![deployed("dev", "a", "v1"), deployed("dev", "b", "v1")],
                ..StatusChanges::default()
            })
            .expect("save");
        let key = status_key("dev", "a");
        garble(&store.statuses, key.as_bytes());
        let read = |store: &SledStore| {
            let mut packages = Vec::new();
            store
                .each_status(&mut |status| packages.push(status.package))
                .expect("not an error");
            packages
        };
        assert_eq!(read(&store), ["b"]);
        assert_eq!(
            store.statuses.get(key.as_bytes()).expect("read"),
            None,
            "dropped, so it is saved afresh when observed"
        );
        assert_eq!(read(&store), ["b"]);
    }

    #[test]
    fn a_database_that_lost_records_without_an_error_is_set_aside_and_numbering_goes_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.sled");
        {
            let store = SledStore::open(&path).expect("open");
            for _ in 0..3 {
                store.next_promotion_number().expect("number");
            }
            // As sled does when it drops the tail of its log: the counter goes back.
            store
                .meta
                .insert(PROMOTION_COUNTER_KEY, &1u64.to_be_bytes())
                .expect("rewind");
            store.flush().expect("flush");
        }
        let store = reopen(&path);
        let notice = store.notice().expect("a notice").to_owned();
        assert!(notice.contains("records were lost"), "{notice}");
        assert_eq!(store.next_promotion_number().expect("number"), 4);
        drop(store);
        std::fs::remove_dir_all(&path).expect("delete");
        let fresh = reopen(&path);
        assert_eq!(
            fresh.notice(),
            None,
            "a deleted database is not a damaged one"
        );
        assert_eq!(
            fresh.next_promotion_number().expect("number"),
            5,
            "numbering goes on from the witness"
        );
    }

    #[test]
    fn a_database_from_before_the_promotion_indexes_gets_them_built_at_open() {
        use crate::promotion::{PromotionState, testing::promotion};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.sled");
        {
            let store = SledStore::open(&path).expect("open");
            let mut done = promotion("p-1", "alpha", "v1.0.0", "dev");
            done.enter(PromotionState::Healthy, "dev runs v1.0.0");
            store.save_promotion(&done).expect("save");
            store
                .save_promotion(&promotion("p-2", "alpha", "v1.1.0", "dev"))
                .expect("save");
            // As a database written before the indexes existed, plus a stray entry.
            store.meta.remove(PROMOTION_INDEXES_KEY).expect("unmark");
            store.package_promotions.clear().expect("clear");
            store.unfinished_promotions.clear().expect("clear");
            store
                .unfinished_promotions
                .insert(99u64.to_be_bytes(), "p-99")
                .expect("stray");
            store.flush().expect("flush");
        }
        let store = reopen(&path);
        assert_eq!(store.notice(), None, "indexes are rebuilt in place");
        let unfinished: Vec<String> = store
            .load_unfinished_promotions()
            .expect("unfinished")
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(unfinished, ["p-2"]);
        let alpha: Vec<String> = store
            .load_package_promotions("alpha")
            .expect("alpha")
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(alpha, ["p-1", "p-2"]);
    }

    #[test]
    fn a_database_of_another_schema_is_rebuilt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.sled");
        {
            let db = sled::open(&path).expect("open");
            db.open_tree("meta")
                .expect("tree")
                .insert(SCHEMA_KEY, &999u32.to_be_bytes())
                .expect("insert");
            db.flush().expect("flush");
        }
        let store = reopen(&path);
        assert_eq!(store.load_config().expect("load"), None);
    }
}
