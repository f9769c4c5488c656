//! The fake GitHub's repository endpoints, backed by a real bare git repository: refs
//! (create, delete, fast-forward), trees, contents with blob-SHA preconditions (409 on a
//! stale write), compare, commit lists, commit statuses and check runs (CI runs dkd's own
//! manifest checks on a commit the first time its check runs are asked for).

use std::collections::BTreeMap;

use axum::http::Method;
use base64::Engine as _;
use serde_json::{Value, json};

use super::{
    model::{CheckRecord, Model},
    wire::{Req, Resp, from_epoch, timestamp},
};

pub async fn route(model: &mut Model, req: &Req, rest: &[&str]) -> Resp {
    let tail = |from: usize| rest.get(from..).unwrap_or_default().join("/");
    match (&req.method, rest) {
        (&Method::GET, ["git", "ref", "heads", ..]) => get_ref(model, &tail(3)).await,
        (&Method::POST, ["git", "refs"]) => create_ref(model, req).await,
        (&Method::DELETE, ["git", "refs", "heads", ..]) => delete_ref(model, &tail(3)).await,
        (&Method::PATCH, ["git", "refs", "heads", ..]) => move_ref(model, req, &tail(3)).await,
        (&Method::GET, ["git", "trees", revision]) => tree(model, revision).await,
        (&Method::GET, ["contents", ..]) => get_contents(model, req, &tail(1)).await,
        (&Method::PUT, ["contents", ..]) => put_contents(model, req, &tail(1)).await,
        (&Method::GET, ["compare", range]) => compare(model, range).await,
        (&Method::GET, ["commits"]) => list_commits(model, req).await,
        (&Method::GET, ["commits", sha]) => match commits(model, &[sha], 1, None).await {
            Some(mut list) if !list.is_empty() => Resp::ok(list.remove(0)),
            _ => Resp::error(422, "No commit found for SHA"),
        },
        (&Method::GET, ["commits", sha, "status"]) => combined_status(model, sha).await,
        (&Method::GET, ["commits", sha, "check-runs"]) => check_runs(model, sha).await,
        (&Method::POST, ["statuses", sha]) => create_status(model, req, sha).await,
        _ => Resp::not_found(),
    }
}

/// The commit `revision` (a SHA or a branch) names, if any.
pub async fn resolve(model: &Model, revision: &str) -> Option<String> {
    let spec = format!("{revision}^{{commit}}");
    model
        .git
        .run(&["rev-parse", "--verify", "--quiet", &spec])
        .await
        .ok()
}

pub async fn branch_head(model: &Model, branch: &str) -> Option<String> {
    model.git.branch_head(branch).await.ok().flatten()
}

pub async fn is_ancestor(model: &Model, ancestor: &str, of: &str) -> bool {
    model
        .git
        .run(&["merge-base", "--is-ancestor", ancestor, of])
        .await
        .is_ok()
}

async fn get_ref(model: &Model, branch: &str) -> Resp {
    match branch_head(model, branch).await {
        Some(sha) => Resp::ok(json!({
            "ref": format!("refs/heads/{branch}"),
            "object": { "sha": sha, "type": "commit" },
        })),
        None => Resp::not_found(),
    }
}

async fn create_ref(model: &Model, req: &Req) -> Resp {
    let (Some(reference), Some(sha)) = (req.body["ref"].as_str(), req.body["sha"].as_str()) else {
        return Resp::error(422, "Invalid request: ref and sha are required");
    };
    if !reference.starts_with("refs/") {
        return Resp::error(422, "Reference name must start with refs/");
    }
    if resolve(model, sha).await.as_deref() != Some(sha) {
        return Resp::error(422, "Object does not exist");
    }
    match model.git.update_ref(reference, sha, None).await {
        Ok(()) => Resp::new(
            201,
            json!({ "ref": reference, "object": { "sha": sha, "type": "commit" } }),
        ),
        Err(_) => Resp::error(422, "Reference already exists"),
    }
}

