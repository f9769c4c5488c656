//! Reading the repository on GitHub: branch heads, trees, file contents at a revision,
//! ancestry (compare), a file's history and the commit that landed a promotion.

use std::time::SystemTime;

use base64::Engine as _;
use http::StatusCode;
use serde_json::Value;

use super::{GithubForge, rest::encode, unexpected};
use crate::promotion::ports::{FileVersion, ForgeError, PROMOTION_ID_TRAILER, TreeFile};

/// How many pages of base-branch commits `find_landed` searches (100 commits each).
const LANDED_PAGES: u32 = 3;

/// One file at one revision.
pub(super) struct RemoteFile {
    pub bytes: Vec<u8>,
    /// The blob SHA (the precondition for updating it).
    pub sha: String,
}

impl GithubForge {
    /// The commit `branch` points at, `None` if there is no such branch.
    pub(super) async fn head_of(&self, branch: &str) -> Result<Option<String>, ForgeError> {
        let path = format!("{}/git/ref/heads/{}", self.root, encode(branch));
        let reply = self.rest.get(&path).await?;
        match reply.status {
            StatusCode::OK => Ok(reply.body["object"]["sha"].as_str().map(str::to_owned)),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(unexpected(&reply, &format!("read branch {branch}"))),
        }
    }

    /// Every file of `revision`'s tree with its blob SHA, sorted by path.
    pub(super) async fn tree_files(&self, revision: &str) -> Result<Vec<TreeFile>, ForgeError> {
        let path = format!("{}/git/trees/{}?recursive=1", self.root, encode(revision));
        let reply = self.rest.get(&path).await?;
        if !reply.ok() {
            return Err(unexpected(&reply, &format!("list the files of {revision}")));
        }
        if reply.body["truncated"].as_bool() == Some(true) {
            return Err(ForgeError::Unavailable(format!(
                "the tree of {revision} is too large for one GitHub answer: keep the deployment repository small"
            )));
        }
        let mut files: Vec<TreeFile> = entries(&reply.body["tree"])
            .filter(|entry| entry["type"] == "blob")
            .filter_map(|entry| {
                Some(TreeFile {
                    path: entry["path"].as_str()?.to_owned(),
                    id: entry["sha"].as_str()?.to_owned(),
                })
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// `path` at `revision` (a commit SHA or a branch), `None` if it does not exist there.
    pub(super) async fn file_at(
        &self,
        revision: &str,
        path: &str,
    ) -> Result<Option<RemoteFile>, ForgeError> {
        let url = format!(
            "{}/contents/{}?ref={}",
            self.root,
            encode(path),
            encode(revision)
        );
        let reply = self.rest.get(&url).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !reply.ok() || reply.body["type"] != "file" {
            return Err(unexpected(&reply, &format!("read {path} at {revision}")));
        }
        let encoded: String = reply.body["content"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|error| {
                ForgeError::Unavailable(format!("GitHub sent {path} undecodable: {error}"))
            })?;
        Ok(Some(RemoteFile {
            bytes,
            sha: reply.body["sha"].as_str().unwrap_or_default().to_owned(),
        }))
    }

    /// Whether `revision` is `commit` or a descendant of it.
    pub(super) async fn compare_contains(
        &self,
        revision: &str,
        commit: &str,
    ) -> Result<bool, ForgeError> {
        let path = format!(
            "{}/compare/{}...{}",
            self.root,
            encode(commit),
            encode(revision)
        );
        let reply = self.rest.get(&path).await?;
        match reply.status {
            StatusCode::OK => Ok(matches!(
                reply.body["status"].as_str(),
                Some("ahead" | "identical")
            )),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(unexpected(
                &reply,
                &format!("compare {commit} with {revision}"),
            )),
        }
    }

    /// Versions of `path` on the base branch, newest first.
    pub(super) async fn history(
        &self,
        path: &str,
        limit: usize,
    ) -> Result<Vec<FileVersion>, ForgeError> {
        let url = format!(
            "{}/commits?sha={}&path={}&per_page={}",
            self.root,
            encode(&self.base_branch),
            encode(path),
            limit.clamp(1, 100)
        );
        let reply = self.rest.get(&url).await?;
        if !reply.ok() {
            return Err(unexpected(&reply, &format!("read the history of {path}")));
        }
        let mut versions = Vec::new();
        for commit in entries(&reply.body).take(limit) {
            let Some(sha) = commit["sha"].as_str() else {
                continue;
            };
            let at = commit["commit"]["committer"]["date"]
                .as_str()
                .and_then(|date| humantime::parse_rfc3339_weak(date).ok())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            let contents = self
                .file_at(sha, path)
                .await?
                .map(|file| String::from_utf8_lossy(&file.bytes).into_owned());
            versions.push(FileVersion {
                commit: sha.to_owned(),
                at,
                contents,
            });
        }
        Ok(versions)
    }

    /// The newest `limit` commits of the base branch (one page: at most 100), newest first.
    pub(super) async fn commits(&self, limit: usize) -> Result<Vec<String>, ForgeError> {
        let url = format!(
            "{}/commits?sha={}&per_page={}",
            self.root,
            encode(&self.base_branch),
            limit.clamp(1, 100)
        );
        let reply = self.rest.get(&url).await?;
        if !reply.ok() {
            return Err(unexpected(&reply, "list the base branch's commits"));
        }
        Ok(entries(&reply.body)
            .filter_map(|commit| commit["sha"].as_str().map(str::to_owned))
            .take(limit)
            .collect())
    }

    /// The newest base-branch commit whose message has the line `Promotion-Id: <id>`.
    pub(super) async fn landed(&self, promotion_id: &str) -> Result<Option<String>, ForgeError> {
        let trailer = format!("{PROMOTION_ID_TRAILER}: {promotion_id}");
        for page in 1..=LANDED_PAGES {
            let url = format!(
                "{}/commits?sha={}&per_page=100&page={page}",
                self.root,
                encode(&self.base_branch)
            );
            let reply = self.rest.get(&url).await?;
            if !reply.ok() {
                return Err(unexpected(&reply, "list the base branch's commits"));
            }
            let mut count = 0;
            for commit in entries(&reply.body) {
                count += 1;
                let message = commit["commit"]["message"].as_str().unwrap_or_default();
                if message.lines().any(|line| line.trim_end() == trailer) {
                    return Ok(commit["sha"].as_str().map(str::to_owned));
                }
            }
            if count < 100 {
                break;
            }
        }
        Ok(None)
    }
}

/// The elements of a JSON array (none if it is not one).
pub(super) fn entries(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}
