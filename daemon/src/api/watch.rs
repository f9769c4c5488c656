//! The Watch stream of one client: a snapshot, in parts when large (or a replay from its
//! resume point), then live events, each with its sequence number, and heartbeats when
//! idle. Each client has its own bounded buffer fed by its own task: a slow client falls
//! behind on the live channel and catches up from the store, never stalling others or the
//! engine. A client sees only what RBAC lets it read (its `Reader`), and on the network
//! listener each principal may have only so many streams open at once.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use datakit::proto;
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Status};

use super::{
    access::Reader,
    convert,
    encoded::Encoded,
    errors,
    watch_conversions::WatchConversions,
    watch_snapshot::{SNAPSHOT_PART_BUDGET, snapshot_parts},
};
use crate::promotion::{
    Engine, EnvironmentCatalog, Event, EventLog, PromotionError, ReadError, StatusBoard,
};

/// Messages buffered per client before its task waits for the client.
const CLIENT_BUFFER: usize = 256;
/// Events read from the store per catch-up batch.
const CATCH_UP_BATCH: usize = 512;
/// How long a resume point beyond this replica's newest event waits for it to arrive from
/// the leader before it counts as a reset log.
const MIRROR_PATIENCE: Duration = Duration::from_secs(3);

/// What a Watch stream needs.
#[derive(Clone)]
pub struct WatchSources {
    pub catalog: Arc<EnvironmentCatalog>,
    pub events: Arc<EventLog>,
    pub board: Arc<StatusBoard>,
    pub engine: Arc<Engine>,
    pub heartbeat: Duration,
    pub shutdown: CancellationToken,
    /// Each event converted once for every stream.
    pub conversions: Arc<WatchConversions>,
}

/// The Watch and Logs streams open on the network listener, per principal, and the cap on
/// them.
#[derive(Debug)]
pub struct OpenStreams {
    cap: usize,
    open: Mutex<HashMap<String, usize>>,
}

impl OpenStreams {
    /// At most `cap` streams per principal.
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            open: Mutex::default(),
        }
    }

    /// Counts a new stream of `principal` until the returned subscription is dropped, or
    /// answers RESOURCE_EXHAUSTED when `principal` already has `cap` open.
    pub fn join(self: &Arc<Self>, principal: &str) -> Result<Subscription, Status> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(principal.to_owned()).or_default();
        if *count >= self.cap {
            return Err(errors::answer(
                Code::ResourceExhausted,
                &format!(
                    "{principal} already has {} Watch and Logs streams open, the most this dkd allows one caller (listen.limits.streams_per_principal in dkd.yaml): close one, or its admin raises the limit",
                    self.cap
                ),
            ));
        }
        *count += 1;
        Ok(Subscription {
            subscribers: self.clone(),
            principal: principal.to_owned(),
        })
    }
}

/// One counted Watch or Logs stream; uncounted when dropped, i.e. when the stream ends.
#[derive(Debug)]
pub struct Subscription {
    subscribers: Arc<OpenStreams>,
    principal: String,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut open = self
            .subscribers
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.principal) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.principal);
            }
        }
    }
}

type Sender = mpsc::Sender<Result<Encoded, Status>>;

/// Whether `event` is one the client asked for and may read; events about no package
/// (configuration changes) go to everyone who asked for no filter.
fn wanted(event: &Event, request: &proto::WatchRequest, reader: &Reader) -> bool {
    event.matches(&request.package, &request.environment)
        && match (event.package(), event.environment()) {
            (Some(package), Some(environment)) => reader.may_read(environment, package),
            _ => true,
        }
}

/// Why a stream stopped early.
enum Stop {
    /// The client went away or dkd is shutting down.
    Gone,
    /// Something the client must be told.
    Failed(Status),
}

fn read_error(error: ReadError) -> Status {
    match error {
        ReadError::Expired { .. } | ReadError::Ahead { .. } => {
            errors::answer(Code::OutOfRange, &error.to_string())
        }
        ReadError::Unavailable(error) => errors::status(error),
    }
}

impl WatchSources {
    /// Starts the stream for `request`, counted as `subscription` (if any) while it runs;
    /// the returned receiver is the response body.
    pub fn start(
        self,
        request: proto::WatchRequest,
        reader: Reader,
        subscription: Option<Subscription>,
    ) -> ReceiverStream<Result<Encoded, Status>> {
        let (sender, receiver) = mpsc::channel(CLIENT_BUFFER);
        tokio::spawn(async move {
            if let Stop::Failed(status) = self.stream(&request, &reader, &sender).await {
                let _ = sender.send(Err(status)).await;
            }
            drop(subscription);
        });
        ReceiverStream::new(receiver)
    }

    /// Sends a message of this stream alone (a snapshot part, a heartbeat).
    async fn send(&self, sender: &Sender, event: &proto::WatchEvent) -> Result<(), Stop> {
        self.send_encoded(sender, Encoded::of(event)).await
    }

    async fn send_encoded(&self, sender: &Sender, event: Encoded) -> Result<(), Stop> {
        tokio::select! {
            sent = sender.send(Ok(event)) => sent.map_err(|_| Stop::Gone),
            () = self.shutdown.cancelled() => Err(Stop::Gone),
        }
    }

    /// Sends `event`, converted and encoded once for every stream that sends it.
    async fn send_event(&self, sender: &Sender, event: &Event) -> Result<(), Stop> {
        let encoded = self.conversions.get(event, &self.engine, &self.catalog);
        self.send_encoded(sender, encoded).await
    }

