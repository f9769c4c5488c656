//! Landing and closing pull requests: a squash merge guarded by the head SHA (the
//! squashed commit keeps the `Promotion-Id` trailer), updating a branch that fell behind
//! its base and re-reading its checks first; closing comments why and deletes the branch.

use http::{Method, StatusCode};
use serde_json::json;

use super::{GithubForge, decision_note::closing_comment, reads::entries, unexpected};
use crate::promotion::{
    ChangeRef, CheckOutcome,
    ports::{ChangeState, Decision, Declined, ForgeError, GitForge, PROMOTION_ID_TRAILER},
};

/// How often a merge starts over when the base or the head moved underneath it.
const MERGE_ATTEMPTS: usize = 10;

impl GithubForge {
    pub(super) async fn merge_change(&self, change: &ChangeRef) -> Result<String, ForgeError> {
        let _writing = self.writes.lock().await;
        let mut refusal = String::new();
        for _ in 0..MERGE_ATTEMPTS {
            let pull = self.pull(change).await?;
            match pull.state {
                ChangeState::Merged { commit } => {
                    self.delete_branch(&pull.branch).await?;
                    return Ok(commit);
                }
                ChangeState::Closed => {
                    return Err(ForgeError::NotMergeable {
                        id: change.id.clone(),
                        reason: "it was closed".into(),
                    });
                }
                ChangeState::Open => {}
            }
            let base = self.base_revision().await?;
            if !self.compare_contains(&pull.head, &base).await? {
                self.update_branch(change, &pull.head).await?;
                continue;
            }
            let checks = self.checks(&pull.head).await?;
            if let Some(failed) = checks.iter().find(|c| c.outcome == CheckOutcome::Failure) {
                return Err(ForgeError::NotMergeable {
                    id: change.id.clone(),
                    reason: format!("check {:?} failed: {}", failed.name, failed.description),
                });
            }
            if checks.iter().any(|c| c.outcome == CheckOutcome::Pending) {
                return Err(ForgeError::Unavailable(format!(
                    "waiting for the checks of pull request #{} to finish before merging",
                    change.id
                )));
            }
            let (title, message) = self.squash_message(&pull.number, &pull.title).await?;
            let body = json!({
                "sha": pull.head,
                "merge_method": "squash",
                "commit_title": title,
                "commit_message": message,
            });
            let url = format!("{}/pulls/{}/merge", self.root, pull.number);
            let reply = self.rest.send(Method::PUT, &url, Some(&body)).await?;
            match reply.status {
                StatusCode::OK => {
                    let commit = reply.body["sha"]
                        .as_str()
                        .ok_or_else(|| unexpected(&reply, "report the merged commit"))?
                        .to_owned();
                    self.delete_branch(&pull.branch).await?;
                    tracing::info!(pull = pull.number, %commit, "merged pull request");
                    return Ok(commit);
                }
                // The head moved (409), or the base did and the branch must be updated (405).
                StatusCode::CONFLICT
                | StatusCode::METHOD_NOT_ALLOWED
                | StatusCode::UNPROCESSABLE_ENTITY => {
                    refusal = reply.message();
                    continue;
                }
                _ => return Err(unexpected(&reply, &format!("merge #{}", pull.number))),
            }
        }
        Err(ForgeError::Unavailable(format!(
            "pull request #{} could not be merged yet ({refusal}); will retry",
            change.id
        )))
    }

    /// Brings the base into the pull request's branch (GitHub's "Update branch"), guarded
    /// by the head SHA; a conflict makes the change unmergeable.
    async fn update_branch(&self, change: &ChangeRef, head: &str) -> Result<(), ForgeError> {
        let url = format!("{}/pulls/{}/update-branch", self.root, change.id);
        let body = json!({ "expected_head_sha": head });
        let reply = self.rest.send(Method::PUT, &url, Some(&body)).await?;
        match reply.status {
            status if status.is_success() => Ok(()),
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::CONFLICT
                if reply.message().to_ascii_lowercase().contains("conflict") =>
            {
                Err(ForgeError::NotMergeable {
                    id: change.id.clone(),
                    reason: format!(
                        "it conflicts with {}: {}",
                        self.base_branch,
                        reply.message()
                    ),
                })
            }
            // The head moved since it was read: the next attempt reads it again.
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::CONFLICT => Ok(()),
            _ => Err(unexpected(&reply, &format!("update #{}", change.id))),
        }
    }

