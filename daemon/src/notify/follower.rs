//! One webhook's task: follows the persisted event log by sequence from where the ledger
//! says it stopped, turns promotion and hold events into notices and delivers them one at a
//! time.
//! It only reads the log, so a slow or dead receiver never holds up the engine.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use tokio_util::sync::CancellationToken;

use super::{
    delivery::{self, Delivery, DeliveryError},
    ledger::{Ledger, WebhookRecord},
    notice,
};
use crate::{
    config::Webhook,
    promotion::{
        EffectiveRule, EnvironmentCatalog, Event, EventKind, EventLog, Policy, Promotion,
        PromotionState, ReadError,
    },
};

/// Events read from the log at once.
const BATCH: usize = 100;
/// How long an idle follower waits for a live event before looking at the log again.
const IDLE_RECHECK: Duration = Duration::from_secs(2);

/// Everything a follower reads.
#[derive(Debug, Clone)]
pub struct Sources {
    pub events: Arc<EventLog>,
    pub catalog: Arc<EnvironmentCatalog>,
    pub ledger: Ledger,
    pub http: reqwest::Client,
    /// Whether claimed approvals count (the embedded forge's demo mode).
    pub count_asserted: bool,
}

/// Where a webhook without a matching ledger record resumes: after event `sequence`, with
/// promotions opened from `at` on as news.
#[derive(Debug, Clone, Copy)]
pub struct ResumePoint {
    pub sequence: u64,
    pub at: SystemTime,
}

impl ResumePoint {
    /// The log as it is now.
    fn now(events: &EventLog) -> Self {
        Self {
            sequence: events.last_sequence().unwrap_or(0),
            at: crate::promotion::now(),
        }
    }
}

/// Follows the log for `webhook` until `stop`; `resume` as `starting_point` takes it.
pub async fn follow(
    webhook: Webhook,
    sources: Sources,
    resume: Option<ResumePoint>,
    stop: CancellationToken,
) {
    let mut live = sources.events.subscribe();
    let mut record = starting_point(&webhook, &sources, resume);
    save(&sources.ledger, &webhook, &record).await;
    loop {
        let batch = match sources.events.read_after(record.handled_sequence, BATCH) {
            Ok(batch) => batch,
            Err(ReadError::Expired { oldest, .. }) => {
                record.notice = format!(
                    "events {} to {} were pruned from the event log before they could be sent",
                    record.handled_sequence + 1,
                    oldest - 1
                );
                tracing::warn!(webhook = %webhook.name, notice = %record.notice);
                record.handled_sequence = oldest - 1;
                continue;
            }
            Err(ReadError::Ahead { last, .. }) => {
                let resume = ResumePoint {
                    sequence: last,
                    at: crate::promotion::now(),
                };
                reset(&webhook, &mut record, resume);
                continue;
            }
            Err(ReadError::Unavailable(error)) => {
                tracing::warn!(webhook = %webhook.name, %error, "cannot read the event log; retrying");
                if wait(&stop, IDLE_RECHECK).await {
                    return;
                }
                continue;
            }
        };
        if batch.is_empty() {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = live.recv() => {}
                () = tokio::time::sleep(IDLE_RECHECK) => {}
            }
            continue;
        }
        for event in batch {
            if handle(&webhook, &sources, &event, &mut record, &stop)
                .await
                .is_err()
            {
                return;
            }
        }
        save(&sources.ledger, &webhook, &record).await;
    }
}

/// Where `webhook` starts: after the last event it handled, or — new, or after the event
/// log was reset (a lost state database) — at `resume` (the log as dkd started, so what
/// happened since is sent) or else at the newest event, said so in its notice.
fn starting_point(
    webhook: &Webhook,
    sources: &Sources,
    resume: Option<ResumePoint>,
) -> WebhookRecord {
    let now = ResumePoint::now(&sources.events);
    let resume = resume.map_or(now, |resume| ResumePoint {
        sequence: resume.sequence.min(now.sequence),
        at: resume.at,
    });
    let Some(mut record) = sources.ledger.get(&webhook.name) else {
        return WebhookRecord {
            handled_sequence: resume.sequence,
            since_ms: millis(resume.at),
            ..WebhookRecord::default()
        };
    };
    if record.handled_sequence == 0 {
        return record;
    }
    let same_event = sources
        .events
        .read_after(record.handled_sequence - 1, 1)
        .ok()
        .and_then(|events| events.into_iter().next())
        .is_some_and(|event| {
            event.sequence == record.handled_sequence
                && millis(event.at) == record.handled_event_at_ms
        });
    let pruned = sources
        .events
        .read_after(record.handled_sequence, 0)
        .is_err_and(|error| matches!(error, ReadError::Expired { .. }));
    if !same_event && !pruned {
        reset(webhook, &mut record, resume);
    }
    record
}

