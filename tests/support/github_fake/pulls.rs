//! The fake GitHub's pull requests: open (one open pull request per head branch), list,
//! read, close; reviews (authors cannot approve their own); labels and comments (posted and listed); "update
//! branch" guarded by the expected head SHA; and merge guarded by the head SHA, refusing
//! a branch behind its base or with failing checks, and a conflicting one.

use std::time::SystemTime;

use axum::http::Method;
use serde_json::{Value, json};

use super::{
    model::{Model, PullRecord, ReviewRecord, ReviewRequest},
    repo::{branch_head, commits, is_ancestor},
    wire::{Req, Resp, timestamp},
};

pub async fn route(model: &mut Model, req: &Req, rest: &[&str]) -> Resp {
    let number = rest.get(1).and_then(|n| n.parse::<u64>().ok());
    match (&req.method, rest, number) {
        (&Method::GET, ["pulls"], _) => list(model, req).await,
        (&Method::POST, ["pulls"], _) => create(model, req).await,
        (&Method::GET, ["pulls", _], Some(n)) => match find(model, n).await {
            Some(pull) => Resp::ok(render(model, &pull)),
            None => Resp::not_found(),
        },
        (&Method::PATCH, ["pulls", _], Some(n)) => edit(model, req, n).await,
        (&Method::GET, ["pulls", _, "reviews"], Some(n)) => Resp::ok(Value::Array(
            model
                .reviews
                .iter()
                .filter(|r| r.pull == n)
                .map(|r| {
                    json!({ "id": r.id, "user": { "login": r.user }, "state": r.state,
                    "commit_id": r.commit, "submitted_at": timestamp(r.at) })
                })
                .collect(),
        )),
        (&Method::POST, ["pulls", _, "reviews"], Some(n)) => {
            let state = match req.body["event"].as_str() {
                Some("APPROVE") => "APPROVED",
                Some("REQUEST_CHANGES") => "CHANGES_REQUESTED",
                _ => "COMMENTED",
            };
            let answer = review(model, n, &req.user.clone(), state).await;
            model.review_requests.push(ReviewRequest {
                pull: n,
                user: req.user.clone(),
                event: req.body["event"].as_str().unwrap_or_default().to_owned(),
                body: req.body["body"].as_str().unwrap_or_default().to_owned(),
                status: answer.status.as_u16(),
            });
            answer
        }
        (&Method::GET, ["pulls", _, "commits"], Some(n)) => pull_commits(model, n).await,
        (&Method::PUT, ["pulls", _, "merge"], Some(n)) => merge(model, req, n).await,
        (&Method::PUT, ["pulls", _, "update-branch"], Some(n)) => {
            update_branch(model, req, n).await
        }
        (&Method::POST, ["issues", _, "labels"], Some(n)) => {
            let labels: Vec<String> = req.body["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str().map(str::to_owned))
                .collect();
            let Some(pull) = model.pull_mut(n) else {
                return Resp::not_found();
            };
            for label in labels {
                if !pull.labels.contains(&label) {
                    pull.labels.push(label);
                }
            }
            Resp::ok(Value::Array(
                pull.labels.iter().map(|l| json!({ "name": l })).collect(),
            ))
        }
        (&Method::POST, ["issues", _, "comments"], Some(n)) => {
            let body = req.body["body"].as_str().unwrap_or_default().to_owned();
            match model.pull_mut(n) {
                Some(pull) => {
                    pull.comments.push(body.clone());
                    pull.comment_authors.push(req.user.clone());
                    Resp::new(201, json!({ "body": body, "user": { "login": req.user } }))
                }
                None => Resp::not_found(),
            }
        }
        // GitHub's list of issue comments, oldest first, in pages.
        (&Method::GET, ["issues", _, "comments"], Some(n)) => match model.pull_mut(n) {
            Some(pull) => {
                let listed: Vec<Value> = pull
                    .comments
                    .iter()
                    .zip(&pull.comment_authors)
                    .enumerate()
                    .map(|(index, (body, user))| {
                        json!({ "id": index + 1, "body": body, "user": { "login": user } })
                    })
                    .collect();
                let per_page = req.query_number("per_page", 30);
                let page = req.query_number("page", 1).max(1);
                Resp::ok(
                    listed
                        .into_iter()
                        .skip((page - 1) * per_page)
                        .take(per_page)
                        .collect(),
                )
            }
            None => Resp::not_found(),
        },
        _ => Resp::not_found(),
    }
}

/// The pull request `number`, with its head refreshed.
async fn find(model: &mut Model, number: u64) -> Option<PullRecord> {
    refresh_heads(model).await;
    model.pulls.iter().find(|p| p.number == number).cloned()
}

/// Keeps each open pull request's head SHA in step with its branch.
async fn refresh_heads(model: &mut Model) {
    for index in 0..model.pulls.len() {
        if !model.pulls[index].open {
            continue;
        }
        if let Some(head) = branch_head(model, &model.pulls[index].head_ref).await {
            model.pulls[index].head_sha = head;
        }
    }
}

fn render(model: &Model, pull: &PullRecord) -> Value {
    json!({
        "number": pull.number,
        "state": if pull.open { "open" } else { "closed" },
        "title": pull.title,
        "body": pull.body,
        "html_url": format!("{}/{}/{}/pull/{}", model.url, model.owner, model.repo, pull.number),
        "user": { "login": pull.author },
        "head": { "ref": pull.head_ref, "sha": pull.head_sha, "label": format!("{}:{}", model.owner, pull.head_ref) },
        "base": { "ref": pull.base_ref },
        "merged": pull.merge_commit.is_some(),
        "merged_at": pull.merged_at.map(timestamp),
        "merge_commit_sha": pull.merge_commit,
        "labels": pull.labels.iter().map(|l| json!({ "name": l })).collect::<Vec<_>>(),
    })
}

async fn list(model: &mut Model, req: &Req) -> Resp {
    refresh_heads(model).await;
    let state = req.query.get("state").map(String::as_str).unwrap_or("open");
    let head = req.query.get("head").cloned();
    let ascending = req.query.get("direction").is_some_and(|d| d == "asc");
    let ordered: Vec<&PullRecord> = if ascending {
        model.pulls.iter().collect()
    } else {
        model.pulls.iter().rev().collect()
    };
    let per_page = req.query_number("per_page", 30);
    let page = req.query_number("page", 1).max(1);
    let pulls: Vec<Value> = ordered
        .into_iter()
        .filter(|p| match state {
            "all" => true,
            "closed" => !p.open,
            _ => p.open,
        })
        .filter(|p| {
            head.as_ref()
                .is_none_or(|h| *h == format!("{}:{}", model.owner, p.head_ref))
        })
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|p| render(model, p))
        .collect();
    Resp::ok(Value::Array(pulls))
}

