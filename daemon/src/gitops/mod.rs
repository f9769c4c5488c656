//! Git forges: where the deployment repository lives and change requests are opened,
//! approved and merged. Implementations of the domain's `GitForge` port: the embedded
//! local repository, and GitHub through octocrab.

mod checks;
mod git;
mod github;
mod handles;
mod local;
mod local_checks;
mod local_landed;
mod local_packing;
mod local_pushes;
mod local_records;
mod objects;

pub use checks::check_tree;
pub use git::{FileChange, Git, GitError};
pub use github::{GithubForge, GithubSettings, GithubToken};
pub use local::{BASE_BRANCH, LocalGitForge};
pub use local_pushes::watch_pushes;
