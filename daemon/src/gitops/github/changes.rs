//! Change requests on GitHub: a branch off the base, one commit per file written through
//! the contents API (SHA preconditions), a pull request with labels; status from reviews,
//! commit statuses and check runs; a squash merge guarded by the head SHA, updating a
//! branch that fell behind first; closing with a comment and deleting the branch.

use std::collections::BTreeMap;

use base64::Engine as _;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{GithubForge, reads::entries, rest::encode, unexpected};
use crate::promotion::{
    Approval, Approver, ChangeRef, Check, CheckOutcome,
    ports::{ChangeProposal, ChangeState, ChangeStatus, ForgeError, GitForge},
};

/// How often a write is retried when GitHub reports it stale (409/422).
const WRITE_ATTEMPTS: usize = 10;

/// The parts of a pull request dkd reads.
pub(super) struct Pull {
    pub(super) number: u64,
    pub(super) state: ChangeState,
    pub(super) head: String,
    pub(super) author: String,
    pub(super) title: String,
    pub(super) url: String,
    pub(super) branch: String,
}

impl Pull {
    pub(super) fn from_json(body: &Value) -> Option<Self> {
        let state = if body["merged"].as_bool() == Some(true) || !body["merged_at"].is_null() {
            ChangeState::Merged {
                commit: body["merge_commit_sha"].as_str()?.to_owned(),
            }
        } else if body["state"] == "closed" {
            ChangeState::Closed
        } else {
            ChangeState::Open
        };
        Some(Self {
            number: body["number"].as_u64()?,
            state,
            head: body["head"]["sha"].as_str()?.to_owned(),
            author: body["user"]["login"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            title: body["title"].as_str().unwrap_or_default().to_owned(),
            url: body["html_url"].as_str().unwrap_or_default().to_owned(),
            branch: body["head"]["ref"].as_str().unwrap_or_default().to_owned(),
        })
    }

    pub(super) fn change_ref(&self) -> ChangeRef {
        ChangeRef {
            id: self.number.to_string(),
            branch: self.branch.clone(),
            title: self.title.clone(),
            url: self.url.clone(),
        }
    }
}

impl GithubForge {
    pub(super) async fn propose(&self, proposal: &ChangeProposal) -> Result<ChangeRef, ForgeError> {
        let _writing = self.writes.lock().await;
        if let Some(pull) = self.pull_for_branch(&proposal.branch).await? {
            return Ok(pull.change_ref());
        }
        // A crash after creating the branch leaves it: reuse it rather than failing.
        if self.head_of(&proposal.branch).await?.is_none() {
            let base = self.base_revision().await?;
            let body = json!({ "ref": format!("refs/heads/{}", proposal.branch), "sha": base });
            let reply = self
                .rest
                .send(
                    Method::POST,
                    &format!("{}/git/refs", self.root),
                    Some(&body),
                )
                .await?;
            if !reply.ok() && reply.status != StatusCode::UNPROCESSABLE_ENTITY {
                return Err(unexpected(
                    &reply,
                    &format!("create branch {}", proposal.branch),
                ));
            }
        }
        for (path, bytes) in &proposal.files {
            self.write_file(&proposal.branch, path, bytes, &proposal.commit_message)
                .await?;
        }
        let body = json!({
            "title": proposal.title,
            "head": proposal.branch,
            "base": self.base_branch,
            "body": proposal.body,
        });
        let reply = self
            .rest
            .send(Method::POST, &format!("{}/pulls", self.root), Some(&body))
            .await?;
        let pull = match Pull::from_json(&reply.body) {
            Some(pull) if reply.ok() => pull,
            // "A pull request already exists": a crash between opening and returning.
            _ if reply.status == StatusCode::UNPROCESSABLE_ENTITY => self
                .pull_for_branch(&proposal.branch)
                .await?
                .ok_or_else(|| unexpected(&reply, "open the pull request"))?,
            _ => return Err(unexpected(&reply, "open the pull request")),
        };
        if !proposal.labels.is_empty() {
            let body = json!({ "labels": proposal.labels });
            let path = format!("{}/issues/{}/labels", self.root, pull.number);
            let reply = self.rest.send(Method::POST, &path, Some(&body)).await?;
            if !reply.ok() {
                return Err(unexpected(&reply, "label the pull request"));
            }
        }
        tracing::info!(pull = pull.number, url = %pull.url, "opened pull request");
        Ok(pull.change_ref())
    }

    /// Writes `bytes` to `path` on `branch` unless it is already there, retrying when the
    /// branch or the file moved between reading and writing.
    async fn write_file(
        &self,
        branch: &str,
        path: &str,
        bytes: &[u8],
        message: &str,
    ) -> Result<(), ForgeError> {
        for _ in 0..WRITE_ATTEMPTS {
            let existing = self.file_at(branch, path).await?;
            if existing.as_ref().is_some_and(|file| file.bytes == bytes) {
                return Ok(());
            }
            let mut body = json!({
                "message": message,
                "content": base64::engine::general_purpose::STANDARD.encode(bytes),
                "branch": branch,
            });
            if let Some(file) = existing {
                body["sha"] = Value::String(file.sha);
            }
            let url = format!("{}/contents/{}", self.root, encode(path));
            let reply = self.rest.send(Method::PUT, &url, Some(&body)).await?;
            match reply.status {
                status if status.is_success() => return Ok(()),
                StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY => continue,
                _ => return Err(unexpected(&reply, &format!("write {path} on {branch}"))),
            }
        }
        Err(ForgeError::Unavailable(format!(
            "{branch} kept moving while writing {path}; will retry"
        )))
    }

