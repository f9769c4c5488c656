//! Merges into the base branch, one batch at a time: each merge waits for its turn, and the
//! one that gets it lands every change waiting by then, in the order they came, in one go
//! (`GitForge::merge_all`: one update of the base branch on the embedded forge, with
//! leadership checked once, right before). A change waiting twice is merged once, and
//! both get its answer.

use std::sync::{Mutex as StdMutex, PoisonError};

use tokio::sync::{
    Mutex,
    oneshot::{self, error::TryRecvError},
};

use crate::promotion::{ChangeRef, PromotionError, ports::MergeAnswer};

/// What a merge comes back with: the forge's answer, or why its batch did not reach the
/// forge (this replica stopped leading, or the batch was interrupted).
pub type Merged = Result<MergeAnswer, PromotionError>;

/// A change waiting for a turn, and where its answer goes.
struct Waiting {
    change: ChangeRef,
    answer: oneshot::Sender<Merged>,
}

/// The merges waiting for the base branch, and the turn to land them.
#[derive(Default)]
pub struct MergeQueue {
    waiting: StdMutex<Vec<Waiting>>,
    turn: Mutex<()>,
}

impl MergeQueue {
    /// Merges `change` with the others waiting by the time a turn comes: `land` lands a
    /// batch, one answer per change in order, or refuses it whole (this process may no
    /// longer write).
    pub async fn merge(
        &self,
        change: ChangeRef,
        land: impl AsyncFnOnce(&[ChangeRef]) -> Result<Vec<MergeAnswer>, PromotionError>,
    ) -> Merged {
        let (answer, mut answered) = oneshot::channel();
        self.lock_waiting().push(Waiting { change, answer });
        let _turn = tokio::select! {
            biased;
            merged = &mut answered => return merged.unwrap_or_else(|_| Err(interrupted())),
            turn = self.turn.lock() => turn,
        };
        // A turn that ended just now may have landed this change too.
        match answered.try_recv() {
            Ok(merged) => return merged,
            Err(TryRecvError::Closed) => return Err(interrupted()),
            Err(TryRecvError::Empty) => {}
        }
        // Nobody took this change: every turn answers what it takes before it ends.
        let batch = std::mem::take(&mut *self.lock_waiting());
        let (changes, answers) = distinct(batch);
        if changes.len() > 1 {
            tracing::debug!(
                merges = changes.len(),
                "landing merges that were ready together"
            );
        }
        let merged: Vec<Merged> = match land(&changes).await {
            Ok(answers) => answers.into_iter().map(Ok).collect(),
            Err(refused) => changes.iter().map(|_| Err(refused.clone())).collect(),
        };
        for (change, answer) in answers {
            // A caller that went away finds the landed merge by its trailer next time; one
            // the forge left without an answer tries again.
            let merged = merged.get(change).cloned();
            let _ = answer.send(merged.unwrap_or_else(|| Err(interrupted())));
        }
        answered.try_recv().unwrap_or_else(|_| Err(interrupted()))
    }

    fn lock_waiting(&self) -> std::sync::MutexGuard<'_, Vec<Waiting>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The distinct changes of `batch` in the order they came, and where each answer goes: the
/// index of its change, so a change that waits twice is merged once.
fn distinct(batch: Vec<Waiting>) -> (Vec<ChangeRef>, Vec<(usize, oneshot::Sender<Merged>)>) {
    let mut changes: Vec<ChangeRef> = Vec::with_capacity(batch.len());
    let mut answers = Vec::with_capacity(batch.len());
    for waiting in batch {
        let index = match changes.iter().position(|c| c.id == waiting.change.id) {
            Some(index) => index,
            None => {
                changes.push(waiting.change);
                changes.len() - 1
            }
        };
        answers.push((index, waiting.answer));
    }
    (changes, answers)
}

/// The turn that took a change ended without an answer for it (its task was stopped): the
/// merge may or may not have landed, which the next attempt finds out.
fn interrupted() -> PromotionError {
    PromotionError::Unavailable(
        "the merge it was batched with stopped before answering; it is tried again".into(),
    )
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use tokio::sync::Notify;

    use super::*;
    use crate::promotion::ports::ForgeError;

    fn change(id: &str) -> ChangeRef {
        ChangeRef {
            id: id.into(),
            branch: id.into(),
            title: id.into(),
            url: String::new(),
        }
    }

    /// What the forge would answer: "bad" fails its check, the rest merge.
    fn answers(changes: &[ChangeRef]) -> Vec<MergeAnswer> {
        changes
            .iter()
            .map(|change| match change.id.as_str() {
                "bad" => Err(ForgeError::NotMergeable {
                    id: change.id.clone(),
                    reason: "its check failed".into(),
                }),
                id => Ok(format!("commit-{id}")),
            })
            .collect()
    }

    async fn within<T>(future: impl Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(10), future)
            .await
            .expect("in time")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn merges_that_wait_for_a_turn_land_together_once_each_with_its_own_answer() {
        let queue = Arc::new(MergeQueue::default());
        let batches = Arc::new(StdMutex::new(Vec::<Vec<String>>::new()));
        let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let merge = |id: &'static str| {
            let (queue, batches) = (queue.clone(), batches.clone());
            let (entered, release) = (entered.clone(), release.clone());
            tokio::spawn(async move {
                queue
                    .merge(change(id), async |changes: &[ChangeRef]| {
                        let first = {
                            let mut batches = batches.lock().expect("batches");
                            batches.push(changes.iter().map(|c| c.id.clone()).collect());
                            batches.len() == 1
                        };
                        if first {
                            entered.notify_one();
                            release.notified().await;
                        }
                        Ok(answers(changes))
                    })
                    .await
            })
        };
        let first = merge("a");
        within(entered.notified()).await;
        // While "a" lands, three more wait, "b" twice; they land in one batch after it,
        // "b" once.
        let waiting: Vec<_> = ["b", "bad", "c", "b"].map(|id| (id, merge(id))).into();
        within(async {
            while queue.lock_waiting().len() < 4 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        release.notify_one();
        let landed = within(first).await.expect("task").expect("not refused");
        assert_eq!(landed.expect("merged"), "commit-a");
        for (id, task) in waiting {
            let answer = within(task).await.expect("task").expect("not refused");
            match id {
                "bad" => assert!(matches!(answer, Err(ForgeError::NotMergeable { .. }))),
                id => assert_eq!(answer.expect("merged"), format!("commit-{id}")),
            }
        }
        let batches = batches.lock().expect("batches").clone();
        assert_eq!(batches.len(), 2, "one batch after the first: {batches:?}");
        assert_eq!(batches[0], ["a"]);
        let mut second = batches[1].clone();
        second.sort();
        assert_eq!(second, ["b", "bad", "c"]);
    }

    #[tokio::test]
    async fn a_change_the_forge_left_without_an_answer_is_told_to_try_again() {
        let queue = MergeQueue::default();
        let answer = queue
            .merge(change("a"), async |_: &[ChangeRef]| Ok(Vec::new()))
            .await;
        assert_eq!(answer.err(), Some(interrupted()));
    }

    #[tokio::test]
    async fn a_refused_batch_lands_nothing_and_says_why() {
        let queue = MergeQueue::default();
        let refused = PromotionError::Unavailable("this dkd replica does not lead now".into());
        let answer = queue
            .merge(change("a"), async |_: &[ChangeRef]| Err(refused.clone()))
            .await;
        assert_eq!(answer.err(), Some(refused));
    }
}
