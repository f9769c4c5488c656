//! What the embedded deployment repository itself records about promotions, so dkd's state
//! database can be rebuilt from it: merges on `main` carrying a `Promotion-Id:` trailer, and
//! open change branches `promote/<env>/<package>/<id>` (`promote/<env>/stores/<store>/<id>`
//! for store changes), and closed ones kept under `refs/closed/promote/…`, topped by a commit
//! recording who rejected or cancelled them and why.

use std::time::{Duration, SystemTime};

use super::{Git, GitError};
use crate::promotion::{
    ChangeRef, parse_change_branch,
    ports::{Decision, Declined, LocalChange, LocalChangeState, RecordedPromotion, RecordedState},
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
        "Close {promotion_id}: {}\n\nPromotion-Id: {promotion_id}\n{DECISION}: {}\n{DECIDED_BY}: {}\n",
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

fn at_unix(seconds: &str) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(seconds.trim().parse().unwrap_or_default())
}

/// Commits on `base` that carry a `Promotion-Id:` trailer, oldest first, each with the
/// manifest it wrote (`None` for one that wrote none: its id stays taken): two git
/// processes.
async fn merged(git: &Git, base: &str) -> Result<Vec<RecordedPromotion>, GitError> {
    let log = git
        .run(&[
            "log",
            "--format=%x1e%H %ct %(trailers:key=Promotion-Id,valueonly,separator=%x2C)",
            "--raw",
            "--no-abbrev",
            "--no-renames",
            base,
        ])
        .await?;
    // (id, commit, time, manifest path and blob)
    let mut found = Vec::new();
    for entry in log.split('\u{1e}').filter(|e| !e.trim().is_empty()) {
        let mut lines = entry.lines();
        let mut header = lines.next().unwrap_or_default().splitn(3, ' ');
        let (commit, time, id) = (
            header.next().unwrap_or_default(),
            header.next().unwrap_or_default(),
            header.next().unwrap_or_default().trim(),
        );
        if id.is_empty() || id.contains(',') {
            continue;
        }
        // `:100644 100644 <old> <new> M\t<path>`: the manifest the merge wrote.
        let written = lines
            .filter_map(|line| {
                let (fields, path) = line.strip_prefix(':')?.split_once('\t')?;
                let blob = fields.split(' ').nth(3)?;
                // environments/<env>/<package>.yaml, or a store's
                // environments/<env>/stores/<store>.yaml.
                let is_manifest = path.starts_with("environments/")
                    && path.ends_with(".yaml")
                    && match path.matches('/').count() {
                        2 => true,
                        3 => path.split('/').nth(2) == Some("stores"),
                        _ => false,
                    };
                (is_manifest && !blob.bytes().all(|b| b == b'0')).then_some((path, blob))
            })
            .next();
        found.push((id, commit, time, written));
    }
    found.reverse();
    let blobs: Vec<&str> = found
        .iter()
        .filter_map(|f| f.3.map(|(_, blob)| blob))
        .collect();
    let mut contents = git.read_blobs(&blobs).await?.into_iter();
    Ok(found
        .into_iter()
        .map(|(id, commit, time, written)| {
            let manifest = written
                .and_then(|_| contents.next().flatten())
                .and_then(|bytes| String::from_utf8(bytes).ok());
            RecordedPromotion {
                promotion_id: id.to_owned(),
                path: written.map(|(path, _)| path.to_owned()).unwrap_or_default(),
                manifest,
                at: at_unix(time),
                state: RecordedState::Merged {
                    commit: commit.to_owned(),
                },
            }
        })
        .collect())
}

/// Change branches under `prefix` (open ones in `refs/heads/promote/`, closed ones kept in
/// `refs/closed/promote/` with the decision that closed them), oldest first: two git
/// processes.
async fn changes(git: &Git, prefix: &str, open: bool) -> Result<Vec<RecordedPromotion>, GitError> {
    let trailer = |key: &str| format!("%(contents:trailers:key={key},valueonly,separator=%x2C)");
    let format = format!(
        "--format=%(refname)%1f%(objectname)%1f%(committerdate:unix)%1f{}%1f{}%1f{}%1f%(contents:subject)",
        trailer(DECISION),
        trailer(DECIDED_BY),
        trailer(REASON),
    );
    let refs = git
        .run(&["for-each-ref", "--sort=committerdate", &format, prefix])
        .await?;
    let mut branches = Vec::new();
    let mut specs = Vec::new();
    for line in refs.lines() {
        let fields: Vec<&str> = line.splitn(7, '\u{1f}').collect();
        let [reference, tip, time, decision, by, reason, subject] = fields[..] else {
            continue;
        };
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
                declined: decision_of(decision, by, reason),
            }
        };
        branches.push((path, promotion_id, at_unix(time), state));
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
/// given again), merged when `base` carries its promotion's trailer.
pub async fn rebuild_change(
    git: &Git,
    base: &str,
    branch: &str,
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
            let Some(commit) = git
                .find_message_line(base, &format!("Promotion-Id: {promotion_id}"))
                .await?
            else {
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