    async fn pull_for_branch(&self, branch: &str) -> Result<Option<Pull>, ForgeError> {
        let url = format!(
            "{}/pulls?head={}&state=all&per_page=10",
            self.root,
            encode(&format!("{}:{branch}", self.owner))
        );
        let reply = self.rest.get(&url).await?;
        if !reply.ok() {
            return Err(unexpected(&reply, "list pull requests"));
        }
        Ok(entries(&reply.body).find_map(Pull::from_json))
    }

    pub(super) async fn pull(&self, change: &ChangeRef) -> Result<Pull, ForgeError> {
        let reply = self
            .rest
            .get(&format!("{}/pulls/{}", self.root, encode(&change.id)))
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(ForgeError::UnknownChange(change.id.clone()));
        }
        Pull::from_json(&reply.body)
            .filter(|_| reply.ok())
            .ok_or_else(|| unexpected(&reply, &format!("read pull request #{}", change.id)))
    }

    pub(super) async fn status(&self, change: &ChangeRef) -> Result<ChangeStatus, ForgeError> {
        let pull = self.pull(change).await?;
        let approvals = self.approvals(&pull).await?;
        let checks = self.checks(&pull.head).await?;
        Ok(ChangeStatus {
            state: pull.state,
            approvals,
            checks,
        })
    }

    /// Reviewers whose latest deciding review approves (comments do not decide).
    async fn approvals(&self, pull: &Pull) -> Result<Vec<Approval>, ForgeError> {
        let url = format!("{}/pulls/{}/reviews?per_page=100", self.root, pull.number);
        let reply = self.rest.get(&url).await?;
        if !reply.ok() {
            return Err(unexpected(&reply, "read the reviews"));
        }
        let mut latest: BTreeMap<String, (String, String, Approval)> = BTreeMap::new();
        for review in entries(&reply.body) {
            let (Some(login), Some(state)) =
                (review["user"]["login"].as_str(), review["state"].as_str())
            else {
                continue;
            };
            if state == "COMMENTED"
                || state == "PENDING"
                || login.eq_ignore_ascii_case(&pull.author)
            {
                continue;
            }
            let at = review["submitted_at"]
                .as_str()
                .and_then(|date| humantime::parse_rfc3339_weak(date).ok())
                .unwrap_or_else(crate::promotion::now);
            let approval =
                Approval::given(&Approver::authenticated(login.to_owned(), Vec::new()), at);
            latest.insert(
                login.to_ascii_lowercase(),
                (login.to_owned(), state.to_owned(), approval),
            );
        }
        let mut approvals: Vec<Approval> = latest
            .into_values()
            .filter(|(_, state, _)| state == "APPROVED")
            .map(|(_, _, approval)| approval)
            .collect();
        approvals.sort_by_key(|approval| approval.at);
        Ok(approvals)
    }

    /// Commit statuses and check runs on `commit`.
    pub(super) async fn checks(&self, commit: &str) -> Result<Vec<Check>, ForgeError> {
        let mut checks = Vec::new();
        let url = format!("{}/commits/{}/status", self.root, encode(commit));
        let reply = self.rest.get(&url).await?;
        if !reply.ok() {
            return Err(unexpected(&reply, "read the commit statuses"));
        }
        for status in entries(&reply.body["statuses"]) {
            let outcome = match status["state"].as_str() {
                Some("success") => CheckOutcome::Success,
                Some("pending") => CheckOutcome::Pending,
                _ => CheckOutcome::Failure,
            };
            checks.push(Check {
                name: status["context"].as_str().unwrap_or("status").to_owned(),
                outcome,
                description: status["description"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            });
        }
        let url = format!(
            "{}/commits/{}/check-runs?per_page=100",
            self.root,
            encode(commit)
        );
        let reply = self.rest.get(&url).await?;
        if !reply.ok() {
            return Err(unexpected(&reply, "read the check runs"));
        }
        for run in entries(&reply.body["check_runs"]) {
            let outcome = match (run["status"].as_str(), run["conclusion"].as_str()) {
                (Some("completed"), Some("success" | "neutral" | "skipped")) => {
                    CheckOutcome::Success
                }
                (Some("completed"), _) => CheckOutcome::Failure,
                _ => CheckOutcome::Pending,
            };
            let description = [&run["output"]["title"], &run["output"]["summary"]]
                .into_iter()
                .find_map(|text| text.as_str().filter(|t| !t.is_empty()))
                .or(run["conclusion"].as_str())
                .unwrap_or_default()
                .to_owned();
            checks.push(Check {
                name: run["name"].as_str().unwrap_or("check").to_owned(),
                outcome,
                description,
            });
        }
        Ok(checks)
    }
}
