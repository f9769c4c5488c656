//! Packs the embedded repository's loose objects with `git repack`, the one job dkd hands
//! to the `git` command: gix cannot write deltas yet. Every promotion writes its folder's
//! tree again, an entry per package (4 MB at 100,000 packages), and a pack keeps each
//! such tree as a delta of its neighbour: 100 promotions on a home of 100,000 packages
//! took 4.7 MiB packed against about 270 MiB loose.
//!
//! `git repack --geometric=2 -d` packs every loose object, reachable or not, and rolls
//! small packs together: it costs what was written since the last pack, deletes only
//! loose copies of what it packed and prunes nothing, so dkd's writes go on meanwhile.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use tokio::{process::Command, sync::Notify};

use super::Git;

/// Merged change requests between packs, unless `dkd.yaml` says otherwise.
pub(super) const DEFAULT_PACK_EVERY: usize = 50;

/// Packs one repository now and then, one pack at a time, in the background.
#[derive(Debug)]
pub struct Packer {
    git: Git,
    /// The `git` program.
    program: PathBuf,
    /// Merged change requests between packs; 0: never.
    every: usize,
    /// Merged since the last pack started.
    merged: AtomicUsize,
    /// A pack is being made.
    running: AtomicBool,
    /// `git` could not be started: packing is off until dkd restarts (warned once).
    off: AtomicBool,
    /// Told when a pack ends.
    ended: Notify,
}

impl Packer {
    /// Packs `git`'s repository after every `every` merged change requests (0: never).
    pub fn new(git: Git, every: usize) -> Self {
        Self {
            git,
            program: PathBuf::from("git"),
            every,
            merged: AtomicUsize::new(0),
            running: AtomicBool::new(false),
            off: AtomicBool::new(false),
            ended: Notify::new(),
        }
    }

