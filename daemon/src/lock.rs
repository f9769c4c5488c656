//! One `dkd` per `DK_HOME`: an exclusive lock on `DK_HOME/dkd.lock`, taken before anything
//! else is touched, so a second daemon leaves the first one's socket and database alone.

use std::{
    fs::{File, OpenOptions, TryLockError},
    io::{self, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another dkd is already running for {home}{pid}: stop it first, or set DK_HOME to use another home"
    )]
    Held { home: PathBuf, pid: String },
    #[error("cannot lock {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// How long a held lock is retried: after `kill -9`, a child the dead dkd had just forked
/// holds its descriptors (the lock included) until it execs.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

fn try_lock_patiently(file: &File) -> Result<(), TryLockError> {
    let deadline = std::time::Instant::now() + LOCK_PATIENCE;
    loop {
        match file.try_lock() {
            Err(TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// The held lock; released when dropped or when the process dies.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

impl InstanceLock {
    /// Takes the lock at `path` without waiting and records this process's pid in it.
    pub fn acquire(path: &Path) -> Result<Self, LockError> {
        let io_error = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_error)?;
        match try_lock_patiently(&file) {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                // Best effort: the pid only makes the message more useful.
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                let home = path.parent().unwrap_or(path).to_path_buf();
                let pid = if pid.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {pid})")
                };
                return Err(LockError::Held { home, pid });
            }
            Err(TryLockError::Error(source)) => return Err(io_error(source)),
        }
        file.set_len(0).map_err(io_error)?;
        file.seek(SeekFrom::Start(0)).map_err(io_error)?;
        writeln!(file, "{}", std::process::id()).map_err(io_error)?;
        file.sync_all().map_err(io_error)?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_home_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dkd.lock");
        let _first = InstanceLock::acquire(&path).expect("first lock");
        let second = InstanceLock::acquire(&path).expect_err("second lock must fail");
        let message = second.to_string();
        assert!(message.contains("already running"), "{message}");
        assert!(
            message.contains(&std::process::id().to_string()),
            "{message}"
        );
    }

    #[test]
    fn the_lock_is_free_again_once_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dkd.lock");
        drop(InstanceLock::acquire(&path).expect("first lock"));
        // A process forked by a concurrent test holds a copy of the descriptor until its
        // exec closes it, so the release may take a moment to be seen.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while let Err(error) = InstanceLock::acquire(&path) {
            assert!(
                std::time::Instant::now() < deadline,
                "lock after release: {error}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
