//! `ha:` of `dkd.yaml`: running dkd as several replicas — the Kubernetes Lease they elect
//! a leader on, this replica's name, and the peers listener where replicas reach each
//! other (mTLS with replica certificates only). Off unless present. Every replica must see
//! the same deployment repository, registry and clusters, so `ha:` requires the GitHub
//! forge, an OCI registry and Argo CD.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;

use super::{ClusterKind, ConfigError, DaemonConfig, ForgeKind, RegistryKind, TlsFiles};
use crate::lease::LeaseSettings;

/// `ha:` as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaConfig {
    /// This replica's name, unique among the replicas (default: `$HOSTNAME`, the pod's
    /// name); `${VAR}` is taken from the environment.
    #[serde(default)]
    pub replica: Option<String>,
    pub lease: LeaseConfig,
    pub peers: PeersConfig,
}

/// `ha.lease:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseConfig {
    /// dkd's own namespace.
    pub namespace: String,
    #[serde(default = "default_lease_name")]
    pub name: String,
    /// How long a lease holds without renewal, in whole seconds (e.g. `15s`).
    #[serde(default = "default_duration")]
    pub duration: String,
    /// How often the leader renews and followers look (e.g. `5s`).
    #[serde(default = "default_renew")]
    pub renew: String,
    /// A kubeconfig; default: the pod's service account.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    #[serde(default)]
    pub context: Option<String>,
}

fn default_lease_name() -> String {
    "dkd-leader".into()
}

fn default_duration() -> String {
    "15s".into()
}

fn default_renew() -> String {
    "5s".into()
}

/// `ha.peers:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeersConfig {
    /// `IP:PORT` the peers listener binds.
    pub listen: String,
    /// `HOST:PORT` other replicas reach this one at (default: `listen`, unless that is an
    /// unspecified address); `${VAR}` is taken from the environment, e.g. `${POD_IP}:9443`.
    #[serde(default)]
    pub advertise: Option<String>,
    /// This replica's certificate (PEM), used as server and as client certificate.
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The CA that signs replica certificates, and only those.
    pub ca_file: PathBuf,
    /// The DNS name every replica certificate carries.
    #[serde(default = "default_server_name")]
    pub server_name: String,
}

fn default_server_name() -> String {
    "dkd-replica".into()
}

/// A validated `ha:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replication {
    pub lease: LeaseSettings,
    pub peers: Peers,
}

/// The validated peers listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peers {
    pub listen: SocketAddr,
    /// This replica's certificate and key, asking connections for a client certificate
    /// signed by `ca`.
    pub tls: TlsFiles,
    /// The replica CA.
    pub ca: PathBuf,
    pub server_name: String,
}

