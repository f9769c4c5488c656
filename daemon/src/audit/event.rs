//! One audit event as a JSON line, and the filter `ListAuditEvents` applies.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// What became of a call: `attempt` (written before a mutation runs; its outcome line
/// follows), `ok`, or the gRPC code it failed with, e.g. `PERMISSION_DENIED`.
pub struct Outcome;

impl Outcome {
    pub const ATTEMPT: &'static str = "attempt";
    pub const OK: &'static str = "ok";
}

/// One line of `audit.log`. Optional fields are left out when the call has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When dkd recorded it, RFC 3339 UTC (milliseconds).
    pub time: String,
    /// Who called; empty when the call was not authenticated.
    #[serde(default)]
    pub principal: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// `local-socket`, `service-token`, `oidc`, `client-certificate`, or `none`.
    pub auth: String,
    /// The TCP peer (`IP:PORT`) or `local socket`.
    pub peer: String,
    /// The full gRPC method, e.g. `/datakit.v1.DataKitService/Promote`.
    pub rpc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_id: Option<String>,
    /// The service token a token call names (never its secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The reviewer an Approve asserted (`dk approve --as`), besides the real caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_user: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// See [`Outcome`].
    pub outcome: String,
    /// The one-line answer of a failed call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `now` as RFC 3339 UTC with milliseconds, the `time` of an event.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// Which events `ListAuditEvents` returns; an unset field matches everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub package: Option<String>,
    pub environment: Option<String>,
    pub principal: Option<String>,
    /// Only events at or after this time.
    pub since: Option<SystemTime>,
}

impl AuditFilter {
    pub fn matches(&self, event: &AuditEvent) -> bool {
        let same = |wanted: &Option<String>, actual: Option<&str>| {
            wanted
                .as_deref()
                .is_none_or(|wanted| actual == Some(wanted))
        };
        same(&self.package, event.package.as_deref())
            && same(&self.environment, event.environment.as_deref())
            && same(&self.principal, Some(event.principal.as_str()))
            && self.since.is_none_or(|since| {
                humantime::parse_rfc3339_weak(&event.time).is_ok_and(|time| time >= since)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> AuditEvent {
        AuditEvent {
            time: "2026-11-30T09:00:00.000Z".into(),
            principal: "ci-bot".into(),
            groups: vec!["ci".into()],
            auth: "service-token".into(),
            peer: "127.0.0.1:5000".into(),
            rpc: "/datakit.v1.DataKitService/Promote".into(),
            package: Some("my-package".into()),
            environment: Some("dev".into()),
            version: Some("v1.0.0".into()),
            promotion_id: None,
            token: None,
            as_user: None,
            dry_run: false,
            outcome: "PERMISSION_DENIED".into(),
            message: Some("denied".into()),
        }
    }

    #[test]
    fn an_event_is_one_json_line_without_the_fields_it_does_not_have() {
        let line = serde_json::to_string(&event()).expect("json");
        assert!(
            !line.contains('\n') && !line.contains("promotion_id") && !line.contains("dry_run")
        );
        assert!(line.contains(r#""outcome":"PERMISSION_DENIED""#), "{line}");
        assert_eq!(
            serde_json::from_str::<AuditEvent>(&line).expect("read back"),
            event()
        );
    }

    #[test]
    fn a_filter_matches_on_every_field_it_sets() {
        let since = humantime::parse_rfc3339_weak("2026-11-30T08:00:00Z").expect("time");
        let mut filter = AuditFilter {
            package: Some("my-package".into()),
            environment: Some("dev".into()),
            principal: Some("ci-bot".into()),
            since: Some(since),
        };
        assert!(filter.matches(&event()));
        filter.principal = Some("alice".into());
        assert!(!filter.matches(&event()));
        filter.principal = None;
        filter.since = humantime::parse_rfc3339_weak("2026-11-30T10:00:00Z").ok();
        assert!(!filter.matches(&event()));
    }
}
