//! A kube client for one cluster, from a kubeconfig file and an optional context.

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::promotion::ports::ClusterError;

/// A client for the cluster `context` (default: the current context) of `kubeconfig`.
pub async fn client(
    kubeconfig: &Path,
    context: Option<&str>,
) -> Result<kube::Client, ClusterError> {
    let shown = kubeconfig.display();
    let file = Kubeconfig::read_from(kubeconfig)
        .map_err(|e| ClusterError::Unavailable(format!("cannot read kubeconfig {shown}: {e}")))?;
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let config = kube::Config::from_custom_kubeconfig(file, &options)
        .await
        .map_err(|e| {
            ClusterError::Unavailable(format!(
                "kubeconfig {shown}: {e}: check the context name and the file"
            ))
        })?;
    kube::Client::try_from(config).map_err(|e| {
        ClusterError::Unavailable(format!("cannot build a kube client from {shown}: {e}"))
    })
}
