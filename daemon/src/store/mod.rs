//! The `StateStore` implementations: sled for dkd, memory for tests of the domain. `sled`
//! is named only in `sled_store.rs`; the records written are their own versioned types
//! (`records.rs`), not domain types; events travel between replicas in the same records.

mod memory;
mod records;
mod sled_store;

pub use memory::MemoryStore;
pub use records::{decode_event, encode_event};
pub use sled_store::SledStore;

#[cfg(test)]
mod conformance {
    //! One suite every `StateStore` passes.

    use std::{
        collections::BTreeMap,
        time::{Duration, SystemTime},
    };

    use super::*;
    use crate::promotion::{
        ConfigSource, Event, EventKind, Promotion,
        ports::{HealthState, PackageSync, StateStore, SyncState},
    };

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

    /// Every status `store` saved.
    fn saved_statuses(store: &dyn StateStore) -> Vec<PackageSync> {
        let mut saved = Vec::new();
        store
            .each_status(&mut |status| saved.push(status))
            .expect("statuses");
        saved
    }

    /// Every health span `store` saved.
    fn saved_spans(store: &dyn StateStore) -> Vec<crate::promotion::HealthSpan> {
        let mut saved = Vec::new();
        store
            .each_health_span(&mut |span| saved.push(span))
            .expect("spans");
        saved
    }

    fn promotion(id: &str) -> Promotion {
        crate::promotion::testing::promotion(id, "my-package", "v1.0.0", "dev")
    }

    pub(super) fn promotions_round_trip_and_numbers_never_repeat(store: &dyn StateStore) {
        let first = store.next_promotion_number().expect("number");
        let second = store.next_promotion_number().expect("number");
        assert!(second > first);
        store.raise_promotion_counter(41).expect("raise");
        assert_eq!(store.next_promotion_number().expect("number"), 42);
        store.raise_promotion_counter(7).expect("never lowers");
        assert_eq!(store.next_promotion_number().expect("number"), 43);
        assert_eq!(store.load_promotion("p-1").expect("load"), None);
        let mut saved = promotion("p-1");
        store.save_promotion(&saved).expect("save");
        saved.enter(crate::promotion::PromotionState::Merged, "merged");
        saved.merge_commit = Some("abc".into());
        saved.reason = Some("v1.0.0 has been Healthy in dev since then".into());
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

    fn ids(promotions: Vec<Promotion>) -> Vec<String> {
        promotions.into_iter().map(|p| p.id).collect()
    }

    pub(super) fn unfinished_and_package_promotions_are_read_through_indexes_kept_by_save(
        store: &dyn StateStore,
    ) {
        use crate::promotion::{PromotionState, testing::promotion as of};
        let mut first = of("q-1", "alpha", "v1.0.0", "dev");
        store.save_promotion(&first).expect("save");
        store
            .save_promotion(&of("q-2", "beta", "v1.0.0", "dev"))
            .expect("save");
        let mut second = of("q-3", "alpha", "v1.1.0", "int");
        store.save_promotion(&second).expect("save");
        store
            .save_promotion(&of("q-4", "alpha-two", "v1.0.0", "dev"))
            .expect("save");
        first.enter(PromotionState::Healthy, "dev runs v1.0.0");
        store.save_promotion(&first).expect("finish");
        let unfinished = |store: &dyn StateStore| {
            ids(store.load_unfinished_promotions().expect("unfinished"))
                .into_iter()
                .filter(|id| id.starts_with("q-"))
                .collect::<Vec<_>>()
        };
        assert_eq!(unfinished(store), ["q-2", "q-3", "q-4"]);
        let alpha = store.load_package_promotions("alpha").expect("alpha");
        assert_eq!(
            ids(alpha.clone()),
            ["q-1", "q-3"],
            "oldest first, no prefix match"
        );
        assert_eq!(alpha[0], first, "the index reads the newest save");
        assert_eq!(
            store.load_package_promotions("alph").expect("alph"),
            Vec::new()
        );
        second.enter(PromotionState::Cancelled, "cancelled by carol");
        store.save_promotion(&second).expect("cancel");
        assert_eq!(unfinished(store), ["q-2", "q-4"]);
        second.enter(PromotionState::Validated, "mirrored out of order");
        store.save_promotion(&second).expect("reopen");
        assert_eq!(
            unfinished(store),
            ["q-2", "q-3", "q-4"],
            "the index follows the last save"
        );
    }

    pub(super) fn config_round_trips_and_is_replaced(store: &dyn StateStore) {
        assert_eq!(store.load_config().expect("load"), None);
        store.save_config(&sample("one")).expect("save");
        assert_eq!(store.load_config().expect("load"), Some(sample("one")));
        store.save_config(&sample("two")).expect("save");
        assert_eq!(store.load_config().expect("load"), Some(sample("two")));
    }

    fn status(environment: &str, package: &str, version: &str) -> PackageSync {
        PackageSync {
            package: package.into(),
            environment: environment.into(),
            version: version.into(),
            digest: "sha256:abc".into(),
            promotion_id: Some("p-1".into()),
            revision: "c1".into(),
            sync: SyncState::Synced,
            health: HealthState::Healthy,
            last_sync: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000),
            message: String::new(),
            last_run: None,
        }
    }

