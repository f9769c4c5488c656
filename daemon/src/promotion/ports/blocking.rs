//! Store writes off the async workers: a store call runs on tokio's blocking pool and the
//! caller waits for it at most `WRITE_DEADLINE`, so a disk that is full or stuck turns
//! into an error the user sees instead of workers (and every RPC) hanging on a flush.

use std::{sync::Arc, time::Duration};

use super::{StoreError, StoreLocation};

/// How long a caller waits for a store write. A healthy write takes milliseconds; one that
/// takes this long is stuck on its disk.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(10);

/// Runs `call` with `store` on the blocking pool and returns its result, or
/// `StoreError::Stalled` after `WRITE_DEADLINE` (the call may still finish later; nothing
/// waits for it).
pub async fn write<S, T>(
    store: &Arc<S>,
    call: impl FnOnce(&S) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError>
where
    S: StoreLocation + ?Sized,
    T: Send + 'static,
{
    write_within(WRITE_DEADLINE, store, call).await
}

async fn write_within<S, T>(
    deadline: Duration,
    store: &Arc<S>,
    call: impl FnOnce(&S) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError>
where
    S: StoreLocation + ?Sized,
    T: Send + 'static,
{
    let running = Arc::clone(store);
    let task = tokio::task::spawn_blocking(move || call(&running));
    match tokio::time::timeout(deadline, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(failed)) => Err(StoreError::Database(format!(
            "a write to {} failed: {failed}",
            store.location()
        ))),
        Err(_) => Err(StoreError::Stalled {
            path: store.location(),
            after: deadline,
        }),
    }
}

/// The error for a write to `store` that could not even start within `WRITE_DEADLINE`
/// (an earlier one still holds its turn).
pub fn stalled(store: &(impl StoreLocation + ?Sized)) -> StoreError {
    StoreError::Stalled {
        path: store.location(),
        after: WRITE_DEADLINE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct SlowDisk;

    impl StoreLocation for SlowDisk {
        fn location(&self) -> String {
            "/slow/state".into()
        }
    }

    #[tokio::test]
    async fn a_write_that_does_not_return_in_time_is_an_error_naming_the_disk() {
        let store = Arc::new(SlowDisk);
        let (release, held) = std::sync::mpsc::channel::<()>();
        let error = write_within(Duration::from_millis(50), &store, move |_| {
            let _ = held.recv();
            Ok(())
        })
        .await
        .expect_err("stalled");
        assert_eq!(
            error.to_string(),
            "writing /slow/state did not finish within 50ms: is the disk full or stuck?"
        );
        drop(release);
    }

    #[test]
    fn the_deadline_reads_in_seconds() {
        assert_eq!(
            stalled(&SlowDisk).to_string(),
            "writing /slow/state did not finish within 10s: is the disk full or stuck?"
        );
    }

    #[tokio::test]
    async fn a_write_that_returns_gives_its_result() {
        let store = Arc::new(SlowDisk);
        let location = write(&store, |disk| Ok(disk.location())).await;
        assert_eq!(location.expect("written"), "/slow/state");
    }
}
