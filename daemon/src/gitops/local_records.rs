//! What the embedded deployment repository itself records about promotions, so dkd's state
//! database can be rebuilt from it: merges on `main` carrying a `Promotion-Id:` trailer, and
//! open change branches `promote/<env>/<package>/<id>` (`promote/<env>/stores/<store>/<id>`
//! for store changes), and closed ones kept under `refs/closed/promote/…`, topped by a commit
//! recording who rejected or cancelled them and why.

use std::time::{Duration, SystemTime};

use super::{Git, GitError, local_landed::LandedIndex, objects::trailer_values};
use crate::promotion::{
    ChangeRef, parse_change_branch,
    ports::{
        Decision, Declined, LocalChange, LocalChangeState, PROMOTION_ID_TRAILER, RecordedPromotion,
        RecordedState,
    },
};

/// Where change branches live.
const CHANGE_BRANCHES: &str = "refs/heads/promote/";
/// Where the branches of closed change requests are kept, so their ids stay taken.
pub const CLOSED_CHANGES: &str = "refs/closed/promote/";

/// Trailers of the commit that records a decision on top of a closed change's branch tip.
const DECISION: &str = "Promotion-Decision";
const DECIDED_BY: &str = "Decided-By";
const REASON: &str = "Reason";

/// The message of the commit kept under `refs/closed/…` when a person closed the change
/// for promotion `promotion_id`: its tree is the branch tip's, the trailers are the record.
pub fn decision_message(promotion_id: &str, declined: &Declined) -> String {
    let one_line = |text: &str| text.replace(['\n', '\r'], " ");
    let mut message = format!(
        "Close {promotion_id}: {}\n\n{PROMOTION_ID_TRAILER}: {promotion_id}\n{DECISION}: {}\n{DECIDED_BY}: {}\n",
        one_line(&declined.summary()),
        declined.decision.past(),
        one_line(&declined.by),
    );
    if let Some(reason) = &declined.reason {
        message.push_str(&format!("{REASON}: {}\n", one_line(reason)));
    }
    message
}

/// The decision the trailers of a closed change's kept commit record, if any.
fn decision_of(decision: &str, by: &str, reason: &str) -> Option<Declined> {
    let decision = Decision::from_past(decision.trim())?;
    let by = by.trim();
    if by.is_empty() {
        return None;
    }
    let reason = reason.trim();
    Some(Declined {
        decision,
        by: by.to_owned(),
        reason: (!reason.is_empty()).then(|| reason.to_owned()),
    })
}

/// Commits on `base` that carry a `Promotion-Id:` trailer, oldest first, each with the
/// manifest it wrote (`None` for one that wrote none: its id stays taken).
async fn merged(git: &Git, base: &str) -> Result<Vec<RecordedPromotion>, GitError> {
    let mut found: Vec<_> = git
        .commits_with_trailer(base, PROMOTION_ID_TRAILER)
        .await?
        .into_iter()
        .filter(|commit| !commit.value.contains(','))
        .map(|commit| {
            let manifest = commit
                .written
                .iter()
                .find(|(path, _)| is_manifest(path))
                .cloned();
            (commit, manifest)
        })
        .collect();
    found.reverse();
    let blobs: Vec<&str> = found
        .iter()
        .filter_map(|(_, manifest)| manifest.as_ref().map(|(_, blob)| blob.as_str()))
        .collect();
    let mut contents = git.read_blobs(&blobs).await?.into_iter();
    Ok(found
        .into_iter()
        .map(|(commit, written)| {
            let manifest = written
                .as_ref()
                .and_then(|_| contents.next().flatten())
                .and_then(|bytes| String::from_utf8(bytes).ok());
            RecordedPromotion {
                promotion_id: commit.value,
                path: written.map(|(path, _)| path).unwrap_or_default(),
                manifest,
                at: SystemTime::UNIX_EPOCH + Duration::from_secs(commit.unix_seconds),
                state: RecordedState::Merged {
                    commit: commit.commit,
                },
            }
        })
        .collect())
}

