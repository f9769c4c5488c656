//! The fake GitHub's repository: dkd's in-process `Git` for what it offers, and the `git`
//! command for the plumbing GitHub itself runs (merge-tree, commit-tree, rev-list, ls-tree…),
//! which dkd has no use for.

use std::{ops::Deref, path::Path, process::Stdio};

use dkd::gitops::Git;

/// A bare repository the fake serves.
#[derive(Debug)]
pub struct FakeGit(Git);

/// `git` failed, with its first line of standard error.
#[derive(Debug)]
pub struct GitFailed(pub String);

impl FakeGit {
    pub async fn init_bare(path: impl AsRef<Path>, branch: &str) -> Self {
        Self(
            Git::init_bare(path.as_ref(), branch)
                .await
                .expect("bare repository"),
        )
    }

    /// `git ARGS` in the repository: its standard output as bytes.
    pub async fn run_bytes(&self, args: &[&str]) -> Result<Vec<u8>, GitFailed> {
        let output = tokio::process::Command::new("git")
            .arg("--git-dir")
            .arg(self.0.git_dir())
            .args(args)
            .env("GIT_AUTHOR_NAME", "GitHub")
            .env("GIT_AUTHOR_EMAIL", "noreply@github.com")
            .env("GIT_COMMITTER_NAME", "GitHub")
            .env("GIT_COMMITTER_EMAIL", "noreply@github.com")
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|error| GitFailed(error.to_string()))?;
        if output.status.success() {
            Ok(output.stdout)
        } else {
            let stderr = String::from_utf8_lossy(&output.stderr);
            Err(GitFailed(
                stderr.lines().next().unwrap_or("failed").to_owned(),
            ))
        }
    }

    /// `git ARGS` in the repository: its standard output, trimmed.
    pub async fn run(&self, args: &[&str]) -> Result<String, GitFailed> {
        let bytes = self.run_bytes(args).await?;
        Ok(String::from_utf8_lossy(&bytes).trim_end().to_owned())
    }
}

impl Deref for FakeGit {
    type Target = Git;

    fn deref(&self) -> &Git {
        &self.0
    }
}
