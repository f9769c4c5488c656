//! Which webhook events a promotion event means — opened, waiting for approval (and from
//! whom), merged, Healthy, Failed, rolled back, rejected, cancelled —, which a hold event
//! means (set, released), and the bodies that carry them (`json`, `slack`).

use std::{collections::BTreeMap, time::SystemTime};

use datakit::manifest::Hold;

use crate::{
    config::WebhookFormat,
    promotion::{Promotion, PromotionKind, PromotionState},
};

/// One event to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// `promotion.opened`, … (see `config::EVENT_NAMES`).
    pub event: &'static str,
    /// One line for humans.
    pub summary: String,
}

/// Where each open promotion was last seen (state, and for `ChangeProposed` what it still
/// needs): a promotion event that changes neither is sent nowhere.
/// Ended promotions stay until there are this many entries, so a late event about one is
/// not announced twice.
pub type Seen = BTreeMap<String, String>;

/// How many promotions `Seen` holds before it forgets the ended ones.
const SEEN_LIMIT: usize = 2000;

/// The markers of terminal states.
const TERMINAL_MARKERS: [&str; 6] = [
    "Healthy",
    "Verified",
    "Failed",
    "Superseded",
    "Rejected",
    "Cancelled",
];

/// The notices `promotion` means, given what was `seen` of it before (updated); `needs` is
/// what the approval rule still wants ("needs 1 approval from @security"), empty when met.
pub fn classify(promotion: &Promotion, needs: &str, seen: &mut Seen) -> Vec<Notice> {
    let marker = match promotion.state {
        PromotionState::ChangeProposed => format!("ChangeProposed:{needs}"),
        state => state.name().to_owned(),
    };
    if seen.len() >= SEEN_LIMIT {
        seen.retain(|_, marker| !TERMINAL_MARKERS.contains(&marker.as_str()));
    }
    let previous = seen.insert(promotion.id.clone(), marker.clone());
    if previous.as_deref() == Some(marker.as_str()) {
        return Vec::new();
    }
    let before_change = previous
        .as_deref()
        .is_none_or(|p| p == "Requested" || p == "Validated");
    let subject = subject(promotion);
    let id = &promotion.id;
    let notice = |event, summary: String| Notice { event, summary };
    let mut notices = Vec::new();
    match promotion.state {
        PromotionState::ChangeProposed | PromotionState::Approved if before_change => {
            notices.push(notice(
                "promotion.opened",
                format!("{subject} was opened by {} ({id})", promotion.promoter),
            ));
        }
        _ => {}
    }
    match promotion.state {
        PromotionState::ChangeProposed if !needs.is_empty() => notices.push(notice(
            "promotion.waiting_for_approval",
            format!("{subject} is waiting for approval: {needs} ({id})"),
        )),
        PromotionState::Merged => notices.push(notice(
            "promotion.merged",
            format!("{subject} was merged ({id})"),
        )),
        PromotionState::Healthy if promotion.kind == PromotionKind::Rollback => {
            notices.push(notice(
                "promotion.rolled_back",
                format!("{subject} rolled back and is Healthy ({id})"),
            ))
        }
        PromotionState::Healthy => notices.push(notice(
            "promotion.healthy",
            format!("{subject} is Healthy ({id})"),
        )),
        PromotionState::Verified => notices.push(notice(
            "promotion.healthy",
            format!("{subject} is Healthy and Verified ({id})"),
        )),
        PromotionState::Failed => notices.push(notice(
            "promotion.failed",
            format!("{subject} Failed: {} ({id})", promotion.message),
        )),
        PromotionState::Rejected => notices.push(notice(
            "promotion.rejected",
            format!("{subject} was rejected: {} ({id})", promotion.message),
        )),
        PromotionState::Cancelled => notices.push(notice(
            "promotion.cancelled",
            format!("{subject} was cancelled: {} ({id})", promotion.message),
        )),
        _ => {}
    }
    notices
}

/// "my-package v1.2.0 → prod", or "store events-store → int" for a store change.
fn subject(promotion: &Promotion) -> String {
    match promotion.kind {
        PromotionKind::Store => format!("store {} → {}", promotion.package, promotion.environment),
        _ => format!(
            "{} {} → {}",
            promotion.package, promotion.version, promotion.environment
        ),
    }
}

/// The notice a hold event means: `hold.set`, or `hold.released` once it carries a release.
pub fn hold(hold: &Hold) -> Notice {
    match &hold.released {
        None => Notice {
            event: "hold.set",
            summary: format!(
                "{} is held in {}: {}",
                hold.package,
                hold.environment,
                hold.summary()
            ),
        },
        Some(release) => Notice {
            event: "hold.released",
            summary: format!(
                "the {} hold on {} in {} was released by {}{}",
                hold.kind.as_str(),
                hold.package,
                hold.environment,
                release.by,
                release
                    .reason
                    .as_deref()
                    .map(|reason| format!(": {reason}"))
                    .unwrap_or_default()
            ),
        },
    }
}

/// When the hold was set, or released for a released one; `None` when unreadable.
pub fn hold_changed_at(hold: &Hold) -> Option<SystemTime> {
    let at = hold
        .released
        .as_ref()
        .map_or(hold.set_at.as_str(), |release| release.at.as_str());
    humantime::parse_rfc3339_weak(at).ok()
}

