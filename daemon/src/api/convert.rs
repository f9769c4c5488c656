//! Domain → proto conversions.

use std::time::SystemTime;

use datakit::{
    manifest::{ApprovalRule, Environment, FreezeWindow, RollbackRule},
    proto,
};

use crate::promotion::ports::{HealthState, LastRun, PackageSync, RunResult, SyncState};
use crate::promotion::{
    CheckOutcome, ConfigProblem, Explanation, LoadedConfig, Promotion, PromotionKind,
    PromotionState, StoreEntry,
};

pub fn timestamp(time: SystemTime) -> prost_types::Timestamp {
    prost_types::Timestamp::from(time)
}

pub fn environment(config: &LoadedConfig, environment: &Environment) -> proto::Environment {
    let stores = config
        .stores
        .get(&environment.name)
        .map(Vec::as_slice)
        .unwrap_or_default();
    proto::Environment {
        name: environment.name.clone(),
        upstream: environment.upstream.clone().unwrap_or_default(),
        cluster: environment.cluster.clone(),
        namespace: environment.namespace.clone(),
        approval: Some(approval(&environment.approval)),
        stores_path: environment.stores_path.clone(),
        stores: stores.iter().map(store).collect(),
        path: config
            .environments
            .path_to(&environment.name)
            .iter()
            .map(|e| e.name.clone())
            .collect(),
        freezes: environment.freezes.iter().map(freeze).collect(),
        signature_keys: environment.signature_keys.clone(),
        auto_promote: environment.auto_promote,
        soak_seconds: environment.soak.map_or(0, |soak| soak.as_secs()),
    }
}

fn approval(rule: &ApprovalRule) -> proto::ApprovalPolicy {
    proto::ApprovalPolicy {
        required: rule.required,
        auto_merge: rule.auto_merge,
        approvers: rule.approvers.clone(),
        count: rule.count,
        rollback: rule.rollback.as_ref().map(rollback),
        description: rule.describe(),
    }
}

fn rollback(rule: &RollbackRule) -> proto::RollbackApproval {
    proto::RollbackApproval {
        approvers: rule.approvers.clone(),
        count: rule.count,
        description: rule.describe(),
    }
}

fn freeze(window: &FreezeWindow) -> proto::FreezeWindow {
    proto::FreezeWindow {
        start: Some(timestamp(window.start)),
        end: Some(timestamp(window.end)),
        reason: window.reason.clone(),
    }
}

fn store(entry: &StoreEntry) -> proto::Store {
    proto::Store {
        name: entry.store.name.clone(),
        r#type: entry.store.store_type.clone(),
        connection: entry.store.connection.clone().into_iter().collect(),
        secret_ref: entry.store.secret_ref.clone().unwrap_or_default(),
        file: entry.file.clone(),
    }
}

pub fn problem(problem: &ConfigProblem) -> proto::ConfigProblem {
    proto::ConfigProblem {
        file: problem.file.clone(),
        line: problem.line.unwrap_or_default(),
        message: problem.message.clone(),
        revision: problem.revision.clone(),
    }
}

pub fn promotion_state(state: PromotionState) -> proto::PromotionState {
    match state {
        PromotionState::Requested => proto::PromotionState::Requested,
        PromotionState::Validated => proto::PromotionState::Validated,
        PromotionState::ChangeProposed => proto::PromotionState::ChangeProposed,
        PromotionState::Approved => proto::PromotionState::Approved,
        PromotionState::Merged => proto::PromotionState::Merged,
        PromotionState::Syncing => proto::PromotionState::Syncing,
        PromotionState::Healthy => proto::PromotionState::Healthy,
        PromotionState::Failed => proto::PromotionState::Failed,
        PromotionState::Superseded => proto::PromotionState::Superseded,
        PromotionState::Rejected => proto::PromotionState::Rejected,
        PromotionState::Cancelled => proto::PromotionState::Cancelled,
        PromotionState::Verifying => proto::PromotionState::Verifying,
        PromotionState::Verified => proto::PromotionState::Verified,
    }
}

