//! A Watch snapshot cut into parts (consecutive `WatchEvent`s, `more` set on all but the
//! last) that each encode within a byte budget, so that a client with gRPC's default
//! receive limit can read a snapshot of any size.

use datakit::proto::{self, watch_event::Event};
use prost::Message;

/// The most bytes one encoded snapshot part (its whole `WatchEvent`) takes, unless a single
/// item is larger. gRPC clients refuse messages over 4 MiB unless configured otherwise
/// (tonic, grpcio, grpc-js, connect-es, grpcurl), and every client must work with its
/// defaults: a quarter of that limit leaves a wide margin and keeps each part a modest
/// allocation on both ends, while a 100,000-package home still needs only some fifty parts.
pub const SNAPSHOT_PART_BUDGET: usize = 1024 * 1024;

/// The key (field number and wire type) of `Snapshot`'s repeated fields 1 to 3, and of
/// `WatchEvent.snapshot` (field 3): one byte each.
const FIELD_KEY_LEN: usize = 1;
/// `Snapshot.more` when set: its one-byte key and one-byte value.
const MORE_LEN: usize = 2;

/// What one item adds to a `Snapshot`: its key, its length and itself.
fn item_len(item: &impl Message) -> usize {
    let len = item.encoded_len();
    FIELD_KEY_LEN + prost::length_delimiter_len(len) + len
}

/// The parts made so far and the one being filled.
struct Parts {
    budget: usize,
    /// The encoded length of a part's `WatchEvent` without its `snapshot` field.
    envelope: usize,
    done: Vec<proto::Snapshot>,
    filling: proto::Snapshot,
    /// The encoded length of the items in `filling`.
    filled: usize,
}

impl Parts {
    /// The encoded length of a part whose items take `items` bytes (with `more` set).
    fn part_len(&self, items: usize) -> usize {
        let snapshot = items + MORE_LEN;
        self.envelope + FIELD_KEY_LEN + prost::length_delimiter_len(snapshot) + snapshot
    }

    /// The part to add an item of `len` bytes to: the one being filled while the item fits
    /// in it (or it is empty: an item larger than the budget goes alone), else a new one.
    fn room_for(&mut self, len: usize) -> &mut proto::Snapshot {
        if self.filled > 0 && self.part_len(self.filled + len) > self.budget {
            self.done.push(std::mem::take(&mut self.filling));
            self.filled = 0;
        }
        self.filled += len;
        &mut self.filling
    }
}

