//! The embedded forge's merges: a batch of change requests stacked on `main` in order, each
//! as it is when it already sits on what comes before it, else rebased there and checked
//! again; then one compare-and-swap of `main` lands them all. A push in between starts the
//! batch over on the new `main`; a change whose check fails stays out and the rest land.

use super::{BASE_REF, GitError, LocalGitForge, MERGE_ATTEMPTS};
use crate::promotion::{
    ChangeRef, CheckOutcome,
    ports::{ForgeError, GitForge, LocalChange, LocalChangeState, MergeAnswer},
};

impl LocalGitForge {
    /// Merges `changes` in order; one answer per change.
    pub(super) async fn merge_batch(&self, changes: &[ChangeRef]) -> Vec<MergeAnswer> {
        let _writing = self.writes.lock().await;
        let mut answers: Vec<Option<MergeAnswer>> = vec![None; changes.len()];
        let mut open = Vec::new();
        for (index, change) in changes.iter().enumerate() {
            match self.record(&change.id).await {
                Ok(record) => match &record.state {
                    LocalChangeState::Open => open.push((index, record)),
                    LocalChangeState::Merged { commit } => {
                        answers[index] = Some(Ok(commit.clone()))
                    }
                    LocalChangeState::Closed => {
                        answers[index] = Some(Err(not_mergeable(change, "it was closed")));
                    }
                },
                Err(error) => answers[index] = Some(Err(error)),
            }
        }
        for _ in 0..MERGE_ATTEMPTS {
            if open.is_empty() {
                break;
            }
            let base = match self.base_revision().await {
                Ok(base) => base,
                Err(error) => {
                    fail_all(&mut answers, &mut open, &error);
                    break;
                }
            };
            let mut tip = base.clone();
            let mut stacked = Vec::new();
            for (index, mut record) in std::mem::take(&mut open) {
                match self.stack(&changes[index], &mut record, &tip).await {
                    Ok(head) => {
                        tip.clone_from(&head);
                        stacked.push(head);
                        open.push((index, record));
                    }
                    Err(error) => answers[index] = Some(Err(error)),
                }
            }
            if open.is_empty() {
                break;
            }
            match self.git.update_ref(BASE_REF, &tip, Some(&base)).await {
                Ok(()) => {
                    self.packer.merged(open.len());
                    for ((index, record), head) in open.drain(..).zip(stacked) {
                        answers[index] = Some(self.land(record, head).await);
                    }
                }
                // Someone pushed to main in between: stack them again on the new base.
                Err(GitError::Failed { .. }) => {}
                Err(other) => fail_all(&mut answers, &mut open, &other.into()),
            }
        }
        answers
            .into_iter()
            .zip(changes)
            .map(|(answer, change)| {
                answer.unwrap_or_else(|| {
                    Err(ForgeError::Unavailable(format!(
                        "main kept moving while merging {}; will retry",
                        change.id
                    )))
                })
            })
            .collect()
    }

    /// Puts `record`'s commit on top of `tip`: as it is when its parent is `tip`, else
    /// committed again there (its branch moved along) and checked again. Returns its head,
    /// valid as a whole from then on.
    async fn stack(
        &self,
        change: &ChangeRef,
        record: &mut LocalChange,
        tip: &str,
    ) -> Result<String, ForgeError> {
        let head = self
            .git
            .branch_head(&record.id)
            .await?
            .ok_or_else(|| not_mergeable(change, "its branch is gone"))?;
        if self.parent_of(&head).await?.as_deref() == Some(tip) {
            if passed(record) {
                self.checks.landed(&head).await;
            }
            return Ok(head);
        }
        let rebased = self.commit_on(record, tip, &head).await?;
        self.git
            .update_ref(&format!("refs/heads/{}", record.id), &rebased, Some(&head))
            .await?;
        let check = self.check(&rebased, &record.paths).await?;
        let failed = check.outcome == CheckOutcome::Failure;
        let reason = check.description.clone();
        record.checks = vec![check];
        self.save(record).await?;
        if failed {
            return Err(not_mergeable(change, &reason));
        }
        if passed(record) {
            self.checks.landed(&rebased).await;
        }
        Ok(rebased)
    }

    /// Records `record` as merged at `head`, which `main` now contains.
    async fn land(&self, mut record: LocalChange, head: String) -> MergeAnswer {
        record.state = LocalChangeState::Merged {
            commit: head.clone(),
        };
        self.save(&record).await?;
        self.delete_branch(&record.id).await?;
        Ok(head)
    }
}

/// Whether every check of `record` passed: its head is then valid as a whole, and a change
/// stacked on it need not check what lies below again.
fn passed(record: &LocalChange) -> bool {
    record
        .checks
        .iter()
        .all(|check| check.outcome == CheckOutcome::Success)
}

fn not_mergeable(change: &ChangeRef, reason: &str) -> ForgeError {
    ForgeError::NotMergeable {
        id: change.id.clone(),
        reason: reason.to_owned(),
    }
}

/// Answers every change still `open` with `error`.
fn fail_all(
    answers: &mut [Option<MergeAnswer>],
    open: &mut Vec<(usize, LocalChange)>,
    error: &ForgeError,
) {
    for (index, _) in open.drain(..) {
        answers[index] = Some(Err(ForgeError::Unavailable(match error {
            ForgeError::Unavailable(message) => message.clone(),
            other => other.to_string(),
        })));
    }
}
