//! Wires the ports to the domain and the API, and owns start-up and shutdown order:
//! lock, configuration, service tokens, state, repository, catalog, engine loops, then the
//! network listener and the socket; on shutdown the reverse, with the state flushed before
//! the socket goes away. A replica (`ha:`) runs the loops that write only while it leads,
//! and otherwise copies the leader's event log.

mod argocd;

use std::{future::Future, path::PathBuf, sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{
    api::{
        ApiSources, Backend, Backends, DataKitApi, Listeners, NetworkListener, PeerListener,
        ServeError,
        replica::{LeaderLink, MirrorSource, PeerTlsError, follow_leader_log},
        serve,
    },
    audit::AuditLog,
    auth::{ClientCa, ClientCaError, TokenError, TokenStore},
    cluster::{CommandRunner, LocalSync, LocalTarget},
    config::{
        ClusterKind, ConfigError, DaemonConfig, ForgeKind, ListenLimits, Listener,
        ListenerSecurity, RegistryKind, Replication, github_settings,
    },
    gitops::{self, BASE_BRANCH, GithubForge, LocalGitForge},
    home::DkHome,
    lease::{self, LeaseError},
    lock::{InstanceLock, LockError},
    notify::{Notifications, NotifyError, ResumePoint},
    promotion::{
        AutoPromoter, ClusterFeed, Engine, EnvironmentCatalog, EventLog, Leadership, Mirror, Ports,
        PromotionError, StatusBoard, follow_base_branch,
        ports::{
            Clock, ClusterError, ClusterStatus, ForgeError, GitForge, RefusingRunner,
            RegistryError, StateStore, StoreError, SystemClock, VerificationRunner,
        },
        publish_config_changes,
    },
    registry,
    store::SledStore,
};

/// How long start-up waits for past promotions to be restored from the forge.
const REBUILD_AT_START: Duration = Duration::from_secs(10);

/// How long shutdown waits for the background loops to stop. A store write they wait on
/// gives up after `blocking::WRITE_DEADLINE`, but a stuck disk must never keep dkd from
/// stopping: what has not stopped by then is abandoned, and named in the log.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// The background loops, in the order `run` starts them (their names for the log).
const BACKGROUND_TASKS: [&str; 8] = [
    "the base-branch follower",
    "the configuration publisher",
    "the reconcile loop",
    "the cluster status feed",
    "the webhook notifiers",
    "the auto-promoter",
    "the lease elector",
    "the copier of the leader's event log",
];

/// How dkd was asked to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub home: DkHome,
    /// `--config`; default `DK_HOME/dkd.yaml`.
    pub config: Option<PathBuf>,
    /// What time it is for soak times: the system's, or a test's.
    pub clock: Arc<dyn Clock>,
}

impl Options {
    /// dkd on `home` with `config`, on the system's clock.
    pub fn new(home: DkHome, config: Option<PathBuf>) -> Self {
        Self {
            home,
            config,
            clock: Arc::new(SystemClock),
        }
    }
}

