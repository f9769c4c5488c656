//! The status board's memory: per environment, every deployed package's status (compact)
//! with the times of its health span, held once. An entry is found by the package name
//! its status already holds, so neither the name nor the environment is copied into a
//! key, and a span keeps only its times (its version and digest are the status's).

use std::{
    borrow::Borrow,
    cmp::Ordering,
    collections::{BTreeMap, BTreeSet},
    ops::Bound,
    time::SystemTime,
};

use super::{
    HealthSpan,
    compact_status::{CompactStatus, SharedNames},
};
use crate::promotion::ports::{PackageSync, StateStore, StoreError};

/// The times of a health span (see [`HealthSpan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SpanTimes {
    healthy_since: Option<SystemTime>,
    left_healthy_at: Option<SystemTime>,
}

/// A package's status in one environment and, when one is recorded, its health span.
///
/// Entries compare by package name alone: a set of them is a map by name.
#[derive(Debug)]
pub struct Tracked {
    pub status: CompactStatus,
    span: Option<SpanTimes>,
}

impl Tracked {
    /// The health span recorded for the version this entry runs.
    pub fn span(&self) -> Option<HealthSpan> {
        self.span.map(|times| HealthSpan {
            environment: self.status.environment().to_owned(),
            package: self.status.package().to_owned(),
            version: self.status.version().to_owned(),
            digest: self.status.digest().to_owned(),
            healthy_since: times.healthy_since,
            left_healthy_at: times.left_healthy_at,
        })
    }

    /// Takes the times of `span` when it records the version this entry runs.
    fn record(&mut self, span: &HealthSpan) {
        if self.status.version() == span.version && self.status.digest() == span.digest {
            self.span = Some(SpanTimes {
                healthy_since: span.healthy_since,
                left_healthy_at: span.left_healthy_at,
            });
        }
    }
}

impl Borrow<str> for Tracked {
    fn borrow(&self) -> &str {
        self.status.package()
    }
}

impl PartialEq for Tracked {
    fn eq(&self, other: &Self) -> bool {
        self.status.package() == other.status.package()
    }
}

impl Eq for Tracked {}

impl PartialOrd for Tracked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Tracked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.status.package().cmp(other.status.package())
    }
}

/// Every entry, by environment, then package.
#[derive(Debug, Default)]
pub struct BoardEntries {
    environments: BTreeMap<String, BTreeSet<Tracked>>,
    names: SharedNames,
}

impl BoardEntries {
    /// The entries of the statuses `store` saved, with the spans that record their
    /// version, built as the store hands them over (never all decoded at once). A span of
    /// another version (or of no status) is left out: a span is only ever read for the
    /// version its package runs, and the next change records a fresh one.
    pub fn read(store: &dyn StateStore) -> Result<Self, StoreError> {
        let mut names = SharedNames::default();
        let mut by_environment: BTreeMap<String, Vec<Tracked>> = BTreeMap::new();
        store.each_status(&mut |status| {
            let tracked = match by_environment.get_mut(&status.environment) {
                Some(tracked) => tracked,
                None => by_environment
                    .entry(status.environment.clone())
                    .or_default(),
            };
            tracked.push(Tracked {
                status: CompactStatus::new(status, &mut names),
                span: None,
            });
        })?;
        for tracked in by_environment.values_mut() {
            tracked.sort_unstable();
        }
        store.each_health_span(&mut |span| {
            let found = by_environment
                .get_mut(&span.environment)
                .and_then(|tracked| {
                    let at = tracked
                        .binary_search_by(|entry| entry.status.package().cmp(&span.package))
                        .ok()?;
                    tracked.get_mut(at)
                });
            if let Some(entry) = found {
                entry.record(&span);
            }
        })?;
        // Built whole, each set's nodes are full: inserted one by one, in order, they
        // would be about half empty.
        Ok(Self {
            environments: by_environment
                .into_iter()
                .map(|(environment, tracked)| (environment, tracked.into_iter().collect()))
                .collect(),
            names,
        })
    }

    /// The entry of `package` in `environment`.
    pub fn get(&self, environment: &str, package: &str) -> Option<&Tracked> {
        self.environments.get(environment)?.get(package)
    }

    /// The entries of one environment, by package name.
    pub fn environment(&self, environment: &str) -> impl Iterator<Item = &Tracked> {
        self.environments.get(environment).into_iter().flatten()
    }

    /// How many entries `environment` has.
    pub fn count(&self, environment: &str) -> usize {
        self.environments.get(environment).map_or(0, BTreeSet::len)
    }

