//! One bare repository: read and written in process with gitoxide (`objects.rs`), and
//! `git` plumbing with a clean environment (the user's `GIT_DIR`, hooks or pager never leak
//! in) for the few operations the library does not do yet.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, OnceLock},
};

use tokio::{io::AsyncWriteExt, process::Command};

use super::objects;
use crate::promotion::ports::ForgeError;

/// A failed git invocation.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git ({source}): install git and make sure it is on PATH")]
    Spawn { source: std::io::Error },
    #[error("git {command} failed in {repo}: {stderr}")]
    Failed {
        command: String,
        repo: PathBuf,
        stderr: String,
    },
    #[error("git {command} printed something that is not UTF-8")]
    NotUtf8 { command: String },
    #[error("cannot read the repository {repo}: {message}")]
    InProcess { repo: PathBuf, message: String },
}

impl From<GitError> for ForgeError {
    fn from(error: GitError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

/// A bare repository.
#[derive(Debug, Clone)]
pub struct Git {
    git_dir: PathBuf,
    /// Opened on first use, then shared: its object and reference caches stay warm.
    repository: Arc<OnceLock<gix::ThreadSafeRepository>>,
}

impl Git {
    pub fn new(git_dir: impl Into<PathBuf>) -> Self {
        Self {
            git_dir: git_dir.into(),
            repository: Arc::new(OnceLock::new()),
        }
    }

    /// Runs `operation` on the repository in process, on the blocking pool. A lost
    /// compare-and-swap comes back as `GitError::Failed`, as `git update-ref` reports it.
    async fn in_process<T, F>(&self, operation: F) -> Result<T, GitError>
    where
        T: Send + 'static,
        F: FnOnce(&gix::Repository) -> Result<T, objects::ObjectsError> + Send + 'static,
    {
        let shared = match self.repository.get() {
            Some(shared) => shared.clone(),
            None => {
                // Isolated: neither the user's nor the system's git configuration applies.
                let opened = gix::open_opts(&self.git_dir, gix::open::Options::isolated())
                    .map_err(|e| self.in_process_error(&e))?
                    .into_sync();
                self.repository.get_or_init(|| opened).clone()
            }
        };
        let git_dir = self.git_dir.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let mut repository = shared.to_thread_local();
            repository.object_cache_size_if_unset(4 * 1024 * 1024);
            operation(&repository)
        })
        .await
        .map_err(|e| self.in_process_error(&e))?;
        outcome.map_err(|error| match error {
            objects::ObjectsError::Conflict(stderr) => GitError::Failed {
                command: "update-ref".into(),
                repo: git_dir,
                stderr,
            },
            other => self.in_process_error(&other),
        })
    }

    fn in_process_error(&self, error: &dyn std::fmt::Display) -> GitError {
        GitError::InProcess {
            repo: self.git_dir.clone(),
            message: error.to_string(),
        }
    }