async fn delete_ref(model: &Model, branch: &str) -> Resp {
    if branch_head(model, branch).await.is_none() {
        return Resp::error(422, "Reference does not exist");
    }
    match model
        .git
        .run(&["update-ref", "-d", &format!("refs/heads/{branch}")])
        .await
    {
        Ok(_) => Resp::new(204, Value::Null),
        Err(_) => Resp::error(422, "Reference cannot be deleted"),
    }
}

async fn move_ref(model: &Model, req: &Req, branch: &str) -> Resp {
    let Some(sha) = req.body["sha"].as_str() else {
        return Resp::error(422, "Invalid request: sha is required");
    };
    let Some(current) = branch_head(model, branch).await else {
        return Resp::error(422, "Reference does not exist");
    };
    let force = req.body["force"].as_bool() == Some(true);
    if !force && !is_ancestor(model, &current, sha).await {
        return Resp::error(422, "Update is not a fast forward");
    }
    match model
        .git
        .update_ref(&format!("refs/heads/{branch}"), sha, Some(&current))
        .await
    {
        Ok(()) => {
            Resp::ok(json!({ "ref": format!("refs/heads/{branch}"), "object": { "sha": sha } }))
        }
        Err(_) => Resp::error(422, "Reference update failed"),
    }
}

async fn tree(model: &Model, revision: &str) -> Resp {
    let Some(commit) = resolve(model, revision).await else {
        return Resp::not_found();
    };
    let Ok(listing) = model
        .git
        .run(&["ls-tree", "-r", "-t", "--full-tree", &commit])
        .await
    else {
        return Resp::not_found();
    };
    let entries: Vec<Value> = listing
        .lines()
        .filter_map(|line| {
            let (meta, path) = line.split_once('\t')?;
            let mut meta = meta.split_whitespace();
            let (mode, kind, sha) = (meta.next()?, meta.next()?, meta.next()?);
            Some(json!({ "path": path, "mode": mode, "type": kind, "sha": sha }))
        })
        .collect();
    Resp::ok(json!({ "sha": commit, "tree": entries, "truncated": false }))
}

/// The blob SHA of `path` at `commit`, if it is a file there.
async fn blob_sha(model: &Model, commit: &str, path: &str) -> Option<String> {
    let spec = format!("{commit}:{path}");
    let kind = model.git.run(&["cat-file", "-t", &spec]).await.ok()?;
    if kind != "blob" {
        return None;
    }
    model.git.run(&["rev-parse", &spec]).await.ok()
}

