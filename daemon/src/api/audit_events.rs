//! `ListAuditEvents`: the newest matching events of the audit log, oldest first, read off
//! the async workers; for dkd's admin.

use std::{sync::Arc, time::SystemTime};

use datakit::proto;
use tonic::{Code, Status};

use super::{audit::given, errors::answer};
use crate::audit::{AuditEvent, AuditFilter, AuditLog};

/// How many events ListAuditEvents returns when the request does not say, and at most.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

fn timestamp(time: &str) -> Option<prost_types::Timestamp> {
    humantime::parse_rfc3339_weak(time)
        .ok()
        .map(prost_types::Timestamp::from)
}

fn to_proto(event: AuditEvent) -> proto::AuditEvent {
    proto::AuditEvent {
        time: timestamp(&event.time),
        principal: event.principal,
        groups: event.groups,
        auth: event.auth,
        peer: event.peer,
        rpc: event.rpc,
        package: event.package.unwrap_or_default(),
        environment: event.environment.unwrap_or_default(),
        version: event.version.unwrap_or_default(),
        promotion_id: event.promotion_id.unwrap_or_default(),
        token: event.token.unwrap_or_default(),
        as_user: event.as_user.unwrap_or_default(),
        dry_run: event.dry_run,
        outcome: event.outcome,
        message: event.message.unwrap_or_default(),
    }
}

/// `ListAuditEvents`, for a caller RBAC has let through as admin.
pub async fn list(
    log: &Arc<AuditLog>,
    request: proto::ListAuditEventsRequest,
) -> Result<proto::ListAuditEventsResponse, Status> {
    let since = request
        .since
        .map(SystemTime::try_from)
        .transpose()
        .map_err(|_| answer(Code::InvalidArgument, "since is not a valid time"))?;
    let filter = AuditFilter {
        package: given(&request.package),
        environment: given(&request.environment),
        principal: given(&request.principal),
        since,
    };
    let limit = match usize::try_from(request.limit).unwrap_or(MAX_LIMIT) {
        0 => DEFAULT_LIMIT,
        limit => limit.min(MAX_LIMIT),
    };
    let log = log.clone();
    let listed = tokio::task::spawn_blocking(move || log.list(&filter, limit))
        .await
        .map_err(|error| {
            answer(
                Code::Internal,
                &format!("reading the audit log failed: {error}"),
            )
        })?
        .map_err(|error| answer(Code::Unavailable, &error.to_string()))?;
    Ok(proto::ListAuditEventsResponse {
        events: listed.events.into_iter().map(to_proto).collect(),
        more: listed.more,
    })
}