/// Why dkd stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot create {path} or narrow it to mode 0700: {source}")]
    Home {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Forge(#[from] ForgeError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Tokens(#[from] TokenError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
    #[error(transparent)]
    Domain(PromotionError),
    #[error(transparent)]
    Lease(#[from] LeaseError),
    #[error(transparent)]
    PeerTls(#[from] PeerTlsError),
    #[error("ha.peers.ca_file: {0}")]
    ReplicaCa(#[from] ClientCaError),
}

/// What runs verifications: on Argo CD, Jobs in the environment's namespace; on the
/// embedded target, dkd itself when `dkd.yaml` allows it (`cluster.run_verifications`),
/// otherwise nothing, and a promotion into an environment that requires verification ends
/// Failed saying what to do.
fn verification_runner(
    config: &DaemonConfig,
    argocd: Option<&Arc<crate::cluster::argocd::ArgoCdCluster>>,
) -> Arc<dyn VerificationRunner> {
    if let Some(argocd) = argocd {
        return argocd.clone();
    }
    match config.cluster.kind {
        ClusterKind::Embedded if config.cluster.run_verifications => {
            Arc::new(CommandRunner::default())
        }
        ClusterKind::Embedded => Arc::new(RefusingRunner(
            "dkd.yaml does not allow verification commands on this host: set cluster: { type: embedded, run_verifications: true } (it runs commands from the deployment repository on dkd's host), then dk verify".into(),
        )),
        ClusterKind::Argocd => Arc::new(RefusingRunner(
            "the Argo CD backend is not running: check cluster: in dkd.yaml".into(),
        )),
    }
}

/// Runs dkd until `shutdown` resolves.
pub async fn run(
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    let home = options.home;
    home.create().map_err(|source| AppError::Home {
        path: home.root().display().to_string(),
        source,
    })?;
    let _lock = InstanceLock::acquire(&home.lock_file())?;
    let config_file = options.config.unwrap_or_else(|| home.config_file());
    let config = DaemonConfig::load(&config_file)?;
    let listener = config.listener(&config_file.display().to_string())?;
    let replication = config.replication(&config_file.display().to_string())?;
    let probes = config.probes_address(&config_file.display().to_string())?;
    let leadership = Arc::new(match replication {
        Some(_) => Leadership::replica(),
        None => Leadership::alone(),
    });
    let oidc = config.oidc(&config_file.display().to_string())?;
    let notifications = Notifications::new(
        config.webhooks(&config_file.display().to_string())?,
        &home.notifications_ledger(),
    );
    let tokens = Arc::new(TokenStore::open(&home.tokens_file())?);
    let audit = Arc::new(AuditLog::new(
        &home.audit_log(),
        config.audit.validate(&config_file.display().to_string())?,
    ));
    // Bound before anything else starts, so a bad certificate, key, client CA or address
    // stops dkd at once; connections wait in the backlog until everything is served.
    let network = match &listener {
        Some(listener) => Some(NetworkListener::bind(listener, tokens.clone(), oidc).await?),
        None => None,
    };

    // Opening reads and checks the database: on the blocking pool, off the async workers.
    let database = home.database();
    let sled = Arc::new(
        tokio::task::spawn_blocking(move || SledStore::open(&database))
            .await
            .map_err(|error| {
                StoreError::Database(format!("opening the database stopped: {error}"))
            })??,
    );
    let store_notice = sled.notice().map(str::to_owned);
    let store: Arc<dyn StateStore> = sled.clone();
    let embedded = match config.forge.kind {
        ForgeKind::Embedded => {
            let local = LocalGitForge::open_or_init(&home.deploy_repo(), sled).await?;
            Some(Arc::new(match config.forge.pack_every {
                Some(every) => local.packing_every(every),
                None => local,
            }))
        }
        ForgeKind::Github => None,
    };
    let forge: Arc<dyn GitForge> = match &embedded {
        Some(local) => local.clone(),
        None => {
            let settings = github_settings(&config.forge, &config_file.display().to_string())?;
            Arc::new(GithubForge::new(settings)?)
        }
    };
    // Taken now: the embedded forge moves into the local sync loop below.
    let forge_description = forge.describe();
    let registry = registry::from_config(&config.registry, &home)?;
    let catalog = Arc::new(EnvironmentCatalog::from_store(
        store.as_ref(),
        forge.group_source(),
    ));
    if let Some(local) = &embedded {
        local.trust_accepted(catalog.subscribe());
    }
    if let Err(error) = catalog.refresh(forge.as_ref(), &store).await {
        tracing::warn!(%error, "cannot read the deployment repository at start; serving the cached configuration");
    }
    let stop = CancellationToken::new();
    let target = Arc::new(LocalTarget::new(home.targets()));
    let argocd = match config.cluster.kind {
        ClusterKind::Embedded => None,
        ClusterKind::Argocd => Some(Arc::new(
            argocd::start(&config, &catalog, stop.clone()).await?,
        )),
    };
    let cluster: Arc<dyn ClusterStatus> = match &argocd {
        Some(argocd) => argocd.clone(),
        None => target.clone(),
    };
    let events =
        Arc::new(EventLog::new(store.clone(), config.event_retention).led_by(leadership.clone()));
    // Read in the background: until it is, a lookup of one package reads the store.
    let board = StatusBoard::open(store.clone(), events.clone(), options.clock.clone());
    let engine = Arc::new(
        Engine::new(Ports {
            catalog: catalog.clone(),
            forge: forge.clone(),
            registry: registry.clone(),
            cluster: cluster.clone(),
            store: store.clone(),
            events: events.clone(),
        })
        .counting_asserted_approvals(config.forge.asserted_approvers)
        .with_clock(options.clock.clone())
        .with_verifier(verification_runner(&config, argocd.as_ref()))
        .led_by(leadership.clone()),
    );
    if let Some(notice) = store_notice {
        engine.add_notice(notice);
    }
    // Past promotions are restored before the socket appears, so the first answers are
    // whole; a forge that is slow or down is left to the reconcile loop, which retries.
    match tokio::time::timeout(REBUILD_AT_START, engine.rebuild_records()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, "cannot read past promotions at start; retrying in the background")
        }
        Err(_) => {
            tracing::warn!("reading past promotions takes long; continuing in the background")
        }
    }

    // Where webhooks resume when their ledger does not match the log (a lost state
    // database, a new webhook): after what is logged now, the rebuild included, and with
    // promotions opened from now on as news, so nothing of this run is skipped however
    // late the notifiers start. Only their first start uses it; a later term resumes as
    // it finds the log.
    let webhook_resume = Arc::new(std::sync::Mutex::new(Some(ResumePoint {
        sequence: events.last_sequence().unwrap_or(0),
        at: crate::promotion::now(),
    })));

    let peers = match &replication {
        Some(replication) => Some(
            bind_peers(
                replication,
                &tokens,
                leadership.clone(),
                events.clone(),
                stop.clone(),
            )
            .await?,
        ),
        None => None,
    };
    let tasks: [tokio::task::JoinHandle<()>; BACKGROUND_TASKS.len()] = [
        tokio::spawn({
            let follow = follow_base_branch(
                catalog.clone(),
                forge.clone(),
                store.clone(),
                Duration::from_millis(config.poll_interval_ms),
                stop.clone(),
            );
            // The embedded repository's pushes by others are noticed in milliseconds;
            // the poll above stays as the safety net.
            let pushes = embedded.as_ref().map(|local| {
                let catalog = catalog.clone();
                gitops::watch_pushes(
                    local.git().git_dir().to_owned(),
                    BASE_BRANCH,
                    move || catalog.base_moved(),
                    stop.clone(),
                )
            });
            async move {
                match pushes {
                    Some(pushes) => drop(tokio::join!(follow, pushes)),
                    None => follow.await,
                }
            }
        }),
        // Followers record no events: the leader publishes the same change.
        tokio::spawn(publish_config_changes(
            catalog.clone(),
            events.clone(),
            stop.clone(),
        )),
        tokio::spawn({
            let (engine, leadership, stop) = (engine.clone(), leadership.clone(), stop.clone());
            async move {
                leadership
                    .while_leading(BACKGROUND_TASKS[2], stop, |term| {
                        let engine = engine.clone();
                        async move { engine.run_as_leader(term).await }
                    })
                    .await;
            }
        }),
        // What each environment runs: Argo CD's watches feed the board (the leader's; a
        // follower's board follows the leader's events); otherwise the built-in sync loop
        // applies the base branch to the local target.
        match &argocd {
            Some(backend) => tokio::spawn({
                let follow = argocd::follow_configuration(
                    backend.clone(),
                    config.clone(),
                    catalog.clone(),
                    stop.clone(),
                );
                let (backend, leadership, stop) =
                    (backend.clone(), leadership.clone(), stop.clone());
                let (catalog, cluster, board, engine) = (
                    catalog.clone(),
                    cluster.clone(),
                    board.clone(),
                    engine.clone(),
                );
                async move {
                    let feed = leadership.while_leading(BACKGROUND_TASKS[3], stop, |term| {
                        let feed = ClusterFeed {
                            catalog: catalog.clone(),
                            cluster: cluster.clone(),
                            board: board.clone(),
                            engine: engine.clone(),
                        };
                        feed.run(backend.changes(), term)
                    });
                    tokio::join!(feed, follow);
                }
            }),
            None => tokio::spawn(
                LocalSync {
                    catalog: catalog.clone(),
                    forge,
                    registry: registry.clone(),
                    target,
                    engine: engine.clone(),
                    board: board.clone(),
                }
                .run(stop.clone()),
            ),
        },
        tokio::spawn({
            let (notifications, events, catalog) =
                (notifications.clone(), events.clone(), catalog.clone());
            let (leadership, stop) = (leadership.clone(), stop.clone());
            let asserted = config.forge.asserted_approvers;
            async move {
                leadership
                    .while_leading(BACKGROUND_TASKS[4], stop, |term| {
                        let resume = webhook_resume
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .take();
                        let started = notifications.start(
                            events.clone(),
                            catalog.clone(),
                            asserted,
                            resume,
                            term,
                        );
                        async move {
                            match started {
                                Ok(notifiers) => {
                                    let _ = notifiers.await;
                                }
                                Err(error) => {
                                    tracing::warn!(%error, "cannot start the webhook notifiers")
                                }
                            }
                        }
                    })
                    .await;
            }
        }),
        tokio::spawn({
            let auto = AutoPromoter {
                catalog: catalog.clone(),
                board: board.clone(),
                engine: engine.clone(),
                events: events.clone(),
            };
            let (leadership, stop) = (leadership.clone(), stop.clone());
            async move {
                leadership
                    .while_leading(BACKGROUND_TASKS[5], stop, |term| auto.clone().run(term))
                    .await;
            }
        }),
        match &replication {
            Some(replication) => tokio::spawn({
                let (settings, leadership, stop) =
                    (replication.lease.clone(), leadership.clone(), stop.clone());
                async move {
                    if let Err(error) = lease::run(settings, leadership, stop.clone()).await {
                        tracing::error!(%error, "cannot take part in the leader election; stopping");
                        stop.cancel();
                    }
                }
            }),
            None => tokio::spawn(async {}),
        },
        match &peers {
            Some(peers) => tokio::spawn(follow_leader_log(
                peers.link.clone(),
                Mirror {
                    events: events.clone(),
                    board: board.clone(),
                    store: store.clone(),
                },
                stop.clone(),
            )),
            None => tokio::spawn(async {}),
        },
    ];
    let backends = Backends {
        forge: Backend {
            kind: match config.forge.kind {
                ForgeKind::Embedded => "embedded",
                ForgeKind::Github => "github",
            },
            description: forge_description,
        },
        cluster: Backend {
            kind: if argocd.is_some() {
                "argocd"
            } else {
                "embedded"
            },
            description: cluster.describe(),
        },
        registry: Backend {
            kind: match config.registry.kind {
                RegistryKind::Embedded => "embedded",
                RegistryKind::Oci => "oci",
            },
            description: registry.describe(),
        },
    };
    let api = DataKitApi::new(ApiSources {
        catalog,
        engine,
        board,
        events,
        cluster,
        registry,
        tokens,
        notifications,
        asserted_approvers: config.forge.asserted_approvers,
        audit,
        heartbeat: Duration::from_millis(config.heartbeat_interval_ms),
        shutdown: stop.clone(),
        backends,
    });
    let stop_on_shutdown = stop.clone();
    let listeners = Listeners {
        network,
        probes,
        peers,
    };
    let served = serve(api, &home.socket(), listeners, async move {
        shutdown.await;
        tracing::info!("shutting down");
        stop_on_shutdown.cancel();
    })
    .await;
    stop.cancel();
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    for (name, mut task) in BACKGROUND_TASKS.into_iter().zip(tasks) {
        match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, task = name, "a background task ended abnormally");
            }
            Err(_) => {
                tracing::warn!(task = name, grace = ?SHUTDOWN_GRACE, "a background task did not stop in time; stopping without it");
                task.abort();
            }
        }
    }
    drop(store);
    if let Err(error) = std::fs::remove_file(home.socket()) {
        tracing::debug!(%error, "socket already gone");
    }
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// Binds the peers listener of a replica (mTLS: replica certificates only).
async fn bind_peers(
    replication: &Replication,
    tokens: &Arc<TokenStore>,
    leadership: Arc<Leadership>,
    events: Arc<EventLog>,
    shutdown: CancellationToken,
) -> Result<PeerListener, AppError> {
    let peers = &replication.peers;
    let listener = Listener {
        address: peers.listen,
        security: ListenerSecurity::Tls(peers.tls.clone()),
        cors_origins: Vec::new(),
        limits: ListenLimits::default(),
    };
    let replica_ca = ClientCa::load(&peers.ca)?;
    Ok(PeerListener {
        listener: NetworkListener::bind(&listener, tokens.clone(), None).await?,
        replica_ca,
        mirror: MirrorSource {
            events,
            leadership: leadership.clone(),
            shutdown,
        },
        link: Arc::new(LeaderLink::new(leadership, peers)?),
    })
}
