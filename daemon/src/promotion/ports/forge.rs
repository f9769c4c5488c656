//! The `GitForge` port: the deployment repository and its change requests, as the engine
//! needs them. Implemented in `gitops/` (embedded git, GitHub).

use std::time::SystemTime;

use datakit::manifest::Teams;

use super::StoreError;
use crate::promotion::{Approval, Approver, ChangeRef, Check, PromotionState};

/// What a forge operation can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ForgeError {
    /// The forge cannot be reached or its repository cannot be read right now.
    #[error("deployment repository unavailable: {0}")]
    Unavailable(String),
    /// The base branch does not exist.
    #[error("branch {0} does not exist in the deployment repository")]
    MissingBranch(String),
    /// The change request is unknown to the forge.
    #[error("change request {0} not found")]
    UnknownChange(String),
    /// The change cannot be merged as it is (checks fail on the current base).
    #[error("change request {id} cannot be merged: {reason}")]
    NotMergeable { id: String, reason: String },
    /// The forge asked dkd to slow down (rate limit, secondary limit, outage); the request
    /// can be retried after `until`.
    #[error("{forge} is rate limiting dkd until {}: the promotion waits and resumes by itself", humantime::format_rfc3339_seconds(*until))]
    RateLimited { forge: String, until: SystemTime },
    /// The forge does not do this (e.g. approvals on GitHub happen on GitHub).
    #[error("{0}")]
    Unsupported(String),
    /// The forge's own records could not be read or written.
    #[error(transparent)]
    Records(#[from] StoreError),
}

/// The commit trailer naming the promotion a commit lands (`Promotion-Id: <id>`): how a
/// merge is found again after a crash, and how the records are rebuilt from git.
pub const PROMOTION_ID_TRAILER: &str = "Promotion-Id";

/// A forge's answer to one merge: the commit that landed, or why it did not.
pub type MergeAnswer = Result<String, ForgeError>;

/// A change to propose: files written on a branch off the base branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeProposal {
    pub promotion_id: String,
    pub branch: String,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    /// Repository path → new contents.
    pub files: Vec<(String, Vec<u8>)>,
    /// Ends with a [`PROMOTION_ID_TRAILER`] line, so a merge can be found again.
    pub commit_message: String,
}

/// Where a change request stands on the forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeState {
    Open,
    Merged { commit: String },
    Closed,
}

/// A change request as the forge sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeStatus {
    pub state: ChangeState,
    pub approvals: Vec<Approval>,
    pub checks: Vec<Check>,
}

/// One version of a file on the base branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileVersion {
    pub commit: String,
    pub at: SystemTime,
    /// `None` where the commit deleted the file.
    pub contents: Option<String>,
}

/// How a person ends a promotion before it merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An approver declines it (`dk reject`): the forge records a request for changes.
    Reject,
    /// Its promoter withdraws it (`dk cancel`).
    Cancel,
}

impl Decision {
    /// The state the promotion ends in.
    pub fn state(self) -> PromotionState {
        match self {
            Self::Reject => PromotionState::Rejected,
            Self::Cancel => PromotionState::Cancelled,
        }
    }

    /// `reject` or `cancel`, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Reject => "reject",
            Self::Cancel => "cancel",
        }
    }

    /// `rejected` or `cancelled`: for messages, and how forges record the decision.
    pub fn past(self) -> &'static str {
        match self {
            Self::Reject => "rejected",
            Self::Cancel => "cancelled",
        }
    }

    /// The decision `past` names.
    pub fn from_past(past: &str) -> Option<Self> {
        [Self::Reject, Self::Cancel]
            .into_iter()
            .find(|decision| decision.past() == past)
    }
}

/// A person's decision to close a change request without merging, as the forge records it
/// with the closing, so a rebuild restores who decided what and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declined {
    pub decision: Decision,
    /// The authenticated caller of `dk reject` or `dk cancel`.
    pub by: String,
    /// One line; `dk cancel` may leave it out.
    pub reason: Option<String>,
}

