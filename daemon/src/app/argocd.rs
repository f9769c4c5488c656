//! Wiring of the Argo CD backend: which environments it reports (those of the
//! configuration in force whose cluster `dkd.yaml` lists), kept in step with configuration
//! changes on the base branch.

use std::{collections::BTreeMap, sync::Arc};

use tokio_util::sync::CancellationToken;

use crate::{
    cluster::argocd::{ArgoCdCluster, ClusterAccess, EnvironmentBinding},
    config::{DaemonConfig, cluster_access},
    promotion::{CatalogState, EnvironmentCatalog, ports::ClusterError},
};

/// The environments of `state` that Argo CD can report.
fn bindings(
    clusters: &BTreeMap<String, ClusterAccess>,
    state: &CatalogState,
) -> Vec<EnvironmentBinding> {
    let Some(current) = &state.current else {
        return Vec::new();
    };
    let mut bindings = Vec::new();
    for environment in current.environments.environments() {
        if !clusters.contains_key(&environment.cluster) {
            tracing::warn!(
                environment = %environment.name,
                cluster = %environment.cluster,
                "dkd.yaml lists no such cluster under clusters:; its status stays unknown"
            );
            continue;
        }
        bindings.push(EnvironmentBinding {
            environment: environment.name.clone(),
            cluster: environment.cluster.clone(),
            namespace: environment.namespace.clone(),
        });
    }
    bindings
}

/// Starts the backend for the configuration in force.
pub async fn start(
    config: &DaemonConfig,
    catalog: &EnvironmentCatalog,
    stop: CancellationToken,
) -> Result<ArgoCdCluster, ClusterError> {
    let clusters = cluster_access(&config.clusters);
    let bindings = bindings(&clusters, &catalog.snapshot());
    ArgoCdCluster::start(clusters, bindings, stop).await
}

/// Re-binds the backend whenever the configuration in force changes, until `stop`.
pub async fn follow_configuration(
    argocd: Arc<ArgoCdCluster>,
    config: DaemonConfig,
    catalog: Arc<EnvironmentCatalog>,
    stop: CancellationToken,
) {
    let clusters = cluster_access(&config.clusters);
    let mut changes = catalog.subscribe();
    let mut bound = bindings(&clusters, &changes.borrow_and_update());
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        let wanted = bindings(&clusters, &changes.borrow_and_update());
        if wanted == bound {
            continue;
        }
        match argocd.bind(wanted.clone()).await {
            Ok(()) => bound = wanted,
            Err(error) => tracing::warn!(%error, "cannot watch the new environments"),
        }
    }
}
