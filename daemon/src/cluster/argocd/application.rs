//! Reading an Argo CD `Application`: its sync, health and last operation, mapped to what
//! dkd reports (Argo CD's exact value sets; an operation in progress is `Syncing`), and
//! its sync log (the deploy history and the last operation's per-resource results).

use std::time::SystemTime;

use kube::api::DynamicObject;
use serde::Deserialize;

use super::{ANNOTATION_DIGEST, ANNOTATION_PROMOTION_ID, ANNOTATION_VERSION};
use crate::promotion::ports::{HealthState, LastRun, PackageSync, SyncLogLine, SyncState};

/// The part of `Application.status` dkd reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Status {
    sync: Sync,
    health: Health,
    operation_state: Option<OperationState>,
    history: Vec<History>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Sync {
    status: String,
    revision: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Health {
    status: String,
    message: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct OperationState {
    /// `Running`, `Terminating`, `Failed`, `Error` or `Succeeded`.
    phase: String,
    message: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    sync_result: Option<SyncResult>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SyncResult {
    revision: String,
    resources: Vec<ResourceResult>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ResourceResult {
    kind: String,
    namespace: String,
    name: String,
    /// `Synced`, `SyncFailed`, `Pruned` or `PruneSkipped`.
    status: String,
    message: String,
    hook_phase: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct History {
    id: i64,
    revision: String,
    deployed_at: Option<String>,
}

fn status(app: &DynamicObject) -> Status {
    app.data
        .get("status")
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or_default()
}

fn time(text: Option<&str>) -> Option<SystemTime> {
    text?
        .parse::<k8s_openapi::jiff::Timestamp>()
        .ok()
        .map(SystemTime::from)
}

fn annotation(app: &DynamicObject, key: &str) -> Option<String> {
    app.metadata.annotations.as_ref()?.get(key).cloned()
}

/// What `app` says about `package` in `environment`.
pub fn package_sync(
    environment: &str,
    package: &str,
    app: &DynamicObject,
    last_run: Option<LastRun>,
) -> PackageSync {
    let status = status(app);
    let operation = status.operation_state.as_ref();
    let phase = operation.map_or("", |o| o.phase.as_str());
    let sync = match (phase, status.sync.status.as_str()) {
        ("Running" | "Terminating", _) => SyncState::Syncing,
        (_, "Synced") => SyncState::Synced,
        (_, "OutOfSync") => SyncState::OutOfSync,
        _ => SyncState::Unknown,
    };
    let health = HealthState::from_name(&status.health.status).unwrap_or(HealthState::Unknown);
    let last_sync = operation
        .and_then(|o| time(o.finished_at.as_deref()))
        .or_else(|| {
            status
                .history
                .last()
                .and_then(|h| time(h.deployed_at.as_deref()))
        })
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let message = if !status.health.message.is_empty() {
        status.health.message.clone()
    } else if matches!(phase, "Failed" | "Error") {
        operation.map(|o| o.message.clone()).unwrap_or_default()
    } else {
        String::new()
    };
    PackageSync {
        package: package.to_owned(),
        environment: environment.to_owned(),
        version: annotation(app, ANNOTATION_VERSION).unwrap_or_default(),
        digest: annotation(app, ANNOTATION_DIGEST).unwrap_or_default(),
        promotion_id: annotation(app, ANNOTATION_PROMOTION_ID),
        revision: status.sync.revision,
        sync,
        health,
        last_sync,
        message,
        last_run: last_run.map(Box::new),
    }
}

/// The sync log of `app`, oldest first: one line per deploy in its history, then the last
/// operation's per-resource results and its outcome.
pub fn sync_log(app: &DynamicObject) -> Vec<SyncLogLine> {
    let status = status(app);
    let mut lines: Vec<SyncLogLine> = status
        .history
        .iter()
        .filter_map(|h| {
            Some(SyncLogLine {
                at: time(h.deployed_at.as_deref())?,
                text: format!("deployed revision {} (history {})", h.revision, h.id),
            })
        })
        .collect();
    if let Some(operation) = &status.operation_state {
        let at = time(operation.finished_at.as_deref())
            .or_else(|| time(operation.started_at.as_deref()))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let result = operation.sync_result.as_ref();
        for resource in result.map(|r| r.resources.as_slice()).unwrap_or_default() {
            let hook = if resource.hook_phase.is_empty() {
                String::new()
            } else {
                format!(" [{} hook]", resource.hook_phase)
            };
            lines.push(SyncLogLine {
                at,
                text: format!(
                    "{} {}/{}: {}{hook} {}",
                    resource.kind,
                    resource.namespace,
                    resource.name,
                    resource.status,
                    resource.message
                )
                .trim_end()
                .to_owned(),
            });
        }
        let version = annotation(app, ANNOTATION_VERSION).unwrap_or_default();
        let revision = result.map_or("", |r| r.revision.as_str());
        lines.push(SyncLogLine {
            at,
            text: format!(
                "sync {} of {} {version} at revision {revision}: {}",
                operation.phase,
                app.metadata.name.as_deref().unwrap_or_default(),
                operation.message
            ),
        });
    }
    lines.sort_by_key(|l| l.at);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(status: serde_json::Value) -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {
                "name": "dev-alpha",
                "annotations": { "datakit.infoblox.dev/version": "v1.2.0" },
            },
            "status": status,
        }))
        .expect("an Application")
    }

    #[test]
    fn argo_cd_value_sets_map_and_a_running_operation_is_syncing() {
        for (sync, phase, expected) in [
            ("Synced", "Succeeded", SyncState::Synced),
            ("OutOfSync", "Succeeded", SyncState::OutOfSync),
            ("OutOfSync", "Running", SyncState::Syncing),
            ("Synced", "Terminating", SyncState::Syncing),
            ("Unknown", "Failed", SyncState::Unknown),
            ("", "", SyncState::Unknown),
        ] {
            let app = app(serde_json::json!({
                "sync": { "status": sync, "revision": "c1" },
                "health": { "status": "Progressing" },
                "operationState": { "phase": phase },
            }));
            let status = package_sync("dev", "alpha", &app, None);
            assert_eq!(status.sync, expected, "{sync} {phase}");
            assert_eq!(status.health, HealthState::Progressing);
        }
    }

    #[test]
    fn a_failed_operation_explains_itself_and_an_unknown_health_is_unknown() {
        let app = app(serde_json::json!({
            "sync": { "status": "OutOfSync", "revision": "c1" },
            "health": { "status": "Exploded" },
            "operationState": {
                "phase": "Failed", "message": "one or more objects failed to apply",
                "finishedAt": "2026-11-26T10:00:00Z",
            },
        }));
        let status = package_sync("dev", "alpha", &app, None);
        assert_eq!(status.health, HealthState::Unknown);
        assert_eq!(status.message, "one or more objects failed to apply");
        assert_eq!(status.version, "v1.2.0");
        assert_eq!(status.promotion_id, None);
        assert!(status.last_sync > SystemTime::UNIX_EPOCH);
    }

    #[test]
    fn the_sync_log_lists_history_then_the_last_operation_oldest_first() {
        let app = app(serde_json::json!({
            "history": [
                { "id": 0, "revision": "c0", "deployedAt": "2026-11-26T09:00:00Z" },
                { "id": 1, "revision": "c1", "deployedAt": "2026-11-26T10:00:00Z" },
            ],
            "operationState": {
                "phase": "Succeeded", "message": "successfully synced",
                "finishedAt": "2026-11-26T10:00:00Z",
                "syncResult": { "revision": "c1", "resources": [
                    { "kind": "DeployedPackage", "namespace": "dev", "name": "alpha",
                      "status": "Synced", "message": "configured", "hookPhase": "" },
                ]},
            },
        }));
        let texts: Vec<String> = sync_log(&app).into_iter().map(|l| l.text).collect();
        assert_eq!(texts.len(), 4, "{texts:?}");
        assert!(texts[0].contains("c0"), "{texts:?}");
        assert_eq!(texts[2], "DeployedPackage dev/alpha: Synced configured");
        assert!(
            texts[3].contains("Succeeded") && texts[3].contains("v1.2.0"),
            "{texts:?}"
        );
    }
}
