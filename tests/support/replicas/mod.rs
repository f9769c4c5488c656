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

mod certificates;
mod replica;

use std::{
    path::Path,
    time::{Duration, Instant, SystemTime},
};

use datakit::manifest::ENVIRONMENTS_FILE;

use crate::{
    github_fake::{BOT, GithubFake, WriteRecord},
    kube_fake::{
        KubeFake, LeaseWrite,
        objects::{ARGOCD_NAMESPACE, AppStatus, application},
    },
    support::{
        TestHome, certificates::PemPair, eventually, package::PackageDir, registry::RegistryServer,
        shared::OPEN_POLICY, stderr, stdout,
    },
};

use certificates::Certificates;
pub use replica::Replica;

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
        let mut replicas: Vec<Replica> = Vec::with_capacity(n);
        for i in 0..n {
            // Ports of their own: none another replica of the group was given.
            let taken: Vec<u16> = replicas.iter().flat_map(Replica::ports).collect();
            let replica = Replica::prepare(i, &github, &kube, &registry_url, &certificates, &taken);
            replicas.push(replica);
        }
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

    /// Argo CD synced `package` `version` of promotion `promotion_id` in `environment` at
    /// `revision`, Healthy: the Application as Argo CD writes it, with the annotations the
    /// ApplicationSet copies from the manifest.
    pub fn argo_cd_synced(
        &self,
        environment: &str,
        package: &str,
        version: &str,
        promotion_id: &str,
        revision: &str,
    ) {
        let status = AppStatus {
            sync: "Synced",
            revision,
            health: "Healthy",
            health_message: "",
            phase: "Succeeded",
            at: std::time::SystemTime::now(),
        };
        let previous = self.kube.get(
            "argoproj.io/v1alpha1",
            "Application",
            ARGOCD_NAMESPACE,
            &format!("{environment}-{package}"),
        );
        let mut app = application(environment, package, version, &status, previous.as_ref());
        app["metadata"]["annotations"]["datakit.infoblox.dev/promotion-id"] =
            serde_json::json!(promotion_id);
        self.kube.apply(app);
    }

    /// The merge commit of promotion `id`, once its pull request merged.
    pub fn merge_commit_of(&self, id: &str) -> Option<String> {
        let suffix = format!("/{id}");
        self.runtime
            .block_on(self.github.pulls())
            .iter()
            .find(|p| p.head_ref.ends_with(&suffix))
            .and_then(|p| p.merge_commit.clone())
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
