//! One bare repository, read and written in process with gitoxide (`objects.rs`) on
//! tokio's blocking pool, with no `git` process (only packing runs one, `local_packing.rs`).

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use super::{handles::Handles, objects};
use crate::promotion::ports::{FolderChanges, ForgeError};

/// A failed repository operation.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// A compare-and-swap on a reference that lost: someone else moved it first.
    #[error("git {command} failed in {repo}: {stderr}")]
    Failed {
        command: String,
        repo: PathBuf,
        stderr: String,
    },
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
    handles: Arc<Handles>,
}

impl Git {
    pub fn new(git_dir: impl Into<PathBuf>) -> Self {
        let git_dir = git_dir.into();
        Self {
            handles: Arc::new(Handles::new(git_dir.clone())),
            git_dir,
        }
    }

    /// Runs `operation` on the repository in process, on the blocking pool (see
    /// `handles.rs`: it may run twice). A lost compare-and-swap comes back as
    /// `GitError::Failed`, as `git update-ref` reports it.
    async fn in_process<T, F>(&self, operation: F) -> Result<T, GitError>
    where
        T: Send + 'static,
        F: Fn(&gix::Repository) -> Result<T, objects::ObjectsError> + Send + 'static,
    {
        let handles = self.handles.clone();
        let outcome = tokio::task::spawn_blocking(move || handles.run(operation))
            .await
            .map_err(|e| self.in_process_error(&e))?;
        outcome.map_err(|error| match error {
            objects::ObjectsError::Conflict(stderr) => GitError::Failed {
                command: "update-ref".into(),
                repo: self.git_dir.clone(),
                stderr,
            },
            other => self.in_process_error(&other),
        })
    }

    /// Opens the repository again on next use, with the packs now on disk.
    pub fn reopen(&self) {
        self.handles.reopen();
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
        let (path, branch) = (git.git_dir.clone(), branch.to_owned());
        tokio::task::spawn_blocking(move || objects::init_bare(&path, &branch))
            .await
            .map_err(|e| git.in_process_error(&e))?
            .map_err(|e| git.in_process_error(&e))?;
        Ok(git)
    }

