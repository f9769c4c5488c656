//! One dkd replica of the group: its home with the `dkd.yaml` of issue 13 (forge, Argo CD
//! cluster, registry, TLS listener with client certificates, probes, `ha:`), its process
//! and what a test does to it (dk and gRPC as a user, health, kill -9, SIGSTOP/SIGCONT,
//! restart, its log).

use std::{
    collections::BTreeMap,
    ffi::OsStr,
    path::{Path, PathBuf},
    process::Output,
    time::Duration,
};

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    github_fake::GithubFake,
    kube_fake::{KubeFake, objects::ARGOCD_NAMESPACE},
    support::{
        Daemon, PATIENCE, TestHome, certificates::PemPair, eventually, shared::free_ports, stderr,
    },
};

use super::{
    CLUSTER, LEASE_DURATION, LEASE_NAME, LEASE_NAMESPACE, LEASE_RENEW, REPLICA_SERVER_NAME,
    certificates::Certificates,
};

/// How many times a start moves to new ports when one was taken.
const PORT_ATTEMPTS: usize = 3;

/// One dkd replica: its home, ports, token and process (if running).
pub struct Replica {
    pub index: usize,
    /// `replica-<index>`: its `ha.replica`, the Lease's holderIdentity while it leads.
    pub name: String,
    pub home: TestHome,
    pub port: u16,
    pub probe_port: u16,
    pub peer_port: u16,
    /// Its GitHub token (acting as the bot); `GithubFake::writes` names it.
    pub github_token: String,
    daemon: Option<Daemon>,
    /// The logs of its earlier processes (before a kill or restart).
    earlier_logs: String,
    server_ca: PathBuf,
    certificates: BTreeMap<String, PemPair>,
}

