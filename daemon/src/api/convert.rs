//! Domain → proto conversions.

use std::time::SystemTime;

use datakit::{
    manifest::{ApprovalRule, Environment, FreezeWindow, RollbackRule},
    proto,
};

use crate::promotion::{ConfigProblem, LoadedConfig, StoreEntry};

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
