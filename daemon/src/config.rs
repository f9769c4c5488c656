//! `DK_HOME/dkd.yaml`: which backends dkd uses. Optional; read once and validated before
//! anything binds, so a typo stops dkd with the key at fault instead of surprising later.

mod audit;
mod cluster;
mod forge;
mod ha;
mod limits;
mod listen;
mod notifications;
mod oidc;
mod probes;

use std::{collections::BTreeMap, path::Path};

use datakit::manifest::{ManifestError, parse_yaml};
use serde::Deserialize;

pub use audit::AuditConfig;
pub use cluster::{ClusterConfig, ClusterKind, KubeClusterConfig, cluster_access};
pub use forge::github_settings;
pub use ha::{HaConfig, Peers, Replication};
pub use limits::ListenLimits;
pub use listen::{ListenConfig, Listener, ListenerSecurity, TlsFiles};
pub use notifications::{EVENT_NAMES, Webhook, WebhookConfig, WebhookFormat};
pub use oidc::{AuthConfig, OidcConfig, OidcSettings, endpoint_url};
pub use probes::ProbesConfig;

/// The whole daemon configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Where the deployment repository lives.
    #[serde(default)]
    pub forge: ForgeConfig,
    /// How often the base branch is examined for configuration changes, in milliseconds.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Where published packages are resolved.
    #[serde(default)]
    pub registry: RegistryConfig,
    /// How many events the Watch log keeps; a client resuming from an older one is told
    /// to take a fresh snapshot.
    #[serde(default = "default_event_retention")]
    pub event_retention: u64,
    /// How often an idle Watch stream gets a heartbeat, in milliseconds.
    #[serde(default = "default_heartbeat_interval_ms")]
    pub heartbeat_interval_ms: u64,
    /// Which backend reports what runs where.
    #[serde(default)]
    pub cluster: ClusterConfig,
    /// For Argo CD: each `cluster:` name of `config/environments.yaml` → how to reach it.
    #[serde(default)]
    pub clusters: BTreeMap<String, KubeClusterConfig>,
    /// A network listener (TLS, or plain-text on loopback) besides the local socket.
    #[serde(default)]
    pub listen: Option<ListenConfig>,
    /// How callers on the network listener may authenticate besides service tokens and
    /// client certificates.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Size-based rotation of `DK_HOME/audit.log`.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Outgoing webhooks on promotion events.
    #[serde(default)]
    pub notifications: Vec<WebhookConfig>,
    /// A plain-text gRPC health listener for Kubernetes probes.
    #[serde(default)]
    pub probes: Option<ProbesConfig>,
    /// Several replicas electing a leader on a Kubernetes Lease.
    #[serde(default)]
    pub ha: Option<HaConfig>,
}

fn default_poll_interval_ms() -> u64 {
    1000
}

fn default_event_retention() -> u64 {
    100_000
}

fn default_heartbeat_interval_ms() -> u64 {
    15_000
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            forge: ForgeConfig::default(),
            poll_interval_ms: default_poll_interval_ms(),
            registry: RegistryConfig::default(),
            event_retention: default_event_retention(),
            heartbeat_interval_ms: default_heartbeat_interval_ms(),
            cluster: ClusterConfig::default(),
            clusters: BTreeMap::new(),
            listen: None,
            auth: AuthConfig::default(),
            audit: AuditConfig::default(),
            notifications: Vec::new(),
            probes: None,
            ha: None,
        }
    }
}

/// The git forge backend. The GitHub keys (`owner`, `repo`, `base_branch`, `api_url`,
/// `token_env`, `token_file`) only apply to `type: github`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgeConfig {
    #[serde(rename = "type", default)]
    pub kind: ForgeKind,
    /// The GitHub organization or user that owns the deployment repository.
    #[serde(default)]
    pub owner: Option<String>,
    /// The deployment repository's name.
    #[serde(default)]
    pub repo: Option<String>,
    /// The branch promotions merge into (default `main`).
    #[serde(default)]
    pub base_branch: Option<String>,
    /// The REST API root (default `https://api.github.com`; GitHub Enterprise:
    /// `https://HOST/api/v3`).
    #[serde(default)]
    pub api_url: Option<String>,
    /// The environment variable holding the token (default `GITHUB_TOKEN`).
    #[serde(default)]
    pub token_env: Option<String>,
    /// A file holding the token, instead of `token_env`.
    #[serde(default)]
    pub token_file: Option<String>,
    /// Embedded forge only, a single-user demo mode: `dk approve --as NAME` on the local
    /// socket records an approval for NAME, marked as asserted by the real caller. Off by
    /// default: a typed name is a claim, not an approver.
    #[serde(default)]
    pub asserted_approvers: bool,
    /// Embedded forge only: dkd packs the repository's loose objects with `git repack`
    /// after this many merged change requests (default 50; 0: never).
    #[serde(default)]
    pub pack_every: Option<usize>,
}

