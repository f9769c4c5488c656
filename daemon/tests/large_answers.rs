//! Answers larger than the 4 MiB that gRPC clients accept by default: a Watch snapshot
//! reaches a tonic client with default options whole, in parts, then live events follow;
//! `dk`'s client reads an environment's whole `Status`. The server is dkd's own
//! (`dkd::api::serve` over `DataKitApi`, on a real Unix socket); its status board is
//! filled in memory through `StatusBoard::observe`, since deploying tens of thousands of
//! packages through a repository and a registry would take minutes.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    sync::Arc,
    time::{Duration, SystemTime},
};

use datakit::proto::{
    StatusRequest, WatchEvent, WatchRequest, data_kit_service_client::DataKitServiceClient,
    watch_event::Event,
};
use dk::connect::{DaemonAddress, connect};
use dkd::{
    api::{ApiSources, Backend, Backends, DataKitApi, Listeners, ServeError, serve},
    audit::{AuditLog, AuditSettings},
    auth::TokenStore,
    cluster::LocalTarget,
    gitops::LocalGitForge,
    notify::Notifications,
    promotion::{
        ConfigSource, Engine, EnvironmentCatalog, EventLog, Ports, StatusBoard,
        ports::{GroupSource, HealthState, PackageSync, StateStore, SyncState, SystemClock},
    },
    registry::LayoutRegistry,
    store::MemoryStore,
};
use prost::Message;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// 12,000 packages in each of 3 environments: 36,000 rows, some 6 MB encoded.
const PACKAGES: usize = 12_000;
const ENVIRONMENTS: [&str; 3] = ["dev", "int", "prod"];
const ENVIRONMENTS_YAML: &str = "environments:
  dev: { cluster: c, namespace: dev, approval: { required: false, auto_merge: true } }
  int: { cluster: c, namespace: int, approval: { required: false, auto_merge: true } }
  prod: { cluster: c, namespace: prod, approval: { required: false, auto_merge: true } }
";
/// What tonic, grpcio, grpc-js and connect-es accept per message unless told otherwise.
const DEFAULT_CLIENT_LIMIT: usize = 4 * 1024 * 1024;
const PATIENCE: Duration = Duration::from_secs(30);

fn deployed(package: String, environment: &str, version: &str) -> PackageSync {
    PackageSync {
        package,
        environment: environment.to_owned(),
        version: version.to_owned(),
        digest: format!("sha256:{}", "5e".repeat(32)),
        promotion_id: None,
        revision: "0123456789abcdef0123456789abcdef01234567".into(),
        sync: SyncState::Synced,
        health: HealthState::Healthy,
        last_sync: SystemTime::now(),
        message: String::new(),
        last_run: None,
    }
}

fn package_name(i: usize) -> String {
    format!("pkg-{i:05}")
}

/// dkd's API over `store`, as `app::run` assembles it, with the forge, registry and cluster
/// of an embedded home under `dir` (empty: the snapshot comes from the board).
async fn api(dir: &Path, store: Arc<dyn StateStore>, shutdown: CancellationToken) -> ApiParts {
    let catalog = Arc::new(EnvironmentCatalog::from_store(
        store.as_ref(),
        GroupSource::TeamsFile,
    ));
    let events = Arc::new(EventLog::new(store.clone(), 1_000_000));
    let board = StatusBoard::open(store.clone(), events.clone(), Arc::new(SystemClock));
    let forge = Arc::new(
        LocalGitForge::open_or_init(&dir.join("deploy.git"), Arc::new(MemoryStore::default()))
            .await
            .expect("forge"),
    );
    let registry = Arc::new(LayoutRegistry::new(&dir.join("registry")));
    let cluster = Arc::new(LocalTarget::new(dir.join("targets")));
    let engine = Arc::new(Engine::new(Ports {
        catalog: catalog.clone(),
        forge,
        registry: registry.clone(),
        cluster: cluster.clone(),
        store,
        events: events.clone(),
    }));
    let embedded = |kind| Backend {
        kind,
        description: "embedded".into(),
    };
    let api = DataKitApi::new(ApiSources {
        catalog,
        engine,
        board: board.clone(),
        events: events.clone(),
        cluster,
        registry,
        tokens: Arc::new(TokenStore::open(&dir.join("tokens.json")).expect("tokens")),
        asserted_approvers: false,
        audit: Arc::new(AuditLog::new(
            &dir.join("audit.log"),
            AuditSettings {
                max_bytes: 1 << 20,
                keep: 1,
            },
        )),
        heartbeat: Duration::from_secs(15),
        shutdown,
        backends: Backends {
            forge: embedded("embedded"),
            cluster: embedded("embedded"),
            registry: embedded("embedded"),
        },
        notifications: Notifications::new(Vec::new(), &dir.join("notifications.json")),
    });
    ApiParts { api, board, events }
}

struct ApiParts {
    api: DataKitApi,
    board: Arc<StatusBoard>,
    events: Arc<EventLog>,
}

/// A channel to the socket with tonic's default options (4 MiB decoding limit included).
async fn channel(socket: &Path) -> Channel {
    dk::connect::unix_channel(socket)
        .await
        .expect("connect to the socket")
}

async fn next(stream: &mut tonic::Streaming<WatchEvent>, what: &str) -> WatchEvent {
    tokio::time::timeout(PATIENCE, stream.message())
        .await
        .unwrap_or_else(|_| panic!("{what} did not arrive within {PATIENCE:?}"))
        .unwrap_or_else(|status| panic!("{what}: {status}"))
        .unwrap_or_else(|| panic!("the stream ended before {what}"))
}