/// `text` with each `${NAME}` replaced by that environment variable.
fn expand(text: &str, key: &str, file: &str) -> Result<String, ConfigError> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| refuse(file, key, "an unclosed ${".into()))?;
        let name = &after[..end];
        let value = std::env::var(name).map_err(|_| {
            refuse(
                file,
                key,
                format!("${{{name}}} is not set in dkd's environment: set it (in Kubernetes, from the downward API) or write the value"),
            )
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn refuse(file: &str, key: &str, reason: String) -> ConfigError {
    ConfigError::Cluster {
        file: file.to_owned(),
        key: format!("ha.{key}"),
        reason,
    }
}

fn duration(text: &str, key: &str, file: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(text).map_err(|e| {
        refuse(
            file,
            key,
            format!("{text:?} is not a duration ({e}): write e.g. 15s"),
        )
    })
}

impl HaConfig {
    /// Checks `ha:` of `config` (the file `file`; relative paths from its folder).
    pub fn validate(&self, config: &DaemonConfig, file: &str) -> Result<Replication, ConfigError> {
        let shared = "every replica must see the same one, so ha: needs forge.type github, registry.type oci and cluster.type argocd";
        if config.forge.kind != ForgeKind::Github {
            return Err(refuse(
                file,
                "lease",
                format!("the embedded forge lives in one DK_HOME: {shared}"),
            ));
        }
        if config.registry.kind != RegistryKind::Oci {
            return Err(refuse(
                file,
                "lease",
                format!("the embedded registry lives in one DK_HOME: {shared}"),
            ));
        }
        if config.cluster.kind != ClusterKind::Argocd {
            return Err(refuse(
                file,
                "lease",
                format!("the embedded target lives in one DK_HOME: {shared}"),
            ));
        }
        let base = Path::new(file).parent().unwrap_or(Path::new("."));
        let replica = match &self.replica {
            Some(replica) => expand(replica, "replica", file)?,
            None => std::env::var("HOSTNAME").map_err(|_| {
                refuse(file, "replica", "not set, and neither is $HOSTNAME: name this replica, e.g. replica: ${POD_NAME}".into())
            })?,
        };
        if replica.trim().is_empty() {
            return Err(refuse(file, "replica", "must not be empty".into()));
        }
        let lease_duration = duration(&self.lease.duration, "lease.duration", file)?;
        let renew = duration(&self.lease.renew, "lease.renew", file)?;
        if lease_duration.subsec_nanos() != 0 || lease_duration < Duration::from_secs(1) {
            return Err(refuse(
                file,
                "lease.duration",
                "must be whole seconds, at least 1s (a Lease records seconds)".into(),
            ));
        }
        if renew.is_zero() || renew >= lease_duration {
            return Err(refuse(
                file,
                "lease.renew",
                format!(
                    "must be shorter than lease.duration ({}); a third of it is usual",
                    self.lease.duration
                ),
            ));
        }
        let listen: SocketAddr = self.peers.listen.parse().map_err(|_| {
            refuse(
                file,
                "peers.listen",
                format!(
                    "{:?} is not an IP address and port, e.g. 0.0.0.0:9443",
                    self.peers.listen
                ),
            )
        })?;
        let address = match &self.peers.advertise {
            Some(advertise) => expand(advertise, "peers.advertise", file)?,
            None if listen.ip().is_unspecified() => {
                return Err(refuse(
                    file,
                    "peers.advertise",
                    format!(
                        "required when peers.listen is {listen}: how other replicas reach this one, e.g. ${{POD_IP}}:{}",
                        listen.port()
                    ),
                ));
            }
            None => listen.to_string(),
        };
        Ok(Replication {
            lease: LeaseSettings {
                kubeconfig: self.lease.kubeconfig.as_deref().map(|path| base.join(path)),
                context: self.lease.context.clone(),
                namespace: self.lease.namespace.clone(),
                name: self.lease.name.clone(),
                duration: lease_duration,
                renew,
                replica,
                address,
            },
            peers: Peers {
                listen,
                tls: TlsFiles {
                    cert: base.join(&self.peers.cert_file),
                    key: base.join(&self.peers.key_file),
                    client_ca: Some(base.join(&self.peers.ca_file)),
                },
                ca: base.join(&self.peers.ca_file),
                server_name: self.peers.server_name.clone(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::DaemonConfig;

    fn config(ha: &str) -> Result<DaemonConfig, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, "apiVersion: v1\n").expect("write");
        let text = format!(
            "forge: {{ type: github, owner: acme, repo: deploy }}\nregistry: {{ type: oci, url: 127.0.0.1:5000/acme }}\ncluster: {{ type: argocd }}\nclusters: {{ dev: {{ kubeconfig: {} }} }}\n{ha}",
            kubeconfig.display()
        );
        DaemonConfig::parse("dkd.yaml", &text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_replica_reads_its_lease_and_peers_with_defaults_and_the_environment() {
        let config = config(
            "ha:\n  replica: r-${DKD_TEST_NEVER_SET}\n  lease: { namespace: datakit }\n  peers: { listen: 127.0.0.1:9443, cert_file: c, key_file: k, ca_file: ca }\n",
        );
        assert!(
            config
                .expect_err("an unset variable")
                .contains("ha.replica: ${DKD_TEST_NEVER_SET} is not set"),
        );
        let config = config_ok(
            "ha:\n  replica: r-1\n  lease: { namespace: datakit }\n  peers: { listen: 127.0.0.1:9443, cert_file: c, key_file: k, ca_file: ca }\n",
        );
        let replication = config
            .replication("/etc/dkd/dkd.yaml")
            .expect("valid")
            .expect("ha");
        assert_eq!(replication.lease.replica, "r-1");
        assert_eq!(replication.lease.name, "dkd-leader");
        assert_eq!(
            replication.lease.duration,
            std::time::Duration::from_secs(15)
        );
        assert_eq!(replication.lease.address, "127.0.0.1:9443");
        assert_eq!(replication.peers.server_name, "dkd-replica");
        assert_eq!(replication.peers.ca, std::path::Path::new("/etc/dkd/ca"));
    }

    fn config_ok(ha: &str) -> DaemonConfig {
        config(ha).expect("valid")
    }

    #[test]
    fn a_bad_ha_section_is_refused_naming_the_key() {
        for (ha, key) in [
            (
                "ha:\n  replica: r\n  lease: { namespace: d, duration: 1500ms }\n  peers: { listen: 127.0.0.1:1, cert_file: c, key_file: k, ca_file: a }\n",
                "ha.lease.duration: ",
            ),
            (
                "ha:\n  replica: r\n  lease: { namespace: d, duration: 3s, renew: 3s }\n  peers: { listen: 127.0.0.1:1, cert_file: c, key_file: k, ca_file: a }\n",
                "ha.lease.renew: ",
            ),
            (
                "ha:\n  replica: r\n  lease: { namespace: d }\n  peers: { listen: 0.0.0.0:9443, cert_file: c, key_file: k, ca_file: a }\n",
                "ha.peers.advertise: ",
            ),
        ] {
            let message = config(ha).expect_err(ha);
            assert!(
                message.starts_with(&format!("dkd.yaml: {key}")),
                "{message}"
            );
        }
        let embedded = DaemonConfig::parse(
            "dkd.yaml",
            "ha:\n  replica: r\n  lease: { namespace: d }\n  peers: { listen: 127.0.0.1:1, cert_file: c, key_file: k, ca_file: a }\n",
        )
        .expect_err("embedded forge")
        .to_string();
        assert!(embedded.contains("forge.type github"), "{embedded}");
    }

    /// The `dkd.yaml` of deploy/kubernetes/configmap.yaml, its mounted files under `root`.
    fn deployed_config(root: &std::path::Path) -> String {
        let configmap: serde_json::Value = datakit::manifest::parse_yaml(
            "configmap.yaml",
            include_str!("../../../deploy/kubernetes/configmap.yaml"),
        )
        .expect("the ConfigMap parses");
        let kubeconfig = root.join("etc/datakit/in-cluster.kubeconfig");
        std::fs::create_dir_all(kubeconfig.parent().expect("parent")).expect("mkdir");
        std::fs::write(
            &kubeconfig,
            configmap["data"]["in-cluster.kubeconfig"]
                .as_str()
                .expect("kubeconfig"),
        )
        .expect("write");
        configmap["data"]["dkd.yaml"]
            .as_str()
            .expect("dkd.yaml in the ConfigMap")
            .replace("/etc/datakit/", &format!("{}/etc/datakit/", root.display()))
    }

    #[test]
    fn the_kubernetes_deployment_configures_a_valid_replica() {
        let root = tempfile::tempdir().expect("tempdir");
        let text = deployed_config(root.path())
            .replace("${POD_NAME}", "dkd-7c9f-abcde")
            .replace("${POD_IP}", "10.1.2.3");
        let config = DaemonConfig::parse("/etc/datakit/dkd.yaml", &text).expect("valid");
        let replication = config
            .replication("/etc/datakit/dkd.yaml")
            .expect("valid")
            .expect("ha:");
        assert_eq!(replication.lease.replica, "dkd-7c9f-abcde");
        assert_eq!(replication.lease.address, "10.1.2.3:9443");
        assert_eq!(
            replication.lease.kubeconfig, None,
            "the pod's service account"
        );
        assert_eq!(
            config.probes_address("dkd.yaml").expect("valid"),
            Some("0.0.0.0:8081".parse().expect("address"))
        );
    }
}
