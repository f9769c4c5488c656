//! The Lease as the election reads and writes it: holder, duration, transitions (the term
//! is one more), renewal times and the leader's address (an annotation), plus when this
//! replica last saw it change — expiry is judged on this replica's own monotonic clock,
//! never by comparing another machine's timestamps with ours.

use std::{collections::BTreeMap, time::Duration};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use tokio::time::Instant;

use super::LeaseSettings;
use crate::promotion::LeaderInfo;

/// The annotation carrying the holder's peers address.
const ADDRESS_ANNOTATION: &str = "datakit.io/leader-address";

/// The fields of a Lease the election uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LeaseRecord {
    resource_version: Option<String>,
    pub holder: Option<String>,
    address: Option<String>,
    pub duration: Duration,
    transitions: i32,
    acquire_time: Option<MicroTime>,
    renew_time: Option<MicroTime>,
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

impl LeaseRecord {
    pub fn read(lease: &Lease) -> Self {
        let spec = lease.spec.clone().unwrap_or_default();
        Self {
            resource_version: lease.metadata.resource_version.clone(),
            holder: spec.holder_identity.filter(|holder| !holder.is_empty()),
            address: lease
                .metadata
                .annotations
                .as_ref()
                .and_then(|annotations| annotations.get(ADDRESS_ANNOTATION))
                .cloned(),
            duration: Duration::from_secs(
                spec.lease_duration_seconds
                    .and_then(|seconds| u64::try_from(seconds).ok())
                    .unwrap_or(0),
            ),
            transitions: spec.lease_transitions.unwrap_or(0),
            acquire_time: spec.acquire_time,
            renew_time: spec.renew_time,
        }
    }

    /// The Lease taken by this replica from `previous` (or created).
    pub fn claim(previous: Option<&Self>, settings: &LeaseSettings) -> Self {
        let at = now();
        Self {
            resource_version: previous.and_then(|p| p.resource_version.clone()),
            holder: Some(settings.replica.clone()),
            address: Some(settings.address.clone()),
            duration: settings.duration,
            transitions: previous.map_or(0, |p| p.transitions.saturating_add(1)),
            acquire_time: Some(at.clone()),
            renew_time: Some(at),
        }
    }

    /// The Lease renewed by its holder, this replica.
    pub fn renewed(&self, settings: &LeaseSettings) -> Self {
        Self {
            address: Some(settings.address.clone()),
            duration: settings.duration,
            renew_time: Some(now()),
            ..self.clone()
        }
    }

    /// The Lease handed back: nobody holds it.
    pub fn released(&self) -> Self {
        Self {
            holder: None,
            address: None,
            ..self.clone()
        }
    }

    /// The term its holder writes in: one more than the transitions before it.
    pub fn term(&self) -> u64 {
        u64::try_from(self.transitions).unwrap_or(0) + 1
    }

    /// Who leads and where, when both are known.
    pub fn leader(&self) -> Option<LeaderInfo> {
        Some(LeaderInfo {
            replica: self.holder.clone()?,
            address: self.address.clone()?,
        })
    }

    pub fn into_lease(self, settings: &LeaseSettings) -> Lease {
        let annotations = self
            .address
            .map(|address| BTreeMap::from([(ADDRESS_ANNOTATION.to_owned(), address)]));
        Lease {
            metadata: ObjectMeta {
                name: Some(settings.name.clone()),
                namespace: Some(settings.namespace.clone()),
                resource_version: self.resource_version,
                annotations,
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: self.holder,
                lease_duration_seconds: i32::try_from(self.duration.as_secs()).ok(),
                lease_transitions: Some(self.transitions),
                acquire_time: self.acquire_time,
                renew_time: self.renew_time,
                ..LeaseSpec::default()
            }),
        }
    }
}

/// When this replica last saw the Lease change (any write changes its resourceVersion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Observed {
    resource_version: Option<String>,
    since: Instant,
}

impl Observed {
    /// `previous` updated with the Lease as it reads `now`.
    pub fn note(previous: Option<Self>, current: &LeaseRecord, now: Instant) -> Self {
        match previous {
            Some(previous) if previous.resource_version == current.resource_version => previous,
            _ => Self {
                resource_version: current.resource_version.clone(),
                since: now,
            },
        }
    }

    pub fn unchanged_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(replica: &str) -> LeaseSettings {
        LeaseSettings {
            kubeconfig: None,
            context: None,
            namespace: "datakit".into(),
            name: "dkd-leader".into(),
            duration: Duration::from_secs(15),
            renew: Duration::from_secs(5),
            replica: replica.into(),
            address: format!("{replica}:9443"),
        }
    }

    #[test]
    fn a_takeover_starts_a_new_term_and_a_renewal_keeps_it() {
        let first = LeaseRecord::claim(None, &settings("a"));
        assert_eq!(first.term(), 1);
        let lease = first.clone().into_lease(&settings("a"));
        let read = LeaseRecord::read(&lease);
        assert_eq!(read, first);
        assert_eq!(
            read.leader(),
            Some(LeaderInfo {
                replica: "a".into(),
                address: "a:9443".into()
            })
        );
        assert_eq!(read.renewed(&settings("a")).term(), 1);
        let taken = LeaseRecord::claim(Some(&read), &settings("b"));
        assert_eq!((taken.term(), taken.holder.as_deref()), (2, Some("b")));
        assert_eq!(read.released().leader(), None);
    }

    #[test]
    fn expiry_is_measured_from_when_this_replica_saw_the_lease_change() {
        let start = Instant::now();
        let record = LeaseRecord::claim(None, &settings("a"));
        let seen = Observed::note(None, &record, start);
        let later = start + Duration::from_secs(20);
        let again = Observed::note(Some(seen), &record, later);
        assert_eq!(again.unchanged_for(later), Duration::from_secs(20));
        let mut renewed = record.clone();
        renewed.resource_version = Some("7".into());
        let moved = Observed::note(Some(again), &renewed, later);
        assert_eq!(moved.unchanged_for(later), Duration::ZERO);
    }

    #[test]
    fn a_leader_stops_writing_before_anyone_else_may_take_the_lease() {
        let settings = settings("a");
        assert!(settings.right_to_write() < settings.duration);
        assert_eq!(settings.right_to_write(), Duration::from_secs(12));
    }
}
