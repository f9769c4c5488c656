//! What the embedded deployment repository itself records about promotions, so dkd's state
//! database can be rebuilt from it: merges on `main` carrying a `Promotion-Id:` trailer, and
//! open change branches `promote/<env>/<package>/<id>`.

use std::time::{Duration, SystemTime};

use super::{Git, GitError};
use crate::promotion::{
    ChangeRef,
    ports::{LocalChange, LocalChangeState, RecordedPromotion, RecordedState},
};

/// Where change branches live.
const CHANGE_BRANCHES: &str = "refs/heads/promote/";

fn at_unix(seconds: &str) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(seconds.trim().parse().unwrap_or_default())
}

/// The manifest path a change branch `promote/<env>/<package>/<id>` writes, and its id.
pub fn parse_change_branch(branch: &str) -> Option<(String, String)> {
    let mut parts = branch.strip_prefix("promote/")?.split('/');
    let (environment, package, id) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some((
        datakit::manifest::package_manifest_path(environment, package),
        id.to_owned(),
    ))
}

/// Merges on `base` that carry a `Promotion-Id:` trailer, oldest first: two git processes.
async fn merged(git: &Git, base: &str) -> Result<Vec<RecordedPromotion>, GitError> {
    let log = git
        .run(&[
            "log",
            "--format=%x1e%H %ct %(trailers:key=Promotion-Id,valueonly,separator=%x2C)",
            "--raw",
            "--no-abbrev",
            "--no-renames",
            base,
            "--",
            "environments/",
        ])
        .await?;
    // (id, commit, time, path, blob)
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
        let mut written = lines.filter_map(|line| {
            let (fields, path) = line.strip_prefix(':')?.split_once('\t')?;
            let blob = fields.split(' ').nth(3)?;
            let is_manifest = path.matches('/').count() == 2 && path.ends_with(".yaml");
            (is_manifest && !blob.bytes().all(|b| b == b'0')).then_some((path, blob))
        });
        if let Some((path, blob)) = written.next() {
            found.push((id, commit, time, path, blob));
        }
    }
    found.reverse();
    let blobs: Vec<&str> = found.iter().map(|f| f.4).collect();
    let contents = git.read_blobs(&blobs).await?;
    Ok(found
        .into_iter()
        .zip(contents)
        .filter_map(|((id, commit, time, path, _), bytes)| {
            Some(RecordedPromotion {
                promotion_id: id.to_owned(),
                path: path.to_owned(),
                manifest: String::from_utf8(bytes?).ok()?,
                at: at_unix(time),
                state: RecordedState::Merged {
                    commit: commit.to_owned(),
                },
            })
        })
        .collect())
}

/// Open change branches, oldest first: two git processes.
async fn open(git: &Git) -> Result<Vec<RecordedPromotion>, GitError> {
    let refs = git
        .run(&[
            "for-each-ref",
            "--sort=committerdate",
            "--format=%(refname:strip=2) %(objectname) %(committerdate:unix) %(contents:subject)",
            CHANGE_BRANCHES,
        ])
        .await?;
    let mut branches = Vec::new();
    let mut specs = Vec::new();
    for line in refs.lines() {
        let mut fields = line.splitn(4, ' ');
        let (Some(branch), Some(tip), Some(time)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Some((path, promotion_id)) = parse_change_branch(branch) else {
            continue;
        };
        specs.push(format!("{tip}:{path}"));
        branches.push((
            ChangeRef {
                id: branch.to_owned(),
                branch: branch.to_owned(),
                title: fields.next().unwrap_or_default().to_owned(),
                url: String::new(),
            },
            path,
            promotion_id,
            at_unix(time),
        ));
    }
    let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
    let contents = git.read_blobs(&specs).await?;
    Ok(branches
        .into_iter()
        .zip(contents)
        .filter_map(|((change, path, promotion_id, at), bytes)| {
            Some(RecordedPromotion {
                promotion_id,
                path,
                manifest: String::from_utf8(bytes?).ok()?,
                at,
                state: RecordedState::Open { change },
            })
        })
        .collect())
}

/// Every promotion the repository records, merged ones first, oldest first.
pub async fn recorded_promotions(
    git: &Git,
    base: &str,
) -> Result<Vec<RecordedPromotion>, GitError> {
    let mut recorded = merged(git, base).await?;
    recorded.extend(open(git).await?);
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
    let state = match git.branch_head(branch).await? {
        Some(_) => LocalChangeState::Open,
        None => {
            let pattern = format!("--grep=^Promotion-Id: {promotion_id}$");
            let commit = git
                .run(&["log", "-1", "--format=%H", &pattern, base])
                .await?;
            if commit.is_empty() {
                return Ok(None);
            }
            LocalChangeState::Merged { commit }
        }
    };
    let (commit_message, created_at) = match git.branch_head(branch).await? {
        Some(tip) => {
            let message = git.run(&["log", "-1", "--format=%B", &tip]).await?;
            let time = git.run(&["log", "-1", "--format=%ct", &tip]).await?;
            (format!("{message}\n"), at_unix(&time))
        }
        None => (String::new(), crate::promotion::now()),
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
