//! Git forges: where the deployment repository lives. The `GitForge` port and its
//! implementations (the embedded local repository; GitHub arrives later).

mod git;
mod local;

pub use git::{Git, GitError};
pub use local::LocalGitForge;

/// What a forge operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// The forge cannot be reached or its repository cannot be read right now.
    #[error("deployment repository unavailable: {0}")]
    Unavailable(String),
    /// The base branch does not exist.
    #[error("branch {0} does not exist in the deployment repository")]
    MissingBranch(String),
}

impl From<GitError> for ForgeError {
    fn from(error: GitError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

/// Read access to the deployment repository's base branch.
#[async_trait::async_trait]
pub trait GitForge: Send + Sync + 'static {
    /// A short description for logs, e.g. the repository path.
    fn describe(&self) -> String;

    /// The commit the base branch points at now.
    async fn base_revision(&self) -> Result<String, ForgeError>;

    /// Repository paths of the files below `dir` (ending in `/`) at `revision`.
    async fn list_files(&self, revision: &str, dir: &str) -> Result<Vec<String>, ForgeError>;

    /// Contents of `paths` at `revision`, `None` where a path does not exist.
    async fn read_files(
        &self,
        revision: &str,
        paths: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, ForgeError>;
}