    /// The entries of `environment` in name order from just after `package`, then from
    /// the first up to it: each entry once.
    pub fn after<'a>(
        &'a self,
        environment: &str,
        package: &'a str,
    ) -> impl Iterator<Item = &'a Tracked> {
        self.environments
            .get(environment)
            .into_iter()
            .flat_map(move |entries| {
                entries
                    .range::<str, _>((Bound::Excluded(package), Bound::Unbounded))
                    .chain(entries.range::<str, _>((Bound::Unbounded, Bound::Included(package))))
            })
    }

    /// Every entry, by environment, then package name.
    pub fn all(&self) -> impl Iterator<Item = &Tracked> {
        self.environments.values().flatten()
    }

    /// Records `status`, keeping its package's span times while it runs the same version.
    pub fn set_status(&mut self, status: PackageSync) {
        let packages = match self.environments.get_mut(&status.environment) {
            Some(packages) => packages,
            None => self
                .environments
                .entry(status.environment.clone())
                .or_default(),
        };
        let span = packages
            .get(status.package.as_str())
            .filter(|entry| entry.status.runs_as(&status))
            .and_then(|entry| entry.span);
        let status = CompactStatus::new(status, &mut self.names);
        if let Some(replaced) = packages.replace(Tracked { status, span }) {
            replaced.status.release(&mut self.names);
        }
    }

    /// Records `span` on its package's entry, when that entry runs the span's version.
    pub fn set_span(&mut self, span: &HealthSpan) {
        let Some(packages) = self.environments.get_mut(&span.environment) else {
            return;
        };
        let Some(mut entry) = packages.take(span.package.as_str()) else {
            return;
        };
        entry.record(span);
        packages.insert(entry);
    }

    /// Forgets `package` in `environment`, status and span.
    pub fn remove(&mut self, environment: &str, package: &str) {
        if let Some(packages) = self.environments.get_mut(environment) {
            if let Some(removed) = packages.take(package) {
                removed.status.release(&mut self.names);
            }
            if packages.is_empty() {
                self.environments.remove(environment);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        promotion::{
            ports::{HealthState, StatusChanges},
            testing::deployed as status,
        },
        store::MemoryStore,
    };

    /// The entries of a store that saved `statuses` and `spans`.
    fn saved(statuses: Vec<PackageSync>, spans: Vec<HealthSpan>) -> BoardEntries {
        let store = MemoryStore::default();
        store
            .save_status_changes(&StatusChanges {
                statuses,
                spans,
                gone: Vec::new(),
            })
            .expect("save");
        BoardEntries::read(&store).expect("read")
    }

    fn span(status: &PackageSync, since: u64) -> HealthSpan {
        HealthSpan {
            environment: status.environment.clone(),
            package: status.package.clone(),
            version: status.version.clone(),
            digest: status.digest.clone(),
            healthy_since: Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(since)),
            left_healthy_at: None,
        }
    }

    #[test]
    fn entries_are_found_by_environment_and_package_and_listed_in_order() {
        let entries = saved(
            vec![
                status("prod", "b", "v1"),
                status("dev", "b", "v2"),
                status("dev", "a", "v3"),
            ],
            Vec::new(),
        );
        let listed: Vec<(&str, &str)> = entries
            .all()
            .map(|e| (e.status.environment(), e.status.package()))
            .collect();
        assert_eq!(listed, [("dev", "a"), ("dev", "b"), ("prod", "b")]);
        assert_eq!(
            entries.get("dev", "b").map(|e| e.status.version()),
            Some("v2")
        );
        assert!(entries.get("int", "b").is_none());
        assert_eq!(entries.environment("prod").count(), 1);
        assert_eq!(entries.environment("int").count(), 0);
    }

    #[test]
    fn entries_after_a_package_wrap_round_and_list_each_once() {
        let entries = saved(
            ["a", "b", "c", "d"]
                .into_iter()
                .map(|package| status("dev", package, "v1"))
                .chain([status("prod", "a", "v1")])
                .collect(),
            Vec::new(),
        );
        let after = |package: &str| -> Vec<String> {
            entries
                .after("dev", package)
                .map(|e| e.status.package().to_owned())
                .collect()
        };
        assert_eq!(after("b"), ["c", "d", "a", "b"]);
        assert_eq!(after(""), ["a", "b", "c", "d"], "from the start");
        assert_eq!(
            after("bb"),
            ["c", "d", "a", "b"],
            "from one no longer there"
        );
        assert_eq!(entries.count("dev"), 4);
        assert_eq!(entries.count("int"), 0);
        assert_eq!(entries.after("int", "a").count(), 0);
    }

    #[test]
    fn a_span_is_kept_across_status_changes_and_only_for_the_version_it_records() {
        let running = status("dev", "a", "v1");
        let recorded = span(&running, 60);
        let mut entries = saved(
            vec![running.clone(), status("dev", "b", "v2")],
            vec![recorded.clone(), span(&status("dev", "b", "v1"), 5)],
        );
        assert_eq!(
            entries.get("dev", "a").and_then(Tracked::span),
            Some(recorded.clone())
        );
        assert_eq!(
            entries.get("dev", "b").and_then(Tracked::span),
            None,
            "a span of another version is not the running version's"
        );
        let mut degraded = running.clone();
        degraded.health = HealthState::Degraded;
        entries.set_status(degraded);
        assert_eq!(
            entries.get("dev", "a").and_then(Tracked::span),
            Some(recorded.clone())
        );
        entries.set_status(status("dev", "a", "v9"));
        assert_eq!(
            entries.get("dev", "a").and_then(Tracked::span),
            None,
            "another version starts without one"
        );
        entries.remove("dev", "a");
        assert!(entries.get("dev", "a").is_none());
        entries.set_span(&recorded);
        assert!(
            entries.get("dev", "a").is_none(),
            "a span alone makes no entry"
        );
        assert_eq!(
            entries.names.len(),
            3,
            "only b's environment, version and revision are still held"
        );
    }
}