/// Available forges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForgeKind {
    /// `DK_HOME/deploy.git`, approvals with `dk approve`.
    #[default]
    Embedded,
    /// A GitHub (or GitHub Enterprise) repository; approvals are pull-request reviews.
    Github,
}

/// The registry backend.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    #[serde(rename = "type", default)]
    pub kind: RegistryKind,
    /// `host[:port]/namespace` of an OCI registry (required for `type: oci`).
    #[serde(default)]
    pub url: Option<String>,
    /// Speak plain HTTP (implied for loopback hosts).
    #[serde(default)]
    pub plain_http: bool,
}

/// Available registries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegistryKind {
    /// OCI image layouts in `DK_HOME/registry/`, written by `dk publish`.
    #[default]
    Embedded,
    /// An OCI registry through `oci-client`.
    Oci,
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Invalid(#[from] ManifestError),
    #[error("{file}: {key}: must be between {min} and {max}, not {value}")]
    OutOfRange {
        file: String,
        key: &'static str,
        value: u64,
        min: u64,
        max: u64,
    },
    #[error("{file}: registry.url: {reason}")]
    RegistryUrl { file: String, reason: String },
    #[error("{file}: forge.{key}: {reason}")]
    Forge {
        file: String,
        key: &'static str,
        reason: String,
    },
    #[error("{file}: listen.{key}: {reason}")]
    Listen {
        file: String,
        key: &'static str,
        reason: String,
    },
    #[error("{file}: auth.oidc.{key}: {reason}")]
    Oidc {
        file: String,
        key: &'static str,
        reason: String,
    },
    #[error(
        "{file}: auth.oidc: OIDC tokens authenticate callers on the network listener only: add listen:, or remove auth.oidc"
    )]
    OidcWithoutListener { file: String },
    #[error("{file}: {key}: {reason}")]
    Notification {
        file: String,
        key: String,
        reason: String,
    },
    #[error("{file}: {second}: {address} is also {first}: give each listener its own port")]
    SharedAddress {
        file: String,
        first: &'static str,
        second: &'static str,
        address: std::net::SocketAddr,
    },
    #[error("{file}: {key}: {reason}")]
    Cluster {
        file: String,
        key: String,
        reason: String,
    },
}

impl DaemonConfig {
    /// Loads `path`; a missing file means every default.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let display = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default());
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: display,
                    source,
                });
            }
        };
        Self::parse(&display, &text)
    }

    /// Parses and validates the configuration text of `file`.
    pub fn parse(file: &str, text: &str) -> Result<Self, ConfigError> {
        let config: Self = if text.trim().is_empty() {
            Self::default()
        } else {
            parse_yaml(file, text)?
        };
        for (key, value, range) in [
            ("poll_interval_ms", config.poll_interval_ms, 100..=60_000),
            ("event_retention", config.event_retention, 100..=10_000_000),
            (
                "heartbeat_interval_ms",
                config.heartbeat_interval_ms,
                100..=300_000,
            ),
        ] {
            if !range.contains(&value) {
                let (min, max) = range.into_inner();
                return Err(ConfigError::OutOfRange {
                    file: file.to_owned(),
                    key,
                    value,
                    min,
                    max,
                });
            }
        }
        config.registry.validate(file)?;
        forge::validate(&config.forge, file)?;
        cluster::validate(config.cluster.kind, &config.clusters, file)?;
        let listen = config.listener(file)?.map(|listener| listener.address);
        config.oidc(file)?;
        config.audit.validate(file)?;
        config.webhooks(file)?;
        let probes = config.probes_address(file)?;
        let peers = config.replication(file)?.map(|ha| ha.peers.listen);
        distinct_listeners(
            file,
            [
                ("listen.address", listen),
                ("probes.address", probes),
                ("ha.peers.listen", peers),
            ],
        )?;
        Ok(config)
    }

    /// The validated `auth.oidc:` of the configuration file `file`, if any. It needs
    /// `listen:`: OIDC tokens authenticate callers on the network listener only.
    pub fn oidc(&self, file: &str) -> Result<Option<OidcSettings>, ConfigError> {
        let Some(oidc) = &self.auth.oidc else {
            return Ok(None);
        };
        if self.listen.is_none() {
            return Err(ConfigError::OidcWithoutListener {
                file: file.to_owned(),
            });
        }
        oidc.validate(file).map(Some)
    }

    /// The validated `notifications:` of the configuration file `file`, secrets read.
    pub fn webhooks(&self, file: &str) -> Result<Vec<Webhook>, ConfigError> {
        notifications::validate(&self.notifications, file)
    }

    /// The validated `ha:` of the configuration file `file`, if any.
    pub fn replication(&self, file: &str) -> Result<Option<Replication>, ConfigError> {
        self.ha
            .as_ref()
            .map(|ha| ha.validate(self, file))
            .transpose()
    }

    /// The validated `probes.address`, if any.
    pub fn probes_address(&self, file: &str) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        self.probes
            .as_ref()
            .map(|probes| probes.validate(file))
            .transpose()
    }

    /// The validated `listen:` of the configuration file `file`, if any; relative TLS file
    /// paths are taken from the folder of `file`.
    pub fn listener(&self, file: &str) -> Result<Option<Listener>, ConfigError> {
        let base = Path::new(file).parent().unwrap_or(Path::new("."));
        self.listen
            .as_ref()
            .map(|listen| listen.validate(file, base))
            .transpose()
    }
}

