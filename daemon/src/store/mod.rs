//! The `StateStore` port: dkd's own durable state (cached configuration now; promotions
//! and events from the promotion engine on). `sled` is named only in `sled_store.rs`; the
//! records written are their own versioned types (`records.rs`), not domain types.

mod memory;
mod records;
mod sled_store;

pub use memory::MemoryStore;
pub use sled_store::SledStore;

use crate::promotion::ConfigSource;

/// What a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state database error: {0}")]
    Database(String),
    #[error("state record {key} is unreadable: {reason}")]
    Corrupt { key: String, reason: String },
}

/// dkd's durable state. Every write is durable when the call returns.
pub trait StateStore: Send + Sync + 'static {
    /// The last configuration accepted from the base branch, if any.
    fn load_config(&self) -> Result<Option<ConfigSource>, StoreError>;

    /// Replaces the cached configuration.
    fn save_config(&self, source: &ConfigSource) -> Result<(), StoreError>;
}

#[cfg(test)]
mod conformance {
    //! One suite every `StateStore` passes.

    use std::{
        collections::BTreeMap,
        time::{Duration, SystemTime},
    };

    use super::*;

    fn sample(revision: &str) -> ConfigSource {
        ConfigSource {
            revision: revision.into(),
            loaded_at: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            files: BTreeMap::from([(
                "config/environments.yaml".to_owned(),
                "environments: {}\n".to_owned(),
            )]),
        }
    }

    pub(super) fn config_round_trips_and_is_replaced(store: &dyn StateStore) {
        assert_eq!(store.load_config().expect("load"), None);
        store.save_config(&sample("one")).expect("save");
        assert_eq!(store.load_config().expect("load"), Some(sample("one")));
        store.save_config(&sample("two")).expect("save");
        assert_eq!(store.load_config().expect("load"), Some(sample("two")));
    }

    #[test]
    fn the_memory_store_passes_the_suite() {
        config_round_trips_and_is_replaced(&MemoryStore::default());
    }

    #[test]
    fn the_sled_store_passes_the_suite() {
        let dir = tempfile::tempdir().expect("tempdir");
        config_round_trips_and_is_replaced(&SledStore::open(&dir.path().join("db")).expect("open"));
    }
}
