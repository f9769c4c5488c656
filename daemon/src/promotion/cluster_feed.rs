//! Feeds the status board from a cluster backend that watches by itself (Argo CD): on every
//! environment the backend says changed, re-reads what it runs and records it on the board
//! (saved, cached, published as Watch events), then wakes the engine. There is no local
//! sync loop in that case.

use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use super::{Engine, EnvironmentCatalog, StatusBoard};
use crate::promotion::ports::ClusterStatus;

/// What the feed works with.
pub struct ClusterFeed {
    pub catalog: Arc<EnvironmentCatalog>,
    pub cluster: Arc<dyn ClusterStatus>,
    pub board: Arc<StatusBoard>,
    pub engine: Arc<Engine>,
}

impl ClusterFeed {
    /// Runs until `shutdown` or until the backend stops announcing changes.
    pub async fn run(self, mut changes: broadcast::Receiver<String>, shutdown: CancellationToken) {
        self.refresh_all().await;
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return,
                next = changes.recv() => next,
            };
            match next {
                Ok(environment) => self.refresh(&environment).await,
                Err(RecvError::Lagged(_)) => self.refresh_all().await,
                Err(RecvError::Closed) => return,
            }
            self.engine.wake();
        }
    }

    async fn refresh_all(&self) {
        let Some(config) = self.catalog.snapshot().current else {
            return;
        };
        for environment in config.environments.environments() {
            self.refresh(&environment.name).await;
        }
    }

    async fn refresh(&self, environment: &str) {
        let statuses = match self.cluster.environment_status(environment).await {
            Ok(statuses) => statuses,
            Err(error) => {
                tracing::warn!(%error, environment, "cannot read the cluster status");
                return;
            }
        };
        if let Err(error) = self.board.observe(environment, statuses).await {
            tracing::warn!(%error, environment, "cannot record the cluster status");
        }
    }
}