/// dkd serving, on a real socket, a board of `PACKAGES` packages in each environment,
/// each status carrying `message`.
struct Served {
    dir: tempfile::TempDir,
    socket: std::path::PathBuf,
    board: Arc<StatusBoard>,
    events: Arc<EventLog>,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<Result<(), ServeError>>,
}

async fn served(message: &str) -> Served {
    datakit::install_crypto_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
    store
        .save_config(&ConfigSource {
            revision: "base".into(),
            loaded_at: SystemTime::now(),
            files: BTreeMap::from([(
                "config/environments.yaml".to_owned(),
                ENVIRONMENTS_YAML.to_owned(),
            )]),
        })
        .expect("configuration");
    let shutdown = CancellationToken::new();
    let ApiParts { api, board, events } = api(dir.path(), store, shutdown.clone()).await;
    for environment in ENVIRONMENTS {
        let statuses = (0..PACKAGES)
            .map(|i| PackageSync {
                message: message.to_owned(),
                ..deployed(package_name(i), environment, "v1.2.0")
            })
            .collect();
        board.observe(environment, statuses).await.expect("observe");
    }
    let socket = dir.path().join("dkd.sock");
    let listeners = Listeners {
        network: None,
        probes: None,
        peers: None,
    };
    let server = tokio::spawn({
        let (socket, stopped) = (socket.clone(), shutdown.clone().cancelled_owned());
        async move { serve(api, &socket, listeners, stopped).await }
    });
    tokio::time::timeout(PATIENCE, async {
        while !socket.exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the socket appears");
    Served {
        dir,
        socket,
        board,
        events,
        shutdown,
        server,
    }
}

impl Served {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(PATIENCE, self.server)
            .await
            .expect("dkd's server stops")
            .expect("server task")
            .expect("served");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_larger_than_a_default_client_accepts_arrives_whole_in_parts() {
    let served = served("").await;
    let (socket, board, events) = (&served.socket, &served.board, &served.events);
    let mut client = DataKitServiceClient::new(channel(socket).await);
    let mut stream = client
        .watch(WatchRequest::default())
        .await
        .expect("Watch")
        .into_inner();
    let mut parts = Vec::new();
    loop {
        let part = next(&mut stream, "a snapshot part").await;
        let Some(Event::Snapshot(snapshot)) = &part.event else {
            panic!("an event before the snapshot's last part: {:?}", part.event);
        };
        let more = snapshot.more;
        parts.push(part);
        if !more {
            break;
        }
    }

    let sizes: Vec<usize> = parts.iter().map(Message::encoded_len).collect();
    let total: usize = sizes.iter().sum();
    assert!(
        total > DEFAULT_CLIENT_LIMIT,
        "the snapshot ({total} bytes) must exceed what a default client accepts in one message"
    );
    assert!(
        sizes.iter().all(|&size| size < DEFAULT_CLIENT_LIMIT),
        "{sizes:?}"
    );
    let sequence = events.last_sequence().expect("last sequence");
    assert!(
        parts
            .iter()
            .all(|part| part.snapshot_sequence == sequence && part.sequence == 0),
        "every part reflects the same point, #{sequence}"
    );
    let snapshots: Vec<_> = parts
        .into_iter()
        .filter_map(|part| match part.event {
            Some(Event::Snapshot(snapshot)) => Some(snapshot),
            _ => None,
        })
        .collect();
    let environments: Vec<&str> = snapshots[0]
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(environments, ENVIRONMENTS, "environments come first");
    let rows: Vec<(String, String)> = snapshots
        .iter()
        .flat_map(|snapshot| &snapshot.packages)
        .map(|row| (row.environment.clone(), row.package.clone()))
        .collect();
    let distinct: BTreeSet<&(String, String)> = rows.iter().collect();
    assert_eq!(rows.len(), ENVIRONMENTS.len() * PACKAGES, "every row");
    assert_eq!(distinct.len(), rows.len(), "each row once");

    // Live events follow the last part, from the point the snapshot reflects.
    board
        .observe_changes("dev", vec![deployed(package_name(7), "dev", "v1.3.0")], &[])
        .await
        .expect("a change");
    let change = loop {
        let event = next(&mut stream, "the change").await;
        if !matches!(event.event, Some(Event::Heartbeat(_))) {
            break event;
        }
    };
    assert_eq!(change.sequence, sequence + 1);
    let Some(Event::Status(status)) = change.event else {
        panic!("a status event: {:?}", change.event);
    };
    assert_eq!(
        (status.package.as_str(), status.version.as_str()),
        ("pkg-00007", "v1.3.0")
    );

    drop(stream);
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dk_reads_an_environments_status_larger_than_a_default_client_accepts() {
    // 12,000 rows with a 400-character message: some 6 MB in one answer.
    let served = served(&"Progressing: waiting for the job ".repeat(12)).await;
    let request = || StatusRequest {
        package: String::new(),
        environment: "prod".into(),
    };
    let refused = DataKitServiceClient::new(channel(&served.socket).await)
        .status(request())
        .await
        .expect_err("a default client refuses the answer");
    assert!(refused.message().contains("too large"), "{refused}");

    let address = DaemonAddress::Unix {
        path: served.socket.clone(),
        local: false,
    };
    let mut client = connect(&address, served.dir.path())
        .await
        .expect("dk connects");
    let answer = client
        .status(request())
        .await
        .expect("dk reads it")
        .into_inner();
    assert!(
        answer.encoded_len() > DEFAULT_CLIENT_LIMIT,
        "{}",
        answer.encoded_len()
    );
    assert_eq!(answer.packages.len(), PACKAGES, "every package of prod");
    served.stop().await;
}
