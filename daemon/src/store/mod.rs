//! The `StateStore` port: dkd's own durable state (cached configuration now; promotions
//! and events from the promotion engine on). `sled` is named only in `sled_store.rs`; the
//! records written are their own versioned types (`records.rs`), not domain types.

mod memory;
mod records;
mod sled_store;

pub use memory::MemoryStore;
pub use sled_store::SledStore;

use crate::promotion::{ConfigSource, Promotion};

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

    /// A new, never reused promotion number (1, 2, …).
    fn next_promotion_number(&self) -> Result<u64, StoreError>;

    /// Saves (inserts or replaces) a promotion.
    fn save_promotion(&self, promotion: &Promotion) -> Result<(), StoreError>;

    /// One promotion by id.
    fn load_promotion(&self, id: &str) -> Result<Option<Promotion>, StoreError>;

    /// Every promotion, oldest first.
    fn load_promotions(&self) -> Result<Vec<Promotion>, StoreError>;
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

    fn promotion(id: &str) -> Promotion {
        crate::promotion::testing::promotion(id, "my-package", "v1.0.0", "dev")
    }

    pub(super) fn promotions_round_trip_and_numbers_never_repeat(store: &dyn StateStore) {
        let first = store.next_promotion_number().expect("number");
        let second = store.next_promotion_number().expect("number");
        assert!(second > first);
        assert_eq!(store.load_promotion("p-1").expect("load"), None);
        let mut saved = promotion("p-1");
        store.save_promotion(&saved).expect("save");
        saved.enter(crate::promotion::PromotionState::Merged, "merged");
        saved.merge_commit = Some("abc".into());
        store.save_promotion(&saved).expect("save again");
        store.save_promotion(&promotion("p-2")).expect("save");
        assert_eq!(store.load_promotion("p-1").expect("load"), Some(saved));
        let ids: Vec<String> = store
            .load_promotions()
            .expect("list")
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(ids, ["p-1", "p-2"]);
    }

    pub(super) fn config_round_trips_and_is_replaced(store: &dyn StateStore) {
        assert_eq!(store.load_config().expect("load"), None);
        store.save_config(&sample("one")).expect("save");
        assert_eq!(store.load_config().expect("load"), Some(sample("one")));
        store.save_config(&sample("two")).expect("save");
        assert_eq!(store.load_config().expect("load"), Some(sample("two")));
    }

    fn suite(store: &dyn StateStore) {
        config_round_trips_and_is_replaced(store);
        promotions_round_trip_and_numbers_never_repeat(store);
    }

    #[test]
    fn the_memory_store_passes_the_suite() {
        suite(&MemoryStore::default());
    }

    #[test]
    fn the_sled_store_passes_the_suite() {
        let dir = tempfile::tempdir().expect("tempdir");
        suite(&SledStore::open(&dir.path().join("db")).expect("open"));
    }

    #[test]
    fn sled_promotion_numbers_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db");
        let before = SledStore::open(&path)
            .expect("open")
            .next_promotion_number()
            .expect("number");
        // sled's background flusher may hold the directory lock briefly after a drop.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let reopened = loop {
            match SledStore::open(&path) {
                Ok(store) => break store,
                Err(error) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "cannot reopen: {error}"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        };
        let after = reopened.next_promotion_number().expect("number");
        assert!(after > before);
    }
}
