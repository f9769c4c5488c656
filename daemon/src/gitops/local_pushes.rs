//! Noticing pushes to the embedded repository by others (`git push` to `deploy.git`) within
//! milliseconds and without reading git: the files holding `main` are `stat`ed every
//! 20 ms, and any change to them (a moved loose ref, rewritten packed refs) is reported.

use std::{
    fs::Metadata,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use tokio_util::sync::CancellationToken;

/// How often the reference files are looked at: two `stat` calls each time.
const LOOK_EVERY: Duration = Duration::from_millis(20);

/// What a reference file looks like: absent, or its size, change time and inode.
type Look = Option<(u64, SystemTime, u64)>;

fn look(path: &Path) -> Look {
    let metadata: Metadata = std::fs::metadata(path).ok()?;
    Some((
        metadata.len(),
        metadata.modified().ok()?,
        std::os::unix::fs::MetadataExt::ino(&metadata),
    ))
}

/// Calls `moved` soon after the files holding `branch` of the bare repository `git_dir`
/// change, until `stop`. The `stat` calls run on the blocking pool.
pub async fn watch_pushes(
    git_dir: PathBuf,
    branch: &str,
    moved: impl Fn() + Send,
    stop: CancellationToken,
) {
    let files = [
        git_dir.join("refs/heads").join(branch),
        git_dir.join("packed-refs"),
    ];
    let look_all = move || files.iter().map(|file| look(file)).collect::<Vec<Look>>();
    let mut last: Option<Vec<Look>> = None;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(LOOK_EVERY) => {}
        }
        let looker = look_all.clone();
        let Ok(now) = tokio::task::spawn_blocking(looker).await else {
            continue;
        };
        if last.as_ref().is_some_and(|last| *last != now) {
            moved();
        }
        last = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    #[tokio::test]
    async fn a_moved_branch_is_reported_and_nothing_else_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("refs/heads")).expect("refs");
        let main = dir.path().join("refs/heads/main");
        std::fs::write(&main, "a\n").expect("ref");
        let moves = Arc::new(AtomicUsize::new(0));
        let stop = CancellationToken::new();
        let watcher = tokio::spawn({
            let (moves, stop, git_dir) = (moves.clone(), stop.clone(), dir.path().to_owned());
            async move {
                watch_pushes(
                    git_dir,
                    "main",
                    move || {
                        moves.fetch_add(1, Ordering::SeqCst);
                    },
                    stop,
                )
                .await;
            }
        });
        tokio::time::sleep(LOOK_EVERY * 5).await;
        assert_eq!(moves.load(Ordering::SeqCst), 0, "nothing moved yet");
        // As git writes a ref: a new file renamed over the old one.
        let lock = dir.path().join("refs/heads/main.lock");
        std::fs::write(&lock, "b\n").expect("lock");
        std::fs::rename(&lock, &main).expect("rename");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while moves.load(Ordering::SeqCst) == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the push was never reported"
            );
            tokio::time::sleep(LOOK_EVERY).await;
        }
        stop.cancel();
        watcher.await.expect("the watcher stops");
    }
}
