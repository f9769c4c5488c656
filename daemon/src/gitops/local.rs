//! The embedded forge: a bare repository in `DK_HOME/deploy.git`, created on first start
//! with the default environments and teams, that users clone, edit and push to.

use std::path::{Path, PathBuf};

use datakit::manifest::{
    DEFAULT_ENVIRONMENTS_YAML, DEFAULT_TEAMS_YAML, ENVIRONMENTS_FILE, TEAMS_FILE,
};

use super::{ForgeError, Git, GitForge};

/// The base branch of the embedded deployment repository.
pub const BASE_BRANCH: &str = "main";

/// The deployment repository as a local bare git repository.
#[derive(Debug, Clone)]
pub struct LocalGitForge {
    git: Git,
}

impl LocalGitForge {
    /// Opens the repository at `path`, creating it with the default configuration when it
    /// does not exist. Creation happens in a sibling folder that is renamed into place, so a
    /// crash never leaves a half-made repository behind.
    pub async fn open_or_init(path: &Path) -> Result<Self, ForgeError> {
        if !path.exists() {
            create_repository(path).await?;
            tracing::info!(repository = %path.display(), "created the deployment repository");
        }
        let forge = Self {
            git: Git::new(path),
        };
        forge.base_revision().await?;
        Ok(forge)
    }

    pub fn git(&self) -> &Git {
        &self.git
    }
}

async fn create_repository(path: &Path) -> Result<(), ForgeError> {
    let mut staging = PathBuf::from(path);
    staging.set_extension(format!("git.creating-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| ForgeError::Unavailable(e.to_string()))?;
    }
    let git = Git::init_bare(&staging, BASE_BRANCH).await?;
    let files = [
        (
            ENVIRONMENTS_FILE.to_owned(),
            DEFAULT_ENVIRONMENTS_YAML.as_bytes().to_vec(),
        ),
        (
            TEAMS_FILE.to_owned(),
            DEFAULT_TEAMS_YAML.as_bytes().to_vec(),
        ),
    ];
    let commit = git
        .commit_files(None, &files, "Initial DataKit deployment repository")
        .await?;
    git.update_ref(&format!("refs/heads/{BASE_BRANCH}"), &commit, None)
        .await?;
    std::fs::rename(&staging, path).map_err(|e| ForgeError::Unavailable(e.to_string()))?;
    Ok(())
}

#[async_trait::async_trait]
impl GitForge for LocalGitForge {
    fn describe(&self) -> String {
        self.git.git_dir().display().to_string()
    }

    async fn base_revision(&self) -> Result<String, ForgeError> {
        self.git
            .branch_head(BASE_BRANCH)
            .await?
            .ok_or_else(|| ForgeError::MissingBranch(BASE_BRANCH.into()))
    }

    async fn list_files(&self, revision: &str, dir: &str) -> Result<Vec<String>, ForgeError> {
        Ok(self.git.list_files(revision, dir).await?)
    }

    async fn read_files(
        &self,
        revision: &str,
        paths: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, ForgeError> {
        Ok(self.git.read_files(revision, paths).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_new_repository_has_the_default_configuration_on_main() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("deploy.git");
        let forge = LocalGitForge::open_or_init(&path).await.expect("create");
        let head = forge.base_revision().await.expect("head");
        let files = forge.list_files(&head, "config/").await.expect("ls");
        assert_eq!(
            files,
            vec![ENVIRONMENTS_FILE.to_owned(), TEAMS_FILE.to_owned()]
        );
        let again = LocalGitForge::open_or_init(&path).await.expect("reopen");
        assert_eq!(
            again.base_revision().await.expect("head"),
            head,
            "reopening changes nothing"
        );
    }
}
