//! `dk audit [--package P] [--env E] [--principal U] [--since 1h|RFC3339] [--limit N]`:
//! dkd's audit log — every mutating and every refused call — oldest first, newest last.

use std::time::SystemTime;

use datakit::proto::{self, ListAuditEventsRequest};
use serde::Serialize;

use crate::{
    cli::AuditArgs,
    connect::Client,
    error::CliError,
    output::{NONE, OutputFormat, Table, note, render_structured},
};

/// `--since`: a duration back from now (`90m`, `1h`, `2d`) or an RFC 3339 time.
pub fn parse_since(text: &str) -> Result<SystemTime, String> {
    if let Ok(ago) = humantime::parse_duration(text) {
        return SystemTime::now()
            .checked_sub(ago)
            .ok_or_else(|| format!("{text} ago is before the epoch"));
    }
    humantime::parse_rfc3339_weak(text).map_err(|_| {
        format!("{text:?} is neither a duration (e.g. 1h, 2d) nor an RFC 3339 time (e.g. 2026-11-30T09:00:00Z)")
    })
}

/// An event as `-o json|yaml` shows it; empty fields left out.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EventView {
    time: String,
    principal: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    groups: Vec<String>,
    auth: String,
    peer: String,
    rpc: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    package: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    environment: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    promotion_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    token: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    as_user: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    dry_run: bool,
    outcome: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    message: String,
}

impl From<proto::AuditEvent> for EventView {
    fn from(event: proto::AuditEvent) -> Self {
        Self {
            time: event.time.map(|t| t.to_string()).unwrap_or_default(),
            principal: event.principal,
            groups: event.groups,
            auth: event.auth,
            peer: event.peer,
            rpc: event.rpc,
            package: event.package,
            environment: event.environment,
            version: event.version,
            promotion_id: event.promotion_id,
            token: event.token,
            as_user: event.as_user,
            dry_run: event.dry_run,
            outcome: event.outcome,
            message: event.message,
        }
    }
}

impl EventView {
    /// What the call was about, in one cell: `my-package v1.0.0 → prod (p-3)`.
    fn about(&self) -> String {
        let mut parts = Vec::new();
        if !self.package.is_empty() {
            parts.push(self.package.clone());
        }
        if !self.version.is_empty() {
            parts.push(self.version.clone());
        }
        if !self.environment.is_empty() {
            parts.push(format!("→ {}", self.environment));
        }
        if !self.promotion_id.is_empty() {
            parts.push(format!("({})", self.promotion_id));
        }
        if !self.token.is_empty() {
            parts.push(format!("token {}", self.token));
        }
        if !self.as_user.is_empty() {
            parts.push(format!("as {}", self.as_user));
        }
        if self.dry_run {
            parts.push("dry run".to_owned());
        }
        if parts.is_empty() {
            NONE.to_owned()
        } else {
            parts.join(" ")
        }
    }

    fn who(&self) -> String {
        let who = if self.principal.is_empty() {
            "(unauthenticated)".to_owned()
        } else {
            self.principal.clone()
        };
        if self.groups.is_empty() {
            who
        } else {
            format!("{who} [{}]", self.groups.join(","))
        }
    }
}

/// `dk audit`.
pub async fn audit(
    client: &mut Client,
    format: OutputFormat,
    args: AuditArgs,
) -> Result<String, CliError> {
    let request = ListAuditEventsRequest {
        package: args.package.unwrap_or_default(),
        environment: args.env.unwrap_or_default(),
        principal: args.principal.unwrap_or_default(),
        since: args.since.map(prost_types::Timestamp::from),
        limit: args.limit,
    };
    let response = client.list_audit_events(request).await?.into_inner();
    if response.more {
        note("dk: older matching events exist: narrow with --since or raise --limit");
    }
    let events: Vec<EventView> = response.events.into_iter().map(EventView::from).collect();
    if format != OutputFormat::Table {
        return render_structured(format, &events);
    }
    if events.is_empty() {
        return Ok("no matching audit events\n".to_owned());
    }
    let mut table = Table::new(&["Time", "Principal", "Auth", "Peer", "Call", "On", "Outcome"]);
    for event in &events {
        table.row(vec![
            event.time.clone(),
            event.who(),
            event.auth.clone(),
            event.peer.clone(),
            event.rpc.rsplit('/').next().unwrap_or_default().to_owned(),
            event.about(),
            event.outcome.clone(),
        ]);
    }
    Ok(table.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_duration_back_from_now_or_an_rfc3339_time() {
        let hour_ago = parse_since("1h").expect("duration");
        let elapsed = SystemTime::now().duration_since(hour_ago).expect("past");
        assert!((3599..=3601).contains(&elapsed.as_secs()), "{elapsed:?}");
        assert!(parse_since("2026-11-30T09:00:00Z").is_ok());
        let error = parse_since("yesterday").expect_err("refused");
        assert!(error.contains("RFC 3339"), "{error}");
    }
}
