//! One event history across replicas. The leader serves its event log to followers
//! (`MirrorEvents`); each follower copies it event for event into its own log, with the
//! leader's sequence numbers and terms, and acknowledges what it stored: clients are shown
//! an event only once the followers that keep up hold it (see the event log's
//! visibility), so a client's `Watch` resumes on any replica. A
//! follower resumes after the newest event it holds, naming that event's term: if the
//! leader holds a different event there (a leader died with events nobody copied, and
//! the next one numbered on from its own copy), or no longer holds it, the follower is
//! told to forget its log and copy the leader's afresh. A new leader continues from the
//! log it copied.

use std::{pin::Pin, sync::Arc, time::Duration};

use datakit::proto::{
    MirrorEventsRequest, MirroredEvent, replica_service_client::ReplicaServiceClient,
    replica_service_server::ReplicaService,
};
use tokio::sync::mpsc;
use tokio_stream::{Stream, StreamExt, wrappers::ReceiverStream};
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, Response, Status, Streaming};

use super::forward::LeaderLink;
use crate::{
    api::errors::answer,
    promotion::{EventLog, Leadership, Mirror, ReadError, Role},
    store::{decode_event, encode_event},
};

/// Events read from the log per batch.
const BATCH: usize = 512;
/// How long a follower waits before asking the leader again after a failure.
const RETRY: Duration = Duration::from_millis(250);

/// The leader's side.
#[derive(Clone)]
pub struct MirrorSource {
    pub events: Arc<EventLog>,
    pub leadership: Arc<Leadership>,
    pub shutdown: CancellationToken,
}

type MirrorStream = Pin<Box<dyn Stream<Item = Result<MirroredEvent, Status>> + Send + 'static>>;

fn unavailable(error: impl std::fmt::Display) -> Status {
    answer(Code::Unavailable, &error.to_string())
}

impl MirrorSource {
    /// Where a follower resuming after (`after`, `term`) starts: after `after`, or afresh
    /// after the event before the oldest retained one.
    fn start(&self, after: u64, term: u64) -> Result<(u64, bool), Status> {
        if after > 0 && self.events.term_of(after).map_err(unavailable)? == Some(term) {
            return Ok((after, false));
        }
        let (stored, _) = *self.events.progress().borrow();
        let oldest = self
            .events
            .read_stored_after(0, 1, stored)
            .map_err(unavailable)?
            .first()
            .map_or(stored, |e| e.sequence - 1);
        // A follower with nothing need not forget anything when the log starts at 1.
        Ok((oldest, after > 0 || oldest > 0))
    }

    /// Sends every stored event after `cursor`, then each new one, and what clients may see
    /// as that moves, until the follower goes, this replica stops leading, or dkd stops.
    async fn serve(
        self,
        mut cursor: u64,
        mut afresh: bool,
        sender: mpsc::Sender<Result<MirroredEvent, Status>>,
    ) {
        let mut progress = self.events.progress();
        let mut roles = self.leadership.subscribe();
        let mut told_shown = None;
        loop {
            if !self.leadership.may_write() {
                let _ = sender
                    .send(Err(unavailable(
                        "this replica no longer leads: follow the new leader",
                    )))
                    .await;
                return;
            }
            let (stored, shown) = *progress.borrow_and_update();
            let batch = match self.events.read_stored_after(cursor, BATCH, stored) {
                Ok(batch) => batch,
                Err(ReadError::Expired { .. }) => {
                    // The follower fell behind the retained log while copying.
                    match self.start(0, 0) {
                        Ok((oldest, _)) => (cursor, afresh) = (oldest, true),
                        Err(status) => {
                            let _ = sender.send(Err(status)).await;
                            return;
                        }
                    }
                    continue;
                }
                Err(error) => {
                    let _ = sender.send(Err(unavailable(error))).await;
                    return;
                }
            };
            for event in &batch {
                let record = match encode_event(event) {
                    Ok(record) => record,
                    Err(error) => {
                        let _ = sender.send(Err(unavailable(error))).await;
                        return;
                    }
                };
                let message = MirroredEvent {
                    start_afresh: std::mem::take(&mut afresh),
                    sequence: event.sequence,
                    record,
                    leader_shows: shown,
                };
                if sender.send(Ok(message)).await.is_err() {
                    return;
                }
                cursor = event.sequence;
                told_shown = Some(shown);
            }
            if batch.len() == BATCH {
                continue;
            }
            if told_shown != Some(shown) {
                let message = MirroredEvent {
                    leader_shows: shown,
                    ..MirroredEvent::default()
                };
                if sender.send(Ok(message)).await.is_err() {
                    return;
                }
                told_shown = Some(shown);
            }
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                () = sender.closed() => return,
                changed = progress.changed() => if changed.is_err() { return },
                changed = roles.changed() => if changed.is_err() { return },
            }
        }
    }
}

