//! Noticing pushes to the embedded repository by others (`git push` to `deploy.git`) the
//! moment they land, without reading git or polling: inotify reports when git renames a
//! new `refs/heads/<branch>` or `packed-refs` into place. An idle dkd pays nothing for it.

use std::{ffi::CStr, mem::MaybeUninit, path::PathBuf};

use rustix::{
    fs::inotify::{self, CreateFlags, Reader, WatchFlags},
    io::Errno,
};
use tokio::io::unix::AsyncFd;
use tokio_util::sync::CancellationToken;

/// What git does when it moves a reference: writes a lock file and renames it into place
/// (or writes the file, or deletes it).
fn reference_written() -> WatchFlags {
    WatchFlags::MOVED_TO | WatchFlags::CREATE | WatchFlags::CLOSE_WRITE | WatchFlags::DELETE
}

/// Calls `moved` soon after `branch` of the bare repository `git_dir` is written by
/// anyone, until `stop`. When inotify is not available, says so once and leaves it to
/// the base-branch follower's poll.
pub async fn watch_pushes(
    git_dir: PathBuf,
    branch: &str,
    moved: impl Fn() + Send,
    stop: CancellationToken,
) {
    let watched = (|| {
        let fd = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC)?;
        let heads = inotify::add_watch(&fd, git_dir.join("refs/heads"), reference_written())?;
        let packed = inotify::add_watch(&fd, &git_dir, reference_written())?;
        // `AsyncFd::new` is deprecated because an arbitrary `AsRawFd` may not own its
        // descriptor for the `AsyncFd`'s lifetime; an `OwnedFd` does, and this workspace
        // forbids the `unsafe` that `AsyncFd::register` needs.
        #[allow(deprecated)]
        let fd = AsyncFd::new(fd)?;
        Ok::<_, std::io::Error>((fd, heads, packed))
    })();
    let (fd, heads, packed) = match watched {
        Ok(watched) => watched,
        Err(error) => {
            tracing::warn!(%error, repository = %git_dir.display(), "cannot watch the repository for pushes; they are noticed at poll_interval_ms");
            stop.cancelled().await;
            return;
        }
    };
    let is_branch = |watch: i32, name: Option<&CStr>| {
        let name = name.map(CStr::to_bytes);
        (watch == heads && name == Some(branch.as_bytes()))
            || (watch == packed && name == Some(b"packed-refs".as_slice()))
    };
    let mut buffer = [MaybeUninit::<u8>::uninit(); 4096];
    loop {
        let mut ready = tokio::select! {
            () = stop.cancelled() => return,
            ready = fd.readable() => match ready {
                Ok(ready) => ready,
                Err(error) => {
                    tracing::warn!(%error, "watching the repository for pushes stopped; they are noticed at poll_interval_ms");
                    return stop.cancelled().await;
                }
            },
        };
        let mut reader = Reader::new(fd.get_ref(), &mut buffer);
        let mut hit = false;
        loop {
            match reader.next() {
                Ok(event) => hit |= is_branch(event.wd(), event.file_name()),
                Err(Errno::AGAIN) => {
                    ready.clear_ready();
                    break;
                }
                Err(Errno::INTR) => {}
                Err(error) => {
                    tracing::warn!(%error, "watching the repository for pushes stopped; they are noticed at poll_interval_ms");
                    return stop.cancelled().await;
                }
            }
        }
        if hit {
            moved();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
        time::Duration,
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
        // Other files, and other branches, are not the branch.
        tokio::time::sleep(Duration::from_millis(100)).await;
        std::fs::write(dir.path().join("refs/heads/other"), "x\n").expect("other branch");
        std::fs::write(dir.path().join("HEAD"), "ref: refs/heads/main\n").expect("HEAD");
        tokio::time::sleep(Duration::from_millis(200)).await;
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
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.cancel();
        watcher.await.expect("the watcher stops");
    }
}
