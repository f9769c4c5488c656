//! A follower's copy of the leader's state: each event of the leader's log is applied to
//! this replica's caches — a promotion's record (and the id counter above it), a package's
//! status on the board — and then stored as numbered there. Applying first makes a crash
//! in between harmless: the event is copied again on resume, and applying it twice is
//! applying it once.

use std::sync::Arc;

use super::{Event, EventKind, EventLog, PromotionError, StatusBoard, promotion_number};
use crate::promotion::ports::{StateStore, blocking};

/// What a follower keeps in step with the leader.
pub struct Mirror {
    pub events: Arc<EventLog>,
    pub board: Arc<StatusBoard>,
    pub store: Arc<dyn StateStore>,
}

impl Mirror {
    /// Where to resume copying: the sequence and term of the newest event held.
    pub fn resume_point(&self) -> Result<Option<(u64, u64)>, PromotionError> {
        self.events.newest()
    }

    /// Forgets the copied log, to copy the leader's afresh (the leader no longer has what
    /// this replica holds: its history moved on without it, or it holds a different one).
    pub async fn start_afresh(&self) -> Result<(), PromotionError> {
        self.events.forget_all().await
    }

    /// The leader shows events up to `sequence`.
    pub fn leader_shows(&self, sequence: u64) {
        self.events.leader_shows(sequence);
    }

    /// Shows what this replica may show now (run while it leads: a follower too slow to
    /// count stops holding events back, and events copied before it took the lead appear).
    pub fn reveal(&self) {
        self.events.reveal();
    }

    /// Applies one event of the leader's log, then stores it; the leader shows events up to
    /// `leader_shows`.
    pub async fn apply(&self, event: Event, leader_shows: u64) -> Result<(), PromotionError> {
        match &event.kind {
            EventKind::Promotion(promotion) => {
                let record = promotion.as_ref().clone();
                blocking::write(&self.store, move |store| {
                    store.save_promotion(&record)?;
                    if let Some(number) = promotion_number(&record.id) {
                        store.raise_promotion_counter(number)?;
                    }
                    Ok(())
                })
                .await?;
            }
            EventKind::Status { status, deployed } => self.board.mirror(status, *deployed).await?,
            // The configuration and holds come from the base branch, which every replica
            // follows itself.
            EventKind::Config { .. } | EventKind::Hold(_) => {}
        }
        self.events.mirror(event, leader_shows).await
    }
}
