//! Auto-promotion (`auto_promote: true` on an environment): when a version is Healthy in
//! the upstream environment and the environment does not run it, dkd opens the promotion
//! itself, as `dkd (auto-promotion)`, through the engine's `promote` — so every check and
//! the approval rule apply as to anyone's. Woken by status, configuration and hold events
//! (and at start), and when a soak refused now ends; the open promotion is its only
//! record, so a restart never opens another.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use datakit::manifest::{Environment, Version};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::{
    Engine, EnvironmentCatalog, EventKind, EventLog, LoadedConfig, PromoteRequest, PromotionError,
    PromotionKind, PromotionState, StatusBoard,
    model::AUTO_PROMOTER,
    ports::{HealthState, PackageSync, SyncState},
};

/// How long to wait before looking again after a backend could not be reached.
const RETRY_UNAVAILABLE: Duration = Duration::from_secs(10);

/// The auto-promotion task.
#[derive(Clone)]
pub struct AutoPromoter {
    pub catalog: Arc<EnvironmentCatalog>,
    pub board: Arc<StatusBoard>,
    pub engine: Arc<Engine>,
    pub events: Arc<EventLog>,
}

/// What looking at one package in one environment came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    /// Opened, already under way, or nothing to do.
    Settled,
    /// A backend could not be reached: look again later.
    Unavailable,
    /// Refused for a soak that ends at this time (on the engine's clock): look again then.
    SoakedAt(SystemTime),
}

/// What looking at several came to: whether a backend could not be reached, and the
/// earliest soak that ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Looked {
    unavailable: bool,
    soaked_at: Option<SystemTime>,
}

impl Looked {
    fn add(&mut self, attempt: Attempt) {
        match attempt {
            Attempt::Settled => {}
            Attempt::Unavailable => self.unavailable = true,
            Attempt::SoakedAt(at) => {
                self.soaked_at = Some(self.soaked_at.map_or(at, |earliest| earliest.min(at)));
            }
        }
    }
}

