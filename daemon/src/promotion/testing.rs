//! Builders shared by the daemon's unit tests.

use std::time::SystemTime;

use super::{
    Promotion, PromotionKind, PromotionState,
    ports::{HealthState, PackageSync, SyncState},
};

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

/// `package` deployed Synced and Healthy at `version` in `environment` (digest
/// `sha256:VERSION`, revision `c1`).
pub fn deployed(environment: &str, package: &str, version: &str) -> PackageSync {
    PackageSync {
        package: package.into(),
        environment: environment.into(),
        version: version.into(),
        digest: format!("sha256:{version}"),
        promotion_id: None,
        revision: "c1".into(),
        sync: SyncState::Synced,
        health: HealthState::Healthy,
        last_sync: SystemTime::UNIX_EPOCH,
        message: String::new(),
        last_run: None,
    }
}