fn reset(webhook: &Webhook, record: &mut WebhookRecord, resume: ResumePoint) {
    record.notice = format!(
        "the event log was reset (was the state database lost?): resumed after event {}; events in between were not sent",
        resume.sequence
    );
    tracing::warn!(webhook = %webhook.name, notice = %record.notice);
    record.handled_sequence = resume.sequence;
    record.handled_event_at_ms = 0;
    record.since_ms = millis(resume.at);
    record.seen.clear();
}

/// Delivers what `event` means to `webhook`; `Err` only when dkd is stopping (the event
/// stays unhandled, and is sent again after the restart).
async fn handle(
    webhook: &Webhook,
    sources: &Sources,
    event: &Event,
    record: &mut WebhookRecord,
    stop: &CancellationToken,
) -> Result<(), DeliveryError> {
    match &event.kind {
        EventKind::Promotion(promotion) => {
            let needs = still_needs(sources, promotion);
            let mut seen = record.seen.clone();
            let mut notices = notice::classify(promotion, &needs, &mut seen);
            // A webhook that started from "now" (new, or after the state database was lost)
            // follows the promotions opened since: older ones, restored and re-synced, are
            // history, not news.
            if millis(promotion.created_at) < record.since_ms {
                notices.clear();
            }
            for notice in notices {
                let id = format!("{}-{}", event.sequence, notice.event);
                let body = notice::body(
                    webhook.format,
                    &notice,
                    promotion,
                    &needs,
                    event.sequence,
                    &id,
                );
                let delivery = Delivery {
                    event: notice.event,
                    id: &id,
                    body,
                };
                send(webhook, sources, event.sequence, delivery, record, stop).await?;
            }
            record.seen = seen;
        }
        EventKind::Hold(hold) => {
            let notice = notice::hold(hold);
            // Holds replayed from the deployment repository (a rebuilt state database) that
            // changed before this webhook started are history, not news. Hold times are
            // whole seconds: one set in the second the webhook started is news.
            let news =
                notice::hold_changed_at(hold).is_none_or(|at| millis(at) + 1000 > record.since_ms);
            if news {
                let id = format!("{}-{}", event.sequence, notice.event);
                let delivery = Delivery {
                    event: notice.event,
                    id: &id,
                    body: notice::hold_body(webhook.format, &notice, hold, event.sequence, &id),
                };
                send(webhook, sources, event.sequence, delivery, record, stop).await?;
            }
        }
        EventKind::Status { .. } | EventKind::Config { .. } => {}
    }
    record.handled_sequence = event.sequence;
    record.handled_event_at_ms = millis(event.at);
    Ok(())
}

/// Delivers one notice, if `webhook` wants its event, and records how it went; `Err` only
/// when dkd is stopping.
async fn send(
    webhook: &Webhook,
    sources: &Sources,
    sequence: u64,
    delivery: Delivery<'_>,
    record: &mut WebhookRecord,
    stop: &CancellationToken,
) -> Result<(), DeliveryError> {
    if !webhook.events.contains(delivery.event) {
        return Ok(());
    }
    let event = delivery.event.to_owned();
    match delivery::deliver(&sources.http, webhook, &delivery, stop).await {
        Ok(()) => {
            record.delivered_sequence = sequence;
            record.delivered_event = event;
            record.last_success_ms = millis(crate::promotion::now());
            record.consecutive_failures = 0;
        }
        Err(DeliveryError::Stopped) => return Err(DeliveryError::Stopped),
        Err(error) => {
            tracing::warn!(webhook = %webhook.name, %error, "webhook delivery failed");
            record.consecutive_failures += 1;
            record.last_error = error.to_string();
        }
    }
    save(&sources.ledger, webhook, record).await;
    Ok(())
}

/// What the approval rule still wants of `promotion`, empty when nothing.
fn still_needs(sources: &Sources, promotion: &Promotion) -> String {
    if promotion.state != PromotionState::ChangeProposed {
        return String::new();
    }
    let Some(config) = sources.catalog.snapshot().current else {
        return String::new();
    };
    let Some(environment) = config.environments.get(&promotion.environment) else {
        return String::new();
    };
    let rule = EffectiveRule::for_promotion(environment, promotion.kind);
    Policy {
        rule: &rule,
        teams: config.teams.as_ref(),
        promoter: &promotion.promoter,
        count_asserted: sources.count_asserted,
    }
    .evaluate(&promotion.approvals)
    .needed
}

async fn save(ledger: &Ledger, webhook: &Webhook, record: &WebhookRecord) {
    if let Err(error) = ledger.save(&webhook.name, record.clone()).await {
        tracing::warn!(webhook = %webhook.name, %error, "cannot record webhook progress");
    }
}

/// Waits `duration`; `true` when dkd is stopping instead.
async fn wait(stop: &CancellationToken, duration: Duration) -> bool {
    tokio::select! {
        () = stop.cancelled() => true,
        () = tokio::time::sleep(duration) => false,
    }
}

/// Milliseconds since the epoch.
pub fn millis(at: std::time::SystemTime) -> u64 {
    at.duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