impl Declined {
    /// `cancelled by carol: wrong version`: the promotion's message and the closing note.
    pub fn summary(&self) -> String {
        match &self.reason {
            Some(reason) => format!("{} by {}: {reason}", self.decision.past(), self.by),
            None => format!("{} by {}", self.decision.past(), self.by),
        }
    }
}

/// Where a promotion the forge records stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordedState {
    /// Landed on the base branch as `commit`.
    Merged { commit: String },
    /// Its change request is still open.
    Open { change: ChangeRef },
    /// Its change request was closed without merging: by a person's decision through dkd
    /// where the forge recorded one, otherwise (closed by hand, superseded) `None`.
    Closed { declined: Option<Declined> },
}

/// A promotion as the deployment repository and the forge record it, whatever happened to
/// dkd's state database: what the engine rebuilds its records from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedPromotion {
    pub promotion_id: String,
    /// The manifest the change writes (`environments/<env>/<package>.yaml`; empty when
    /// none is known) …
    pub path: String,
    /// … and its contents there; `None` where none can be read (the id stays taken).
    pub manifest: Option<String>,
    /// When it merged, or when its change request was opened.
    pub at: SystemTime,
    pub state: RecordedState,
}

/// A file of a tree and the id of its contents (the git blob id): two files with the
/// same id have the same contents, so a reader can skip what it already read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    pub path: String,
    pub id: String,
}

/// How the files below a folder differ between two revisions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderChanges {
    /// Files added or changed, with the ids of their new contents.
    pub written: Vec<TreeFile>,
    /// Paths of files removed.
    pub removed: Vec<String>,
}

impl FolderChanges {
    /// The changes below `dir` (ending in `/`).
    pub fn below(&self, dir: &str) -> FolderChanges {
        FolderChanges {
            written: (self.written.iter())
                .filter(|file| file.path.starts_with(dir))
                .cloned()
                .collect(),
            removed: (self.removed.iter())
                .filter(|path| path.starts_with(dir))
                .cloned()
                .collect(),
        }
    }

    /// Every path written or removed.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        (self.written.iter().map(|file| file.path.as_str()))
            .chain(self.removed.iter().map(String::as_str))
    }
}

/// How the whole tree of revision `to` differs from revision `from`: one diff that every
/// reader of the same two revisions can share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionChanges {
    pub from: String,
    pub to: String,
    pub changes: FolderChanges,
}

impl RevisionChanges {
    /// The changes below `dir` (ending in `/`) when these are from `from` to `to`.
    pub fn between(&self, from: &str, to: &str, dir: &str) -> Option<FolderChanges> {
        (self.from == from && self.to == to).then(|| self.changes.below(dir))
    }
}

/// Where the reviewer groups (`@team-leads` in `config/environments.yaml`) come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSource {
    /// `config/teams.yaml` in the deployment repository (the embedded forge): approver
    /// groups and counts are validated against it with the rest of the configuration.
    TeamsFile,
    /// The forge's own groups (GitHub teams): `config/teams.yaml` is not read, and groups
    /// and counts are not validated with the configuration, since team membership changes
    /// on the forge without any revision; a rule nobody can meet shows on the promotion.
    Forge,
}