    pub fn git_dir(&self) -> &Path {
        &self.git_dir
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

    /// The message lines starting with `prefix` of the commits `branch` gained since the
    /// head `seen` (none: all of them), newest first.
    pub async fn lines_since(
        &self,
        branch: &str,
        seen: Option<&str>,
        prefix: &str,
    ) -> Result<objects::LinesSince, GitError> {
        let (branch, seen, prefix) = (
            branch.to_owned(),
            seen.map(str::to_owned),
            prefix.to_owned(),
        );
        self.in_process(move |repo| objects::lines_since(repo, &branch, seen.as_deref(), &prefix))
            .await
    }

    /// The commits reachable from `branch` with a `key:` trailer, newest first, each with
    /// the files it wrote.
    pub async fn commits_with_trailer(
        &self,
        branch: &str,
        key: &str,
    ) -> Result<Vec<objects::TrailerCommit>, GitError> {
        let (branch, key) = (branch.to_owned(), key.to_owned());
        self.in_process(move |repo| objects::commits_with_trailer(repo, &branch, &key))
            .await
    }

    /// How the files below `dir` (ending in `/`) differ from `from` to `to`.
    pub async fn changed_files(
        &self,
        from: &str,
        to: &str,
        dir: &str,
    ) -> Result<FolderChanges, GitError> {
        let (from, to, dir) = (from.to_owned(), to.to_owned(), dir.to_owned());
        self.in_process(move |repo| objects::changed_files(repo, &from, &to, &dir))
            .await
    }

    /// Every reference under `prefix` (ending in `/`) with its tip commit, oldest tip first.
    pub async fn refs_under(&self, prefix: &str) -> Result<Vec<objects::RefTip>, GitError> {
        let prefix = prefix.to_owned();
        self.in_process(move |repo| objects::refs_under(repo, &prefix))
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

/// One commit of [`Git::file_log`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub commit: String,
    pub unix_seconds: u64,
    /// The file's blob id after the commit; `None` where the commit deleted it.
    pub blob: Option<String>,
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The `git` command on `git`'s repository: the oracle the in-process reads are held to.
    pub(in crate::gitops) fn git_cli(git: &Git, args: &[&str]) -> String {
        let output = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(git.git_dir())
            .args(args)
            .output()
            .expect("run git");
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .expect("UTF-8")
            .trim_end()
            .to_owned()
    }

    /// A new bare repository whose HEAD names `main`, in a folder removed with the guard.
    pub(in crate::gitops) async fn bare_repository() -> (tempfile::TempDir, Git) {
        let dir = tempfile::tempdir().expect("tempdir");
        let git = Git::init_bare(dir.path().join("repo.git"), "main")
            .await
            .expect("init");
        (dir, git)
    }

    #[tokio::test]
    async fn committed_files_are_read_back_at_that_revision() {
        let (_dir, git) = bare_repository().await;
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
    async fn changes_of_the_whole_tree_or_a_folder_read_as_git_diff_tree_shows_them() {
        let (_dir, git) = bare_repository().await;
        let file = |path: &str, text: &str| (path.to_owned(), text.as_bytes().to_vec());
        let first = (git.commit_files(None, &[file("config/a.yaml", "a: 1\n")], "first"))
            .await
            .expect("commit");
        let written = [
            file("config/a.yaml", "a: 2\n"),
            file("environments/dev/x.yaml", "x\n"),
            file("README.md", "hello\n"),
        ];
        let second = (git.commit_files(Some(&first), &written, "second"))
            .await
            .expect("commit");
        for (from, to) in [(&first, &second), (&second, &first)] {
            let diff_tree = git_cli(&git, &["diff-tree", "-r", "--name-status", from, to]);
            let mut expected: Vec<String> = (diff_tree.lines())
                .map(|line| match line.split_once('\t') {
                    Some(("D", path)) => format!("removed {path}"),
                    Some((_, path)) => {
                        let id = git_cli(&git, &["rev-parse", &format!("{to}:{path}")]);
                        format!("wrote {path} {id}")
                    }
                    None => panic!("unexpected diff-tree line {line:?}"),
                })
                .collect();
            expected.sort();
            let changes = git.changed_files(from, to, "").await.expect("diff");
            let mut found: Vec<String> = (changes.written.iter())
                .map(|file| format!("wrote {} {}", file.path, file.id))
                .chain(changes.removed.iter().map(|path| format!("removed {path}")))
                .collect();
            found.sort();
            assert_eq!(found, expected, "{from} → {to}");
            let below = git
                .changed_files(from, to, "environments/")
                .await
                .expect("diff");
            assert_eq!(below, changes.below("environments/"));
            assert_eq!(
                below.paths().collect::<Vec<_>>(),
                ["environments/dev/x.yaml"]
            );
        }
    }

    #[tokio::test]
    async fn files_beside_a_folder_of_a_similar_name_are_found_in_any_order() {
        let (_dir, git) = bare_repository().await;
        // git sorts a folder as if its name ended in `/`: between `-` and `0`.
        let names = [
            "stores-x.yaml",
            "stores.yaml",
            "stores/s.yaml",
            "stores0.yaml",
        ];
        let files: Vec<(String, Vec<u8>)> = names
            .iter()
            .map(|name| (format!("environments/dev/{name}"), name.as_bytes().to_vec()))
            .collect();
        let commit = git
            .commit_files(None, &files, "similar names")
            .await
            .expect("commit");
        let asked = [
            "stores0.yaml",
            "stores",
            "stores/s.yaml",
            "stores.yaml",
            "stores-x.yaml",
        ];
        let paths: Vec<String> = asked
            .iter()
            .map(|name| format!("environments/dev/{name}"))
            .collect();
        let read = git.read_files(&commit, &paths).await.expect("read");
        let expected: Vec<Option<Vec<u8>>> = asked
            .iter()
            .map(|name| names.contains(name).then(|| name.as_bytes().to_vec()))
            .collect();
        assert_eq!(read, expected, "a folder is not a file");
    }

    #[tokio::test]
    async fn thousands_of_files_of_one_folder_are_read_in_one_call() {
        let (_dir, git) = bare_repository().await;
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

    /// A bare repository at `git_dir` whose `main` is a first commit, and a second commit
    /// on top of it that no reference names yet.
    async fn main_and_a_commit_on_it(git_dir: &std::path::Path) -> (Git, String, String) {
        let git = Git::init_bare(git_dir, "main").await.expect("init");
        let first = git.commit_files(None, &[], "first").await.expect("commit");
        git.update_ref("refs/heads/main", &first, None)
            .await
            .expect("create main");
        let second = git
            .commit_files(Some(&first), &[], "second")
            .await
            .expect("commit");
        (git, first, second)
    }

    #[tokio::test]
    async fn a_stale_expected_commit_does_not_move_the_branch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (git, first, second) = main_and_a_commit_on_it(&dir.path().join("repo.git")).await;
        let refused = git.update_ref("refs/heads/main", &second, None).await;
        assert!(refused.is_err(), "creating an existing branch must fail");
        assert_eq!(git.branch_head("main").await.expect("head"), Some(first));
    }

    #[tokio::test]
    async fn a_lock_left_by_a_dead_writer_is_removed_and_a_live_one_is_respected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let git_dir = dir.path().join("repo.git");
        let (git, first, second) = main_and_a_commit_on_it(&git_dir).await;
        let lock = git_dir.join("refs/heads/main.lock");

        // Just taken: another writer may be in the middle of its update.
        std::fs::write(&lock, "").expect("a fresh lock");
        let refused = git
            .update_ref("refs/heads/main", &second, Some(&first))
            .await;
        assert!(refused.is_err(), "a live lock must hold: {refused:?}");
        assert_eq!(
            git.branch_head("main").await.expect("head"),
            Some(first.clone())
        );

        // Left by a writer killed mid-update.
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
        std::fs::File::options()
            .write(true)
            .open(&lock)
            .and_then(|file| file.set_modified(old))
            .expect("age the lock");
        git.update_ref("refs/heads/main", &second, Some(&first))
            .await
            .expect("a stale lock is removed");
        assert_eq!(git.branch_head("main").await.expect("head"), Some(second));
        assert!(!lock.exists());
        git_cli(&git, &["fsck", "--strict", "--no-dangling"]);
    }

    #[tokio::test]
    async fn a_writer_holding_an_old_commit_loses_the_compare_and_swap_and_fsck_stays_clean() {
        let (_dir, git) = bare_repository().await;
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
        git_cli(&git, &["fsck", "--strict", "--no-dangling"]);
    }

    #[tokio::test]
    async fn references_and_their_trailers_read_as_git_for_each_ref_lists_them() {
        let (_dir, git) = bare_repository().await;
        assert_eq!(git_cli(&git, &["symbolic-ref", "HEAD"]), "refs/heads/main");
        let first = git.commit_files(None, &[], "first").await.expect("commit");
        let decided = git
            .commit_files(
                Some(&first),
                &[],
                "Close p-2: rejected\n\nPromotion-Id: p-2\nDecided-By: alice\nreason: one\nReason: two",
            )
            .await
            .expect("commit");
        git.set_ref("refs/closed/promote/dev/b/p-2", &decided)
            .await
            .expect("ref");
        git.set_ref("refs/closed/promote/dev/a/p-1", &first)
            .await
            .expect("ref");
        git.set_ref("refs/heads/main", &first).await.expect("ref");

        let tips = git.refs_under("refs/closed/promote/").await.expect("refs");
        let ours: Vec<String> = tips
            .iter()
            .map(|tip| {
                format!(
                    "{} {} {}|{}|{}",
                    tip.name,
                    tip.commit,
                    tip.unix_seconds,
                    objects::trailer_values(&tip.message, "Decided-By"),
                    objects::trailer_values(&tip.message, "Reason"),
                )
            })
            .collect();
        let listed = git_cli(
            &git,
            &[
                "for-each-ref",
                "--sort=committerdate",
                "--format=%(refname) %(objectname) %(committerdate:unix)|%(trailers:key=Decided-By,valueonly,separator=%x2C)|%(trailers:key=Reason,valueonly,separator=%x2C)",
                "refs/closed/promote/",
            ],
        );
        assert_eq!(ours.join("\n"), listed);
        git_cli(&git, &["fsck", "--strict", "--no-dangling"]);
    }

    #[tokio::test]
    async fn commits_with_a_trailer_and_what_they_wrote_read_as_git_log_raw_shows_them() {
        let (_dir, git) = bare_repository().await;
        let file = |path: &str, text: &str| vec![(path.to_owned(), text.as_bytes().to_vec())];
        let steps = [
            (file("config/environments.yaml", "e\n"), "Initial"),
            (
                file("environments/dev/a.yaml", "a1\n"),
                "Promote a\n\nPromotion-Id: p-1",
            ),
            (
                file("environments/dev/a.yaml", "a2\n"),
                "Promote a\n\nPromotion-Id: p-2",
            ),
            (
                file("environments/dev/stores/s.yaml", "s\n"),
                "Add s\n\nPromotion-Id: p-3",
            ),
            (file("README.md", "r\n"), "By hand"),
            (Vec::new(), "Nothing written\n\nPromotion-Id: p-4"),
        ];
        let mut parent: Option<String> = None;
        for (files, message) in steps {
            parent = Some(
                git.commit_files(parent.as_deref(), &files, message)
                    .await
                    .expect("commit"),
            );
        }
        git.set_ref("refs/heads/main", parent.as_deref().expect("a commit"))
            .await
            .expect("main");

        let ours: Vec<String> = git
            .commits_with_trailer("main", "Promotion-Id")
            .await
            .expect("scan")
            .into_iter()
            .map(|commit| {
                let written: Vec<String> = commit
                    .written
                    .iter()
                    .map(|(path, blob)| format!("{blob} {path}"))
                    .collect();
                format!(
                    "{} {} [{}]",
                    commit.commit,
                    commit.value,
                    written.join(", ")
                )
            })
            .collect();
        let log = git_cli(
            &git,
            &[
                "log",
                "--format=%x1e%H %(trailers:key=Promotion-Id,valueonly,separator=%x2C)",
                "--raw",
                "--no-abbrev",
                "--no-renames",
                "main",
            ],
        );
        let theirs: Vec<String> = log
            .split('\u{1e}')
            .filter_map(|entry| {
                let mut lines = entry.lines().filter(|line| !line.trim().is_empty());
                let header = lines.next()?.trim().to_owned();
                let (_, value) = header.split_once(' ')?;
                (!value.is_empty()).then(|| {
                    // `:100644 100644 <old> <new> M\t<path>`
                    let written: Vec<String> = lines
                        .filter_map(|line| {
                            let (fields, path) = line.strip_prefix(':')?.split_once('\t')?;
                            Some(format!("{} {path}", fields.split(' ').nth(3)?))
                        })
                        .collect();
                    format!("{header} [{}]", written.join(", "))
                })
            })
            .collect();
        assert_eq!(ours.len(), 4, "{ours:#?}");
        assert_eq!(ours, theirs);
    }
}
