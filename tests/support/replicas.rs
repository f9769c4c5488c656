//! Several real `dkd` replicas on loopback sharing one deployment (issue 13): the GitHub
//! fake as forge, the Kubernetes API fake for Argo CD Applications and the leader Lease, a
//! real OCI registry, TLS listeners with client certificates (CN = user, OU = group),
//! plain gRPC health probes, and replica-to-replica mTLS with certificates of their own CA.
//! Each replica has its own `DK_HOME` and GitHub token (all as the bot), so the GitHub fake
//! tells apart which replica wrote what. Processes are killed when dropped.
//!
//! Needs the GitHub fake (which needs `dkd`), so only the daemon's tests include it:
//! `#[path]` it next to `github_fake`, `kube_fake` and `support`, as the crate root modules
//! `crate::github_fake`, `crate::kube_fake` and `crate::support`.
#![allow(dead_code)] // each test file uses its own part of the harness

use std::{
    collections::BTreeMap,
    ffi::OsStr,
    path::{Path, PathBuf},
    process::Output,
    time::{Duration, Instant, SystemTime},
};

use datakit::manifest::ENVIRONMENTS_FILE;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    github_fake::{BOT, GithubFake, WriteRecord},
    kube_fake::{KubeFake, LeaseWrite, objects::ARGOCD_NAMESPACE},
    support::{
        Daemon, PATIENCE, TestHome,
        certificates::{PemPair, TestCa},
        eventually,
        package::PackageDir,
        registry::RegistryServer,
        shared::{OPEN_POLICY, free_port},
        stderr, stdout,
    },
};

/// Where the leader Lease lives.
pub const LEASE_NAMESPACE: &str = "datakit";
pub const LEASE_NAME: &str = "dkd-leader";
/// The Lease's duration and renew period, as every replica's `dkd.yaml` sets them.
pub const LEASE_DURATION: Duration = Duration::from_secs(3);
pub const LEASE_RENEW: Duration = Duration::from_secs(1);
/// The DNS name in the replica certificate, which replicas check on each other.
pub const REPLICA_SERVER_NAME: &str = "dkd-replica";
/// The name of the fake's cluster in `dkd.yaml` and `config/environments.yaml`.
pub const CLUSTER: &str = "fake-cluster";
/// The registry namespace packages are published to.
pub const REGISTRY_NAMESPACE: &str = "team";
/// Users with a client certificate, and the group (OU) each one's certificate names;
/// the GitHub fake's teams are team-leads: alice, dave and security: bob.
pub const USERS: &[(&str, &str)] = &[
    ("alice", "team-leads"),
    ("bob", "security"),
    ("carol", "developers"),
    ("dave", "team-leads"),
];