    /// Creates a bare repository at `git_dir` whose HEAD names `branch`.
    pub async fn init_bare(git_dir: impl Into<PathBuf>, branch: &str) -> Result<Self, GitError> {
        let git = Self::new(git_dir);
        let mut command = base_command();
        command
            .args(["init", "--quiet", "--bare", "--initial-branch", branch])
            .arg(&git.git_dir);
        git.output(command, "init", None).await?;
        Ok(git)
    }

    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = base_command();
        command.arg("--git-dir").arg(&self.git_dir).args(args);
        command
    }

    /// Runs git with `args` and returns its standard output as bytes.
    pub async fn run_bytes(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
    ) -> Result<Vec<u8>, GitError> {
        let name = args.first().copied().unwrap_or_default();
        self.output(self.command(args), name, stdin).await
    }

    /// Runs git with `args` and returns its standard output, trimmed.
    pub async fn run(&self, args: &[&str]) -> Result<String, GitError> {
        let bytes = self.run_bytes(args, None).await?;
        let command = args.first().copied().unwrap_or_default().to_owned();
        let text = String::from_utf8(bytes).map_err(|_| GitError::NotUtf8 { command })?;
        Ok(text.trim_end().to_owned())
    }

    async fn output(
        &self,
        mut command: Command,
        name: &str,
        stdin: Option<&[u8]>,
    ) -> Result<Vec<u8>, GitError> {
        if stdin.is_some() {
            command.stdin(Stdio::piped());
        }
        let mut child = command
            .spawn()
            .map_err(|source| GitError::Spawn { source })?;
        // Feed stdin while the output is read: with large requests (`cat-file --batch` of
        // thousands of paths) writing first and reading after would fill both pipes.
        let feeder = match (stdin, child.stdin.take()) {
            (Some(input), Some(mut pipe)) => {
                let input = input.to_vec();
                Some(tokio::spawn(async move { pipe.write_all(&input).await }))
            }
            _ => None,
        };
        let output = child
            .wait_with_output()
            .await
            .map_err(|source| GitError::Spawn { source })?;
        if let Some(feeder) = feeder {
            let written = feeder.await.map_err(|e| GitError::Spawn {
                source: std::io::Error::other(e),
            })?;
            written.map_err(|source| GitError::Spawn { source })?;
        }
        if output.status.success() {
            return Ok(output.stdout);
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first_line = stderr
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("no message");
        Err(GitError::Failed {
            command: name.to_owned(),
            repo: self.git_dir.clone(),
            stderr: first_line.to_owned(),
        })
    }

    /// The commit a branch points at, or `None` when the branch does not exist.
    pub async fn branch_head(&self, branch: &str) -> Result<Option<String>, GitError> {
        let branch = branch.to_owned();
        self.in_process(move |repo| objects::branch_head(repo, &branch))
            .await
    }

    /// Paths of the files below `dir` (a repository path ending in `/`) at `revision`.
    pub async fn list_files(&self, revision: &str, dir: &str) -> Result<Vec<String>, GitError> {
        Ok(self
            .list_blobs(revision, &[dir])
            .await?
            .into_iter()
            .map(|(path, _)| path)
            .collect())
    }

    /// The files below `dirs` (repository folders ending in `/`; none: the whole tree) at
    /// `revision`, each with its blob id.
    pub async fn list_blobs(
        &self,
        revision: &str,
        dirs: &[&str],
    ) -> Result<Vec<(String, String)>, GitError> {
        let revision = revision.to_owned();
        let dirs: Vec<String> = dirs.iter().map(|d| (*d).to_owned()).collect();
        self.in_process(move |repo| {
            let dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
            objects::list_blobs(repo, &revision, &dirs)
        })
        .await
    }

    /// The id of the folder `dir` at `revision`, `None` when there is no such folder: two
    /// revisions with the same id have the same files below it.
    pub async fn tree_id(&self, revision: &str, dir: &str) -> Result<Option<String>, GitError> {
        let (revision, dir) = (revision.to_owned(), dir.to_owned());
        self.in_process(move |repo| objects::tree_id(repo, &revision, &dir))
            .await
    }

    /// The contents of the objects `ids` (blob ids, or `<commit>:<path>`), in order (`None`
    /// where one is missing).
    pub async fn read_blobs(&self, ids: &[&str]) -> Result<Vec<Option<Vec<u8>>>, GitError> {
        let ids: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
        self.in_process(move |repo| {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            objects::read_blobs(repo, &ids)
        })
        .await
    }

    /// The contents of `paths` at `revision`, `None` for a path that does not exist.
    pub async fn read_files(
        &self,
        revision: &str,
        paths: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, GitError> {
        let (revision, paths) = (revision.to_owned(), paths.to_vec());
        self.in_process(move |repo| objects::read_files(repo, &revision, &paths))
            .await
    }

    /// Whether `commit` is `revision` or one of its ancestors.
    pub async fn is_ancestor(&self, commit: &str, revision: &str) -> Result<bool, GitError> {
        let (commit, revision) = (commit.to_owned(), revision.to_owned());
        self.in_process(move |repo| objects::is_ancestor(repo, &commit, &revision))
            .await
    }

    /// `commit`'s first parent, `None` for a root commit.
    pub async fn first_parent(&self, commit: &str) -> Result<Option<String>, GitError> {
        let commit = commit.to_owned();
        self.in_process(move |repo| objects::first_parent(repo, &commit))
            .await
    }

    /// The newest `limit` commits of `branch`'s first-parent line (`rev-list --first-parent`).
    pub async fn first_parent_line(
        &self,
        branch: &str,
        limit: usize,
    ) -> Result<Vec<String>, GitError> {
        let branch = branch.to_owned();
        self.in_process(move |repo| objects::first_parent_line(repo, &branch, limit))
            .await
    }

    /// The newest commit reachable from `branch` whose message has exactly the line `line`.
    pub async fn find_message_line(
        &self,
        branch: &str,
        line: &str,
    ) -> Result<Option<String>, GitError> {
        let (branch, line) = (branch.to_owned(), line.to_owned());
        self.in_process(move |repo| objects::find_message_line(repo, &branch, &line))
            .await
    }

    /// `commit`'s committer time (Unix seconds) and whole message.
    pub async fn commit_time_and_message(&self, commit: &str) -> Result<(u64, String), GitError> {
        let commit = commit.to_owned();
        self.in_process(move |repo| objects::commit_time_and_message(repo, &commit))
            .await
    }

    /// The newest `limit` commits of `branch`'s first-parent line that changed `path`, each
    /// with its commit time and the blob id `path` has after it (`None` where it was
    /// deleted): merged side branches never ran on `branch` and are left out.
    pub async fn file_log(
        &self,
        branch: &str,
        path: &str,
        limit: usize,
    ) -> Result<Vec<FileChange>, GitError> {
        let (branch, path) = (branch.to_owned(), path.to_owned());
        self.in_process(move |repo| objects::file_log(repo, &branch, &path, limit))
            .await
    }

    /// Writes a commit whose tree is `parent`'s tree (or an empty one) with `files` added or
    /// replaced, without moving any branch; returns the new commit. No index is involved, so
    /// concurrent callers never share state.
    pub async fn commit_files(
        &self,
        parent: Option<&str>,
        files: &[(String, Vec<u8>)],
        message: &str,
    ) -> Result<String, GitError> {
        let (parent, files, message) = (
            parent.map(str::to_owned),
            files.to_vec(),
            message.to_owned(),
        );
        self.in_process(move |repo| {
            objects::commit_files(repo, parent.as_deref(), &files, &message)
        })
        .await
    }

    /// Moves `reference` to `new` only if it still points at `expected` (`None`: only if it
    /// does not exist yet), so a concurrent writer makes this fail instead of being lost.
    pub async fn update_ref(
        &self,
        reference: &str,
        new: &str,
        expected: Option<&str>,
    ) -> Result<(), GitError> {
        let (reference, new, expected) = (
            reference.to_owned(),
            new.to_owned(),
            expected.map(str::to_owned),
        );
        self.in_process(move |repo| {
            objects::update_ref(repo, &reference, &new, expected.as_deref())
        })
        .await
    }

    /// Points `reference` at `new` unconditionally (kept refs nobody else writes).
    pub async fn set_ref(&self, reference: &str, new: &str) -> Result<(), GitError> {
        let (reference, new) = (reference.to_owned(), new.to_owned());
        self.in_process(move |repo| objects::set_ref(repo, &reference, &new))
            .await
    }

    /// Deletes `reference` when it exists.
    pub async fn delete_ref(&self, reference: &str) -> Result<(), GitError> {
        let reference = reference.to_owned();
        self.in_process(move |repo| objects::delete_ref(repo, &reference))
            .await
    }
}

/// `git` with an environment cleared of anything that would redirect it.
fn base_command() -> Command {
    let mut command = Command::new("git");
    command
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_NAMESPACE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env("GIT_TERMINAL_PROMPT", "0")
        // Paths are data, never patterns.
        .env("GIT_LITERAL_PATHSPECS", "1")
        .env("GIT_AUTHOR_NAME", "dkd")
        .env("GIT_AUTHOR_EMAIL", "dkd@localhost")
        .env("GIT_COMMITTER_NAME", "dkd")
        .env("GIT_COMMITTER_EMAIL", "dkd@localhost")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// One commit of [`Git::file_log`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub commit: String,
    pub unix_seconds: u64,
    /// The file's blob id after the commit; `None` where the commit deleted it.
    pub blob: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn committed_files_are_read_back_at_that_revision() {
        let dir = tempfile::tempdir().expect("tempdir");
        let git = Git::init_bare(dir.path().join("repo.git"), "main")
            .await
            .expect("init");
        let files = vec![("config/a.yaml".to_owned(), b"a: 1\n".to_vec())];
        let first = git
            .commit_files(None, &files, "first")
            .await
            .expect("commit");
        git.update_ref("refs/heads/main", &first, None)
            .await
            .expect("create main");
        let more = vec![("environments/dev/x.yaml".to_owned(), b"x\n".to_vec())];
        let second = git
            .commit_files(Some(&first), &more, "second")
            .await
            .expect("commit");
        git.update_ref("refs/heads/main", &second, Some(&first))
            .await
            .expect("advance main");
        assert_eq!(
            git.branch_head("main").await.expect("head"),
            Some(second.clone())
        );
        let listed = git.list_files(&second, "config/").await.expect("ls");
        assert_eq!(listed, vec!["config/a.yaml".to_owned()]);
        let paths = vec![
            "config/a.yaml".to_owned(),
            "environments/dev/x.yaml".to_owned(),
            "nope".to_owned(),
        ];
        let read = git.read_files(&second, &paths).await.expect("read");
        assert_eq!(
            read,
            vec![Some(b"a: 1\n".to_vec()), Some(b"x\n".to_vec()), None]
        );
    }

    #[tokio::test]
    async fn thousands_of_files_of_one_folder_are_read_in_one_call() {
        let dir = tempfile::tempdir().expect("tempdir");
        let git = Git::init_bare(dir.path().join("repo.git"), "main")
            .await
            .expect("init");
        let files: Vec<(String, Vec<u8>)> = (0..3000)
            .map(|i| {
                (
                    format!("environments/dev/package-with-a-long-name-{i}.yaml"),
                    vec![b'x'; 200],
                )
            })
            .collect();
        let commit = git
            .commit_files(None, &files, "many")
            .await
            .expect("commit");
        let paths: Vec<String> = files.iter().map(|(p, _)| p.clone()).collect();
        let read = git.read_files(&commit, &paths).await.expect("read");
        assert_eq!(read.len(), 3000);
        assert!(read.iter().all(|c| c.as_deref() == Some(&[b'x'; 200][..])));
    }

    #[tokio::test]
    async fn a_stale_expected_commit_does_not_move_the_branch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let git = Git::init_bare(dir.path().join("repo.git"), "main")
            .await
            .expect("init");
        let first = git.commit_files(None, &[], "first").await.expect("commit");
        git.update_ref("refs/heads/main", &first, None)
            .await
            .expect("create main");
        let second = git
            .commit_files(Some(&first), &[], "second")
            .await
            .expect("commit");
        let refused = git.update_ref("refs/heads/main", &second, None).await;
        assert!(refused.is_err(), "creating an existing branch must fail");
        assert_eq!(git.branch_head("main").await.expect("head"), Some(first));
    }

    #[tokio::test]
    async fn a_writer_holding_an_old_commit_loses_the_compare_and_swap_and_fsck_stays_clean() {
        let dir = tempfile::tempdir().expect("tempdir");
        let git = Git::init_bare(dir.path().join("repo.git"), "main")
            .await
            .expect("init");
        let files = vec![("environments/dev/a.yaml".to_owned(), b"a\n".to_vec())];
        let first = git
            .commit_files(None, &files, "first")
            .await
            .expect("commit");
        git.update_ref("refs/heads/main", &first, None)
            .await
            .expect("create main");
        let (mine, theirs) = (
            git.commit_files(Some(&first), &files, "mine")
                .await
                .expect("commit"),
            git.commit_files(Some(&first), &[], "theirs")
                .await
                .expect("commit"),
        );
        git.update_ref("refs/heads/main", &theirs, Some(&first))
            .await
            .expect("the first writer wins");
        let lost = git.update_ref("refs/heads/main", &mine, Some(&first)).await;
        assert!(
            matches!(lost, Err(GitError::Failed { .. })),
            "a stale expected commit must fail: {lost:?}"
        );
        assert_eq!(git.branch_head("main").await.expect("head"), Some(theirs));
        assert!(git.is_ancestor(&first, "main").await.expect("ancestry"));
        assert!(!git.is_ancestor(&mine, "main").await.expect("ancestry"));
        git.run(&["fsck", "--strict", "--no-dangling"])
            .await
            .expect("git fsck --strict is clean");
    }
}