async fn create(model: &mut Model, req: &Req) -> Resp {
    let (Some(title), Some(head), Some(base)) = (
        req.body["title"].as_str(),
        req.body["head"].as_str(),
        req.body["base"].as_str(),
    ) else {
        return Resp::error(422, "Validation Failed: title, head and base are required");
    };
    let head = head.rsplit(':').next().unwrap_or(head).to_owned();
    let Some(head_sha) = branch_head(model, &head).await else {
        return Resp::error(422, "Validation Failed: head does not exist");
    };
    let Some(base_sha) = branch_head(model, base).await else {
        return Resp::error(422, "Validation Failed: base does not exist");
    };
    if model.pulls.iter().any(|p| p.open && p.head_ref == head) {
        let mut resp = Resp::error(422, "Validation Failed");
        resp.body["errors"] = json!([{ "message": format!("A pull request already exists for {}:{head}.", model.owner) }]);
        return resp;
    }
    if is_ancestor(model, &head_sha, &base_sha).await {
        return Resp::error(
            422,
            &format!("Validation Failed: No commits between {base} and {head}"),
        );
    }
    let number = model.id();
    let pull = PullRecord {
        number,
        title: title.to_owned(),
        body: req.body["body"].as_str().unwrap_or_default().to_owned(),
        head_ref: head,
        head_sha,
        base_ref: base.to_owned(),
        author: req.user.clone(),
        open: true,
        merge_commit: None,
        merged_at: None,
        labels: Vec::new(),
        comments: Vec::new(),
        comment_authors: Vec::new(),
    };
    let body = render(model, &pull);
    model.pulls.push(pull);
    Resp::new(201, body)
}

async fn edit(model: &mut Model, req: &Req, number: u64) -> Resp {
    refresh_heads(model).await;
    let Some(pull) = model.pull_mut(number) else {
        return Resp::not_found();
    };
    match req.body["state"].as_str() {
        Some("closed") => pull.open = false,
        Some("open") if pull.merge_commit.is_none() => pull.open = true,
        Some("open") => {
            return Resp::error(
                422,
                "Validation Failed: state cannot be changed. The pull request is merged.",
            );
        }
        _ => {}
    }
    if let Some(title) = req.body["title"].as_str() {
        pull.title = title.to_owned();
    }
    let pull = pull.clone();
    Resp::ok(render(model, &pull))
}

/// Records a review by `user`; authors cannot approve their own pull request.
pub async fn review(model: &mut Model, number: u64, user: &str, state: &str) -> Resp {
    let Some(pull) = find(model, number).await else {
        return Resp::not_found();
    };
    if pull.author.eq_ignore_ascii_case(user) && state != "COMMENTED" {
        return Resp::error(
            422,
            "Unprocessable Entity: Can not approve your own pull request",
        );
    }
    if !pull.open {
        return Resp::error(422, "Unprocessable Entity: the pull request is closed");
    }
    let id = model.id();
    model.reviews.push(ReviewRecord {
        id,
        pull: number,
        user: user.to_owned(),
        state: state.to_owned(),
        commit: pull.head_sha,
        at: SystemTime::now(),
    });
    Resp::ok(json!({ "id": id, "user": { "login": user }, "state": state }))
}