    /// The squashed commit's title and message: the branch commit's, which ends with the
    /// `Promotion-Id` trailer.
    async fn squash_message(
        &self,
        number: &u64,
        title: &str,
    ) -> Result<(String, String), ForgeError> {
        let url = format!("{}/pulls/{number}/commits?per_page=100", self.root);
        let reply = self.rest.get(&url).await?;
        if !reply.ok() {
            return Err(unexpected(&reply, "list the pull request's commits"));
        }
        let trailer = format!("{PROMOTION_ID_TRAILER}: ");
        let message = entries(&reply.body)
            .filter_map(|commit| commit["commit"]["message"].as_str())
            .find(|message| message.contains(&trailer))
            .unwrap_or(title);
        let (first, rest) = message.split_once('\n').unwrap_or((message, ""));
        Ok((first.to_owned(), rest.trim_start_matches('\n').to_owned()))
    }

    pub(super) async fn close_change(
        &self,
        change: &ChangeRef,
        reason: &str,
        declined: Option<&Declined>,
    ) -> Result<(), ForgeError> {
        let _writing = self.writes.lock().await;
        let pull = self.pull(change).await?;
        if pull.state == ChangeState::Open {
            let url = format!("{}/issues/{}/comments", self.root, pull.number);
            let body = json!({ "body": closing_comment(reason, declined) });
            let reply = self.rest.send(Method::POST, &url, Some(&body)).await?;
            if !reply.ok() {
                tracing::warn!(pull = pull.number, "cannot comment on the pull request");
            }
            let url = format!("{}/pulls/{}", self.root, pull.number);
            let reply = self
                .rest
                .send(Method::PATCH, &url, Some(&json!({ "state": "closed" })))
                .await?;
            if !reply.ok() {
                return Err(unexpected(&reply, &format!("close #{}", pull.number)));
            }
            tracing::info!(pull = pull.number, %reason, "closed pull request");
        }
        self.delete_branch(&pull.branch).await
    }

    /// Closes the pull request with a comment recording `declined` (read back by a
    /// rebuild). A rejection first asks for a request-changes review carrying the reason;
    /// GitHub refuses one on a pull request its author (dkd's account) opened: then the
    /// closing comment alone says who rejected it and why.
    pub(super) async fn decline_change(
        &self,
        change: &ChangeRef,
        declined: &Declined,
    ) -> Result<(), ForgeError> {
        if declined.decision == Decision::Reject {
            let reviewer = &declined.by;
            let reason = declined.reason.as_deref().unwrap_or_default();
            let _writing = self.writes.lock().await;
            let pull = self.pull(change).await?;
            if pull.state == ChangeState::Open {
                let url = format!("{}/pulls/{}/reviews", self.root, pull.number);
                let body = json!({
                    "event": "REQUEST_CHANGES",
                    "body": format!("Rejected by {reviewer} through dk: {reason}"),
                });
                let reply = self.rest.send(Method::POST, &url, Some(&body)).await?;
                if !reply.ok() {
                    tracing::info!(pull = pull.number, status = %reply.status, "GitHub refused the request-changes review; the closing comment carries the rejection");
                }
            }
        }
        self.close_change(change, &declined.summary(), Some(declined))
            .await
    }

    /// Deletes `branch`; one already gone is fine.
    async fn delete_branch(&self, branch: &str) -> Result<(), ForgeError> {
        if branch.is_empty() || branch == self.base_branch {
            return Ok(());
        }
        let url = format!(
            "{}/git/refs/heads/{}",
            self.root,
            super::rest::encode(branch)
        );
        let reply = self.rest.send(Method::DELETE, &url, None).await?;
        match reply.status {
            status if status.is_success() => Ok(()),
            StatusCode::NOT_FOUND | StatusCode::UNPROCESSABLE_ENTITY => Ok(()),
            _ => Err(unexpected(&reply, &format!("delete branch {branch}"))),
        }
    }
}
