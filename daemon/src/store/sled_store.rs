//! The `StateStore` on sled. A database that cannot be opened, or that carries another
//! schema version, is moved aside (never deleted) and a fresh one is created: everything
//! cached in it is rebuilt from the deployment repository.

use std::{
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use super::{
    StateStore, StoreError,
    records::{ConfigRecord, SCHEMA_VERSION},
};
use crate::promotion::ConfigSource;

const SCHEMA_KEY: &[u8] = b"schema";
const CONFIG_KEY: &[u8] = b"config";

/// dkd's state in a sled database.
#[derive(Debug, Clone)]
pub struct SledStore {
    db: sled::Db,
    meta: sled::Tree,
}

impl SledStore {
    /// Opens (or creates) the database at `path`, rebuilding it when it is unreadable.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        match Self::open_checked(path) {
            Ok(store) => Ok(store),
            Err(reason) => {
                let aside = set_aside(path)?;
                tracing::warn!(database = %path.display(), moved_to = %aside.display(), %reason,
                    "state database unreadable; starting a fresh one");
                Self::open_checked(path).map_err(StoreError::Database)
            }
        }
    }

    fn open_checked(path: &Path) -> Result<Self, String> {
        let db = sled::open(path).map_err(|e| e.to_string())?;
        let meta = db.open_tree("meta").map_err(|e| e.to_string())?;
        match meta.get(SCHEMA_KEY).map_err(|e| e.to_string())? {
            Some(stored) if stored.as_ref() == SCHEMA_VERSION.to_be_bytes() => {}
            Some(stored) => return Err(format!("schema {stored:?} is not {SCHEMA_VERSION}")),
            None => {
                meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())
                    .map_err(|e| e.to_string())?;
                db.flush().map_err(|e| e.to_string())?;
            }
        }
        Ok(Self { db, meta })
    }

    /// Makes every write so far durable.
    fn flush(&self) -> Result<(), StoreError> {
        self.db
            .flush()
            .map(drop)
            .map_err(|e| StoreError::Database(e.to_string()))
    }
}

/// Renames an unreadable database out of the way and returns where it went.
fn set_aside(path: &Path) -> Result<PathBuf, StoreError> {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".unreadable-{stamp}"));
    let aside = PathBuf::from(aside);
    if path.exists() {
        std::fs::rename(path, &aside)
            .map_err(|e| StoreError::Database(format!("cannot move {}: {e}", path.display())))?;
    }
    Ok(aside)
}

impl StateStore for SledStore {
    fn load_config(&self) -> Result<Option<ConfigSource>, StoreError> {
        let Some(bytes) = self
            .meta
            .get(CONFIG_KEY)
            .map_err(|e| StoreError::Database(e.to_string()))?
        else {
            return Ok(None);
        };
        let record: ConfigRecord =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                key: "config".into(),
                reason: e.to_string(),
            })?;
        Ok(Some(record.into()))
    }

    fn save_config(&self, source: &ConfigSource) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(&ConfigRecord::from(source))
            .map_err(|e| StoreError::Database(e.to_string()))?;
        self.meta
            .insert(CONFIG_KEY, bytes)
            .map_err(|e| StoreError::Database(e.to_string()))?;
        self.flush()
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
        let store = SledStore::open(&path).expect("rebuilt");
        assert_eq!(store.load_config().expect("load"), None);
    }
}
