//! A shared dkd for the tests: the real dkd with a TLS listener on a loopback port (its
//! certificate made by a test CA), `dk` run against it over TLS with `DK_TOKEN` or client
//! certificates, and a gRPC channel trusting the test CA. Unless a test asks for a bare
//! one, the deployment repository gets a `config/rbac.yaml` letting every authenticated
//! caller do everything but admin, so tests of other features need no policy of their own.

/// The policy `Shared::start` installs: everything but admin, for everyone.
pub const OPEN_POLICY: &str = "roles:
  everything:
    - actions: [read, promote, rollback, approve]
      environments: [\"*\"]
bindings:
  - role: everything
    users: [\"*\"]
";

use std::{ffi::OsStr, path::PathBuf, process::Output};

use datakit::proto::data_kit_service_client::DataKitServiceClient;
use tonic::{
    metadata::MetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint},
};

use super::{Clone, Daemon, TestHome, certificates::TestCa, eventually, json, stderr, stdout};

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let [port] = free_ports::<1>(&[]);
    port
}

/// `N` different loopback ports nobody listens on right now, none of them in `avoid`.
/// All are held open until all are chosen: ports chosen one by one may repeat, since the
/// system may hand out a port again as soon as the probe that held it is closed.
pub fn free_ports<const N: usize>(avoid: &[u16]) -> [u16; N] {
    let mut held = Vec::with_capacity(N);
    while held.len() < N {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("a bound address").port();
        if !avoid.contains(&port) {
            held.push((port, listener));
        }
    }
    std::array::from_fn(|i| held[i].0)
}

/// A dkd with a TLS listener on 127.0.0.1, its CA and its certificate files.
pub struct Shared {
    pub home: TestHome,
    pub daemon: Daemon,
    pub files: tempfile::TempDir,
    pub port: u16,
}

impl Shared {
    /// Starts dkd with `listen:` serving a certificate of a new CA, plus `extra` lines of
    /// `listen:` (e.g. a client CA).
    pub fn start(extra: &str) -> Self {
        Self::start_with(extra, "")
    }

    /// Like [`Shared::start`], with `config` appended to `dkd.yaml` (top-level keys, e.g.
    /// `auth:`).
    pub fn start_with(extra: &str, config: &str) -> Self {
        let shared = Self::start_bare(extra, config);
        shared.set_policy(OPEN_POLICY);
        shared
    }

    /// Pushes `policy` as `config/rbac.yaml` and waits until dkd serves it.
    pub fn set_policy(&self, policy: &str) {
        set_policy(&self.home, policy);
    }

    /// Like [`Shared::start_with`], without any `config/rbac.yaml`.
    pub fn start_bare(extra: &str, config: &str) -> Self {
        datakit::install_crypto_provider();
        let files = tempfile::tempdir().expect("tempdir");
        let ca = TestCa::new("test server CA");
        ca.write(&files.path().join("ca.pem"));
        let server = ca.server(files.path(), "tls", "dkd-first");
        let home = TestHome::new();
        let port = free_port();
        std::fs::write(
            home.path().join("dkd.yaml"),
            format!(
                "listen:\n  address: 127.0.0.1:{port}\n  cert_file: {}\n  key_file: {}\n{extra}{config}",
                server.cert.display(),
                server.key.display()
            ),
        )
        .expect("write dkd.yaml");
        let daemon = home.start_daemon();
        Self {
            home,
            daemon,
            files,
            port,
        }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.files.path().join(name)
    }

    pub fn address(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// `dk ARGS` over TLS, trusting the test CA, with `env` set.
    pub fn dk(&self, args: &[&str], env: &[(&str, &OsStr)]) -> Output {
        let mut command = self.home.dk_command(args, false);
        command
            .env("DK_DAEMON", self.address())
            .env("DK_CA_FILE", self.file("ca.pem"));
        for (name, value) in env {
            command.env(name, value);
        }
        command.output().expect("run dk")
    }

    /// `dk ARGS` over TLS as the holder of `token`.
    pub fn dk_as(&self, token: &str, args: &[&str]) -> Output {
        self.dk(args, &[("DK_TOKEN", OsStr::new(token))])
    }

    /// Issues a token on the socket and returns its secret.
    pub fn token(&self, args: &[&str]) -> String {
        let mut all = vec!["token", "create"];
        all.extend(args);
        let created = self.home.dk(&all);
        assert!(created.status.success(), "{}", stderr(&created));
        stdout(&created).trim().to_owned()
    }

    /// A gRPC channel over TLS trusting the test CA.
    pub async fn channel(&self) -> Channel {
        let ca = std::fs::read(self.file("ca.pem")).expect("read CA");
        Endpoint::from_shared(self.address())
            .expect("address")
            .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)))
            .expect("TLS")
            .connect()
            .await
            .expect("connect over TLS")
    }
}

/// Pushes `policy` as the `config/rbac.yaml` of `home`'s deployment repository and waits
/// until its dkd serves it.
pub fn set_policy(home: &TestHome, policy: &str) {
    let revision = Clone::of(home).push_file("config/rbac.yaml", policy, "Set the RBAC policy");
    eventually("the RBAC policy to be served", || {
        let served = json(&home.dk(&["-o", "json", "whoami"]));
        (served["revision"] == revision.as_str()).then_some(())
    });
}

/// A client on `channel` that sends `token` as its bearer token.
pub fn authorized(
    channel: Channel,
    token: &str,
) -> DataKitServiceClient<InterceptedService<Channel, impl Interceptor + std::clone::Clone>> {
    let bearer: MetadataValue<_> = format!("Bearer {token}").parse().expect("header");
    DataKitServiceClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
        request
            .metadata_mut()
            .insert("authorization", bearer.clone());
        Ok(request)
    })
}

/// Exit 4 with a one-line error containing each of `expected`.
pub fn refused(output: &Output, expected: &[&str]) {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(4), "{message}");
    assert_eq!(message.trim_end().lines().count(), 1, "{message}");
    for part in expected {
        assert!(message.contains(part), "{part:?} not in: {message}");
    }
}
