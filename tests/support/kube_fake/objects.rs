//! Objects as Argo CD and Kubernetes write them, for tests to put into the fake: an Argo CD
//! `Application` for a package in an environment (labels, the annotations the
//! ApplicationSet copies from the manifest, and a status), a Job and its Pod.

use std::time::SystemTime;

use serde_json::{Value, json};

use super::rfc3339;

/// Where Argo CD keeps Applications in these tests.
pub const ARGOCD_NAMESPACE: &str = "argocd";

/// What an Application's status says.
#[derive(Debug, Clone)]
pub struct AppStatus<'a> {
    /// `Synced`, `OutOfSync` or `Unknown`.
    pub sync: &'a str,
    pub revision: &'a str,
    /// Argo CD's health status name.
    pub health: &'a str,
    pub health_message: &'a str,
    /// The last operation's phase (`Succeeded`, `Running`, `Failed`, …).
    pub phase: &'a str,
    pub at: SystemTime,
}

/// The Application `<environment>-<package>` with the datakit labels and annotations.
/// `previous` (the stored one) keeps its history, to which a finished sync is appended.
pub fn application(
    environment: &str,
    package: &str,
    version: &str,
    status: &AppStatus<'_>,
    previous: Option<&Value>,
) -> Value {
    let at = rfc3339(status.at);
    let mut history: Vec<Value> = previous
        .and_then(|p| p["status"]["history"].as_array().cloned())
        .unwrap_or_default();
    if status.phase == "Succeeded" {
        history.push(json!({
            "id": history.len(), "revision": status.revision,
            "deployedAt": at, "deployStartedAt": at,
            "source": { "repoURL": "https://git.example/deploy.git", "path": format!("environments/{environment}") }
        }));
    }
    let finished = if status.phase == "Running" {
        Value::Null
    } else {
        json!(at)
    };
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": format!("{environment}-{package}"),
            "namespace": ARGOCD_NAMESPACE,
            "labels": {
                "datakit.infoblox.dev/package": package,
                "datakit.infoblox.dev/environment": environment,
            },
            "annotations": {
                "datakit.infoblox.dev/version": version,
                "datakit.infoblox.dev/digest": format!("sha256:{}", "c".repeat(64)),
                "datakit.infoblox.dev/promotion-id": format!("p-{version}"),
            },
        },
        "spec": {
            "project": "default",
            "source": {
                "repoURL": "https://git.example/deploy.git",
                "path": format!("environments/{environment}"),
                "targetRevision": "main",
            },
            "destination": { "server": "https://kubernetes.default.svc", "namespace": environment },
        },
        "status": {
            "sync": { "status": status.sync, "revision": status.revision },
            "health": { "status": status.health, "message": status.health_message },
            "operationState": {
                "phase": status.phase,
                "message": "successfully synced (all tasks run)",
                "startedAt": at,
                "finishedAt": finished,
                "operation": { "sync": { "revision": status.revision } },
                "syncResult": {
                    "revision": status.revision,
                    "resources": [{
                        "group": "datakit.infoblox.dev", "version": "v1alpha1",
                        "kind": "DeployedPackage", "namespace": environment, "name": package,
                        "status": "Synced", "message": "deployedpackage configured",
                        "syncPhase": "Sync",
                    }],
                },
            },
            "history": history,
            "reconciledAt": at,
        },
    })
}

/// A Job of `package` in `namespace`; `succeeded` None = still running.
pub fn job(
    namespace: &str,
    name: &str,
    package: &str,
    started: SystemTime,
    succeeded: Option<bool>,
) -> Value {
    let mut status = json!({ "startTime": rfc3339(started), "active": 1 });
    match succeeded {
        Some(true) => {
            status = json!({
                "startTime": rfc3339(started), "succeeded": 1,
                "completionTime": rfc3339(started),
                "conditions": [{ "type": "Complete", "status": "True" }],
            });
        }
        Some(false) => {
            status = json!({
                "startTime": rfc3339(started), "failed": 1,
                "conditions": [{ "type": "Failed", "status": "True",
                    "lastTransitionTime": rfc3339(started), "reason": "BackoffLimitExceeded" }],
            });
        }
        None => {}
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name, "namespace": namespace,
            "creationTimestamp": rfc3339(started),
            "labels": { "datakit.infoblox.dev/package": package },
        },
        "spec": { "template": { "spec": { "containers": [{ "name": "main", "image": "busybox" }], "restartPolicy": "Never" } } },
        "status": status,
    })
}

/// A Pod of `job` in `namespace`.
pub fn pod(namespace: &str, name: &str, job: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name, "namespace": namespace,
            "labels": { "job-name": job, "batch.kubernetes.io/job-name": job },
        },
        "spec": { "containers": [{ "name": "main", "image": "busybox" }] },
        "status": { "phase": "Running" },
    })
}
