//! Wires the ports to the domain and the API, and owns start-up and shutdown order:
//! lock, configuration, state, repository, catalog, then the socket; on shutdown the
//! reverse, with the state flushed before the socket goes away.

use std::{future::Future, path::PathBuf, sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{
    api::{DataKitApi, ServeError, serve_unix},
    config::{ConfigError, DaemonConfig, ForgeKind},
    gitops::{ForgeError, GitForge, LocalGitForge},
    home::DkHome,
    lock::{InstanceLock, LockError},
    promotion::{EnvironmentCatalog, follow_base_branch},
    store::{SledStore, StateStore, StoreError},
};

/// How dkd was asked to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub home: DkHome,
    /// `--config`; default `DK_HOME/dkd.yaml`.
    pub config: Option<PathBuf>,
}

/// Why dkd stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot create {path}: {source}")]
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
    Serve(#[from] ServeError),
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
    let config = DaemonConfig::load(&options.config.unwrap_or_else(|| home.config_file()))?;

    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(&home.database())?);
    let forge: Arc<dyn GitForge> = match config.forge.kind {
        ForgeKind::Embedded => Arc::new(LocalGitForge::open_or_init(&home.deploy_repo()).await?),
    };
    let catalog = Arc::new(EnvironmentCatalog::from_store(store.as_ref()));
    if let Err(error) = catalog.refresh(forge.as_ref(), store.as_ref()).await {
        tracing::warn!(%error, "cannot read the deployment repository at start; serving the cached configuration");
    }

    let stop = CancellationToken::new();
    let follower = tokio::spawn(follow_base_branch(
        catalog.clone(),
        forge,
        store.clone(),
        Duration::from_millis(config.poll_interval_ms),
        stop.clone(),
    ));
    let stop_on_shutdown = stop.clone();
    let served = serve_unix(DataKitApi::new(catalog), &home.socket(), async move {
        shutdown.await;
        tracing::info!("shutting down");
        stop_on_shutdown.cancel();
    })
    .await;
    stop.cancel();
    if let Err(error) = follower.await {
        tracing::warn!(%error, "the configuration follower ended abnormally");
    }
    drop(store);
    if let Err(error) = std::fs::remove_file(home.socket()) {
        tracing::debug!(%error, "socket already gone");
    }
    served?;
    tracing::info!("stopped");
    Ok(())
}