/// `environments/<env>/<package>.yaml`, or a store's `environments/<env>/stores/<store>.yaml`.
fn is_manifest(path: &str) -> bool {
    path.starts_with("environments/")
        && path.ends_with(".yaml")
        && match path.matches('/').count() {
            2 => true,
            3 => path.split('/').nth(2) == Some("stores"),
            _ => false,
        }
}

/// Change branches under `prefix` (open ones in `refs/heads/promote/`, closed ones kept in
/// `refs/closed/promote/` with the decision that closed them), oldest first.
async fn changes(git: &Git, prefix: &str, open: bool) -> Result<Vec<RecordedPromotion>, GitError> {
    let tips = git.refs_under(prefix).await?;
    let mut branches = Vec::new();
    let mut specs = Vec::new();
    for tip in &tips {
        let reference = tip.name.as_str();
        let trailer = |key: &str| trailer_values(&tip.message, key);
        let (decision, by, reason) = (trailer(DECISION), trailer(DECIDED_BY), trailer(REASON));
        let subject = tip.message.lines().next().unwrap_or_default();
        let (tip, time) = (tip.commit.as_str(), tip.unix_seconds);
        let Some(branch) = reference
            .strip_prefix("refs/heads/")
            .or_else(|| reference.strip_prefix("refs/closed/"))
        else {
            continue;
        };
        let Some((path, promotion_id)) = parse_change_branch(branch) else {
            continue;
        };
        specs.push(format!("{tip}:{path}"));
        let state = if open {
            RecordedState::Open {
                change: ChangeRef {
                    id: branch.to_owned(),
                    branch: branch.to_owned(),
                    title: subject.to_owned(),
                    url: String::new(),
                },
            }
        } else {
            RecordedState::Closed {
                declined: decision_of(&decision, &by, &reason),
            }
        };
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(time);
        branches.push((path, promotion_id, at, state));
    }
    let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
    let contents = git.read_blobs(&specs).await?;
    Ok(branches
        .into_iter()
        .zip(contents)
        .map(
            |((path, promotion_id, at, state), bytes)| RecordedPromotion {
                promotion_id,
                path,
                manifest: bytes.and_then(|bytes| String::from_utf8(bytes).ok()),
                at,
                state,
            },
        )
        .collect())
}

/// Every promotion the repository records, merged ones first, oldest first.
pub async fn recorded_promotions(
    git: &Git,
    base: &str,
) -> Result<Vec<RecordedPromotion>, GitError> {
    let mut recorded = merged(git, base).await?;
    recorded.extend(changes(git, CHANGE_BRANCHES, true).await?);
    recorded.extend(changes(git, CLOSED_CHANGES, false).await?);
    Ok(recorded)
}

/// The record of change branch `branch`, rebuilt from git when dkd's state database lost
/// it: open while the branch exists (approvals given before are not in git and must be
/// given again), merged when `base` carries its promotion's trailer (`landed` tells).
pub async fn rebuild_change(
    git: &Git,
    base: &str,
    branch: &str,
    landed: &mut LandedIndex,
) -> Result<Option<LocalChange>, GitError> {
    let Some((path, promotion_id)) = parse_change_branch(branch) else {
        return Ok(None);
    };
    let (state, commit_message, created_at) = match git.branch_head(branch).await? {
        Some(tip) => {
            let (time, message) = git.commit_time_and_message(&tip).await?;
            (
                LocalChangeState::Open,
                message,
                SystemTime::UNIX_EPOCH + Duration::from_secs(time),
            )
        }
        None => {
            let Some(commit) = landed.find(git, base, &promotion_id).await? else {
                return Ok(None);
            };
            (
                LocalChangeState::Merged { commit },
                String::new(),
                crate::promotion::now(),
            )
        }
    };
    Ok(Some(LocalChange {
        id: branch.to_owned(),
        promotion_id,
        title: commit_message.lines().next().unwrap_or_default().to_owned(),
        body: String::new(),
        labels: Vec::new(),
        paths: vec![path],
        commit_message,
        state,
        approvals: Vec::new(),
        checks: Vec::new(),
        created_at,
    }))
}
