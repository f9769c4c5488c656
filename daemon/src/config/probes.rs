//! `probes:` of `dkd.yaml`: a plain-text gRPC listener serving only `grpc.health.v1`, for
//! Kubernetes' native gRPC probes (which cannot speak TLS). Service `""` answers
//! readiness (SERVING once dkd serves its API), service `liveness` that dkd's runtime
//! answers at all.

use std::net::SocketAddr;

use serde::Deserialize;

use super::ConfigError;

/// `probes:` as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbesConfig {
    /// `IP:PORT`, e.g. `0.0.0.0:8081`.
    pub address: String,
}

impl ProbesConfig {
    pub fn validate(&self, file: &str) -> Result<SocketAddr, ConfigError> {
        self.address.parse().map_err(|_| ConfigError::Cluster {
            file: file.to_owned(),
            key: "probes.address".into(),
            reason: format!(
                "{:?} is not an IP address and port: use e.g. 0.0.0.0:8081",
                self.address
            ),
        })
    }
}
