//! One POST to a webhook, retried with exponential backoff on a 5xx, a 429, a timeout or a
//! connection error; any other 4xx is final.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::signature;
use crate::config::Webhook;

/// The first wait between attempts; doubled each time up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Why an event was not delivered. The URL is named by its origin only: the path of a
/// Slack URL is its secret, and these messages reach logs and `dk notifications status`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("{url} refused {event} with HTTP {status}: not retried; fix the receiver")]
    Refused {
        url: String,
        event: String,
        status: u16,
    },
    #[error("{url} did not take {event} after {attempts} attempts: {last}")]
    GaveUp {
        url: String,
        event: String,
        attempts: u32,
        last: String,
    },
    #[error("dkd is stopping")]
    Stopped,
}

/// What to POST.
#[derive(Debug)]
pub struct Delivery<'a> {
    pub event: &'a str,
    pub id: &'a str,
    pub body: Vec<u8>,
}

/// POSTs `delivery` to `webhook` until it is taken, refused, or `max_attempts` ran out.
pub async fn deliver(
    http: &reqwest::Client,
    webhook: &Webhook,
    delivery: &Delivery<'_>,
    stop: &CancellationToken,
) -> Result<(), DeliveryError> {
    let mut backoff = FIRST_BACKOFF;
    let mut last = String::new();
    for attempt in 1..=webhook.max_attempts {
        if attempt > 1 {
            tokio::select! {
                () = stop.cancelled() => return Err(DeliveryError::Stopped),
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        let mut request = http
            .post(webhook.url.clone())
            .timeout(webhook.timeout)
            .header("Content-Type", "application/json")
            .header("X-DataKit-Event", delivery.event)
            .header("X-DataKit-Delivery", delivery.id)
            .body(delivery.body.clone());
        if let Some(secret) = &webhook.secret {
            request = request.header(
                "X-DataKit-Signature",
                signature::header(secret, &delivery.body),
            );
        }
        let outcome = tokio::select! {
            () = stop.cancelled() => return Err(DeliveryError::Stopped),
            outcome = request.send() => outcome,
        };
        match outcome {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => {
                let status = response.status();
                if status.is_client_error() && status.as_u16() != 429 {
                    return Err(DeliveryError::Refused {
                        url: webhook.url.origin().ascii_serialization(),
                        event: delivery.event.to_owned(),
                        status: status.as_u16(),
                    });
                }
                last = format!("HTTP {}", status.as_u16());
            }
            Err(error) if error.is_timeout() => {
                last = format!(
                    "no answer within {}",
                    humantime::format_duration(webhook.timeout)
                );
            }
            Err(error) => last = error_chain(&error.without_url()),
        }
        tracing::debug!(webhook = %webhook.name, attempt, %last, "webhook attempt failed");
    }
    Err(DeliveryError::GaveUp {
        url: webhook.url.origin().ascii_serialization(),
        event: delivery.event.to_owned(),
        attempts: webhook.max_attempts,
        last,
    })
}

/// `error` and its causes on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}