#[tonic::async_trait]
impl ReplicaService for MirrorSource {
    type MirrorEventsStream = MirrorStream;

    async fn mirror_events(
        &self,
        request: Request<Streaming<MirrorEventsRequest>>,
    ) -> Result<Response<Self::MirrorEventsStream>, Status> {
        if !self.leadership.may_write() {
            return Err(answer(
                Code::FailedPrecondition,
                "this replica does not lead: copy the leader's log",
            ));
        }
        let mut requests = request.into_inner();
        let Some(first) = requests.message().await? else {
            return Err(answer(Code::InvalidArgument, "no resume point"));
        };
        let (cursor, afresh) = self.start(first.after, first.after_term)?;
        // Counted from where it holds the same log; it acknowledges as it stores.
        let copying = self.events.follower_copies(if afresh { 0 } else { cursor });
        tokio::spawn(async move {
            while let Ok(Some(ack)) = requests.message().await {
                copying.acknowledged(ack.acknowledged);
            }
        });
        let (sender, receiver) = mpsc::channel(BATCH);
        tokio::spawn(self.clone().serve(cursor, afresh, sender));
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }
}

/// How often a leader looks again at what clients may see without a new event or
/// acknowledgement (a follower too slow to count; events copied before it led).
const REVEAL_INTERVAL: Duration = Duration::from_millis(200);

/// The follower's side: copies the leader's log whenever another replica leads (and
/// keeps showing what may be shown while this one leads), until `shutdown`.
pub async fn follow_leader_log(link: Arc<LeaderLink>, mirror: Mirror, shutdown: CancellationToken) {
    let mut roles = link.leadership().subscribe();
    loop {
        let role = roles.borrow_and_update().clone();
        let leader = match role {
            Role::Follower {
                leader: Some(leader),
            } => leader,
            _ => {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    changed = roles.changed() => if changed.is_err() { return },
                    () = tokio::time::sleep(REVEAL_INTERVAL) => mirror.reveal(),
                }
                continue;
            }
        };
        let copied = tokio::select! {
            () = shutdown.cancelled() => return,
            _ = roles.changed() => continue,
            copied = copy_from(&link, &leader, &mirror) => copied,
        };
        if let Err(error) = copied {
            tracing::info!(leader = %leader.replica, %error, "copying the leader's event log paused; resuming");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(RETRY) => {}
        }
    }
}

/// Copies events from `leader` until the stream ends or fails, acknowledging each.
async fn copy_from(
    link: &LeaderLink,
    leader: &crate::promotion::LeaderInfo,
    mirror: &Mirror,
) -> Result<(), String> {
    let channel = link.channel(leader).map_err(|e| e.to_string())?;
    let (after, after_term) = mirror
        .resume_point()
        .map_err(|e| e.to_string())?
        .unwrap_or((0, 0));
    let (acknowledge, acknowledgements) = mpsc::channel(BATCH);
    let first = MirrorEventsRequest {
        after,
        after_term,
        acknowledged: after,
    };
    acknowledge.send(first).await.map_err(|e| e.to_string())?;
    let mut stream = ReplicaServiceClient::new(channel)
        .mirror_events(ReceiverStream::new(acknowledgements))
        .await
        .map_err(|status| status.message().to_owned())?
        .into_inner();
    while let Some(message) = stream.next().await {
        let message = message.map_err(|status| status.message().to_owned())?;
        if message.start_afresh {
            tracing::warn!(leader = %leader.replica, "the leader's event log differs from this replica's: copying it afresh");
            mirror.start_afresh().await.map_err(|e| e.to_string())?;
        }
        if message.record.is_empty() {
            mirror.leader_shows(message.leader_shows);
            continue;
        }
        let event = decode_event(&message.record)?;
        let sequence = event.sequence;
        mirror
            .apply(event, message.leader_shows)
            .await
            .map_err(|e| e.to_string())?;
        let ack = MirrorEventsRequest {
            acknowledged: sequence,
            ..MirrorEventsRequest::default()
        };
        acknowledge.send(ack).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}
