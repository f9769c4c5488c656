//! The GitHub forge: the deployment repository on GitHub (or GitHub Enterprise) through
//! octocrab. A change request is a branch, a commit and a pull request; approvals are
//! pull-request reviews; checks are commit statuses and check runs; a merge is a squash
//! merge guarded by the head SHA, after updating a branch that fell behind its base.

mod changes;
mod decision_note;
mod merge;
mod reads;
mod records;
mod rest;
mod settings;
mod teams;

use datakit::manifest::Teams;
use tokio::sync::Mutex;

pub use settings::{GithubSettings, GithubToken};

use self::rest::{Reply, Rest};
use crate::promotion::ports::{
    ChangeProposal, ChangeStatus, Declined, FileVersion, ForgeError, GitForge, GroupSource,
    RecordedPromotion, TreeFile,
};
use crate::promotion::{Approver, ChangeRef};

/// The deployment repository as a GitHub repository.
#[derive(Debug)]
pub struct GithubForge {
    rest: Rest,
    owner: String,
    repo: String,
    base_branch: String,
    /// `/repos/{owner}/{repo}`: the prefix of every repository path.
    root: String,
    /// Serializes dkd's own writes (proposals, merges, closes).
    writes: Mutex<()>,
}

impl GithubForge {
    /// A forge for `settings`; nothing is requested until the first call.
    pub fn new(settings: GithubSettings) -> Result<Self, ForgeError> {
        Ok(Self {
            rest: Rest::new(&settings)?,
            root: format!("/repos/{}/{}", settings.owner, settings.repo),
            owner: settings.owner,
            repo: settings.repo,
            base_branch: settings.base_branch,
            writes: Mutex::new(()),
        })
    }
}

/// An answer dkd did not expect, as a one-line error.
fn unexpected(reply: &Reply, doing: &str) -> ForgeError {
    ForgeError::Unavailable(format!(
        "GitHub refused to {doing}: {} {}",
        reply.status.as_u16(),
        reply.message()
    ))
}

#[async_trait::async_trait]
impl GitForge for GithubForge {
    fn describe(&self) -> String {
        format!(
            "github.com/{}/{} ({})",
            self.owner, self.repo, self.base_branch
        )
    }

    async fn base_revision(&self) -> Result<String, ForgeError> {
        self.head_of(&self.base_branch)
            .await?
            .ok_or_else(|| ForgeError::MissingBranch(self.base_branch.clone()))
    }

    async fn list_files(&self, revision: &str, dir: &str) -> Result<Vec<String>, ForgeError> {
        Ok(self
            .list_tree(revision, dir)
            .await?
            .into_iter()
            .map(|file| file.path)
            .collect())
    }

    async fn list_tree(&self, revision: &str, dir: &str) -> Result<Vec<TreeFile>, ForgeError> {
        Ok(self
            .tree_files(revision)
            .await?
            .into_iter()
            .filter(|file| file.path.starts_with(dir))
            .collect())
    }

    async fn read_files(
        &self,
        revision: &str,
        paths: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, ForgeError> {
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            files.push(self.file_at(revision, path).await?.map(|file| file.bytes));
        }
        Ok(files)
    }

    async fn contains(&self, revision: &str, commit: &str) -> Result<bool, ForgeError> {
        self.compare_contains(revision, commit).await
    }

    async fn file_history(&self, path: &str, limit: usize) -> Result<Vec<FileVersion>, ForgeError> {
        self.history(path, limit).await
    }

    async fn propose_change(&self, proposal: &ChangeProposal) -> Result<ChangeRef, ForgeError> {
        self.propose(proposal).await
    }

    async fn change_status(&self, change: &ChangeRef) -> Result<ChangeStatus, ForgeError> {
        self.status(change).await
    }

    async fn approve(&self, _change: &ChangeRef, _approver: &Approver) -> Result<(), ForgeError> {
        Err(ForgeError::Unsupported(
            "approve the pull request on GitHub".into(),
        ))
    }

    async fn merge(&self, change: &ChangeRef) -> Result<String, ForgeError> {
        self.merge_change(change).await
    }

    async fn close(&self, change: &ChangeRef, reason: &str) -> Result<(), ForgeError> {
        self.close_change(change, reason, None).await
    }

    async fn decline(&self, change: &ChangeRef, declined: &Declined) -> Result<(), ForgeError> {
        self.decline_change(change, declined).await
    }

    async fn find_landed(&self, promotion_id: &str) -> Result<Option<String>, ForgeError> {
        self.landed(promotion_id).await
    }

    async fn base_history(&self, limit: usize) -> Result<Vec<String>, ForgeError> {
        self.commits(limit).await
    }

    async fn recorded_promotions(&self) -> Result<Vec<RecordedPromotion>, ForgeError> {
        self.recorded().await
    }

    fn group_source(&self) -> GroupSource {
        GroupSource::Forge
    }

    async fn reviewer_teams(&self) -> Result<Option<Teams>, ForgeError> {
        Ok(Some(self.teams().await?))
    }
}
