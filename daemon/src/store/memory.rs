//! An in-memory `StateStore` for tests of the domain.

use std::{
    collections::BTreeMap,
    sync::{Mutex, MutexGuard},
};

use super::{StateStore, StoreError};
use crate::{
    gitops::{ChangeRequestStore, LocalChange},
    promotion::{ConfigSource, Promotion},
};

#[derive(Debug, Default)]
struct Contents {
    config: Option<ConfigSource>,
    counter: u64,
    promotions: Vec<Promotion>,
    changes: BTreeMap<String, LocalChange>,
}

/// Keeps everything in memory; nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    contents: Mutex<Contents>,
}

impl MemoryStore {
    fn contents(&self) -> Result<MutexGuard<'_, Contents>, StoreError> {
        self.contents
            .lock()
            .map_err(|_| StoreError::Database("memory store poisoned".into()))
    }
}

impl StateStore for MemoryStore {
    fn load_config(&self) -> Result<Option<ConfigSource>, StoreError> {
        Ok(self.contents()?.config.clone())
    }

    fn save_config(&self, source: &ConfigSource) -> Result<(), StoreError> {
        self.contents()?.config = Some(source.clone());
        Ok(())
    }

    fn next_promotion_number(&self) -> Result<u64, StoreError> {
        let mut contents = self.contents()?;
        contents.counter += 1;
        Ok(contents.counter)
    }

    fn save_promotion(&self, promotion: &Promotion) -> Result<(), StoreError> {
        let mut contents = self.contents()?;
        match contents
            .promotions
            .iter_mut()
            .find(|p| p.id == promotion.id)
        {
            Some(existing) => *existing = promotion.clone(),
            None => contents.promotions.push(promotion.clone()),
        }
        Ok(())
    }

    fn load_promotion(&self, id: &str) -> Result<Option<Promotion>, StoreError> {
        Ok(self
            .contents()?
            .promotions
            .iter()
            .find(|p| p.id == id)
            .cloned())
    }

    fn load_promotions(&self) -> Result<Vec<Promotion>, StoreError> {
        Ok(self.contents()?.promotions.clone())
    }
}

impl ChangeRequestStore for MemoryStore {
    fn load_change(&self, id: &str) -> Result<Option<LocalChange>, StoreError> {
        Ok(self.contents()?.changes.get(id).cloned())
    }

    fn save_change(&self, change: &LocalChange) -> Result<(), StoreError> {
        self.contents()?
            .changes
            .insert(change.id.clone(), change.clone());
        Ok(())
    }
}