    pub(super) fn statuses_are_saved_replaced_and_deleted(store: &dyn StateStore) {
        use crate::promotion::ports::StatusChanges;
        let save = |status: PackageSync| StatusChanges {
            statuses: vec![status],
            ..StatusChanges::default()
        };
        store
            .save_status_changes(&save(status("dev", "a", "v1")))
            .expect("save");
        store
            .save_status_changes(&save(status("dev", "a", "v2")))
            .expect("replace");
        store
            .save_status_changes(&save(status("int", "a", "v1")))
            .expect("save");
        store
            .save_status_changes(&StatusChanges {
                gone: vec![("int".into(), "a".into())],
                ..StatusChanges::default()
            })
            .expect("delete");
        assert_eq!(saved_statuses(store), vec![status("dev", "a", "v2")]);
    }

    pub(super) fn a_batch_of_status_changes_saves_spans_and_forgets_the_gone(
        store: &dyn StateStore,
    ) {
        use crate::promotion::{HealthSpan, ports::StatusChanges};
        let span = |environment: &str, package: &str| HealthSpan {
            environment: environment.into(),
            package: package.into(),
            version: "v1".into(),
            digest: "sha256:abc".into(),
            healthy_since: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(60)),
            left_healthy_at: None,
        };
        store
            .save_status_changes(&StatusChanges {
                statuses: vec![status("prod", "a", "v1"), status("prod", "b", "v1")],
                spans: vec![span("prod", "a"), span("prod", "b")],
                gone: Vec::new(),
            })
            .expect("save");
        store
            .save_status_changes(&StatusChanges {
                statuses: vec![status("prod", "a", "v2")],
                spans: Vec::new(),
                gone: vec![("prod".into(), "b".into())],
            })
            .expect("change");
        let prod: Vec<PackageSync> = saved_statuses(store)
            .into_iter()
            .filter(|s| s.environment == "prod")
            .collect();
        assert_eq!(prod, [status("prod", "a", "v2")]);
        assert_eq!(
            store.load_health_span("prod", "a").expect("span"),
            Some(span("prod", "a"))
        );
        assert_eq!(store.load_health_span("prod", "b").expect("span"), None);
        store
            .save_status_changes(&StatusChanges {
                gone: vec![("prod".into(), "a".into())],
                ..StatusChanges::default()
            })
            .expect("forget");
    }

    pub(super) fn events_appended_at_once_read_back_like_events_appended_one_by_one(
        store: &dyn StateStore,
    ) {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
        let events: Vec<Event> = (1..=5)
            .map(|sequence| Event {
                sequence,
                term: 3,
                at,
                kind: EventKind::Config {
                    revision: format!("c{sequence}"),
                    problems: Vec::new(),
                },
            })
            .collect();
        store.append_events(&events[..2], 4).expect("append");
        store.append_events(&[], 4).expect("nothing to append");
        store.append_events(&events[2..], 4).expect("append");
        assert_eq!(store.event_bounds().expect("bounds"), Some((2, 5)));
        assert_eq!(store.events_after(0, 10).expect("read"), events[1..]);
        store.clear_events().expect("clear");
    }

    pub(super) fn events_are_kept_in_order_pruned_to_the_retention_and_cleared(
        store: &dyn StateStore,
    ) {
        assert_eq!(store.event_bounds().expect("bounds"), None);
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
        for (sequence, version) in (1..).zip(["v1", "v2", "v3", "v4"]) {
            let kind = EventKind::Status {
                status: status("dev", "a", version),
                deployed: true,
            };
            let event = Event {
                sequence,
                term: 7,
                at,
                kind,
            };
            store.append_event(&event, 3).expect("append");
        }
        assert_eq!(store.event_bounds().expect("bounds"), Some((2, 4)));
        let after: Vec<(u64, u64)> = store
            .events_after(2, 10)
            .expect("read")
            .iter()
            .map(|e| (e.sequence, e.term))
            .collect();
        assert_eq!(after, [(3, 7), (4, 7)]);
        assert_eq!(
            store.events_after(0, 1).expect("read").len(),
            1,
            "the limit holds"
        );
        let config = Event {
            sequence: 5,
            term: 8,
            at,
            kind: EventKind::Config {
                revision: "c9".into(),
                problems: Vec::new(),
            },
        };
        store.append_event(&config, 3).expect("append");
        assert_eq!(store.events_after(4, 10).expect("read"), [config]);
        store.clear_events().expect("clear");
        assert_eq!(store.event_bounds().expect("bounds"), None);
    }

    fn suite(store: &dyn StateStore) {
        config_round_trips_and_is_replaced(store);
        promotions_round_trip_and_numbers_never_repeat(store);
        unfinished_and_package_promotions_are_read_through_indexes_kept_by_save(store);
        statuses_are_saved_replaced_and_deleted(store);
        events_are_kept_in_order_pruned_to_the_retention_and_cleared(store);
        a_batch_of_status_changes_saves_spans_and_forgets_the_gone(store);
        events_appended_at_once_read_back_like_events_appended_one_by_one(store);
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
    fn sled_statuses_and_spans_survive_a_reopen_and_a_later_write_replaces_them() {
        use crate::promotion::{HealthSpan, ports::StatusChanges};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db");
        let span = |version: &str| HealthSpan {
            environment: "dev".into(),
            package: "a".into(),
            version: version.into(),
            digest: "sha256:abc".into(),
            healthy_since: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(60)),
            left_healthy_at: None,
        };
        let changes = |version: &str| StatusChanges {
            statuses: vec![status("dev", "a", version)],
            spans: vec![span(version)],
            gone: Vec::new(),
        };
        let store = SledStore::open(&path).expect("open");
        store.save_status_changes(&changes("v1")).expect("save");
        drop(store);

        let reopened = super::sled_store::reopen(&path);
        assert_eq!(saved_statuses(&reopened), [status("dev", "a", "v1")]);
        assert_eq!(saved_spans(&reopened), [span("v1")]);
        assert_eq!(
            reopened.load_status("dev", "a").expect("load"),
            Some(status("dev", "a", "v1"))
        );
        drop(reopened);

        let reopened = super::sled_store::reopen(&path);
        reopened.save_status_changes(&changes("v2")).expect("save");
        assert_eq!(saved_statuses(&reopened), [status("dev", "a", "v2")]);
        assert_eq!(saved_spans(&reopened), [span("v2")]);
    }

    #[test]
    fn sled_promotion_numbers_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db");
        let before = SledStore::open(&path)
            .expect("open")
            .next_promotion_number()
            .expect("number");
        let reopened = super::sled_store::reopen(&path);
        let after = reopened.next_promotion_number().expect("number");
        assert!(after > before);
    }
}
