//! Runs `git` against one bare repository: plumbing commands with a clean environment,
//! so the user's `GIT_DIR`, hooks or pager never leak in.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
};

use tokio::{io::AsyncWriteExt, process::Command};

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
}

impl From<GitError> for ForgeError {
    fn from(error: GitError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

/// The null object id: "this reference must not exist yet" for `update_ref`.
const NO_COMMIT: &str = "0000000000000000000000000000000000000000";

/// A bare repository driven through the `git` command.
#[derive(Debug, Clone)]
pub struct Git {
    git_dir: PathBuf,
}

impl Git {
    pub fn new(git_dir: impl Into<PathBuf>) -> Self {
        Self {
            git_dir: git_dir.into(),
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
        let reference = format!("refs/heads/{branch}^{{commit}}");
        match self
            .run(&["rev-parse", "--verify", "--quiet", &reference])
            .await
        {
            Ok(commit) => Ok(Some(commit)),
            Err(GitError::Failed { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Paths of the files below `dir` (a repository path ending in `/`) at `revision`.
    pub async fn list_files(&self, revision: &str, dir: &str) -> Result<Vec<String>, GitError> {
        let listing = self
            .run(&["ls-tree", "-r", "--name-only", "-z", revision, "--", dir])
            .await?;
        Ok(listing
            .split('\0')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// The files below `dirs` (repository folders ending in `/`; none: the whole tree) at
    /// `revision`, each with its blob id, in one `ls-tree`.
    pub async fn list_blobs(
        &self,
        revision: &str,
        dirs: &[&str],
    ) -> Result<Vec<(String, String)>, GitError> {
        let mut args = vec!["ls-tree", "-r", "-z", revision];
        if !dirs.is_empty() {
            args.push("--");
            args.extend(dirs);
        }
        let listing = self.run_bytes(&args, None).await?;
        Ok(listing
            .split(|&b| b == 0)
            .filter_map(|entry| {
                let tab = entry.iter().position(|&b| b == b'\t')?;
                let mut fields = std::str::from_utf8(&entry[..tab]).ok()?.split(' ');
                let (_, kind, id) = (fields.next()?, fields.next()?, fields.next()?);
                let path = std::str::from_utf8(&entry[tab + 1..]).ok()?;
                (kind == "blob").then(|| (path.to_owned(), id.to_owned()))
            })
            .collect())
    }

    /// The contents of the objects `ids` (blob ids, or `<commit>:<path>`), in order (`None`
    /// where one is missing), in one `cat-file --batch`.
    pub async fn read_blobs(&self, ids: &[&str]) -> Result<Vec<Option<Vec<u8>>>, GitError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let request: String = ids.iter().map(|id| format!("{id}\n")).collect();
        let output = self
            .run_bytes(&["cat-file", "--batch"], Some(request.as_bytes()))
            .await?;
        parse_batch_output(&output, ids.len()).ok_or_else(|| GitError::Failed {
            command: "cat-file".into(),
            repo: self.git_dir.clone(),
            stderr: "unexpected --batch output".into(),
        })
    }

    /// The contents of `paths` at `revision`, `None` for a path that does not exist. Two
    /// git processes for any number of paths: one `ls-tree` of their folders for the blob
    /// ids, one `cat-file --batch` by id (asking by `<rev>:<path>` would make git walk the
    /// folder again for every file, which is slow for folders of thousands).
    pub async fn read_files(
        &self,
        revision: &str,
        paths: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, GitError> {
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let folders: std::collections::BTreeSet<String> = paths
            .iter()
            .map(|p| {
                p.rsplit_once('/')
                    .map_or(String::new(), |(dir, _)| format!("{dir}/"))
            })
            .collect();
        let dirs: Vec<&str> = if folders.contains("") {
            Vec::new()
        } else {
            folders.iter().map(String::as_str).collect()
        };
        let blobs: std::collections::HashMap<String, String> = self
            .list_blobs(revision, &dirs)
            .await?
            .into_iter()
            .collect();
        let ids: Vec<Option<&str>> = paths
            .iter()
            .map(|p| blobs.get(p).map(String::as_str))
            .collect();
        let found: Vec<&str> = ids.iter().flatten().copied().collect();
        let mut contents = self.read_blobs(&found).await?.into_iter();
        Ok(ids
            .iter()
            .map(|id| id.and_then(|_| contents.next().flatten()))
            .collect())
    }

    /// The newest `limit` commits of `branch`'s first-parent line that changed `path`, each
    /// with its commit time and the blob id `path` has after it (`None` where it was
    /// deleted), in one `git log`: merged side branches never ran on `branch` and are left
    /// out.
    pub async fn file_log(
        &self,
        branch: &str,
        path: &str,
        limit: usize,
    ) -> Result<Vec<FileChange>, GitError> {
        let limit = format!("--max-count={limit}");
        let log = self
            .run(&[
                "log",
                &limit,
                "--first-parent",
                "--no-renames",
                "--raw",
                "--no-abbrev",
                "--format=%H %ct",
                branch,
                "--",
                path,
            ])
            .await?;
        Ok(parse_file_log(&log))
    }

    /// Writes a commit whose tree is `parent`'s tree (or an empty one) with `files` added or
    /// replaced, without moving any branch; returns the new commit. Uses a private
    /// temporary index, so concurrent callers never share state.
    pub async fn commit_files(
        &self,
        parent: Option<&str>,
        files: &[(String, Vec<u8>)],
        message: &str,
    ) -> Result<String, GitError> {
        let scratch = tempfile::tempdir().map_err(|source| GitError::Spawn { source })?;
        let index = scratch.path().join("index");
        let with_index = |args: &[&str]| {
            let mut command = self.command(args);
            command.env("GIT_INDEX_FILE", &index);
            command
        };
        if let Some(parent) = parent {
            self.output(with_index(&["read-tree", parent]), "read-tree", None)
                .await?;
        }
        if !files.is_empty() {
            // Two git processes for any number of files: hash every blob from scratch files,
            // then add every entry to the index.
            let mut blob_paths = String::new();
            for (number, (_, contents)) in files.iter().enumerate() {
                let blob_path = scratch.path().join(format!("blob-{number}"));
                std::fs::write(&blob_path, contents)
                    .map_err(|source| GitError::Spawn { source })?;
                blob_paths.push_str(&format!("{}\n", blob_path.display()));
            }
            let ids = self
                .run_bytes(
                    &["hash-object", "-w", "--stdin-paths"],
                    Some(blob_paths.as_bytes()),
                )
                .await?;
            let ids = String::from_utf8_lossy(&ids);
            if ids.lines().count() != files.len() {
                return Err(GitError::Failed {
                    command: "hash-object".into(),
                    repo: self.git_dir.clone(),
                    stderr: format!("hashed {} of {} files", ids.lines().count(), files.len()),
                });
            }
            let entries: String = ids
                .lines()
                .zip(files)
                .map(|(id, (path, _))| format!("100644 {id}\t{path}\n"))
                .collect();
            let update = with_index(&["update-index", "--add", "--index-info"]);
            self.output(update, "update-index", Some(entries.as_bytes()))
                .await?;
        }
        let tree = self
            .output(with_index(&["write-tree"]), "write-tree", None)
            .await?;
        let tree = String::from_utf8_lossy(&tree).trim().to_owned();
        let mut args = vec!["commit-tree", tree.as_str(), "-m", message];
        if let Some(parent) = parent {
            args.extend(["-p", parent]);
        }
        self.run(&args).await
    }

    /// Moves `reference` to `new` only if it still points at `expected` (`None`: only if it
    /// does not exist yet), so a concurrent writer makes this fail instead of being lost.
    pub async fn update_ref(
        &self,
        reference: &str,
        new: &str,
        expected: Option<&str>,
    ) -> Result<(), GitError> {
        self.run(&["update-ref", reference, new, expected.unwrap_or(NO_COMMIT)])
            .await
            .map(drop)
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

/// Reads `git log --raw --format='%H %ct'` output of one path: a commit line, then its
/// `:old-mode new-mode old-id new-id status\tpath` line.
fn parse_file_log(log: &str) -> Vec<FileChange> {
    let mut changes: Vec<FileChange> = Vec::new();
    for line in log.lines() {
        if let Some(raw) = line.strip_prefix(':') {
            let fields: Vec<&str> = raw
                .split('\t')
                .next()
                .unwrap_or_default()
                .split(' ')
                .collect();
            if let (Some(change), Some(id)) = (changes.last_mut(), fields.get(3)) {
                change.blob = (!id.bytes().all(|b| b == b'0')).then(|| (*id).to_owned());
            }
        } else if let Some((commit, seconds)) = line.split_once(' ') {
            changes.push(FileChange {
                commit: commit.to_owned(),
                unix_seconds: seconds.parse().unwrap_or_default(),
                blob: None,
            });
        }
    }
    changes
}

/// Splits `git cat-file --batch` output into one entry per requested object.
fn parse_batch_output(mut output: &[u8], expected: usize) -> Option<Vec<Option<Vec<u8>>>> {
    let mut contents = Vec::with_capacity(expected);
    while contents.len() < expected {
        let newline = output.iter().position(|&b| b == b'\n')?;
        let header = std::str::from_utf8(&output[..newline]).ok()?;
        output = &output[newline + 1..];
        if header.ends_with(" missing") || header.ends_with(" ambiguous") {
            contents.push(None);
            continue;
        }
        let mut fields = header.split(' ');
        let (_, kind, size) = (
            fields.next()?,
            fields.next()?,
            fields.next()?.parse::<usize>().ok()?,
        );
        let body = output.get(..size)?;
        output = output.get(size + 1..)?;
        contents.push((kind == "blob").then(|| body.to_vec()));
    }
    Some(contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_output_is_split_per_object_with_missing_ones_as_none() {
        let output = b"abc blob 5\nhello\nx:y missing\ndef blob 0\n\n";
        let parsed = parse_batch_output(output, 3).expect("parses");
        assert_eq!(
            parsed,
            vec![Some(b"hello".to_vec()), None, Some(Vec::new())]
        );
    }

    #[test]
    fn a_file_log_gives_each_commit_with_the_blob_it_left_and_none_for_a_deletion() {
        let log = "c2 200\n\n:100644 000000 aaaa 0000000000000000000000000000000000000000 D\tf\nc1 100\n\n:000000 100644 0000000000000000000000000000000000000000 aaaa A\tf\n";
        assert_eq!(
            parse_file_log(log),
            vec![
                FileChange {
                    commit: "c2".into(),
                    unix_seconds: 200,
                    blob: None
                },
                FileChange {
                    commit: "c1".into(),
                    unix_seconds: 100,
                    blob: Some("aaaa".into())
                },
            ]
        );
    }

    #[test]
    fn truncated_batch_output_is_rejected() {
        assert_eq!(parse_batch_output(b"abc blob 50\nshort\n", 1), None);
    }

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
    async fn thousands_of_files_are_read_in_one_batch_without_blocking_on_pipes() {
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
}
