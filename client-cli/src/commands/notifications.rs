//! `dk notifications status`: the outgoing webhooks of dkd.yaml and how their deliveries
//! went — last event delivered, last success, failures in a row, last error.

use clap::Subcommand;
use datakit::proto::{self, GetNotificationStatusRequest};
use serde::Serialize;

use crate::{
    connect::Client,
    error::CliError,
    output::{NONE, OutputFormat, Table, render_structured},
};

/// `dk notifications`.
#[derive(Debug, Subcommand)]
pub enum NotificationsCommand {
    /// Each webhook: destination, last event delivered, last success, failures in a row and
    /// the last error (for dkd's admin: run it on the local socket)
    Status,
}

/// A webhook as `-o json|yaml` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookView {
    name: String,
    destination: String,
    format: String,
    events: Vec<String>,
    handled_sequence: u64,
    delivered_sequence: u64,
    delivered_event: String,
    last_success: Option<String>,
    consecutive_failures: u64,
    last_error: String,
    notice: String,
}

impl From<proto::WebhookStatus> for WebhookView {
    fn from(webhook: proto::WebhookStatus) -> Self {
        Self {
            name: webhook.name,
            destination: webhook.destination,
            format: webhook.format,
            events: webhook.events,
            handled_sequence: webhook.handled_sequence,
            delivered_sequence: webhook.delivered_sequence,
            delivered_event: webhook.delivered_event,
            last_success: webhook.last_success.map(|t| t.to_string()),
            consecutive_failures: webhook.consecutive_failures,
            last_error: webhook.last_error,
            notice: webhook.notice,
        }
    }
}

fn or_none(text: &str) -> String {
    if text.is_empty() {
        NONE.to_owned()
    } else {
        text.to_owned()
    }
}

/// `dk notifications status`.
pub async fn status(client: &mut Client, format: OutputFormat) -> Result<String, CliError> {
    let response = client
        .get_notification_status(GetNotificationStatusRequest {})
        .await?
        .into_inner();
    let webhooks: Vec<WebhookView> = response
        .webhooks
        .into_iter()
        .map(WebhookView::from)
        .collect();
    if format != OutputFormat::Table {
        return render_structured(format, &webhooks);
    }
    if webhooks.is_empty() {
        return Ok("no webhooks: add notifications: to dkd.yaml and restart dkd\n".to_owned());
    }
    let mut table = Table::new(&[
        "Name",
        "Destination",
        "Last delivered",
        "Last success",
        "Failures",
        "Last error",
    ]);
    for webhook in &webhooks {
        let delivered = if webhook.delivered_sequence == 0 {
            NONE.to_owned()
        } else {
            format!(
                "{} (#{})",
                webhook.delivered_event, webhook.delivered_sequence
            )
        };
        table.row(vec![
            webhook.name.clone(),
            webhook.destination.clone(),
            delivered,
            webhook
                .last_success
                .clone()
                .unwrap_or_else(|| NONE.to_owned()),
            webhook.consecutive_failures.to_string(),
            or_none(&webhook.last_error),
        ]);
    }
    let mut text = table.render();
    for webhook in webhooks.iter().filter(|w| !w.notice.is_empty()) {
        text.push_str(&format!("{}: {}\n", webhook.name, webhook.notice));
    }
    Ok(text)
}
