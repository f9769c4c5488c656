//! `GetNotificationStatus`: each webhook of `dkd.yaml` with how its deliveries went.

use std::time::{Duration, SystemTime};

use datakit::proto;

use super::convert::timestamp;
use crate::notify::Notifications;

/// The answer, for a caller RBAC has let through as admin.
pub fn status(notifications: &Notifications) -> proto::GetNotificationStatusResponse {
    proto::GetNotificationStatusResponse {
        webhooks: notifications
            .status()
            .into_iter()
            .map(|webhook| {
                let record = webhook.record;
                proto::WebhookStatus {
                    name: webhook.name,
                    destination: webhook.destination,
                    format: webhook.format.to_owned(),
                    events: webhook.events,
                    delivered_sequence: record.delivered_sequence,
                    delivered_event: record.delivered_event,
                    last_success: (record.last_success_ms > 0).then(|| {
                        timestamp(
                            SystemTime::UNIX_EPOCH + Duration::from_millis(record.last_success_ms),
                        )
                    }),
                    consecutive_failures: record.consecutive_failures,
                    last_error: record.last_error,
                    handled_sequence: record.handled_sequence,
                    notice: record.notice,
                }
            })
            .collect(),
    }
}
