//! The fake GitHub's state besides the git repository: pull requests, reviews, commit
//! statuses and check runs, teams, tokens, and the faults a test asked for.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    time::SystemTime,
};

use super::git_cli::FakeGit;

/// One pull request.
#[derive(Debug, Clone)]
pub struct PullRecord {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub head_ref: String,
    /// The head commit when last seen (kept after the branch is deleted).
    pub head_sha: String,
    pub base_ref: String,
    pub author: String,
    pub open: bool,
    pub merge_commit: Option<String>,
    pub merged_at: Option<SystemTime>,
    pub labels: Vec<String>,
    /// Comment bodies, oldest first …
    pub comments: Vec<String>,
    /// … and who wrote each (the login of the token that posted it).
    pub comment_authors: Vec<String>,
}

/// A review as it was asked for on the wire (`POST …/pulls/N/reviews`), accepted or not.
#[derive(Debug, Clone)]
pub struct ReviewRequest {
    pub pull: u64,
    /// The login of the token that asked.
    pub user: String,
    /// APPROVE, REQUEST_CHANGES, COMMENT.
    pub event: String,
    pub body: String,
    /// The HTTP status the fake answered.
    pub status: u16,
}

/// One submitted review.
#[derive(Debug, Clone)]
pub struct ReviewRecord {
    pub id: u64,
    pub pull: u64,
    pub user: String,
    /// APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED.
    pub state: String,
    pub commit: String,
    pub at: SystemTime,
}

/// One request that was not a GET (a write, or an attempt at one), with the token that
/// made it: replicas of one bot login are told apart by their tokens.
#[derive(Debug, Clone)]
pub struct WriteRecord {
    pub token: String,
    /// The login the token belongs to.
    pub user: String,
    pub method: String,
    /// The path after the API root, e.g. `repos/acme/deploy/pulls/3/merge`.
    pub path: String,
    /// The HTTP status the fake answered.
    pub status: u16,
    pub at: SystemTime,
}

impl WriteRecord {
    /// Whether this was a merge of a pull request (accepted or not).
    pub fn is_merge(&self) -> bool {
        self.method == "PUT" && self.path.ends_with("/merge")
    }
}

/// One commit status or check run outcome.
#[derive(Debug, Clone)]
pub struct CheckRecord {
    pub name: String,
    /// For statuses: success, pending, failure, error. For check runs: the conclusion,
    /// or `None` while queued.
    pub outcome: Option<String>,
    pub description: String,
}

/// Faults a test injects.
#[derive(Debug, Default)]
pub struct Faults {
    /// Every request is refused with 403 and rate-limit headers until then.
    pub rate_limited_until: Option<SystemTime>,
    /// The next requests answer with these statuses (e.g. 502), one each.
    pub fail_next: VecDeque<u16>,
    /// CI leaves check runs queued instead of running them.
    pub ci_pending: bool,
}

/// Everything the fake knows.
#[derive(Debug)]
pub struct Model {
    pub git: FakeGit,
    pub owner: String,
    pub repo: String,
    pub base: String,
    /// `http://127.0.0.1:PORT`, for html_url.
    pub url: String,
    /// token → login.
    pub tokens: HashMap<String, String>,
    pub pulls: Vec<PullRecord>,
    pub reviews: Vec<ReviewRecord>,
    /// Every review requested through the API, oldest first.
    pub review_requests: Vec<ReviewRequest>,
    /// commit → statuses, oldest first.
    pub statuses: HashMap<String, Vec<CheckRecord>>,
    /// commit → check runs (CI runs lazily, the first time a commit's runs are asked for).
    pub check_runs: HashMap<String, Vec<CheckRecord>>,
    /// team slug → member logins.
    pub teams: BTreeMap<String, Vec<String>>,
    pub faults: Faults,
    /// Requests that counted against the rate limit (304s do not).
    pub counted: u64,
    /// Every request that was not a GET, oldest first.
    pub writes: Vec<WriteRecord>,
    /// Answers 304 Not Modified.
    pub not_modified: u64,
    pub next_id: u64,
}

impl Model {
    pub fn pull_mut(&mut self, number: u64) -> Option<&mut PullRecord> {
        self.pulls.iter_mut().find(|p| p.number == number)
    }

    pub fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}
