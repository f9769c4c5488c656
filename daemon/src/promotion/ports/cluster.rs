//! The `ClusterStatus` port: what each environment actually runs, its sync log and run logs.
//! Implemented in `cluster/` (the embedded local target, Argo CD).

use std::time::SystemTime;

use futures::stream::BoxStream;

/// Whether the environment runs what the base branch says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    Synced,
    OutOfSync,
    /// A sync of a newer revision is in progress.
    Syncing,
    Unknown,
}

impl SyncState {
    pub const ALL: [Self; 4] = [Self::Synced, Self::OutOfSync, Self::Syncing, Self::Unknown];

    pub fn name(self) -> &'static str {
        match self {
            Self::Synced => "Synced",
            Self::OutOfSync => "OutOfSync",
            Self::Syncing => "Syncing",
            Self::Unknown => "Unknown",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Health of a deployed package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthState {
    Healthy,
    Progressing,
    Degraded,
    Suspended,
    Missing,
    Unknown,
}

impl HealthState {
    pub const ALL: [Self; 6] = [
        Self::Healthy,
        Self::Progressing,
        Self::Degraded,
        Self::Suspended,
        Self::Missing,
        Self::Unknown,
    ];

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Healthy => "Healthy",
            Self::Progressing => "Progressing",
            Self::Degraded => "Degraded",
            Self::Suspended => "Suspended",
            Self::Missing => "Missing",
            Self::Unknown => "Unknown",
        }
    }
}

/// One package as deployed in one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSync {
    pub package: String,
    pub environment: String,
    pub version: String,
    pub digest: String,
    /// The promotion that wrote the deployed manifest, when it carries one.
    pub promotion_id: Option<String>,
    /// Base-branch commit last applied.
    pub revision: String,
    pub sync: SyncState,
    pub health: HealthState,
    pub last_sync: SystemTime,
    /// Why it is not healthy, when it is not.
    pub message: String,
    /// The newest run of the package, when a runtime reports runs (boxed: most have none).
    pub last_run: Option<Box<LastRun>>,
}

/// How a run ended, or that it has not yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunResult {
    Running,
    Success,
    Failure,
}

impl RunResult {
    pub const ALL: [Self; 3] = [Self::Running, Self::Success, Self::Failure];

    pub fn name(self) -> &'static str {
        match self {
            Self::Running => "Running",
            Self::Success => "Success",
            Self::Failure => "Failure",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// The newest run of a package (e.g. a Kubernetes Job).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastRun {
    pub name: String,
    pub started_at: SystemTime,
    pub finished_at: Option<SystemTime>,
    pub result: RunResult,
}

/// One line of a run's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLogLine {
    pub at: SystemTime,
    /// Where it came from (e.g. the pod name).
    pub origin: String,
    pub text: String,
}

/// Which run log lines to send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunLogOptions {
    /// Keep streaming new lines.
    pub follow: bool,
    /// Only the last N lines (per pod); 0 = all.
    pub tail: u32,
    /// Only lines at or after this time.
    pub since: Option<SystemTime>,
}

/// A stream of run log lines.
pub type RunLogStream = BoxStream<'static, Result<RunLogLine, ClusterError>>;

/// One line of a sync log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncLogLine {
    pub at: SystemTime,
    pub text: String,
}

/// What a cluster backend can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster status unavailable: {0}")]
    Unavailable(String),
}

/// What each environment runs.
#[async_trait::async_trait]
pub trait ClusterStatus: Send + Sync + 'static {
    fn describe(&self) -> String;

    /// The package as deployed in the environment, `None` when it is not deployed.
    async fn package_status(
        &self,
        environment: &str,
        package: &str,
    ) -> Result<Option<PackageSync>, ClusterError>;

    /// Every package deployed in the environment, sorted by name.
    async fn environment_status(&self, environment: &str)
    -> Result<Vec<PackageSync>, ClusterError>;

    /// The sync log of a package in an environment, oldest first.
    async fn sync_log(
        &self,
        environment: &str,
        package: &str,
    ) -> Result<Vec<SyncLogLine>, ClusterError>;

    /// The logs of the package's newest run; `None` when no runtime is attached (the
    /// embedded target) or the package has no run yet.
    async fn run_logs(
        &self,
        _environment: &str,
        _package: &str,
        _options: RunLogOptions,
    ) -> Result<Option<RunLogStream>, ClusterError> {
        Ok(None)
    }
}
