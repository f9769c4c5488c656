//! Which events clients may see yet. An event is shown (to `Watch`, webhooks, snapshots)
//! only once every replica that keeps up with the leader holds it, so whichever of them
//! leads next has every event any client saw, and a client resuming anywhere finds no gap
//! and no event numbered twice. The leader counts the followers copying its log: those
//! that have caught up are "in sync" and hold events back until they acknowledge them; one
//! that falls more than `LAG_LIMIT` behind stops counting until it catches up again, so a
//! slow or stuck follower delays clients by at most that. A follower shows what it holds up
//! to what the leader shows. A lone dkd, or a leader nobody follows, shows events at once.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::Arc,
    time::Duration,
};

use tokio::time::Instant;

use super::Event;

/// How long an in-sync follower may take to acknowledge an event before it stops holding
/// events back.
pub const LAG_LIMIT: Duration = Duration::from_secs(1);

/// One follower copying the leader's log.
#[derive(Debug, Clone, Copy)]
struct Follower {
    acknowledged: u64,
    in_sync: bool,
}

/// The visibility state of an event log.
#[derive(Debug, Default)]
pub(super) struct Visibility {
    /// The newest event clients may see.
    pub visible: u64,
    /// The newest event stored.
    pub stored: u64,
    /// Stored events not yet visible, oldest first, with when they were stored.
    pending: VecDeque<(Arc<Event>, Instant)>,
    /// On a follower: what the leader shows.
    pub leader_shows: Option<u64>,
    followers: BTreeMap<u64, Follower>,
    next_follower: u64,
}

impl Visibility {
    /// A log whose stored events are all visible.
    pub fn starting_at(last: u64) -> Self {
        Self {
            visible: last,
            stored: last,
            ..Self::default()
        }
    }

    /// Records a stored event.
    pub fn stored(&mut self, event: Arc<Event>, now: Instant) {
        self.stored = event.sequence;
        self.pending.push_back((event, now));
    }

    /// Forgets every event (the log was cleared).
    pub fn clear(&mut self) {
        self.visible = 0;
        self.stored = 0;
        self.pending.clear();
    }

    /// A follower starts copying; its number.
    pub fn follower_joined(&mut self, acknowledged: u64) -> u64 {
        let id = self.next_follower;
        self.next_follower += 1;
        let in_sync = acknowledged >= self.stored;
        self.followers.insert(
            id,
            Follower {
                acknowledged,
                in_sync,
            },
        );
        id
    }

    pub fn follower_left(&mut self, id: u64) {
        self.followers.remove(&id);
    }

    /// Follower `id` holds every event up to `sequence`.
    pub fn acknowledged(&mut self, id: u64, sequence: u64) {
        let stored = self.stored;
        if let Some(follower) = self.followers.get_mut(&id) {
            follower.acknowledged = follower.acknowledged.max(sequence);
            if follower.acknowledged >= stored {
                follower.in_sync = true;
            }
        }
    }

    /// How many followers hold events back.
    #[cfg(test)]
    pub fn in_sync(&self) -> usize {
        self.followers.values().filter(|f| f.in_sync).count()
    }

    /// Moves `visible` as far as it may go now (`leading`: this log's replica numbers the
    /// events, so what the leader shows does not apply); returns the events that became
    /// visible, oldest first.
    pub fn reveal(&mut self, leading: bool, now: Instant) -> Vec<Arc<Event>> {
        if let Some((oldest, since)) = self.pending.front()
            && now.saturating_duration_since(*since) > LAG_LIMIT
        {
            let oldest = oldest.sequence;
            for follower in self.followers.values_mut() {
                if follower.acknowledged < oldest {
                    follower.in_sync = false;
                }
            }
        }
        let mut target = self.stored;
        if !leading && let Some(shown) = self.leader_shows {
            target = target.min(shown);
        }
        if let Some(slowest) = self
            .followers
            .values()
            .filter(|f| f.in_sync)
            .map(|f| f.acknowledged)
            .min()
        {
            target = target.min(slowest);
        }
        let mut revealed = Vec::new();
        while let Some((event, _)) = self.pending.front() {
            if event.sequence > target {
                break;
            }
            self.visible = event.sequence;
            if let Some((event, _)) = self.pending.pop_front() {
                revealed.push(event);
            }
        }
        revealed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promotion::EventKind;

    fn event(sequence: u64) -> Arc<Event> {
        Arc::new(Event {
            sequence,
            term: 1,
            at: std::time::SystemTime::UNIX_EPOCH,
            kind: EventKind::Config {
                revision: format!("r{sequence}"),
                problems: Vec::new(),
            },
        })
    }

    fn sequences(events: &[Arc<Event>]) -> Vec<u64> {
        events.iter().map(|e| e.sequence).collect()
    }

    #[test]
    fn alone_every_event_is_visible_at_once() {
        let now = Instant::now();
        let mut visibility = Visibility::starting_at(4);
        visibility.stored(event(5), now);
        assert_eq!(sequences(&visibility.reveal(true, now)), [5]);
        assert_eq!(visibility.visible, 5);
    }

    #[test]
    fn a_leader_shows_an_event_once_every_in_sync_follower_holds_it() {
        let now = Instant::now();
        let mut visibility = Visibility::starting_at(0);
        let (a, b) = (visibility.follower_joined(0), visibility.follower_joined(0));
        visibility.stored(event(1), now);
        visibility.stored(event(2), now);
        assert!(visibility.reveal(true, now).is_empty());
        visibility.acknowledged(a, 2);
        assert!(visibility.reveal(true, now).is_empty(), "b holds neither");
        visibility.acknowledged(b, 1);
        assert_eq!(sequences(&visibility.reveal(true, now)), [1]);
        visibility.follower_left(b);
        assert_eq!(sequences(&visibility.reveal(true, now)), [2]);
    }

    #[test]
    fn a_follower_that_lags_stops_holding_events_back_until_it_catches_up() {
        let start = Instant::now();
        let mut visibility = Visibility::starting_at(0);
        let slow = visibility.follower_joined(0);
        visibility.stored(event(1), start);
        assert!(visibility.reveal(true, start).is_empty());
        let late = start + LAG_LIMIT + Duration::from_millis(1);
        assert_eq!(sequences(&visibility.reveal(true, late)), [1]);
        assert_eq!(visibility.in_sync(), 0);
        visibility.acknowledged(slow, 1);
        assert_eq!(visibility.in_sync(), 1, "caught up again");
        visibility.stored(event(2), late);
        assert!(visibility.reveal(true, late).is_empty());
    }

    #[test]
    fn a_follower_shows_no_more_than_the_leader_does() {
        let now = Instant::now();
        let mut visibility = Visibility::starting_at(0);
        visibility.stored(event(1), now);
        visibility.stored(event(2), now);
        visibility.leader_shows = Some(1);
        assert_eq!(sequences(&visibility.reveal(false, now)), [1]);
        assert_eq!(sequences(&visibility.reveal(true, now)), [2], "leading now");
    }
}