impl AutoPromoter {
    /// Runs until `shutdown`: looks at everything once the records are rebuilt, then at
    /// what each event touches.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut live = self.events.subscribe();
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = self.engine.wait_for_records() => {}
        }
        // When set, a backend could not be reached or a soak ends: everything is looked at
        // again then.
        let mut retry_at = None;
        let mut looked = self.consider_all().await;
        loop {
            if looked.unavailable {
                let at = tokio::time::Instant::now() + RETRY_UNAVAILABLE;
                retry_at =
                    Some(retry_at.map_or(at, |earlier: tokio::time::Instant| earlier.min(at)));
            }
            if let Some(soaked_at) = looked.soaked_at {
                let left = soaked_at
                    .duration_since(self.engine.now())
                    .unwrap_or_default();
                let at = tokio::time::Instant::now() + left;
                retry_at =
                    Some(retry_at.map_or(at, |earlier: tokio::time::Instant| earlier.min(at)));
            }
            let retry = async {
                match retry_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let next = tokio::select! {
                () = shutdown.cancelled() => return,
                next = live.recv() => next,
                () = retry => {
                    retry_at = None;
                    looked = self.consider_all().await;
                    continue;
                }
            };
            looked = match next {
                Ok(event) => match &event.kind {
                    EventKind::Status { status, .. } => {
                        self.consider_around(&status.environment, &status.package)
                            .await
                    }
                    EventKind::Config { .. } | EventKind::Hold(_) => {
                        retry_at = None;
                        self.consider_all().await
                    }
                    // A verification that passed makes the version promotable onward.
                    EventKind::Promotion(promotion)
                        if promotion.state == PromotionState::Verified =>
                    {
                        self.consider_around(&promotion.environment, &promotion.package)
                            .await
                    }
                    EventKind::Promotion(_) => Looked::default(),
                },
                Err(RecvError::Lagged(_)) => {
                    retry_at = None;
                    self.consider_all().await
                }
                Err(RecvError::Closed) => return,
            };
        }
    }

    fn config(&self) -> Option<Arc<LoadedConfig>> {
        self.catalog.snapshot().current
    }

    /// Every package Healthy upstream of an auto-promoting environment.
    async fn consider_all(&self) -> Looked {
        let Some(config) = self.config() else {
            return Looked::default();
        };
        let mut looked = Looked::default();
        self.board.loaded().await;
        for environment in auto_promoting(&config) {
            let Some(upstream) = environment.upstream.as_deref() else {
                continue;
            };
            let upstream_statuses = match self.board.for_environment(upstream) {
                Ok(statuses) => statuses,
                Err(error) => {
                    tracing::warn!(%error, "auto-promotion cannot read the status board");
                    looked.add(Attempt::Unavailable);
                    return looked;
                }
            };
            for status in upstream_statuses {
                looked.add(self.consider(&config, environment, &status.package).await);
            }
        }
        looked
    }

    /// `package` in the auto-promoting environments right after `environment`, and in
    /// `environment` itself (what it runs changed: a rollback, a manual promotion).
    async fn consider_around(&self, environment: &str, package: &str) -> Looked {
        let Some(config) = self.config() else {
            return Looked::default();
        };
        let mut looked = Looked::default();
        for target in auto_promoting(&config).filter(|target| {
            target.name == environment || target.upstream.as_deref() == Some(environment)
        }) {
            looked.add(self.consider(&config, target, package).await);
        }
        looked
    }

    /// Opens the promotion of what `environment`'s upstream runs Healthy, if it is due.
    async fn consider(
        &self,
        config: &LoadedConfig,
        environment: &Environment,
        package: &str,
    ) -> Attempt {
        let candidate = match self.candidate(config, environment, package) {
            Ok(Some(candidate)) => candidate,
            Ok(None) => return Attempt::Settled,
            Err(error) => {
                tracing::debug!(%error, package, env = %environment.name, "auto-promotion cannot look yet");
                return Attempt::Unavailable;
            }
        };
        let request = PromoteRequest {
            package: package.to_owned(),
            version: candidate.version.clone(),
            environment: environment.name.clone(),
            kind: PromotionKind::Promotion,
            dry_run: false,
            force: false,
            promoter: AUTO_PROMOTER.to_owned(),
            reason: Some(format!(
                "{} has been Healthy in {} since {}: opened by auto-promotion (auto_promote: true on {})",
                candidate.version,
                candidate.environment,
                humantime::format_rfc3339_seconds(candidate.last_sync),
                environment.name
            )),
        };
        match self.engine.promote(request).await {
            Ok(outcome) => {
                tracing::info!(package, version = %candidate.version, env = %environment.name, summary = %outcome.summary, "auto-promotion");
                Attempt::Settled
            }
            Err(PromotionError::Unavailable(error)) => {
                tracing::debug!(%error, package, version = %candidate.version, env = %environment.name, "auto-promotion waits for a backend");
                Attempt::Unavailable
            }
            Err(refusal) => {
                tracing::debug!(%refusal, package, version = %candidate.version, env = %environment.name, "not promotable yet");
                self.soak_end(config, environment, package).await
            }
        }
    }

    /// After a refusal: when the soak of what the upstream runs ends, if that is what still
    /// stands in the way.
    async fn soak_end(
        &self,
        config: &LoadedConfig,
        environment: &Environment,
        package: &str,
    ) -> Attempt {
        match self
            .engine
            .promotable(config, &environment.name, package)
            .await
        {
            Ok(Some(promotable)) if !promotable.now => {
                promotable.at.map_or(Attempt::Settled, Attempt::SoakedAt)
            }
            _ => Attempt::Settled,
        }
    }

    /// What the upstream runs Healthy, when auto-promotion should open it: the environment
    /// does not run it nor anything newer, no hold blocks it, no promotion of it is under way
    /// or was declined, and nothing newer is open.
    fn candidate(
        &self,
        config: &LoadedConfig,
        environment: &Environment,
        package: &str,
    ) -> Result<Option<PackageSync>, PromotionError> {
        let Some(upstream) = environment.upstream.as_deref() else {
            return Ok(None);
        };
        let Some(status) = self.board.get(upstream, package)? else {
            return Ok(None);
        };
        let Ok(version) = Version::parse(&status.version) else {
            return Ok(None);
        };
        if status.health != HealthState::Healthy || status.sync != SyncState::Synced {
            return Ok(None);
        }
        let newer_or_same = |other: &str| Version::parse(other).is_ok_and(|other| other >= version);
        if let Some(here) = self.board.get(&environment.name, package)?
            && newer_or_same(&here.version)
        {
            return Ok(None);
        }
        if let Some(hold) = config.active_hold(&environment.name, package)
            && hold.blocks_version(&version)
        {
            tracing::debug!(package, %version, env = %environment.name, hold = %hold.summary(), "auto-promotion held");
            return Ok(None);
        }
        let promotions = self.engine.list(Some(package), Some(&environment.name))?;
        let promotions = promotions
            .iter()
            .filter(|p| p.kind == PromotionKind::Promotion);
        let mut newest_of_version = None;
        for promotion in promotions {
            if !promotion.state.is_terminal() && newer_or_same(&promotion.version) {
                return Ok(None);
            }
            if newest_of_version.is_none() && promotion.version == version.as_str() {
                newest_of_version = Some(promotion.state);
            }
        }
        if matches!(
            newest_of_version,
            Some(PromotionState::Failed | PromotionState::Rejected | PromotionState::Cancelled)
        ) {
            return Ok(None);
        }
        Ok(Some(status))
    }
}

/// The environments with `auto_promote: true`.
fn auto_promoting(config: &LoadedConfig) -> impl Iterator<Item = &Environment> {
    config
        .environments
        .environments()
        .iter()
        .filter(|environment| environment.auto_promote)
}
