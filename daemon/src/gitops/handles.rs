//! The repository handles `Git` runs its operations on: the repository is opened once and
//! shared, a few handles wait between calls with their object caches, and the repository
//! is opened again when packs changed under it.
//!
//! gix's object store keeps a fixed number of slots for pack indices and loses track of
//! objects once repacks (dkd's own, a user's `git gc`, `gc --auto` after a push) have
//! replaced more packs than it has slots: lookups then fail until it is opened anew.

use std::{
    path::{Path, PathBuf},
    sync::{Mutex, MutexGuard, PoisonError},
};

use super::objects::ObjectsError;

/// How many decoded objects one repository handle keeps: a folder of 100,000 manifests is
/// one tree of about 4 MB, and a push's examination and application read the same few.
const OBJECT_CACHE_BYTES: usize = 16 * 1024 * 1024;

/// How many idle repository handles (each with its object cache) are kept between calls.
const IDLE_HANDLES: usize = 2;

#[derive(Debug, Default)]
struct Pool {
    /// Opened on first use, then shared: its packs and references stay open.
    shared: Option<gix::ThreadSafeRepository>,
    /// Handles between calls, so the trees one call decoded are still decoded for the next.
    idle: Vec<gix::Repository>,
    /// Counts replacements of `shared`: a handle of an older one is not kept.
    generation: u64,
}

/// The handles of one bare repository. Its methods block: call them on the blocking pool.
#[derive(Debug)]
pub(super) struct Handles {
    git_dir: PathBuf,
    pool: Mutex<Pool>,
}

impl Handles {
    pub(super) fn new(git_dir: PathBuf) -> Self {
        Self {
            git_dir,
            pool: Mutex::default(),
        }
    }

    /// Runs `operation` on a handle. When it fails for anything but a lost
    /// compare-and-swap, it runs once more on the repository opened afresh, which then
    /// replaces the shared one if that run succeeds: the failure was the old view's.
    pub(super) fn run<T>(
        &self,
        operation: impl Fn(&gix::Repository) -> Result<T, ObjectsError>,
    ) -> Result<T, ObjectsError> {
        let (handle, generation) = self.take()?;
        match operation(&handle) {
            Err(error) if !matches!(error, ObjectsError::Conflict(_)) => {
                drop(handle);
                let fresh = open(&self.git_dir)?;
                let handle = with_cache(&fresh);
                let again = operation(&handle);
                if again.is_ok() {
                    tracing::info!(repository = %self.git_dir.display(), %error, "opened the repository again: its packs changed under the old view");
                    self.replace(fresh, handle);
                }
                again
            }
            outcome => {
                self.give_back(handle, generation);
                outcome
            }
        }
    }

    /// Drops the shared repository and the idle handles: the next operation opens the
    /// repository afresh (after a repack replaced its packs).
    pub(super) fn reopen(&self) {
        let mut pool = self.lock();
        pool.shared = None;
        pool.idle.clear();
        pool.generation += 1;
    }

    fn lock(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle handle, or a new one of the shared repository (opened now if need be), and
    /// the generation it belongs to.
    fn take(&self) -> Result<(gix::Repository, u64), ObjectsError> {
        let mut pool = self.lock();
        if let Some(handle) = pool.idle.pop() {
            return Ok((handle, pool.generation));
        }
        let shared = match &pool.shared {
            Some(shared) => shared.clone(),
            None => {
                let opened = open(&self.git_dir)?;
                pool.shared = Some(opened.clone());
                opened
            }
        };
        Ok((with_cache(&shared), pool.generation))
    }

    /// Keeps `handle` for the next call, unless the repository was opened again since.
    fn give_back(&self, handle: gix::Repository, generation: u64) {
        let mut pool = self.lock();
        if pool.generation == generation && pool.idle.len() < IDLE_HANDLES {
            pool.idle.push(handle);
        }
    }

    /// Makes `fresh` the shared repository, with `handle` of it idle.
    fn replace(&self, fresh: gix::ThreadSafeRepository, handle: gix::Repository) {
        let mut pool = self.lock();
        pool.shared = Some(fresh);
        pool.idle.clear();
        pool.idle.push(handle);
        pool.generation += 1;
    }
}

/// Opens `git_dir` isolated: neither the user's nor the system's git configuration applies.
fn open(git_dir: &Path) -> Result<gix::ThreadSafeRepository, ObjectsError> {
    gix::open_opts(git_dir, gix::open::Options::isolated())
        .map(gix::Repository::into_sync)
        .map_err(|error| ObjectsError::Open(error.to_string()))
}

/// A handle of `shared` with its object cache.
fn with_cache(shared: &gix::ThreadSafeRepository) -> gix::Repository {
    let mut handle = shared.to_thread_local();
    handle.object_cache_size(OBJECT_CACHE_BYTES);
    handle
}