impl Replica {
    pub(super) fn prepare(
        index: usize,
        github: &GithubFake,
        kube: &KubeFake,
        registry: &str,
        certificates: &Certificates,
        taken: &[u16],
    ) -> Self {
        let name = format!("replica-{index}");
        let home = TestHome::new();
        github.configure_home(home.path());
        let github_token = format!("dkd-bot-token-{name}");
        std::fs::write(
            home.path().join("github-token"),
            format!("{github_token}\n"),
        )
        .expect("write the replica's GitHub token");
        let [port, probe_port, peer_port] = free_ports(taken);
        let forge = std::fs::read_to_string(home.path().join("dkd.yaml")).expect("dkd.yaml");
        let kubeconfig = kube.kubeconfig().display();
        let config = format!(
            "{forge}cluster: {{ type: argocd }}
clusters:
  {CLUSTER}: {{ kubeconfig: \"{kubeconfig}\", argocd_namespace: {ARGOCD_NAMESPACE} }}
registry: {{ type: oci, url: \"{registry}\" }}
listen:
  address: \"127.0.0.1:{port}\"
  cert_file: \"{server_cert}\"
  key_file: \"{server_key}\"
  client_ca_file: \"{client_ca}\"
probes:
  address: \"127.0.0.1:{probe_port}\"
ha:
  replica: {name}
  lease: {{ namespace: {LEASE_NAMESPACE}, name: {LEASE_NAME}, duration: {duration}s, renew: {renew}s, kubeconfig: \"{kubeconfig}\" }}
  peers:
    listen: \"127.0.0.1:{peer_port}\"
    advertise: \"127.0.0.1:{peer_port}\"
    cert_file: \"{replica_cert}\"
    key_file: \"{replica_key}\"
    ca_file: \"{replica_ca}\"
    server_name: {REPLICA_SERVER_NAME}
",
            server_cert = certificates.server.cert.display(),
            server_key = certificates.server.key.display(),
            client_ca = certificates.client_ca.display(),
            duration = LEASE_DURATION.as_secs(),
            renew = LEASE_RENEW.as_secs(),
            replica_cert = certificates.replica.cert.display(),
            replica_key = certificates.replica.key.display(),
            replica_ca = certificates.replica_ca.display(),
        );
        std::fs::write(home.path().join("dkd.yaml"), config).expect("write dkd.yaml");
        Self {
            index,
            name,
            home,
            port,
            probe_port,
            peer_port,
            github_token,
            daemon: None,
            earlier_logs: String::new(),
            server_ca: certificates.server_ca.clone(),
            certificates: certificates.clients.clone(),
        }
    }

    /// Its TLS, probe and peer ports.
    pub fn ports(&self) -> [u16; 3] {
        [self.port, self.probe_port, self.peer_port]
    }

    /// Its `dkd.yaml`.
    pub fn config_file(&self) -> PathBuf {
        self.home.path().join("dkd.yaml")
    }

    /// Drops the `ha:` section (the last one) from its `dkd.yaml`: it then
    /// runs as a standalone dkd on the same forge, cluster, registry and listener.
    pub fn make_standalone(&self) {
        let text = std::fs::read_to_string(self.config_file()).expect("dkd.yaml");
        let kept = text.split("\nha:\n").next().unwrap_or_default();
        std::fs::write(self.config_file(), kept).expect("write dkd.yaml");
    }

    /// `https://127.0.0.1:<port>`: its TLS listener, as `DK_DAEMON` takes it.
    pub fn address(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Spawns its dkd and waits until it holds its home, listens on its TLS port and its
    /// probe says it is ready, failing at once with the log if it exits (a refused
    /// `dkd.yaml`, say).
    pub(super) fn start(&mut self) {
        for _ in 0..PORT_ATTEMPTS {
            if self.start_once() {
                return;
            }
            // A port it was given was taken meanwhile (by another test's listener, which
            // also asks the system for free ports): the same start on new ports.
            self.move_to_new_ports();
        }
        panic!(
            "{} found its ports taken {PORT_ATTEMPTS} times:\n{}",
            self.name,
            self.log()
        );
    }

    /// Starts it and waits until it is ready: true; false when it exited because an
    /// address was in use; any other exit fails the test with the log.
    fn start_once(&mut self) -> bool {
        assert!(self.daemon.is_none(), "{} is already running", self.name);
        let mut daemon = Daemon::spawn(self.home.path());
        let pid = daemon.pid();
        self.daemon = Some(daemon);
        let address = format!("127.0.0.1:{}", self.port);
        let probe = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the probe");
        let started = eventually(&format!("{} to be ready on {address}", self.name), || {
            if let Some(log) = self.exited() {
                return Some(Err(log));
            }
            // Its own TLS listener (only this group's CA), not whatever else may hold a
            // port it was given, and its probe.
            let ready = self.home.daemon_pid() == Some(pid)
                && probe.block_on(self.serves_over_tls())
                && probe.block_on(self.health("")) == Some(ServingStatus::Serving);
            ready.then_some(Ok(()))
        });
        match started {
            Ok(()) => true,
            Err(log) if log.contains("Address already in use") => false,
            Err(log) => panic!("{} exited:\n{log}", self.name),
        }
    }

    /// Gives it three new ports, in its `dkd.yaml` too.
    fn move_to_new_ports(&mut self) {
        let mut config = std::fs::read_to_string(self.config_file()).expect("dkd.yaml");
        let old = self.ports();
        // New ports differ from each other and from the old ones, so one replacement
        // never rewrites another's.
        let new = free_ports::<3>(&old);
        for (old, new) in old.iter().zip(new) {
            config = config.replace(&format!("127.0.0.1:{old}\""), &format!("127.0.0.1:{new}\""));
        }
        [self.port, self.probe_port, self.peer_port] = new;
        std::fs::write(self.config_file(), config).expect("write dkd.yaml");
    }

    /// The log, if the process died (reaped).
    fn exited(&mut self) -> Option<String> {
        let exited = self.daemon.as_mut().is_some_and(|d| !d.is_running());
        exited.then(|| {
            self.reap();
            self.log()
        })
    }

    fn daemon(&mut self) -> &mut Daemon {
        let name = self.name.clone();
        self.daemon
            .as_mut()
            .unwrap_or_else(|| panic!("{name} is not running"))
    }

    /// `kill -9`: the process dies at once (its log is kept for `log`).
    pub fn kill9(&mut self) {
        self.daemon().signal("KILL");
        self.reap();
    }

    fn reap(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            let output = daemon.wait();
            self.earlier_logs.push_str(&stderr(&output));
        }
    }

    /// `kill -STOP`: the process freezes (no renewals, no writes) until `sigcont`.
    pub fn sigstop(&mut self) {
        self.daemon().signal("STOP");
    }

    /// `kill -CONT`: a stopped process runs on.
    pub fn sigcont(&mut self) {
        self.daemon().signal("CONT");
    }

    /// Starts it again on the same home and ports (after `kill9`, or stops it first with
    /// SIGTERM and waits).
    pub fn restart(&mut self) {
        if self.daemon.is_some() {
            self.daemon().signal("TERM");
            self.reap();
        }
        self.start();
    }

    pub fn is_running(&mut self) -> bool {
        self.daemon.as_mut().is_some_and(Daemon::is_running)
    }

    /// Everything its processes logged, earliest first.
    pub fn log(&self) -> String {
        let current = self.daemon.as_ref().map(Daemon::log).unwrap_or_default();
        format!("{}{current}", self.earlier_logs)
    }

    /// `dk ARGS` against this replica's TLS listener as `user` (its client certificate).
    pub fn dk(&self, user: &str, args: &[&str]) -> Output {
        let pair = self.client_certificate(user);
        self.dk_with(
            args,
            &[
                ("DK_CLIENT_CERT", pair.cert.as_os_str()),
                ("DK_CLIENT_KEY", pair.key.as_os_str()),
            ],
        )
    }

    /// `dk ARGS` against this replica's TLS listener with `env` (no client certificate
    /// unless `env` names one).
    pub fn dk_with(&self, args: &[&str], env: &[(&str, &OsStr)]) -> Output {
        self.dk_command(args, env).output().expect("run dk")
    }

    /// `dk ARGS` as `user`, started in the background (stdout and stderr piped).
    pub fn dk_spawn(&self, user: &str, args: &[&str]) -> std::process::Child {
        let pair = self.client_certificate(user);
        self.dk_command(
            args,
            &[
                ("DK_CLIENT_CERT", pair.cert.as_os_str()),
                ("DK_CLIENT_KEY", pair.key.as_os_str()),
            ],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start dk")
    }

    fn dk_command(&self, args: &[&str], env: &[(&str, &OsStr)]) -> std::process::Command {
        let mut command = self.home.dk_command(args, false);
        command
            .env("DK_DAEMON", self.address())
            .env("DK_CA_FILE", &self.server_ca);
        for (name, value) in env {
            command.env(name, value);
        }
        command
    }

    fn client_certificate(&self, user: &str) -> &PemPair {
        self.certificates
            .get(user)
            .unwrap_or_else(|| panic!("{user} has no client certificate; see USERS"))
    }

    /// A gRPC channel to its TLS listener authenticated by `user`'s client certificate.
    pub async fn grpc_channel(&self, user: &str) -> Channel {
        self.tls_endpoint(user)
            .connect_timeout(PATIENCE)
            .connect()
            .await
            .expect("connect over TLS")
    }

    /// Its TLS listener, trusting this group's server CA, as `user`.
    fn tls_endpoint(&self, user: &str) -> Endpoint {
        let pair = self.client_certificate(user);
        let read = |path: &Path| std::fs::read(path).expect("read a PEM file");
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(&self.server_ca)))
            .identity(Identity::from_pem(read(&pair.cert), read(&pair.key)));
        Endpoint::from_shared(self.address())
            .expect("address")
            .tls_config(tls)
            .expect("TLS")
    }

    /// Whether its TLS listener answers `grpc.health.v1` SERVING with this group's server
    /// certificate (so not another group's dkd that took a port it was given).
    async fn serves_over_tls(&self) -> bool {
        let user = self
            .certificates
            .keys()
            .next()
            .expect("a client certificate");
        let Ok(channel) = self
            .tls_endpoint(user)
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(1))
            .connect()
            .await
        else {
            return false;
        };
        let answer = HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await;
        matches!(answer, Ok(answer) if answer.get_ref().status() == ServingStatus::Serving)
    }

    /// What its probe listener's `grpc.health.v1` says about `service` ("" = the process);
    /// None when it does not answer.
    pub async fn health(&self, service: &str) -> Option<ServingStatus> {
        let channel = Endpoint::from_shared(format!("http://127.0.0.1:{}", self.probe_port))
            .ok()?
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(1))
            .connect()
            .await
            .ok()?;
        let answer = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .ok()?;
        Some(answer.into_inner().status())
    }
}
