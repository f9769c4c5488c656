//! Outgoing notifications: a task per webhook of `dkd.yaml` follows the event log and
//! POSTs signed promotion events (see `follower`); the ledger remembers how far each got
//! and how its deliveries went, for `dk notifications status`.

mod delivery;
mod follower;
mod ledger;
mod notice;
mod signature;

use std::{path::Path, sync::Arc};

use tokio_util::sync::CancellationToken;

pub use follower::ResumePoint;
pub use ledger::WebhookRecord;

use crate::{
    config::{Webhook, WebhookFormat},
    promotion::{EnvironmentCatalog, EventLog},
};

/// Why notifications could not start.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("cannot build the webhook HTTP client: {0}")]
    Client(String),
}

/// One webhook as `dk notifications status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookStatus {
    pub name: String,
    /// Scheme, host and port only: the path of a Slack URL is its secret.
    pub destination: String,
    pub format: &'static str,
    pub events: Vec<String>,
    pub record: WebhookRecord,
}

/// The configured webhooks and their ledger.
#[derive(Debug, Clone)]
pub struct Notifications {
    webhooks: Arc<Vec<Webhook>>,
    ledger: ledger::Ledger,
}

impl Notifications {
    /// The webhooks of `dkd.yaml`, their progress kept in `ledger_file`.
    pub fn new(webhooks: Vec<Webhook>, ledger_file: &Path) -> Self {
        Self {
            webhooks: Arc::new(webhooks),
            ledger: ledger::Ledger::open(ledger_file),
        }
    }

    /// Starts one follower per webhook; they stop with `stop`. A webhook whose ledger does
    /// not match the log resumes at `resume` when given (the log as dkd started), else at
    /// the newest event.
    pub fn start(
        &self,
        events: Arc<EventLog>,
        catalog: Arc<EnvironmentCatalog>,
        count_asserted: bool,
        resume: Option<ResumePoint>,
        stop: CancellationToken,
    ) -> Result<tokio::task::JoinHandle<()>, NotifyError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("dkd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| NotifyError::Client(error.to_string()))?;
        let sources = follower::Sources {
            events,
            catalog,
            ledger: self.ledger.clone(),
            http,
            count_asserted,
        };
        let followers: Vec<_> = self
            .webhooks
            .iter()
            .map(|webhook| {
                tokio::spawn(follower::follow(
                    webhook.clone(),
                    sources.clone(),
                    resume,
                    stop.clone(),
                ))
            })
            .collect();
        Ok(tokio::spawn(async move {
            for follower in followers {
                if let Err(error) = follower.await {
                    tracing::warn!(%error, "a webhook follower ended abnormally");
                }
            }
        }))
    }

    /// Every configured webhook with its progress, in configuration order.
    pub fn status(&self) -> Vec<WebhookStatus> {
        self.webhooks
            .iter()
            .map(|webhook| WebhookStatus {
                name: webhook.name.clone(),
                destination: webhook.url.origin().ascii_serialization(),
                format: match webhook.format {
                    WebhookFormat::Json => "json",
                    WebhookFormat::Slack => "slack",
                },
                events: webhook.events.iter().cloned().collect(),
                record: self.ledger.get(&webhook.name).unwrap_or_default(),
            })
            .collect()
    }
}
