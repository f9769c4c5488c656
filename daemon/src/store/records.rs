//! The records dkd writes to its database, versioned separately from the domain types so
//! the domain can change without rewriting stored data.

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};

use serde::{Deserialize, Serialize};

use crate::promotion::ConfigSource;

/// Bumped when a record's layout changes incompatibly.
pub const SCHEMA_VERSION: u32 = 1;

/// The cached configuration (schema 1).
#[derive(Debug, Serialize, Deserialize)]
pub struct ConfigRecord {
    pub revision: String,
    pub loaded_at_unix_ms: u64,
    pub files: BTreeMap<String, String>,
}

impl From<&ConfigSource> for ConfigRecord {
    fn from(source: &ConfigSource) -> Self {
        let since_epoch = source
            .loaded_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            revision: source.revision.clone(),
            loaded_at_unix_ms: u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX),
            files: source.files.clone(),
        }
    }
}

impl From<ConfigRecord> for ConfigSource {
    fn from(record: ConfigRecord) -> Self {
        Self {
            revision: record.revision,
            loaded_at: SystemTime::UNIX_EPOCH + Duration::from_millis(record.loaded_at_unix_ms),
            files: record.files,
        }
    }
}
