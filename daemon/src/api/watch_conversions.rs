//! Each event converted to its proto message and encoded once, shared by every Watch
//! stream that sends it: the first stream to need an event converts and encodes it (a
//! promotion's policy explanation included), the others share the bytes. RBAC filtering
//! stays per stream; what an event says does not depend on who reads it.

use std::{
    collections::VecDeque,
    sync::{Mutex, PoisonError},
    time::SystemTime,
};

use datakit::proto;

use super::{convert, encoded::Encoded};
use crate::promotion::{Engine, EnvironmentCatalog, Event, EventKind};

/// How many recent conversions are kept: live events reach every stream within this many.
const KEPT: usize = 1024;

/// Identifies one event even across a log reset (the sequence, the term, the time).
type Identity = (u64, u64, SystemTime);

/// The recent events, converted and encoded.
#[derive(Debug, Default)]
pub struct WatchConversions {
    recent: Mutex<VecDeque<(Identity, Encoded)>>,
}

impl WatchConversions {
    /// `event` as Watch sends it, converted and encoded by the first stream that asked.
    pub fn get(&self, event: &Event, engine: &Engine, catalog: &EnvironmentCatalog) -> Encoded {
        self.shared((event.sequence, event.term, event.at), || {
            to_proto(event, engine, catalog)
        })
    }

    /// The encoding kept for `identity`, or `convert`ed, encoded and kept.
    fn shared(&self, identity: Identity, convert: impl FnOnce() -> proto::WatchEvent) -> Encoded {
        let found = self
            .recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .rev()
            .find(|(id, _)| *id == identity)
            .map(|(_, converted)| converted.clone());
        if let Some(converted) = found {
            return converted;
        }
        let converted = Encoded::of(&convert());
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, kept)) = recent.iter().rev().find(|(id, _)| *id == identity) {
            return kept.clone();
        }
        if recent.len() == KEPT {
            recent.pop_front();
        }
        recent.push_back((identity, converted.clone()));
        converted
    }
}

/// A status carries the package's active hold in the environment, as in a snapshot and
/// in `Status`: a client that replaces what it knows with the event keeps the hold.
fn to_proto(event: &Event, engine: &Engine, catalog: &EnvironmentCatalog) -> proto::WatchEvent {
    use proto::watch_event::Event as Payload;
    let payload = match &event.kind {
        EventKind::Promotion(promotion) => {
            Payload::Promotion(convert::promotion(promotion, engine.explain(promotion)))
        }
        EventKind::Status { status, deployed } => Payload::Status(proto::PackageStatus {
            hold: catalog
                .snapshot()
                .current
                .as_ref()
                .and_then(|config| config.active_hold(&status.environment, &status.package))
                .map(convert::hold),
            ..convert::package_status(
                &status.package,
                &status.environment,
                deployed.then_some(status),
            )
        }),
        EventKind::Hold(hold) => Payload::Hold(convert::hold(hold)),
        EventKind::Config { revision, problems } => Payload::Config(proto::ConfigChanged {
            revision: revision.clone(),
            problems: problems.iter().map(convert::problem).collect(),
        }),
    };
    proto::WatchEvent {
        sequence: event.sequence,
        time: Some(convert::timestamp(event.at)),
        event: Some(payload),
        snapshot_sequence: 0,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn counted(conversions: &AtomicUsize, sequence: u64) -> proto::WatchEvent {
        conversions.fetch_add(1, Ordering::SeqCst);
        proto::WatchEvent {
            sequence,
            ..Default::default()
        }
    }

    #[test]
    fn every_stream_gets_the_one_conversion_of_an_event() {
        let shared = WatchConversions::default();
        let conversions = AtomicUsize::new(0);
        let identity = (7, 1, SystemTime::UNIX_EPOCH);
        let first = shared.shared(identity, || counted(&conversions, 7));
        for _ in 0..1000 {
            let again = shared.shared(identity, || counted(&conversions, 7));
            assert!(first.shares_bytes_with(&again));
        }
        assert_eq!(conversions.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_same_sequence_from_another_term_is_another_event() {
        let shared = WatchConversions::default();
        let conversions = AtomicUsize::new(0);
        shared.shared((7, 1, SystemTime::UNIX_EPOCH), || counted(&conversions, 7));
        shared.shared((7, 2, SystemTime::UNIX_EPOCH), || counted(&conversions, 7));
        assert_eq!(conversions.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn only_the_most_recent_conversions_are_kept() {
        let shared = WatchConversions::default();
        let conversions = AtomicUsize::new(0);
        for sequence in 0..=KEPT as u64 {
            shared.shared((sequence, 0, SystemTime::UNIX_EPOCH), || {
                counted(&conversions, sequence)
            });
        }
        assert_eq!(shared.recent.lock().expect("lock").len(), KEPT);
        shared.shared((0, 0, SystemTime::UNIX_EPOCH), || counted(&conversions, 0));
        assert_eq!(
            conversions.load(Ordering::SeqCst),
            KEPT + 2,
            "the oldest was dropped"
        );
    }
}