/// The body a webhook of `format` receives for a hold `notice`.
pub fn hold_body(
    format: WebhookFormat,
    notice: &Notice,
    hold: &Hold,
    sequence: u64,
    delivery: &str,
) -> Vec<u8> {
    envelope(
        format,
        notice,
        sequence,
        delivery,
        || serde_json::json!({ "hold": hold }),
    )
}

/// The body a webhook of `format` receives for `notice`.
pub fn body(
    format: WebhookFormat,
    notice: &Notice,
    promotion: &Promotion,
    needs: &str,
    sequence: u64,
    delivery: &str,
) -> Vec<u8> {
    envelope(format, notice, sequence, delivery, || {
        serde_json::json!({
            "needs": needs,
            "promotion": {
                "id": promotion.id,
                "kind": match promotion.kind {
                    PromotionKind::Promotion => "promotion",
                    PromotionKind::Rollback => "rollback",
                    PromotionKind::Store => "store",
                },
                "package": promotion.package,
                "version": promotion.version,
                "previous_version": promotion.previous_version,
                "environment": promotion.environment,
                "state": promotion.state.name(),
                "message": promotion.message,
                "promoter": promotion.promoter,
                "digest": promotion.digest,
                "change_url": promotion.change.as_ref().map(|c| c.url.clone()),
                "updated_at": humantime::format_rfc3339_millis(promotion.updated_at).to_string(),
            },
        })
    })
}

/// Slack's `{"text"}`, or the JSON envelope (event, delivery, sequence, summary) with the
/// fields `details` adds.
fn envelope(
    format: WebhookFormat,
    notice: &Notice,
    sequence: u64,
    delivery: &str,
    details: impl FnOnce() -> serde_json::Value,
) -> Vec<u8> {
    let value = match format {
        WebhookFormat::Slack => serde_json::json!({ "text": notice.summary }),
        WebhookFormat::Json => {
            let mut value = serde_json::json!({
                "event": notice.event,
                "delivery": delivery,
                "sequence": sequence,
                "summary": notice.summary,
            });
            if let (Some(body), serde_json::Value::Object(extra)) =
                (value.as_object_mut(), details())
            {
                body.extend(extra);
            }
            value
        }
    };
    value.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promotion::testing;

    #[test]
    fn a_hold_is_set_until_it_carries_a_release() {
        let mut held = Hold {
            package: "my-package".into(),
            environment: "prod".into(),
            kind: datakit::manifest::HoldKind::Manual,
            set_by: "carol".into(),
            set_at: "2026-11-30T12:00:00Z".into(),
            reason: "incident 7".into(),
            blocks: None,
            released: None,
        };
        let set = hold(&held);
        assert_eq!(set.event, "hold.set");
        assert_eq!(
            set.summary,
            "my-package is held in prod: manual hold by carol since 2026-11-30T12:00:00Z: incident 7"
        );
        held.released = Some(datakit::manifest::Release {
            by: "dave".into(),
            at: "2026-11-30T13:00:00Z".into(),
            reason: Some("fixed".into()),
        });
        let released = hold(&held);
        assert_eq!(released.event, "hold.released");
        assert_eq!(
            released.summary,
            "the manual hold on my-package in prod was released by dave: fixed"
        );
        assert_eq!(
            hold_changed_at(&held),
            humantime::parse_rfc3339("2026-11-30T13:00:00Z").ok()
        );
    }

    #[test]
    fn a_promotion_is_announced_once_per_step_and_again_when_its_needs_change() {
        let mut seen = Seen::new();
        let mut promotion = testing::promotion("p-7", "my-package", "v1.2.0", "prod");
        promotion.enter(PromotionState::ChangeProposed, "opened");
        let events = |p: &Promotion, needs: &str, seen: &mut Seen| -> Vec<&'static str> {
            classify(p, needs, seen)
                .into_iter()
                .map(|n| n.event)
                .collect()
        };
        let first = classify(&promotion, "needs 1 approval from @security", &mut seen);
        assert_eq!(
            first[1].summary,
            "my-package v1.2.0 → prod is waiting for approval: needs 1 approval from @security (p-7)"
        );
        assert_eq!(first[0].event, "promotion.opened");
        assert!(events(&promotion, "needs 1 approval from @security", &mut seen).is_empty());
        promotion.enter(PromotionState::Merged, "merged");
        assert_eq!(events(&promotion, "", &mut seen), ["promotion.merged"]);
        promotion.enter(PromotionState::Healthy, "healthy");
        assert_eq!(events(&promotion, "", &mut seen), ["promotion.healthy"]);
        assert!(events(&promotion, "", &mut seen).is_empty());
    }

    #[test]
    fn a_rollback_reaching_healthy_is_rolled_back_and_decisions_carry_their_reason() {
        let mut seen = Seen::new();
        let mut rollback = testing::promotion("p-9", "my-package", "v1.0.0", "prod");
        rollback.kind = PromotionKind::Rollback;
        rollback.enter(PromotionState::Healthy, "healthy");
        let notices = classify(&rollback, "", &mut seen);
        assert_eq!(notices[0].event, "promotion.rolled_back");
        let mut rejected = testing::promotion("p-10", "my-package", "v2.0.0", "prod");
        rejected.enter(
            PromotionState::Rejected,
            "rejected by carol: breaks reports",
        );
        let notices = classify(&rejected, "", &mut seen);
        assert_eq!(
            notices[0].summary,
            "my-package v2.0.0 → prod was rejected: rejected by carol: breaks reports (p-10)"
        );
    }
}