async fn get_contents(model: &Model, req: &Req, path: &str) -> Resp {
    let revision = req
        .query
        .get("ref")
        .cloned()
        .unwrap_or_else(|| model.base.clone());
    let Some(commit) = resolve(model, &revision).await else {
        return Resp::error(404, &format!("No commit found for the ref {revision}"));
    };
    let Some(sha) = blob_sha(model, &commit, path).await else {
        return Resp::not_found();
    };
    let Ok(bytes) = model.git.run_bytes(&["cat-file", "blob", &sha]).await else {
        return Resp::not_found();
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
    // GitHub wraps the base64 at 60 characters.
    let wrapped: Vec<&str> = encoded
        .as_bytes()
        .chunks(60)
        .filter_map(|chunk| std::str::from_utf8(chunk).ok())
        .collect();
    Resp::ok(json!({
        "type": "file",
        "encoding": "base64",
        "path": path,
        "name": path.rsplit('/').next().unwrap_or(path),
        "size": bytes.len(),
        "sha": sha,
        "content": format!("{}\n", wrapped.join("\n")),
    }))
}

async fn put_contents(model: &mut Model, req: &Req, path: &str) -> Resp {
    let (Some(message), Some(content)) =
        (req.body["message"].as_str(), req.body["content"].as_str())
    else {
        return Resp::error(422, "Invalid request: message and content are required");
    };
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(content) else {
        return Resp::error(422, "content is not valid Base64");
    };
    let branch = req.body["branch"]
        .as_str()
        .unwrap_or(&model.base)
        .to_owned();
    let Some(head) = branch_head(model, &branch).await else {
        return Resp::error(404, &format!("Branch {branch} not found"));
    };
    let existing = blob_sha(model, &head, path).await;
    match (existing.as_deref(), req.body["sha"].as_str()) {
        (Some(_), None) => return Resp::error(422, "Invalid request.\n\n\"sha\" wasn't supplied."),
        (Some(current), Some(given)) if current != given => {
            return Resp::error(409, &format!("{path} does not match {given}"));
        }
        (None, Some(given)) => return Resp::error(409, &format!("{path} does not match {given}")),
        _ => {}
    }
    let Ok(commit) = model
        .git
        .commit_files(Some(&head), &[(path.to_owned(), bytes)], message)
        .await
    else {
        return Resp::error(500, "cannot commit");
    };
    if model
        .git
        .update_ref(&format!("refs/heads/{branch}"), &commit, Some(&head))
        .await
        .is_err()
    {
        return Resp::error(409, &format!("{branch} was modified: try again"));
    }
    let sha = blob_sha(model, &commit, path).await.unwrap_or_default();
    let status = if existing.is_some() { 200 } else { 201 };
    Resp::new(
        status,
        json!({ "content": { "path": path, "sha": sha }, "commit": { "sha": commit, "message": message } }),
    )
}

async fn compare(model: &Model, range: &str) -> Resp {
    let Some((base, head)) = range.split_once("...") else {
        return Resp::not_found();
    };
    let (Some(base), Some(head)) = (resolve(model, base).await, resolve(model, head).await) else {
        return Resp::not_found();
    };
    let count = |range: String| async move {
        model
            .git
            .run(&["rev-list", "--count", &range])
            .await
            .ok()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_default()
    };
    let ahead = count(format!("{base}..{head}")).await;
    let behind = count(format!("{head}..{base}")).await;
    let status = match (ahead, behind) {
        (0, 0) => "identical",
        (_, 0) => "ahead",
        (0, _) => "behind",
        _ => "diverged",
    };
    Resp::ok(
        json!({ "status": status, "ahead_by": ahead, "behind_by": behind,
        "base_commit": { "sha": base }, "merge_base_commit": { "sha": base } }),
    )
}

async fn list_commits(model: &Model, req: &Req) -> Resp {
    let revision = req
        .query
        .get("sha")
        .cloned()
        .unwrap_or_else(|| model.base.clone());
    let Some(commit) = resolve(model, &revision).await else {
        return Resp::error(404, &format!("No commit found for SHA: {revision}"));
    };
    let per_page = req.query_number("per_page", 30).clamp(1, 100);
    let page = req.query_number("page", 1).max(1);
    let skip = format!("--skip={}", (page - 1) * per_page);
    let path = req.query.get("path").map(String::as_str);
    match commits(model, &[&commit, &skip], per_page, path).await {
        Some(list) => Resp::ok(Value::Array(list)),
        None => Resp::error(500, "cannot list commits"),
    }
}

/// Commits as GitHub lists them: `git log ARGS`, newest first.
pub async fn commits(
    model: &Model,
    args: &[&str],
    limit: usize,
    path: Option<&str>,
) -> Option<Vec<Value>> {
    let max = format!("--max-count={limit}");
    let mut command = vec!["log", "--format=%H%x1f%ct%x1f%B%x1e", max.as_str()];
    command.extend_from_slice(args);
    if let Some(path) = path {
        command.extend(["--", path]);
    }
    let log = model.git.run(&command).await.ok()?;
    Some(
        log.split('\x1e')
            .filter_map(|record| {
                let mut fields = record.trim_start_matches('\n').splitn(3, '\x1f');
                let (sha, seconds, message) = (fields.next()?, fields.next()?, fields.next()?);
                let date = timestamp(from_epoch(seconds));
                let person = json!({ "name": "dkd", "email": "dkd@localhost", "date": date });
                Some(json!({
                    "sha": sha,
                    "commit": { "message": message.trim_end(), "author": person, "committer": person },
                }))
            })
            .collect(),
    )
}

async fn combined_status(model: &Model, sha: &str) -> Resp {
    let Some(commit) = resolve(model, sha).await else {
        return Resp::error(422, "No commit found for SHA");
    };
    // The latest status per context, as GitHub combines them.
    let mut latest: BTreeMap<&str, &CheckRecord> = BTreeMap::new();
    for status in model.statuses.get(&commit).into_iter().flatten() {
        latest.insert(&status.name, status);
    }
    let states: Vec<&str> = latest
        .values()
        .filter_map(|s| s.outcome.as_deref())
        .collect();
    let state = if states.iter().any(|s| *s == "failure" || *s == "error") {
        "failure"
    } else if states.iter().all(|s| *s == "success") && !states.is_empty() {
        "success"
    } else {
        "pending"
    };
    let statuses: Vec<Value> = latest
        .values()
        .map(|s| json!({ "context": s.name, "state": s.outcome, "description": s.description }))
        .collect();
    Resp::ok(
        json!({ "state": state, "sha": commit, "total_count": statuses.len(), "statuses": statuses }),
    )
}

async fn create_status(model: &mut Model, req: &Req, sha: &str) -> Resp {
    let Some(state) = req.body["state"].as_str() else {
        return Resp::error(422, "Invalid request: state is required");
    };
    let Some(commit) = resolve(model, sha).await else {
        return Resp::error(422, "No commit found for SHA");
    };
    let record = CheckRecord {
        name: req.body["context"].as_str().unwrap_or("default").to_owned(),
        outcome: Some(state.to_owned()),
        description: req.body["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    };
    model.statuses.entry(commit).or_default().push(record);
    Resp::new(201, json!({ "state": state }))
}

async fn check_runs(model: &mut Model, sha: &str) -> Resp {
    let Some(commit) = resolve(model, sha).await else {
        return Resp::error(422, "No commit found for SHA");
    };
    if !model.check_runs.contains_key(&commit) && !model.faults.ci_pending {
        let check = run_ci(model, &commit).await;
        model.check_runs.insert(commit.clone(), vec![check]);
    }
    let runs: Vec<Value> = match model.check_runs.get(&commit) {
        Some(runs) => runs
            .iter()
            .map(|run| {
                json!({
                    "name": run.name,
                    "head_sha": commit,
                    "status": if run.outcome.is_some() { "completed" } else { "queued" },
                    "conclusion": run.outcome,
                    "output": { "title": run.description, "summary": run.description },
                })
            })
            .collect(),
        None => vec![
            json!({ "name": "manifests validate", "head_sha": commit, "status": "queued",
            "conclusion": null, "output": { "title": null, "summary": null } }),
        ],
    };
    Resp::ok(json!({ "total_count": runs.len(), "check_runs": runs }))
}

/// The deployment repository's CI: dkd's own manifest checks on the commit's tree.
async fn run_ci(model: &Model, commit: &str) -> CheckRecord {
    let mut paths = model
        .git
        .list_files(commit, "config/")
        .await
        .unwrap_or_default();
    paths.extend(
        model
            .git
            .list_files(commit, "environments/")
            .await
            .unwrap_or_default(),
    );
    let contents = model
        .git
        .read_files(commit, &paths)
        .await
        .unwrap_or_default();
    let files: BTreeMap<String, String> = paths
        .into_iter()
        .zip(contents)
        .filter_map(|(path, bytes)| Some((path, String::from_utf8_lossy(&bytes?).into_owned())))
        .collect();
    let check = dkd::gitops::check_tree(commit, &files, dkd::promotion::ports::GroupSource::Forge);
    let outcome = match check.outcome {
        dkd::promotion::CheckOutcome::Success => "success",
        _ => "failure",
    };
    CheckRecord {
        name: check.name,
        outcome: Some(outcome.to_owned()),
        description: check.description,
    }
}
