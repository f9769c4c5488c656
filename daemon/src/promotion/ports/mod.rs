//! The ports the domain talks through, and the vocabulary they speak. The domain owns
//! them; the adapters in `store/`, `gitops/`, `cluster/` and `registry/` implement them and
//! depend on the domain, never on each other.

pub mod blocking;
mod clock;
mod cluster;
mod forge;
mod registry;
mod store;
mod verification;

pub use clock::{Clock, ManualClock, SystemClock};
pub use cluster::{
    ClusterError, ClusterStatus, HealthState, LastRun, PackageSync, RunLogLine, RunLogOptions,
    RunLogStream, RunResult, SyncLogLine, SyncState,
};
pub use forge::{
    ChangeProposal, ChangeState, ChangeStatus, Decision, Declined, FileVersion, FolderChanges,
    ForgeError, GitForge, GroupSource, MergeAnswer, PROMOTION_ID_TRAILER, RecordedPromotion,
    RecordedState, RevisionChanges, TreeFile,
};
pub use registry::{Registry, RegistryError, ResolvedArtifact, SignatureLayer};
pub use store::{
    ChangeRequestStore, LocalChange, LocalChangeState, StateStore, StatusChanges, StoreError,
    StoreLocation,
};
pub use verification::{
    RefusingRunner, VerificationOutcome, VerificationRequest, VerificationRunner,
};