/// The deployment repository and its change requests.
#[async_trait::async_trait]
pub trait GitForge: Send + Sync + 'static {
    /// A short description for logs, e.g. the repository path.
    fn describe(&self) -> String;

    /// The commit the base branch points at now.
    async fn base_revision(&self) -> Result<String, ForgeError>;

    /// Repository paths of the files below `dir` (ending in `/`) at `revision`.
    async fn list_files(&self, revision: &str, dir: &str) -> Result<Vec<String>, ForgeError>;

    /// The files below `dir` (ending in `/`) at `revision`, with the ids of their contents.
    async fn list_tree(&self, revision: &str, dir: &str) -> Result<Vec<TreeFile>, ForgeError>;

    /// An id of the folder `dir` at `revision` that changes whenever anything below it does
    /// (git's tree id), so a reader can skip a folder it already read; `None` when the
    /// folder does not exist or the forge cannot tell cheaply.
    async fn folder_id(&self, _revision: &str, _dir: &str) -> Result<Option<String>, ForgeError> {
        Ok(None)
    }

    /// How the files below `dir` (ending in `/`) differ from revision `from` to `to`, at a
    /// cost that follows the difference; `None` when the forge cannot tell cheaply (the
    /// caller then lists the folder with `list_tree`).
    async fn changed_files(
        &self,
        _from: &str,
        _to: &str,
        _dir: &str,
    ) -> Result<Option<FolderChanges>, ForgeError> {
        Ok(None)
    }

    /// Contents of `paths` at `revision`, `None` where a path does not exist.
    async fn read_files(
        &self,
        revision: &str,
        paths: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, ForgeError>;

    /// Whether `revision` contains `commit` (is it, or a descendant of it).
    async fn contains(&self, revision: &str, commit: &str) -> Result<bool, ForgeError>;

    /// Versions of `path` on the base branch, newest first, at most `limit`.
    async fn file_history(&self, path: &str, limit: usize) -> Result<Vec<FileVersion>, ForgeError>;

    /// Opens a change request. Idempotent: proposing the same branch again returns the
    /// change request already open for it.
    async fn propose_change(&self, proposal: &ChangeProposal) -> Result<ChangeRef, ForgeError>;

    /// The change request's state, approvals and checks.
    async fn change_status(&self, change: &ChangeRef) -> Result<ChangeStatus, ForgeError>;

    /// Records `approver`'s approval (forges where approvals are given through dkd).
    async fn approve(&self, change: &ChangeRef, approver: &Approver) -> Result<(), ForgeError>;

    /// Merges the change into the base branch, rebasing and re-checking it when the base
    /// moved; never force-pushes. Returns the commit that landed. Merging a change that
    /// already merged returns its commit.
    async fn merge(&self, change: &ChangeRef) -> Result<String, ForgeError>;

    /// Merges `changes` in order, each as [`GitForge::merge`] would, as if one after
    /// another; one answer per change, in the same order. A forge that can land several
    /// in one update of the base branch does (the embedded one); others merge them one by
    /// one.
    async fn merge_all(&self, changes: &[ChangeRef]) -> Vec<MergeAnswer> {
        let mut answers = Vec::with_capacity(changes.len());
        for change in changes {
            answers.push(self.merge(change).await);
        }
        answers
    }

    /// Closes the change request without merging and deletes its branch.
    async fn close(&self, change: &ChangeRef, reason: &str) -> Result<(), ForgeError>;

    /// Closes the change request by a person's decision (`dk reject`, `dk cancel`) and
    /// records it with the closing, so `recorded_promotions` gives it back. Forges with
    /// reviews also record a rejection as one (GitHub: a request-changes review).
    async fn decline(&self, change: &ChangeRef, declined: &Declined) -> Result<(), ForgeError> {
        self.close(change, &declined.summary()).await
    }

    /// The base-branch commit that landed `promotion_id`, if any (found by its trailer).
    async fn find_landed(&self, promotion_id: &str) -> Result<Option<String>, ForgeError>;

    /// The newest `limit` commits of the base branch's first-parent line, newest first.
    async fn base_history(&self, limit: usize) -> Result<Vec<String>, ForgeError>;

    /// Every promotion the forge records, oldest first: merges on the base branch carrying
    /// a `Promotion-Id:` trailer, open change requests, and closed ones (their ids stay
    /// taken).
    async fn recorded_promotions(&self) -> Result<Vec<RecordedPromotion>, ForgeError>;

    /// Where reviewer groups come from; `Forge` exactly where `reviewer_teams` gives some.
    fn group_source(&self) -> GroupSource;

    /// Reviewer groups as the forge knows them (GitHub teams), or `None` where the groups
    /// come from `config/teams.yaml` in the deployment repository (the embedded forge).
    async fn reviewer_teams(&self) -> Result<Option<Teams>, ForgeError>;
}
