//! Locks by promotion target: one package (or store) in one environment changes state at
//! a time, while promotions of other targets proceed in parallel. Merges into the base
//! branch take the engine's one merge lock on top.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use tokio::sync::OwnedMutexGuard;

use crate::promotion::model::{Promotion, PromotionKind};

/// What a promotion changes: a package's manifest, or a store's, in one environment.
/// Promotions of one target supersede each other, so they change state one at a time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Target {
    environment: String,
    package: String,
    store: bool,
}

impl Target {
    /// The package `package` (a store when `store`) in `environment`.
    pub(super) fn new(environment: &str, package: &str, store: bool) -> Self {
        Self {
            environment: environment.to_owned(),
            package: package.to_owned(),
            store,
        }
    }

    /// What `promotion` changes.
    pub(super) fn of(promotion: &Promotion) -> Self {
        Self::new(
            &promotion.environment,
            &promotion.package,
            promotion.kind == PromotionKind::Store,
        )
    }
}

/// Below this many remembered locks none is forgotten.
const FORGET_AT_LEAST: usize = 256;

#[derive(Debug, Default)]
struct Locks {
    by_target: HashMap<Target, Arc<tokio::sync::Mutex<()>>>,
    /// Forget unused locks once this many are remembered (doubles with what stays in use).
    forget_at: usize,
}

/// One lock per target, made on first use and forgotten once nobody holds or awaits it.
#[derive(Debug, Default)]
pub(super) struct TargetLocks {
    locks: Mutex<Locks>,
}

impl TargetLocks {
    /// Waits for `target`'s lock; it is held until the guard drops.
    pub(super) async fn lock(&self, target: Target) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            if locks.by_target.len() >= locks.forget_at.max(FORGET_AT_LEAST) {
                // Held or awaited locks have a second owner (a guard, or a waiter's clone).
                locks
                    .by_target
                    .retain(|_, lock| Arc::strong_count(lock) > 1);
                locks.forget_at = locks.by_target.len() * 2;
            }
            locks.by_target.entry(target).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// How many locks are remembered (for tests).
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_target
            .len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn one_target_waits_for_its_holder_while_another_target_locks_at_once() {
        let locks = TargetLocks::default();
        let held = locks.lock(Target::new("dev", "alpha", false)).await;
        let other = tokio::time::timeout(
            Duration::from_secs(5),
            locks.lock(Target::new("dev", "beta", false)),
        )
        .await;
        assert!(other.is_ok(), "another package is not held up");
        let store_of_same_name = tokio::time::timeout(
            Duration::from_secs(5),
            locks.lock(Target::new("dev", "alpha", true)),
        )
        .await;
        assert!(store_of_same_name.is_ok(), "a store is its own target");
        let same = tokio::time::timeout(
            Duration::from_millis(50),
            locks.lock(Target::new("dev", "alpha", false)),
        )
        .await;
        assert!(same.is_err(), "the same target waits for its holder");
        drop(held);
        let same = tokio::time::timeout(
            Duration::from_secs(5),
            locks.lock(Target::new("dev", "alpha", false)),
        )
        .await;
        assert!(same.is_ok(), "and gets it once released");
    }

    #[tokio::test]
    async fn locks_nobody_holds_are_forgotten_and_held_ones_kept() {
        let locks = TargetLocks::default();
        let held = locks.lock(Target::new("dev", "kept", false)).await;
        for n in 0..FORGET_AT_LEAST * 3 {
            drop(
                locks
                    .lock(Target::new("dev", &format!("p{n}"), false))
                    .await,
            );
        }
        assert!(
            locks.remembered() <= FORGET_AT_LEAST + 1,
            "{}",
            locks.remembered()
        );
        let again = tokio::time::timeout(
            Duration::from_millis(50),
            locks.lock(Target::new("dev", "kept", false)),
        )
        .await;
        assert!(again.is_err(), "a held lock is never forgotten");
        drop(held);
    }
}
