//! The `cluster:` and `clusters:` keys of `dkd.yaml`: which cluster backend reports what
//! runs where, and for Argo CD how to reach each cluster named by `config/environments.yaml`
//! (kubeconfig, context, Argo CD namespace). Checked at load, naming the key at fault.

use std::{collections::BTreeMap, path::PathBuf};

use serde::Deserialize;

use super::ConfigError;
use crate::cluster::argocd::ClusterAccess;

/// The cluster backend.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    #[serde(rename = "type", default)]
    pub kind: ClusterKind,
    /// `run_verifications: true`: the embedded target runs the verification commands of
    /// the deployment repository (`environments/<env>/verify/*.yaml`) on dkd's host.
    /// Without it a promotion into an environment that requires verification ends Failed.
    #[serde(default)]
    pub run_verifications: bool,
}

/// Available cluster backends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterKind {
    /// `DK_HOME/targets`, applied by the built-in sync loop.
    #[default]
    Embedded,
    /// Argo CD Applications and Jobs, watched through kube.
    Argocd,
}

/// How to reach one cluster (a `cluster:` name of `config/environments.yaml`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeClusterConfig {
    /// The kubeconfig file; `~/` is the home directory.
    pub kubeconfig: String,
    /// Its context (default: the file's current context).
    #[serde(default)]
    pub context: Option<String>,
    /// Where Argo CD keeps its Applications (default `argocd`).
    #[serde(default = "default_argocd_namespace")]
    pub argocd_namespace: String,
}

fn default_argocd_namespace() -> String {
    "argocd".to_owned()
}

fn expand(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// Checks `cluster:` and `clusters:` of `file`: Argo CD needs at least one cluster, every
/// kubeconfig must be readable, and `clusters:` means nothing for the embedded target.
pub(super) fn validate(
    kind: ClusterKind,
    clusters: &BTreeMap<String, KubeClusterConfig>,
    file: &str,
) -> Result<(), ConfigError> {
    let refuse = |key: String, reason: String| ConfigError::Cluster {
        file: file.to_owned(),
        key,
        reason,
    };
    match kind {
        ClusterKind::Embedded if !clusters.is_empty() => Err(refuse(
            "clusters".into(),
            "only used with cluster.type argocd: remove it, or set cluster: { type: argocd }"
                .into(),
        )),
        ClusterKind::Embedded => Ok(()),
        ClusterKind::Argocd if clusters.is_empty() => Err(refuse(
            "clusters".into(),
            "required when cluster.type is argocd: map each cluster name of config/environments.yaml to { kubeconfig, context, argocd_namespace }".into(),
        )),
        ClusterKind::Argocd => {
            for (name, cluster) in clusters {
                let path = expand(&cluster.kubeconfig);
                if let Err(error) = std::fs::metadata(&path) {
                    return Err(refuse(
                        format!("clusters.{name}.kubeconfig"),
                        format!("cannot read {}: {error}", path.display()),
                    ));
                }
                if cluster.argocd_namespace.trim().is_empty() {
                    return Err(refuse(
                        format!("clusters.{name}.argocd_namespace"),
                        "must not be empty (Argo CD's namespace, usually argocd)".into(),
                    ));
                }
            }
            Ok(())
        }
    }
}

/// The validated `clusters:` as the Argo CD backend takes them.
pub fn cluster_access(
    clusters: &BTreeMap<String, KubeClusterConfig>,
) -> BTreeMap<String, ClusterAccess> {
    clusters
        .iter()
        .map(|(name, c)| {
            (
                name.clone(),
                ClusterAccess {
                    kubeconfig: expand(&c.kubeconfig),
                    context: c.context.clone(),
                    argocd_namespace: c.argocd_namespace.clone(),
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::config::DaemonConfig;

    #[test]
    fn the_cluster_backend_is_embedded_unless_configured() {
        let config = DaemonConfig::parse("dkd.yaml", "poll_interval_ms: 500\n").expect("valid");
        assert_eq!(config.cluster.kind, super::ClusterKind::Embedded);
        assert!(config.clusters.is_empty());
    }

    #[test]
    fn argo_cd_clusters_are_read_with_their_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, "apiVersion: v1\n").expect("write");
        let text = format!(
            "cluster: {{ type: argocd }}\nclusters:\n  dev-cluster: {{ kubeconfig: {} }}\n",
            kubeconfig.display()
        );
        let config = DaemonConfig::parse("dkd.yaml", &text).expect("valid");
        assert_eq!(config.cluster.kind, super::ClusterKind::Argocd);
        let access = super::cluster_access(&config.clusters);
        let dev = access.get("dev-cluster").expect("dev-cluster");
        assert_eq!(
            (dev.argocd_namespace.as_str(), dev.context.as_deref()),
            ("argocd", None)
        );
    }

    #[test]
    fn a_bad_cluster_configuration_is_refused_naming_the_key() {
        for (text, key) in [
            ("cluster: { type: argocd }\n", "dkd.yaml: clusters: "),
            (
                "clusters: { dev: { kubeconfig: /nonexistent } }\n",
                "dkd.yaml: clusters: ",
            ),
            (
                "cluster: { type: argocd }\nclusters: { dev: { kubeconfig: /nonexistent/kc } }\n",
                "dkd.yaml: clusters.dev.kubeconfig: ",
            ),
        ] {
            let message = DaemonConfig::parse("dkd.yaml", text)
                .expect_err(text)
                .to_string();
            assert!(message.starts_with(key), "{message}");
            assert!(!message.contains('\n'), "{message}");
        }
        let message = DaemonConfig::parse("dkd.yaml", "cluster: { type: flux }\n")
            .expect_err("unknown type")
            .to_string();
        assert!(
            message.contains("flux") && message.contains("argocd"),
            "{message}"
        );
    }
}