    /// Runs `program` instead of `git` found on `PATH`.
    #[cfg(test)]
    fn with_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }

    /// Counts `count` merged change requests; once `every` have merged since the last
    /// pack, starts one in the background unless one is being made.
    pub fn merged(self: &Arc<Self>, count: usize) {
        if self.every == 0 || self.off.load(Ordering::Relaxed) {
            return;
        }
        if self.merged.fetch_add(count, Ordering::Relaxed) + count < self.every
            || self.running.swap(true, Ordering::AcqRel)
        {
            return;
        }
        self.merged.store(0, Ordering::Relaxed);
        let packer = self.clone();
        tokio::spawn(async move {
            packer.pack().await;
            packer.running.store(false, Ordering::Release);
            packer.ended.notify_waiters();
        });
    }

    /// Makes one pack now, logging how it went: a failed pack loses nothing, the loose
    /// objects stay and the next pack takes them.
    async fn pack(&self) {
        let started = std::time::Instant::now();
        let output = Command::new(&self.program)
            .arg("-C")
            .arg(self.git.git_dir())
            // One thread: dkd keeps the other cores for its answers.
            .args([
                "-c",
                "pack.threads=1",
                "repack",
                "--geometric=2",
                "-d",
                "-q",
            ])
            // As dkd opens the repository: isolated from the user's and system's settings.
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdin(std::process::Stdio::null())
            .output()
            .await;
        match output {
            Ok(output) if output.status.success() => {
                // The packs it rolled together are gone: dkd's handles start anew.
                self.git.reopen();
                tracing::info!(
                    repository = %self.git.git_dir().display(),
                    took_ms = started.elapsed().as_millis(),
                    "packed the deployment repository's loose objects"
                );
            }
            Ok(output) => tracing::warn!(
                repository = %self.git.git_dir().display(),
                status = %output.status,
                stderr = %String::from_utf8_lossy(&output.stderr).trim(),
                "git repack failed; the loose objects stay and the next pack takes them"
            ),
            Err(error) => {
                self.off.store(true, Ordering::Relaxed);
                tracing::warn!(
                    program = %self.program.display(),
                    %error,
                    "cannot run git to pack the deployment repository: its loose objects are not packed (install git and restart dkd)"
                );
            }
        }
    }

    /// Waits until no pack is being made.
    #[cfg(test)]
    pub async fn settled(&self) {
        loop {
            let ended = self.ended.notified();
            if !self.running.load(Ordering::Acquire) {
                return;
            }
            ended.await;
        }
    }

    /// Whether packing was turned off because `git` could not be started.
    #[cfg(test)]
    fn is_off(&self) -> bool {
        self.off.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::gitops::git::tests::{bare_repository, git_cli};

    /// `git count-objects -v`'s `count` (loose objects) and `in-pack`.
    pub(in crate::gitops) fn counted(git: &Git) -> (usize, usize) {
        let text = git_cli(git, &["count-objects", "-v"]);
        let value = |key: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(key))
                .and_then(|v| v.trim().parse().ok())
                .expect("a count")
        };
        (value("count:"), value("in-pack:"))
    }

    /// A repository with `commits` commits on `main`, each replacing one of 200 files,
    /// and one commit no reference reaches (in a folder removed with the guard).
    async fn repository(commits: usize) -> (tempfile::TempDir, Git, String, String) {
        let (dir, git) = bare_repository().await;
        let files: Vec<_> = (0..200)
            .map(|i| (format!("environments/dev/pkg-{i}.yaml"), b"v0\n".to_vec()))
            .collect();
        let mut head = git.commit_files(None, &files, "seed").await.expect("seed");
        for i in 0..commits {
            let file = (format!("environments/dev/pkg-{}.yaml", i % 200), {
                format!("v{i}\n").into_bytes()
            });
            head = git
                .commit_files(Some(&head), &[file], &format!("promotion {i}"))
                .await
                .expect("commit");
        }
        git.update_ref("refs/heads/main", &head, None)
            .await
            .expect("main");
        let dangling = git
            .commit_files(Some(&head), &[("x.yaml".into(), b"x\n".to_vec())], "lost")
            .await
            .expect("dangling");
        (dir, git, head, dangling)
    }

    #[tokio::test]
    async fn a_pack_takes_every_loose_object_and_leaves_each_readable() {
        let (_dir, git, head, dangling) = repository(30).await;
        let (loose, packed) = counted(&git);
        assert!(loose > 60 && packed == 0, "{loose} loose, {packed} packed");

        let packer = Arc::new(Packer::new(git.clone(), 3));
        packer.merged(2);
        packer.settled().await;
        assert_eq!(counted(&git), (loose, 0), "not yet: 2 of 3 merged");
        packer.merged(1);
        packer.settled().await;

        assert_eq!(counted(&git), (0, loose), "every object packed, none lost");
        // dkd's open handle, made before the pack, finds blobs it never read (so never
        // cached) in the new pack, the one only a dangling commit holds too.
        let read = |revision: String, path: &str| {
            let (git, path) = (git.clone(), vec![path.to_owned()]);
            async move { git.read_files(&revision, &path).await.expect("read") }
        };
        let pkg = read(head, "environments/dev/pkg-29.yaml").await;
        assert_eq!(pkg, vec![Some(b"v29\n".to_vec())]);
        assert_eq!(read(dangling, "x.yaml").await, vec![Some(b"x\n".to_vec())]);
        git_cli(&git, &["fsck", "--strict", "--no-dangling"]);
    }

    /// Repacks by another process (a user's `git gc`, `gc --auto` after a push) replace
    /// packs under dkd's open handles more times than gix's object store has slots (32).
    #[tokio::test]
    async fn a_handle_reads_on_through_many_packs_made_under_it() {
        let (_dir, git, mut head, _) = repository(0).await;
        for round in 0..60 {
            let files: Vec<_> = (0..3)
                .map(|i| {
                    (
                        format!("r{round}/{i}.yaml"),
                        format!("{round}.{i}\n").into_bytes(),
                    )
                })
                .collect();
            let tip = git
                .commit_files(Some(&head), &files, "round")
                .await
                .expect("commit");
            git.update_ref("refs/heads/main", &tip, Some(&head))
                .await
                .expect("main");
            head = tip;
            // As a user or `git gc --auto` after a push would.
            git_cli(&git, &["repack", "--geometric=2", "-d", "-q"]);
            let paths: Vec<_> = files.iter().map(|(path, _)| path.clone()).collect();
            let read = git.read_files(&head, &paths).await;
            let read = read.unwrap_or_else(|error| panic!("round {round}: {error}"));
            let expected: Vec<_> = files.into_iter().map(|(_, body)| Some(body)).collect();
            assert_eq!(read, expected, "round {round}");
        }
    }

    #[tokio::test]
    async fn nothing_is_packed_at_zero_or_without_git() {
        let (dir, git, _, _) = repository(3).await;
        let loose = counted(&git).0;
        let never = Arc::new(Packer::new(git.clone(), 0));
        never.merged(1_000);
        never.settled().await;
        assert_eq!(counted(&git), (loose, 0), "0: never");
        let no_git = dir.path().join("no-such-git");
        let without_git = Arc::new(Packer::new(git.clone(), 1).with_program(no_git));
        without_git.merged(1);
        without_git.settled().await;
        assert!(without_git.is_off(), "warned once, then off");
        assert_eq!(counted(&git), (loose, 0), "the objects stay loose");
    }
}