/// `config/environments.yaml` on the fake GitHub: dev merges on green checks, int needs a
/// review from @team-leads; both on the fake's cluster.
pub const ENVIRONMENTS: &str = "environments:
  dev:
    cluster: fake-cluster
    namespace: dev
    approval: { required: false, auto_merge: true }
  int:
    cluster: fake-cluster
    namespace: int
    approval: { required: true, approvers: [\"@team-leads\"] }
";

/// The certificates every replica and client shares, in one folder.
struct Certificates {
    dir: tempfile::TempDir,
    /// Trusted by clients for the replicas' listeners.
    server_ca: PathBuf,
    /// Trusted by the listeners for client certificates.
    client_ca: PathBuf,
    /// Trusted by replicas for each other.
    replica_ca: PathBuf,
    server: PemPair,
    replica: PemPair,
    clients: BTreeMap<String, PemPair>,
}

impl Certificates {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir for certificates");
        let path = dir.path();
        let server_ca = TestCa::new("dkd server CA");
        let client_ca = TestCa::new("dkd client CA");
        let replica_ca = TestCa::new("dkd replica CA");
        let clients = USERS
            .iter()
            .map(|(user, group)| {
                (
                    (*user).to_owned(),
                    client_ca.client(path, user, user, group),
                )
            })
            .collect();
        Self {
            server_ca: server_ca.write(&path.join("server-ca.pem")),
            client_ca: client_ca.write(&path.join("client-ca.pem")),
            replica_ca: replica_ca.write(&path.join("replica-ca.pem")),
            server: server_ca.server(path, "server", "dkd"),
            replica: replica_ca.peer(path, "replica", REPLICA_SERVER_NAME),
            clients,
            dir,
        }
    }

    fn client(&self, user: &str) -> &PemPair {
        self.clients
            .get(user)
            .unwrap_or_else(|| panic!("{user} has no client certificate; see USERS"))
    }
}

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
    fn prepare(
        index: usize,
        github: &GithubFake,
        kube: &KubeFake,
        registry: &str,
        certificates: &Certificates,
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
        let (port, probe_port, peer_port) = (free_port(), free_port(), free_port());
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

    /// Its `dkd.yaml`.
    pub fn config_file(&self) -> PathBuf {
        self.home.path().join("dkd.yaml")
    }

    /// Drops the `probes:` and `ha:` sections (the last ones) from its `dkd.yaml`: it then
    /// runs as a standalone dkd on the same forge, cluster, registry and listener.
    pub fn make_standalone(&self) {
        let text = std::fs::read_to_string(self.config_file()).expect("dkd.yaml");
        let kept = text.split("probes:\n").next().unwrap_or_default();
        std::fs::write(self.config_file(), kept).expect("write dkd.yaml");
    }

    /// `https://127.0.0.1:<port>`: its TLS listener, as `DK_DAEMON` takes it.
    pub fn address(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Spawns its dkd and waits until it holds its home and listens on its TLS port,
    /// failing at once with the log if it exits (a refused `dkd.yaml`, say).
    fn start(&mut self) {
        assert!(self.daemon.is_none(), "{} is already running", self.name);
        let mut daemon = Daemon::spawn(self.home.path());
        let pid = daemon.pid();
        self.daemon = Some(daemon);
        let address = format!("127.0.0.1:{}", self.port);
        eventually(&format!("{} to listen on {address}", self.name), || {
            self.fail_if_exited();
            (self.home.daemon_pid() == Some(pid))
                .then(|| std::net::TcpStream::connect(&address).ok())
                .flatten()
        });
    }

    /// Fails the test with the log if the process died.
    fn fail_if_exited(&mut self) {
        let exited = self.daemon.as_mut().is_some_and(|d| !d.is_running());
        if exited {
            self.reap();
            panic!("{} exited:\n{}", self.name, self.log());
        }
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
        let mut command = self.home.dk_command(args, false);
        command
            .env("DK_DAEMON", self.address())
            .env("DK_CA_FILE", &self.server_ca);
        for (name, value) in env {
            command.env(name, value);
        }
        command.output().expect("run dk")
    }

    fn client_certificate(&self, user: &str) -> &PemPair {
        self.certificates
            .get(user)
            .unwrap_or_else(|| panic!("{user} has no client certificate; see USERS"))
    }

    /// A gRPC channel to its TLS listener authenticated by `user`'s client certificate.
    pub async fn grpc_channel(&self, user: &str) -> Channel {
        let pair = self.client_certificate(user);
        let read = |path: &Path| std::fs::read(path).expect("read a PEM file");
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(&self.server_ca)))
            .identity(Identity::from_pem(read(&pair.cert), read(&pair.key)));
        Endpoint::from_shared(self.address())
            .expect("address")
            .tls_config(tls)
            .expect("TLS")
            .connect_timeout(PATIENCE)
            .connect()
            .await
            .expect("connect over TLS")
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

/// A group of replicas and the fakes and registry they share. Fields drop in order: the
/// replicas (killed) before the fakes, the runtime serving the fakes last.
pub struct Replicas {
    replicas: Vec<Replica>,
    pub github: GithubFake,
    pub kube: KubeFake,
    pub registry: RegistryServer,
    /// Where packages are built and published from (no dkd runs on it).
    publisher: TestHome,
    certificates: Certificates,
    runtime: tokio::runtime::Runtime,
}

impl Replicas {
    /// `n` replicas configured and running (each listening on its TLS port).
    pub fn start(n: usize) -> Self {
        let mut replicas = Self::prepare(n);
        for replica in &mut replicas.replicas {
            replica.start();
        }
        replicas
    }

    /// `n` replicas configured (homes, certificates, `dkd.yaml`, the deployment
    /// repository's environments and RBAC policy on the GitHub fake) but not started.
    pub fn prepare(n: usize) -> Self {
        datakit::install_crypto_provider();
        let runtime = tokio::runtime::Runtime::new().expect("runtime for the fakes");
        let github = runtime.block_on(GithubFake::start());
        let kube = runtime.block_on(KubeFake::start());
        let registry = RegistryServer::start();
        let certificates = Certificates::new();
        runtime.block_on(async {
            github.push_to_base(ENVIRONMENTS_FILE, ENVIRONMENTS).await;
            github.push_to_base("config/rbac.yaml", OPEN_POLICY).await;
        });
        let registry_url = registry.url(REGISTRY_NAMESPACE);
        let replicas: Vec<Replica> = (0..n)
            .map(|i| Replica::prepare(i, &github, &kube, &registry_url, &certificates))
            .collect();
        for replica in &replicas {
            runtime.block_on(github.add_token(&replica.github_token, BOT));
        }
        Self {
            replicas,
            github,
            kube,
            registry,
            publisher: TestHome::new(),
            certificates,
            runtime,
        }
    }

    /// The runtime the fakes run on; block on it for async calls (gRPC, the fakes).
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    pub fn len(&self) -> usize {
        self.replicas.len()
    }

    pub fn replica(&self, index: usize) -> &Replica {
        &self.replicas[index]
    }

    pub fn replica_mut(&mut self, index: usize) -> &mut Replica {
        &mut self.replicas[index]
    }

    pub fn all(&self) -> &[Replica] {
        &self.replicas
    }

    /// The client CA's certificate and `user`'s client certificate files.
    pub fn client_certificate(&self, user: &str) -> (&Path, &PemPair) {
        (&self.certificates.client_ca, self.certificates.client(user))
    }

    /// The certificates' folder (CAs, server, replica and client certificates).
    pub fn certificates_dir(&self) -> &Path {
        self.certificates.dir.path()
    }

    /// The replica certificate and the replica CA.
    pub fn replica_certificate(&self) -> (&PemPair, &Path) {
        (&self.certificates.replica, &self.certificates.replica_ca)
    }

    /// The Lease as stored, if any replica created it.
    pub fn lease(&self) -> Option<serde_json::Value> {
        self.kube.lease(LEASE_NAMESPACE, LEASE_NAME)
    }

    /// The index of the replica the Lease names as holder, if any.
    pub fn leader(&self) -> Option<usize> {
        let lease = self.lease()?;
        let holder = lease["spec"]["holderIdentity"].as_str()?;
        self.replicas.iter().position(|r| r.name == holder)
    }

    /// Waits until a replica holds the Lease; its index.
    pub fn wait_for_leader(&self) -> usize {
        eventually("a replica to hold the Lease", || self.leader())
    }

    /// Waits until a replica other than `old` holds the Lease; its index and how long the
    /// wait took.
    pub fn wait_for_new_leader(&self, old: usize) -> (usize, Duration) {
        let started = Instant::now();
        let leader = eventually("another replica to take the Lease", || {
            self.leader().filter(|l| *l != old)
        });
        (leader, started.elapsed())
    }

    /// Indexes of the replicas not holding the Lease.
    pub fn followers(&self) -> Vec<usize> {
        let leader = self.leader();
        (0..self.replicas.len())
            .filter(|i| Some(*i) != leader)
            .collect()
    }

    /// Every accepted write of the leader Lease, oldest first.
    pub fn lease_writes(&self) -> Vec<LeaseWrite> {
        self.kube
            .lease_writes()
            .into_iter()
            .filter(|w| w.namespace == LEASE_NAMESPACE && w.name == LEASE_NAME)
            .collect()
    }

    /// Every write (or attempt) on the GitHub fake made with replica `index`'s token.
    pub fn github_writes_of(&self, index: usize) -> Vec<WriteRecord> {
        let token = &self.replicas[index].github_token;
        self.runtime
            .block_on(self.github.writes())
            .into_iter()
            .filter(|w| &w.token == token)
            .collect()
    }

    /// The same, made at or after `since`.
    pub fn github_writes_of_since(&self, index: usize, since: SystemTime) -> Vec<WriteRecord> {
        self.github_writes_of(index)
            .into_iter()
            .filter(|w| w.at >= since)
            .collect()
    }

    /// How many pull requests of promotion `id` were merged (exactly-once means 1).
    pub fn merges_of(&self, id: &str) -> usize {
        let suffix = format!("/{id}");
        self.runtime
            .block_on(self.github.pulls())
            .iter()
            .filter(|p| p.head_ref.ends_with(&suffix) && p.merge_commit.is_some())
            .count()
    }

    /// Builds `package` at `version` and publishes it to the shared registry with the real
    /// `dk` (no dkd needed); returns the digest.
    pub fn publish(&self, package: &PackageDir, version: &str) -> String {
        let dir = package.path().to_string_lossy().into_owned();
        let built = self
            .publisher
            .dk(&["-o", "json", "build", &dir, "--version", version]);
        assert!(built.status.success(), "dk build: {}", stderr(&built));
        let registry = self.registry.url(REGISTRY_NAMESPACE);
        let published =
            self.publisher
                .dk(&["-o", "json", "publish", &dir, "--registry", &registry]);
        assert!(
            published.status.success(),
            "dk publish: {}",
            stderr(&published)
        );
        let published: serde_json::Value =
            serde_json::from_str(&stdout(&published)).expect("dk publish -o json");
        published["digest"]
            .as_str()
            .expect("digest in dk publish -o json")
            .to_owned()
    }

    /// Every replica's log, each under a header: for failure messages.
    pub fn logs(&self) -> String {
        self.replicas
            .iter()
            .map(|r| format!("==== {} ====\n{}", r.name, r.log()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