/// `snapshot` as the `WatchEvent`s that send it, in order: environments, then promotions,
/// then packages, each in exactly one part, every part within `budget` bytes unless it
/// holds a single larger item. Each part carries `sequence` and `time`; all but the last
/// have `more` set. An empty or small snapshot is one part.
pub fn snapshot_parts(
    snapshot: proto::Snapshot,
    sequence: u64,
    time: Option<prost_types::Timestamp>,
    budget: usize,
) -> Vec<proto::WatchEvent> {
    let event = |snapshot: Option<proto::Snapshot>| proto::WatchEvent {
        sequence: 0,
        time,
        event: snapshot.map(Event::Snapshot),
        snapshot_sequence: sequence,
    };
    let mut parts = Parts {
        budget,
        envelope: event(None).encoded_len(),
        done: Vec::new(),
        filling: proto::Snapshot::default(),
        filled: 0,
    };
    let proto::Snapshot {
        packages,
        promotions,
        environments,
        more: _,
    } = snapshot;
    for environment in environments {
        let len = item_len(&environment);
        parts.room_for(len).environments.push(environment);
    }
    for promotion in promotions {
        let len = item_len(&promotion);
        parts.room_for(len).promotions.push(promotion);
    }
    for package in packages {
        let len = item_len(&package);
        parts.room_for(len).packages.push(package);
    }
    let mut snapshots = parts.done;
    snapshots.push(parts.filling);
    let last = snapshots.len() - 1;
    snapshots
        .into_iter()
        .enumerate()
        .map(|(index, mut part)| {
            part.more = index < last;
            event(Some(part))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEQUENCE: u64 = 4_242;

    fn time() -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 5,
        })
    }

    fn environment(i: usize) -> proto::Environment {
        proto::Environment {
            name: format!("env-{i}"),
            ..Default::default()
        }
    }

    fn promotion(i: usize) -> proto::Promotion {
        proto::Promotion {
            id: format!("p-{i:06}"),
            package: format!("pkg-{i}"),
            ..Default::default()
        }
    }

    fn package(i: usize, message: &str) -> proto::PackageStatus {
        proto::PackageStatus {
            package: format!("pkg-{i:05}"),
            environment: "dev".into(),
            deployed: true,
            version: "v1.2.3".into(),
            digest: format!("sha256:{}", "a".repeat(64)),
            message: message.into(),
            ..Default::default()
        }
    }

    fn snapshot(environments: usize, promotions: usize, packages: usize) -> proto::Snapshot {
        proto::Snapshot {
            environments: (0..environments).map(environment).collect(),
            promotions: (0..promotions).map(promotion).collect(),
            packages: (0..packages).map(|i| package(i, "")).collect(),
            more: false,
        }
    }

    fn contents(part: &proto::WatchEvent) -> &proto::Snapshot {
        match &part.event {
            Some(Event::Snapshot(snapshot)) => snapshot,
            other => panic!("a part holds a snapshot, not {other:?}"),
        }
    }

    /// The parts' items, joined again in order, and the checks every part must pass.
    fn joined(parts: &[proto::WatchEvent]) -> proto::Snapshot {
        assert!(!parts.is_empty(), "at least one part");
        let mut whole = proto::Snapshot::default();
        for (index, part) in parts.iter().enumerate() {
            assert_eq!(part.sequence, 0);
            assert_eq!(part.snapshot_sequence, SEQUENCE, "part {index}");
            assert_eq!(part.time, time(), "part {index}");
            let snapshot = contents(part);
            assert_eq!(snapshot.more, index + 1 < parts.len(), "part {index}");
            whole.environments.extend(snapshot.environments.clone());
            whole.promotions.extend(snapshot.promotions.clone());
            whole.packages.extend(snapshot.packages.clone());
        }
        whole
    }

    #[test]
    fn a_small_snapshot_is_one_part_that_says_no_more_follow() {
        let original = snapshot(3, 2, 10);
        let parts = snapshot_parts(original.clone(), SEQUENCE, time(), SNAPSHOT_PART_BUDGET);
        assert_eq!(parts.len(), 1);
        assert_eq!(joined(&parts), original);
    }

    #[test]
    fn an_empty_snapshot_is_one_empty_part() {
        let parts = snapshot_parts(
            proto::Snapshot::default(),
            SEQUENCE,
            time(),
            SNAPSHOT_PART_BUDGET,
        );
        assert_eq!(parts.len(), 1);
        assert_eq!(joined(&parts), proto::Snapshot::default());
    }

    #[test]
    fn a_large_snapshot_is_cut_within_the_budget_keeping_every_item_once_in_order() {
        let original = snapshot(40, 300, 3_000);
        let budget = 16 * 1024;
        let parts = snapshot_parts(original.clone(), SEQUENCE, time(), budget);
        assert!(parts.len() > 10, "{} parts", parts.len());
        for (index, part) in parts.iter().enumerate() {
            let len = part.encoded_len();
            assert!(len <= budget, "part {index} takes {len} bytes");
        }
        // Nearly full: a part is cut only when the next item would not fit.
        let total: usize = parts.iter().map(Message::encoded_len).sum();
        assert!(
            total / parts.len() > budget * 9 / 10,
            "{total} bytes in {} parts",
            parts.len()
        );
        // Joined in order they give the snapshot back, hence each item exactly once.
        assert_eq!(joined(&parts), original);
        // Environments, then promotions, then packages: no part goes back to an earlier kind.
        let kinds: Vec<u8> = parts
            .iter()
            .flat_map(|part| {
                let snapshot = contents(part);
                std::iter::repeat_n(0, snapshot.environments.len())
                    .chain(std::iter::repeat_n(1, snapshot.promotions.len()))
                    .chain(std::iter::repeat_n(2, snapshot.packages.len()))
            })
            .collect();
        assert!(kinds.is_sorted(), "kinds out of order");
    }

    #[test]
    fn a_part_ends_exactly_where_the_next_item_would_overflow_the_budget() {
        let original = snapshot(0, 0, 200);
        // A part is measured as if more parts followed it (`more` set): it is cut before
        // anyone knows whether it is the last.
        let mut whole = snapshot_parts(original.clone(), SEQUENCE, time(), usize::MAX);
        assert_eq!(whole.len(), 1);
        if let Some(Event::Snapshot(snapshot)) = &mut whole[0].event {
            snapshot.more = true;
        }
        let exact = whole[0].encoded_len();
        let fits = snapshot_parts(original.clone(), SEQUENCE, time(), exact);
        assert_eq!(fits.len(), 1, "a budget of exactly its size keeps it whole");
        let split = snapshot_parts(original.clone(), SEQUENCE, time(), exact - 1);
        assert_eq!(split.len(), 2, "one byte less moves the last item on");
        assert_eq!(contents(&split[1]).packages.len(), 1);
        assert_eq!(joined(&split), original);
    }

    #[test]
    fn an_item_larger_than_the_budget_goes_alone_in_its_part() {
        let budget = 4 * 1024;
        let mut original = snapshot(1, 1, 20);
        original.packages[10] = package(10, &"x".repeat(3 * budget));
        let parts = snapshot_parts(original.clone(), SEQUENCE, time(), budget);
        let alone: Vec<&proto::WatchEvent> = parts
            .iter()
            .filter(|part| part.encoded_len() > budget)
            .collect();
        assert_eq!(alone.len(), 1, "only the oversized item's part is over");
        assert_eq!(
            contents(alone[0]).packages,
            vec![original.packages[10].clone()]
        );
        assert_eq!(joined(&parts), original);
    }
}
