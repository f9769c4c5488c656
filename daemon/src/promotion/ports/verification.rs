//! The `VerificationRunner` port: runs an environment's verification of a package that
//! is Synced and Healthy, and keeps its output as the run log. Implemented in `cluster/`
//! (a command on dkd's host for the embedded target, when `dkd.yaml` allows it).

use std::time::Duration;

use datakit::manifest::VerificationDefinition;

use super::RunLogLine;

/// One verification run to start (or to report on, once started).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationRequest {
    /// Names the run, e.g. `verify-p-12-1`; unique per attempt series.
    pub run: String,
    pub environment: String,
    pub package: String,
    pub version: String,
    pub definition: VerificationDefinition,
    /// How long one attempt may take before it is killed.
    pub timeout: Duration,
    /// How many more attempts a failed one gets.
    pub retries: u32,
}

/// How a run stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerificationOutcome {
    Running,
    Passed(String),
    Failed(String),
}

/// Runs verifications.
#[async_trait::async_trait]
pub trait VerificationRunner: Send + Sync + 'static {
    /// Starts `request.run` unless it was started already, and says how it stands. A
    /// runner that may not run it answers `Failed` with what to do.
    async fn poll(&self, request: &VerificationRequest) -> VerificationOutcome;

    /// The output of the newest run of `package` in `environment`, `None` when none ran
    /// since dkd started.
    async fn logs(&self, environment: &str, package: &str) -> Option<(String, Vec<RunLogLine>)>;
}

/// A runner that refuses every run, saying why (verification commands not allowed on
/// this host, or not available on this backend).
pub struct RefusingRunner(pub String);

#[async_trait::async_trait]
impl VerificationRunner for RefusingRunner {
    async fn poll(&self, _request: &VerificationRequest) -> VerificationOutcome {
        VerificationOutcome::Failed(self.0.clone())
    }

    async fn logs(&self, _environment: &str, _package: &str) -> Option<(String, Vec<RunLogLine>)> {
        None
    }
}