/// A promotion as the API shows it, with the engine's explanation of its rule.
pub fn promotion(promotion: &Promotion, explanation: Explanation) -> proto::Promotion {
    let groups_of = |user: &str| {
        explanation
            .approver_groups
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, g)| g.clone())
            .unwrap_or_default()
    };
    proto::Promotion {
        id: promotion.id.clone(),
        package: promotion.package.clone(),
        version: promotion.version.clone(),
        environment: promotion.environment.clone(),
        artifact: promotion.artifact.clone(),
        digest: promotion.digest.clone(),
        previous_version: promotion.previous_version.clone().unwrap_or_default(),
        kind: match promotion.kind {
            PromotionKind::Promotion => proto::PromotionKind::Promotion,
            PromotionKind::Rollback => proto::PromotionKind::Rollback,
            PromotionKind::Store => proto::PromotionKind::Store,
        } as i32,
        state: promotion_state(promotion.state) as i32,
        message: promotion.message.clone(),
        promoter: promotion.promoter.clone(),
        forced: promotion.forced,
        change: promotion.change.as_ref().map(|c| proto::ChangeRequest {
            id: c.id.clone(),
            url: c.url.clone(),
            branch: c.branch.clone(),
            title: c.title.clone(),
        }),
        approvals: promotion
            .approvals
            .iter()
            .map(|a| proto::Approval {
                user: a.user.clone(),
                groups: groups_of(&a.user),
                at: Some(timestamp(a.at)),
                asserted_by: a.asserted_by.clone().unwrap_or_default(),
            })
            .collect(),
        approvals_needed: explanation.needed.clone(),
        checks: promotion
            .checks
            .iter()
            .map(|c| proto::Check {
                name: c.name.clone(),
                state: match c.outcome {
                    CheckOutcome::Pending => proto::CheckState::Pending,
                    CheckOutcome::Success => proto::CheckState::Success,
                    CheckOutcome::Failure => proto::CheckState::Failure,
                } as i32,
                description: c.description.clone(),
            })
            .collect(),
        merge_commit: promotion.merge_commit.clone().unwrap_or_default(),
        superseded_by: promotion.superseded_by.clone().unwrap_or_default(),
        created_at: Some(timestamp(promotion.created_at)),
        updated_at: Some(timestamp(promotion.updated_at)),
        policy: explanation.policy.clone(),
    }
}

fn sync_status(sync: SyncState) -> proto::SyncStatus {
    match sync {
        SyncState::Synced => proto::SyncStatus::Synced,
        SyncState::OutOfSync => proto::SyncStatus::OutOfSync,
        SyncState::Syncing => proto::SyncStatus::Syncing,
        SyncState::Unknown => proto::SyncStatus::Unknown,
    }
}

fn health(health: HealthState) -> proto::Health {
    match health {
        HealthState::Healthy => proto::Health::Healthy,
        HealthState::Progressing => proto::Health::Progressing,
        HealthState::Degraded => proto::Health::Degraded,
        HealthState::Suspended => proto::Health::Suspended,
        HealthState::Missing => proto::Health::Missing,
        HealthState::Unknown => proto::Health::Unknown,
    }
}

fn last_run(run: &LastRun) -> proto::LastRun {
    proto::LastRun {
        started_at: Some(timestamp(run.started_at)),
        finished_at: run.finished_at.map(timestamp),
        result: match run.result {
            RunResult::Running => proto::RunResult::Running,
            RunResult::Success => proto::RunResult::Success,
            RunResult::Failure => proto::RunResult::Failure,
        } as i32,
        name: run.name.clone(),
    }
}

/// A package in an environment; `status: None` when it is not deployed there.
pub fn package_status(
    package: &str,
    environment: &str,
    status: Option<&PackageSync>,
) -> proto::PackageStatus {
    let Some(status) = status else {
        return proto::PackageStatus {
            package: package.to_owned(),
            environment: environment.to_owned(),
            ..Default::default()
        };
    };
    proto::PackageStatus {
        package: status.package.clone(),
        environment: status.environment.clone(),
        deployed: true,
        version: status.version.clone(),
        digest: status.digest.clone(),
        sync_status: sync_status(status.sync) as i32,
        health: health(status.health) as i32,
        synced_revision: status.revision.clone(),
        last_sync: Some(timestamp(status.last_sync)),
        last_run: status.last_run.as_deref().map(last_run),
        pending_promotion_id: String::new(),
        message: status.message.clone(),
        hold: None,
        promotable: None,
    }
}

/// A hold file as the API shows it.
pub fn hold(hold: &datakit::manifest::Hold) -> proto::Hold {
    let time = |text: &str| humantime::parse_rfc3339(text).ok().map(timestamp);
    let released = hold.released.as_ref();
    proto::Hold {
        package: hold.package.clone(),
        environment: hold.environment.clone(),
        kind: hold.kind.as_str().to_owned(),
        set_by: hold.set_by.clone(),
        set_at: time(&hold.set_at),
        reason: hold.reason.clone(),
        blocks_version: hold
            .blocks
            .as_ref()
            .map(|b| b.version.clone())
            .unwrap_or_default(),
        blocks_newer_than: hold
            .blocks
            .as_ref()
            .map(|b| b.newer_than.clone())
            .unwrap_or_default(),
        released: released.is_some(),
        released_by: released.map(|r| r.by.clone()).unwrap_or_default(),
        released_at: released.and_then(|r| time(&r.at)),
        release_reason: released.and_then(|r| r.reason.clone()).unwrap_or_default(),
        file: datakit::manifest::hold_path(&hold.environment, &hold.package),
    }
}