/// Refuses two listeners (`listen`, `probes`, the peers listener) on one port of one
/// address, which would otherwise fail only once dkd binds the second.
fn distinct_listeners(
    file: &str,
    listeners: [(&'static str, Option<std::net::SocketAddr>); 3],
) -> Result<(), ConfigError> {
    let bound: Vec<_> = listeners
        .into_iter()
        .filter_map(|(key, address)| address.map(|address| (key, address)))
        .collect();
    for (i, &(second, address)) in bound.iter().enumerate() {
        let overlaps = |other: &std::net::SocketAddr| {
            other.port() == address.port()
                && (other.ip() == address.ip()
                    || other.ip().is_unspecified()
                    || address.ip().is_unspecified())
        };
        if let Some(&(first, _)) = bound[..i].iter().find(|(_, other)| overlaps(other)) {
            return Err(ConfigError::SharedAddress {
                file: file.to_owned(),
                first,
                second,
                address,
            });
        }
    }
    Ok(())
}

impl RegistryConfig {
    /// `url` is required for an OCI registry, must parse, and means nothing for the embedded one.
    fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let refuse = |reason: String| ConfigError::RegistryUrl {
            file: file.to_owned(),
            reason,
        };
        match (self.kind, self.url.as_deref()) {
            (RegistryKind::Oci, None) => Err(refuse(
                "required when registry.type is oci: set it to host[:port]/namespace, e.g. ghcr.io/acme".to_owned(),
            )),
            (RegistryKind::Oci, Some(url)) => datakit::oci::RegistryAddress::parse(url, self.plain_http)
                .map(drop)
                .map_err(|error| refuse(error.to_string())),
            (RegistryKind::Embedded, Some(_)) => Err(refuse(
                "only used with registry.type oci: remove it, or set type: oci".to_owned(),
            )),
            (RegistryKind::Embedded, None) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_complete_shared_dkd_yaml_is_valid() {
        let page = include_str!("../../docs/shared-daemon.md");
        let example = page
            .split("# ~dkd/.datakit/dkd.yaml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("docs/shared-daemon.md's complete dkd.yaml");
        let config = DaemonConfig::parse("dkd.yaml", example).expect("valid");
        assert!(
            config.listen.is_some() && config.auth.oidc.is_some(),
            "{config:?}"
        );
    }

    #[test]
    fn a_missing_file_means_the_embedded_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = DaemonConfig::load(&dir.path().join("dkd.yaml")).expect("defaults");
        assert_eq!(config.forge.kind, ForgeKind::Embedded);
        assert_eq!(config.poll_interval_ms, 1000);
    }

    #[test]
    fn two_listeners_on_one_port_are_refused_naming_both() {
        let listen = "listen: { address: \"127.0.0.1:8443\", insecure: true }\n";
        let error = DaemonConfig::parse(
            "dkd.yaml",
            &format!("{listen}probes: {{ address: \"0.0.0.0:8443\" }}\n"),
        )
        .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "dkd.yaml: probes.address: 0.0.0.0:8443 is also listen.address: give each listener its own port"
        );
        DaemonConfig::parse(
            "dkd.yaml",
            &format!("{listen}probes: {{ address: \"127.0.0.2:8443\" }}\n"),
        )
        .expect("another address may reuse the port");
    }

    #[test]
    fn an_unknown_key_is_refused_naming_it() {
        let error = DaemonConfig::parse("dkd.yaml", "forge:\n  type: embedded\nregistyr: x\n")
            .expect_err("refused");
        assert!(error.to_string().contains("registyr"), "{error}");
    }

    #[test]
    fn an_unknown_forge_is_refused_listing_the_available_ones() {
        let error =
            DaemonConfig::parse("dkd.yaml", "forge: { type: gitlab }\n").expect_err("refused");
        let message = error.to_string();
        assert!(
            message.contains("gitlab") && message.contains("embedded"),
            "{message}"
        );
    }

    #[test]
    fn the_registry_is_embedded_unless_configured() {
        let config = DaemonConfig::parse("dkd.yaml", "poll_interval_ms: 500\n").expect("valid");
        assert_eq!(config.registry.kind, RegistryKind::Embedded);
        let config = DaemonConfig::parse(
            "dkd.yaml",
            "registry: { type: oci, url: ghcr.io/acme, plain_http: false }\n",
        )
        .expect("valid");
        assert_eq!(config.registry.kind, RegistryKind::Oci);
        assert_eq!(config.registry.url.as_deref(), Some("ghcr.io/acme"));
    }

    #[test]
    fn an_oci_registry_without_a_valid_url_is_refused_naming_registry_url() {
        for text in [
            "registry: { type: oci }\n",
            "registry: { type: oci, url: \"ftp://x\" }\n",
            "registry: { url: ghcr.io/acme }\n",
        ] {
            let error = DaemonConfig::parse("dkd.yaml", text).expect_err(text);
            let message = error.to_string();
            assert!(message.starts_with("dkd.yaml: registry.url: "), "{message}");
            assert!(!message.contains('\n'), "{message}");
        }
    }

    #[test]
    fn a_plain_text_listener_off_loopback_stops_the_whole_configuration() {
        let error = DaemonConfig::parse(
            "/etc/dkd/dkd.yaml",
            "listen: { address: \"0.0.0.0:8443\", insecure: true }\n",
        )
        .expect_err("refused");
        assert!(
            error
                .to_string()
                .starts_with("/etc/dkd/dkd.yaml: listen.insecure: "),
            "{error}"
        );
        let config = DaemonConfig::parse(
            "/etc/dkd/dkd.yaml",
            "listen: { address: 127.0.0.1:8443, cert_file: tls.crt, key_file: tls.key }\n",
        )
        .expect("valid");
        let listener = config
            .listener("/etc/dkd/dkd.yaml")
            .expect("valid")
            .expect("configured");
        assert!(
            matches!(listener.security, ListenerSecurity::Tls(files) if files.cert == Path::new("/etc/dkd/tls.crt"))
        );
    }

    #[test]
    fn oidc_needs_a_listener_and_is_validated_with_the_rest() {
        let oidc = "auth: { oidc: { issuer: \"https://id.example.com\", audience: dkd } }\n";
        let error = DaemonConfig::parse("dkd.yaml", oidc).expect_err("no listener");
        assert!(
            error.to_string().starts_with("dkd.yaml: auth.oidc: "),
            "{error}"
        );
        let listen = "listen: { address: 127.0.0.1:8443, insecure: true }\n";
        let config = DaemonConfig::parse("dkd.yaml", &format!("{listen}{oidc}")).expect("valid");
        let settings = config.oidc("dkd.yaml").expect("valid").expect("configured");
        assert_eq!(settings.audience, "dkd");
        let error = DaemonConfig::parse(
            "dkd.yaml",
            &format!("{listen}auth: {{ oidc: {{ audience: dkd }} }}\n"),
        )
        .expect_err("no issuer");
        assert!(
            error
                .to_string()
                .starts_with("dkd.yaml: auth.oidc.issuer: required"),
            "{error}"
        );
    }

    #[test]
    fn a_poll_interval_out_of_range_is_refused() {
        let error = DaemonConfig::parse("dkd.yaml", "poll_interval_ms: 5\n").expect_err("refused");
        assert!(error.to_string().contains("poll_interval_ms"), "{error}");
    }
}
