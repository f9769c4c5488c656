//! An in-memory `StateStore` for tests of the domain.

use std::sync::Mutex;

use super::{StateStore, StoreError};
use crate::promotion::ConfigSource;

/// Keeps everything in memory; nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    config: Mutex<Option<ConfigSource>>,
}

impl StateStore for MemoryStore {
    fn load_config(&self) -> Result<Option<ConfigSource>, StoreError> {
        Ok(self
            .config
            .lock()
            .map_err(|_| StoreError::Database("poisoned".into()))?
            .clone())
    }

    fn save_config(&self, source: &ConfigSource) -> Result<(), StoreError> {
        *self
            .config
            .lock()
            .map_err(|_| StoreError::Database("poisoned".into()))? = Some(source.clone());
        Ok(())
    }
}
