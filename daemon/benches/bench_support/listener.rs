//! A dkd with a TLS listener that accepts OIDC tokens of an issuer on loopback, for the
//! transport benchmark: the certificates and signing keys are made with the tests' own
//! helpers, and the reader's token is an ES256 JWT of that issuer.

#[path = "../../../tests/support/certificates.rs"]
mod certificates;
#[path = "../../../tests/support/oidc.rs"]
mod oidc;

use std::path::Path;

pub use oidc::{SigningKey, TestIssuer};
use tonic::{
    metadata::{Ascii, MetadataValue},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint},
};

use super::{Dkd, plumbing_commit};

/// `config/rbac.yaml` letting the group `readers` read everything.
const READERS_POLICY: &str = "roles:
  reader:
    - actions: [read]
      environments: [\"*\"]
bindings:
  - role: reader
    groups: [readers]
";

/// The audience dkd accepts tokens for.
const AUDIENCE: &str = "dkd";

/// A running dkd serving its socket and a TLS listener, and a reader's bearer token.
pub struct Listening {
    pub daemon: Dkd,
    pub address: String,
    pub bearer: MetadataValue<Ascii>,
    ca: Vec<u8>,
}

/// Writes `home/dkd.yaml` with a TLS listener on a free loopback port (a certificate of a
/// new CA) and `auth.oidc` for `issuer`, starts dkd, and signs a token for `user` in
/// `groups` with `key` (which `issuer` must publish).
pub fn start(
    home: &Path,
    issuer: &TestIssuer,
    key: &SigningKey,
    user: &str,
    groups: &[&str],
) -> Listening {
    std::fs::create_dir_all(home).expect("create home");
    let ca = certificates::TestCa::new("bench CA");
    let pem = ca.write(&home.join("bench-ca.pem"));
    let server = ca.server(home, "bench-tls", "dkd-bench");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    std::fs::write(
        home.join("dkd.yaml"),
        format!(
            "listen:\n  address: 127.0.0.1:{port}\n  cert_file: {}\n  key_file: {}\nauth:\n  oidc:\n    issuer: {}\n    audience: {AUDIENCE}\n",
            server.cert.display(),
            server.key.display(),
            issuer.url()
        ),
    )
    .expect("write dkd.yaml");
    let token = key.sign(&issuer.claims(user, groups, AUDIENCE));
    Listening {
        daemon: Dkd::spawn(home),
        address: format!("https://127.0.0.1:{port}"),
        bearer: format!("Bearer {token}").parse().expect("a header value"),
        ca: std::fs::read(pem).expect("read the CA"),
    }
}

/// Commits a policy letting the group `readers` read everything to `home`'s deployment
/// repository (RBAC denies everything on the listener by default); dkd serves it within
/// its poll interval.
pub fn grant_readers(home: &Path) {
    plumbing_commit(
        &home.join("deploy.git"),
        &[(
            "config/rbac.yaml".to_owned(),
            READERS_POLICY.as_bytes().to_vec(),
        )],
        "Let readers read",
    );
}

impl Listening {
    /// One HTTP/2 connection over TLS to the listener, trusting the bench CA.
    pub async fn channel(&self) -> Result<Channel, tonic::transport::Error> {
        Endpoint::from_shared(self.address.clone())?
            .tls_config(
                ClientTlsConfig::new()
                    .ca_certificate(Certificate::from_pem(&self.ca))
                    .domain_name("127.0.0.1"),
            )?
            .connect()
            .await
    }
}
