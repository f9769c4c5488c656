//! An in-memory `StateStore` for tests of the domain.

use std::{
    collections::BTreeMap,
    sync::{Mutex, MutexGuard, RwLock, RwLockWriteGuard},
};

use crate::promotion::{
    ConfigSource, Event, HealthSpan, Promotion,
    ports::{
        ChangeRequestStore, LocalChange, PackageSync, StateStore, StatusChanges, StoreError,
        StoreLocation,
    },
};

#[derive(Debug, Default)]
struct Contents {
    config: Option<ConfigSource>,
    counter: u64,
    promotions: Vec<Promotion>,
    changes: BTreeMap<String, LocalChange>,
    statuses: BTreeMap<(String, String), PackageSync>,
    health_spans: BTreeMap<(String, String), HealthSpan>,
    events: Vec<Event>,
}

/// Keeps everything in memory; nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    contents: Mutex<Contents>,
    /// Taken (read) by every read of all statuses or spans: a test holds it to keep them
    /// waiting, as a big home keeps them busy.
    full_reads: RwLock<()>,
}

impl MemoryStore {
    /// Keeps reads of every status or span waiting until the guard is dropped.
    pub fn hold_full_reads(&self) -> RwLockWriteGuard<'_, ()> {
        self.full_reads
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits while a test holds full reads.
    fn full_read(&self) {
        drop(self.full_reads.read());
    }

    fn contents(&self) -> Result<MutexGuard<'_, Contents>, StoreError> {
        self.contents
            .lock()
            .map_err(|_| StoreError::Database("memory store poisoned".into()))
    }
}

impl StoreLocation for MemoryStore {
    fn location(&self) -> String {
        "memory".into()
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

    fn raise_promotion_counter(&self, number: u64) -> Result<(), StoreError> {
        let mut contents = self.contents()?;
        contents.counter = contents.counter.max(number);
        Ok(())
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

    fn load_unfinished_promotions(&self) -> Result<Vec<Promotion>, StoreError> {
        Ok(self
            .contents()?
            .promotions
            .iter()
            .filter(|p| !p.state.is_terminal())
            .cloned()
            .collect())
    }

    fn load_package_promotions(&self, package: &str) -> Result<Vec<Promotion>, StoreError> {
        Ok(self
            .contents()?
            .promotions
            .iter()
            .filter(|p| p.package == package)
            .cloned()
            .collect())
    }

    fn load_status(
        &self,
        environment: &str,
        package: &str,
    ) -> Result<Option<PackageSync>, StoreError> {
        let key = (environment.to_owned(), package.to_owned());
        Ok(self.contents()?.statuses.get(&key).cloned())
    }

    fn each_status(&self, each: &mut dyn FnMut(PackageSync)) -> Result<(), StoreError> {
        self.full_read();
        self.contents()?.statuses.values().cloned().for_each(each);
        Ok(())
    }

    fn save_status_changes(&self, changes: &StatusChanges) -> Result<(), StoreError> {
        let mut contents = self.contents()?;
        for span in &changes.spans {
            let key = (span.environment.clone(), span.package.clone());
            contents.health_spans.insert(key, span.clone());
        }
        for status in &changes.statuses {
            let key = (status.environment.clone(), status.package.clone());
            contents.statuses.insert(key, status.clone());
        }
        for key in &changes.gone {
            contents.health_spans.remove(key);
            contents.statuses.remove(key);
        }
        Ok(())
    }

    fn load_health_span(
        &self,
        environment: &str,
        package: &str,
    ) -> Result<Option<HealthSpan>, StoreError> {
        Ok(self
            .contents()?
            .health_spans
            .get(&(environment.to_owned(), package.to_owned()))
            .cloned())
    }

    fn each_health_span(&self, each: &mut dyn FnMut(HealthSpan)) -> Result<(), StoreError> {
        self.full_read();
        self.contents()?
            .health_spans
            .values()
            .cloned()
            .for_each(each);
        Ok(())
    }

    fn append_events(&self, events: &[Event], retention: u64) -> Result<(), StoreError> {
        let mut contents = self.contents()?;
        contents.events.extend_from_slice(events);
        let keep = usize::try_from(retention).unwrap_or(usize::MAX);
        let excess = contents.events.len().saturating_sub(keep);
        contents.events.drain(..excess);
        Ok(())
    }

    fn clear_events(&self) -> Result<(), StoreError> {
        self.contents()?.events.clear();
        Ok(())
    }

    fn event_bounds(&self) -> Result<Option<(u64, u64)>, StoreError> {
        let contents = self.contents()?;
        Ok(contents
            .events
            .first()
            .zip(contents.events.last())
            .map(|(first, last)| (first.sequence, last.sequence)))
    }

    fn events_after(&self, sequence: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
        let contents = self.contents()?;
        Ok(contents
            .events
            .iter()
            .filter(|e| e.sequence > sequence)
            .take(limit)
            .cloned()
            .collect())
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
