//! What GitHub records about promotions, so dkd's state database can be rebuilt from it:
//! every pull request from a change branch `promote/<env>/<package>/<id>`, merged or open
//! with the manifest it writes, or closed with the decision dkd's closing comment records.

use std::time::SystemTime;

use serde_json::Value;

use super::{GithubForge, changes::Pull, reads::entries, unexpected};
use crate::promotion::{
    parse_change_branch,
    ports::{ChangeState, ForgeError, RecordedPromotion, RecordedState},
};

/// How many pages of pull requests (100 each) are read: 10,000 promotions.
const PULL_PAGES: u32 = 100;

fn time_of(value: &Value) -> SystemTime {
    value
        .as_str()
        .and_then(|text| humantime::parse_rfc3339_weak(text).ok())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

impl GithubForge {
    /// Merged, open and closed promotion pull requests, oldest first; one request per page
    /// plus one per pull request for its manifest, and one per closed one for its comments.
    pub(super) async fn recorded(&self) -> Result<Vec<RecordedPromotion>, ForgeError> {
        let mut recorded = Vec::new();
        for page in 1..=PULL_PAGES {
            let url = format!(
                "{}/pulls?state=all&sort=created&direction=asc&per_page=100&page={page}",
                self.root
            );
            let reply = self.rest.get(&url).await?;
            if !reply.ok() {
                return Err(unexpected(&reply, "list pull requests"));
            }
            let listed: Vec<&Value> = entries(&reply.body).collect();
            for body in &listed {
                let Some(pull) = Pull::from_json(body) else {
                    continue;
                };
                let Some((path, promotion_id)) = parse_change_branch(&pull.branch) else {
                    continue;
                };
                let (state, revision, at) = match &pull.state {
                    ChangeState::Merged { commit } => (
                        RecordedState::Merged {
                            commit: commit.clone(),
                        },
                        commit.clone(),
                        time_of(&body["merged_at"]),
                    ),
                    ChangeState::Open => (
                        RecordedState::Open {
                            change: pull.change_ref(),
                        },
                        pull.head.clone(),
                        time_of(&body["created_at"]),
                    ),
                    // Closed: restored as rejected or cancelled by whom dkd's closing
                    // comment says, or as closed by hand.
                    ChangeState::Closed => (
                        RecordedState::Closed {
                            declined: self.closing_decision(pull.number, &pull.author).await?,
                        },
                        pull.head.clone(),
                        time_of(&body["closed_at"]),
                    ),
                };
                let manifest = if revision.is_empty() {
                    None
                } else {
                    self.file_at(&revision, &path)
                        .await?
                        .map(|file| String::from_utf8_lossy(&file.bytes).into_owned())
                };
                recorded.push(RecordedPromotion {
                    promotion_id,
                    path,
                    manifest,
                    at,
                    state,
                });
            }
            if listed.len() < 100 {
                break;
            }
        }
        recorded.sort_by_key(|r| (!matches!(r.state, RecordedState::Merged { .. }), r.at));
        Ok(recorded)
    }
}