    async fn stream(
        &self,
        request: &proto::WatchRequest,
        reader: &Reader,
        sender: &Sender,
    ) -> Stop {
        match self.run(request, reader, sender).await {
            Ok(()) => Stop::Gone,
            Err(stop) => stop,
        }
    }

    async fn run(
        &self,
        request: &proto::WatchRequest,
        reader: &Reader,
        sender: &Sender,
    ) -> Result<(), Stop> {
        // Subscribe before reading anything, so no event falls between the two.
        let mut live = self.events.subscribe();
        let mut last = match request.resume_after {
            Some(sequence) => {
                // A replica's copy of the leader's log may trail it by a moment.
                self.events.until_holds(sequence, MIRROR_PATIENCE).await;
                sequence
            }
            None => {
                // The board and the log read together: a status the snapshot shows is
                // never sent again as an event after it.
                let (sequence, snapshot) = self
                    .board
                    .consistent(|| {
                        let sequence = self.events.last_sequence()?;
                        Ok((sequence, self.snapshot(request, reader)?))
                    })
                    .await
                    .map_err(|e: PromotionError| Stop::Failed(errors::status(e)))?;
                // In parts, each within what clients accept by default; cut after the read,
                // so the board is not held meanwhile.
                let time = Some(convert::timestamp(crate::promotion::now()));
                for part in snapshot_parts(snapshot, sequence, time, SNAPSHOT_PART_BUDGET) {
                    self.send(sender, &part).await?;
                }
                sequence
            }
        };
        last = self.catch_up(request, reader, sender, last).await?;
        let mut heartbeat = tokio::time::interval(self.heartbeat);
        heartbeat.reset();
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => return Ok(()),
                () = sender.closed() => return Ok(()),
                _ = heartbeat.tick() => {
                    let beat = proto::WatchEvent {
                        sequence: 0,
                        time: Some(convert::timestamp(crate::promotion::now())),
                        event: Some(proto::watch_event::Event::Heartbeat(proto::Heartbeat {})),
                        snapshot_sequence: 0,
                    };
                    self.send(sender, &beat).await?;
                }
                received = live.recv() => match received {
                    Ok(event) if event.sequence <= last => {}
                    Ok(event) if event.sequence == last + 1 => {
                        if wanted(&event, request, reader) {
                            self.send_event(sender, &event).await?;
                            heartbeat.reset();
                        }
                        last = event.sequence;
                    }
                    // A gap (or a lag): the store has everything in order.
                    Ok(_) | Err(RecvError::Lagged(_)) => last = self.catch_up(request, reader, sender, last).await?,
                    Err(RecvError::Closed) => return Ok(()),
                },
            }
        }
    }

    /// Sends every stored event after `last` that matches; returns the new last sequence.
    async fn catch_up(
        &self,
        request: &proto::WatchRequest,
        reader: &Reader,
        sender: &Sender,
        mut last: u64,
    ) -> Result<u64, Stop> {
        loop {
            let batch = self
                .events
                .read_after(last, CATCH_UP_BATCH)
                .map_err(|e| Stop::Failed(read_error(e)))?;
            if batch.is_empty() {
                return Ok(last);
            }
            for event in batch {
                if wanted(&event, request, reader) {
                    self.send_event(sender, &event).await?;
                }
                last = event.sequence;
            }
        }
    }

    /// Everything matching `request` that `reader` may read, whole (see `watch_snapshot` for
    /// how it is sent).
    fn snapshot(
        &self,
        request: &proto::WatchRequest,
        reader: &Reader,
    ) -> Result<proto::Snapshot, PromotionError> {
        let wanted = |package: &str, environment: &str| {
            (request.package.is_empty() || request.package == package)
                && (request.environment.is_empty() || request.environment == environment)
                && reader.may_read(environment, package)
        };
        let served = self.catalog.snapshot().current;
        let packages = self
            .board
            .all()?
            .iter()
            .filter(|s| wanted(&s.package, &s.environment))
            .map(|s| proto::PackageStatus {
                hold: served
                    .as_ref()
                    .and_then(|config| config.active_hold(&s.environment, &s.package))
                    .map(convert::hold),
                ..convert::package_status(&s.package, &s.environment, Some(s))
            })
            .collect();
        let promotions = self
            .engine
            .open_promotions()?
            .iter()
            .filter(|p| wanted(&p.package, &p.environment))
            .map(|p| convert::promotion(p, self.engine.explain(p)))
            .collect();
        let environments = match self.catalog.snapshot().current {
            Some(config) => config
                .environments
                .environments()
                .iter()
                .filter(|e| request.environment.is_empty() || request.environment == e.name)
                .filter(|e| reader.may_read_environment(&e.name))
                .map(|e| convert::environment(&config, e))
                .collect(),
            None => Vec::new(),
        };
        Ok(proto::Snapshot {
            packages,
            promotions,
            environments,
            more: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_principal_gets_at_most_its_cap_of_streams_and_a_closed_one_frees_its_place() {
        let subscribers = Arc::new(OpenStreams::new(2));
        let first = subscribers.join("alice").expect("first");
        let _second = subscribers.join("alice").expect("second");
        let refused = subscribers.join("alice").expect_err("third");
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert!(!refused.message().contains('\n'), "{}", refused.message());
        let _bob = subscribers.join("bob").expect("another principal");
        drop(first);
        let _again = subscribers.join("alice").expect("a place was freed");
    }
}