async fn pull_commits(model: &mut Model, number: u64) -> Resp {
    let Some(pull) = find(model, number).await else {
        return Resp::not_found();
    };
    let Some(base) = branch_head(model, &pull.base_ref).await else {
        return Resp::not_found();
    };
    let range = format!("{base}..{}", pull.head_sha);
    match commits(model, &["--reverse", &range], 250, None).await {
        Some(list) => Resp::ok(Value::Array(list)),
        None => Resp::ok(json!([])),
    }
}

async fn merge(model: &mut Model, req: &Req, number: u64) -> Resp {
    let Some(pull) = find(model, number).await else {
        return Resp::not_found();
    };
    if !pull.open {
        return Resp::error(405, "Pull Request is not mergeable");
    }
    if let Some(sha) = req.body["sha"].as_str()
        && sha != pull.head_sha
    {
        return Resp::error(
            409,
            "Head branch was modified. Review and try the merge again.",
        );
    }
    let Some(base) = branch_head(model, &pull.base_ref).await else {
        return Resp::error(405, "Base branch does not exist");
    };
    // Branch protection: up to date with the base, and the required check passed.
    if !is_ancestor(model, &base, &pull.head_sha).await {
        return Resp::error(405, "Head branch is not up to date with the base branch");
    }
    let passed = model
        .check_runs
        .get(&pull.head_sha)
        .is_some_and(|runs| runs.iter().all(|r| r.outcome.as_deref() == Some("success")));
    if !passed {
        return Resp::error(
            405,
            "Required status check \"manifests validate\" is expected or failing.",
        );
    }
    let Ok(tree) = model
        .git
        .run(&["merge-tree", "--write-tree", &base, &pull.head_sha])
        .await
    else {
        return Resp::error(405, "Pull Request is not mergeable");
    };
    let tree = tree.lines().next().unwrap_or_default().to_owned();
    let title = req.body["commit_title"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{} (#{number})", pull.title));
    let message = req.body["commit_message"].as_str().unwrap_or_default();
    let full = format!("{title}\n\n{message}");
    let mut args = vec![
        "commit-tree",
        tree.as_str(),
        "-p",
        base.as_str(),
        "-m",
        full.as_str(),
    ];
    if req.body["merge_method"].as_str() == Some("merge") {
        args.extend(["-p", pull.head_sha.as_str()]);
    }
    let Ok(commit) = model.git.run(&args).await else {
        return Resp::error(500, "cannot write the merge commit");
    };
    if model
        .git
        .update_ref(
            &format!("refs/heads/{}", pull.base_ref),
            &commit,
            Some(&base),
        )
        .await
        .is_err()
    {
        return Resp::error(
            409,
            "Base branch was modified. Review and try the merge again.",
        );
    }
    if let Some(record) = model.pull_mut(number) {
        record.open = false;
        record.merge_commit = Some(commit.clone());
        record.merged_at = Some(SystemTime::now());
    }
    Resp::ok(
        json!({ "sha": commit, "merged": true, "message": "Pull Request successfully merged" }),
    )
}

async fn update_branch(model: &mut Model, req: &Req, number: u64) -> Resp {
    let Some(pull) = find(model, number).await else {
        return Resp::not_found();
    };
    if !pull.open {
        return Resp::error(422, "Pull request is closed");
    }
    if let Some(expected) = req.body["expected_head_sha"].as_str()
        && expected != pull.head_sha
    {
        return Resp::error(
            422,
            "expected_head_sha does not match the pull request's head",
        );
    }
    let Some(base) = branch_head(model, &pull.base_ref).await else {
        return Resp::error(422, "Base branch does not exist");
    };
    if is_ancestor(model, &base, &pull.head_sha).await {
        return Resp::error(422, "There are no new commits on the base branch.");
    }
    let Ok(tree) = model
        .git
        .run(&["merge-tree", "--write-tree", &pull.head_sha, &base])
        .await
    else {
        return Resp::error(422, "merge conflict between base and head");
    };
    let tree = tree.lines().next().unwrap_or_default().to_owned();
    let message = format!("Merge branch '{}' into {}", pull.base_ref, pull.head_ref);
    let Ok(commit) = model
        .git
        .run(&[
            "commit-tree",
            &tree,
            "-p",
            &pull.head_sha,
            "-p",
            &base,
            "-m",
            &message,
        ])
        .await
    else {
        return Resp::error(500, "cannot write the merge commit");
    };
    if model
        .git
        .update_ref(
            &format!("refs/heads/{}", pull.head_ref),
            &commit,
            Some(&pull.head_sha),
        )
        .await
        .is_err()
    {
        return Resp::error(
            422,
            "expected_head_sha does not match the pull request's head",
        );
    }
    Resp::new(
        202,
        json!({ "message": "Updating pull request branch.", "url": format!("{}/{}/{}/pull/{number}", model.url, model.owner, model.repo) }),
    )
}
