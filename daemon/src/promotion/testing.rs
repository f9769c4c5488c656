//! Builders shared by the daemon's unit tests.

use std::time::SystemTime;

use super::{Promotion, PromotionKind, PromotionState};

/// A freshly validated promotion.
pub fn promotion(id: &str, package: &str, version: &str, environment: &str) -> Promotion {
    let mut promotion = Promotion {
        id: id.into(),
        package: package.into(),
        version: version.into(),
        environment: environment.into(),
        artifact: format!("registry.example/{package}:{version}"),
        digest: format!("sha256:{}", "0".repeat(64)),
        previous_version: None,
        kind: PromotionKind::Promotion,
        state: PromotionState::Requested,
        message: String::new(),
        promoter: "carol".into(),
        forced: false,
        change: None,
        approvals: Vec::new(),
        checks: Vec::new(),
        merge_commit: None,
        superseded_by: None,
        created_at: SystemTime::UNIX_EPOCH,
        updated_at: SystemTime::UNIX_EPOCH,
        transitions: Vec::new(),
        store_manifest: None,
        reason: None,
    };
    promotion.enter(PromotionState::Validated, "validated");
    promotion
}
