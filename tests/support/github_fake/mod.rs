//! A stateful fake of GitHub's REST API for the GitHub forge's tests: the real octocrab
//! talks to it over loopback. It is backed by a real bare git repository and keeps
//! GitHub's semantics (SHA preconditions, 409/422 on stale writes, head-SHA-guarded
//! merges, reviews, teams, statuses and check runs, ETags, rate limits and 5xx on demand).
#![allow(dead_code)] // each test file uses its own part of the fake

mod git_cli;
mod model;
mod pulls;
mod repo;
mod wire;

use std::{collections::HashMap, sync::Arc, time::Duration, time::SystemTime};

use axum::{
    body::{Body, to_bytes},
    extract::State,
    http::Request,
    response::{IntoResponse, Response},
};
use datakit::manifest::{DEFAULT_ENVIRONMENTS_YAML, ENVIRONMENTS_FILE};
use dkd::gitops::{GithubSettings, GithubToken};
use tokio::sync::Mutex;

use model::{Faults, Model};
pub use model::{PullRecord, ReviewRequest, WriteRecord};

pub const OWNER: &str = "acme";
pub const REPO: &str = "deploy";
/// The login dkd's token belongs to (the author of its pull requests).
pub const BOT: &str = "dkd-bot";
pub const BOT_TOKEN: &str = "dkd-bot-token";

/// A running fake GitHub on 127.0.0.1; stops when dropped.
pub struct GithubFake {
    model: Arc<Mutex<Model>>,
    url: String,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for GithubFake {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl GithubFake {
    /// Starts a fake with `acme/deploy` holding the default environments on `main`, and
    /// the teams `team-leads: [alice, dave]` and `security: [bob]`.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir for the fake GitHub");
        let git = git_cli::FakeGit::init_bare(dir.path().join("github.git"), "main").await;
        let files = [(
            ENVIRONMENTS_FILE.to_owned(),
            DEFAULT_ENVIRONMENTS_YAML.as_bytes().to_vec(),
        )];
        let commit = git
            .commit_files(None, &files, "Initial deployment repository")
            .await
            .expect("initial commit");
        git.update_ref("refs/heads/main", &commit, None)
            .await
            .expect("main");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake GitHub");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let mut tokens = HashMap::from([(BOT_TOKEN.to_owned(), BOT.to_owned())]);
        for user in ["alice", "bob", "carol", "dave"] {
            tokens.insert(format!("{user}-token"), user.to_owned());
        }
        let model = Arc::new(Mutex::new(Model {
            git,
            owner: OWNER.into(),
            repo: REPO.into(),
            base: "main".into(),
            url: url.clone(),
            tokens,
            pulls: Vec::new(),
            reviews: Vec::new(),
            review_requests: Vec::new(),
            statuses: HashMap::new(),
            check_runs: HashMap::new(),
            teams: [
                (
                    "team-leads".to_owned(),
                    vec!["alice".to_owned(), "dave".to_owned()],
                ),
                ("security".to_owned(), vec!["bob".to_owned()]),
            ]
            .into(),
            faults: Faults::default(),
            counted: 0,
            writes: Vec::new(),
            not_modified: 0,
            next_id: 0,
        }));
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(model.clone());
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                eprintln!("fake GitHub stopped: {error}");
            }
        });
        Self {
            model,
            url,
            server,
            _dir: dir,
        }
    }

    /// The API root (`http://127.0.0.1:PORT`).
    /// Points the dkd of `home` (a DK_HOME) at this fake: `forge: github` in its
    /// `dkd.yaml`, the bot's token in a file, a 200 ms poll.
    pub fn configure_home(&self, home: &std::path::Path) {
        let token = home.join("github-token");
        std::fs::write(&token, format!("{BOT_TOKEN}\n")).expect("token file");
        let config = format!(
            "forge:\n  type: github\n  owner: acme\n  repo: deploy\n  base_branch: main\n  api_url: {}/api/v3\n  token_file: {}\npoll_interval_ms: 200\n",
            self.url(),
            token.display()
        );
        std::fs::write(home.join("dkd.yaml"), config).expect("dkd.yaml");
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Settings for a `GithubForge` talking to this fake as dkd's bot.
    pub fn settings(&self) -> GithubSettings {
        GithubSettings {
            owner: OWNER.into(),
            repo: REPO.into(),
            base_branch: "main".into(),
            api_url: self.url.clone(),
            token: GithubToken::new(BOT_TOKEN.into()),
        }
    }

    /// Commits `contents` to `path` directly on `main`, as someone pushing by hand; returns
    /// the new commit.
    pub async fn push_to_base(&self, path: &str, contents: &str) -> String {
        let model = self.model.lock().await;
        let head = model
            .git
            .branch_head("main")
            .await
            .expect("head")
            .expect("main");
        let commit = model
            .git
            .commit_files(
                Some(&head),
                &[(path.to_owned(), contents.as_bytes().to_vec())],
                "Edit by hand",
            )
            .await
            .expect("commit");
        model
            .git
            .update_ref("refs/heads/main", &commit, Some(&head))
            .await
            .expect("push");
        commit
    }

    /// `user` submits a review (`APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`).
    pub async fn review(&self, pull: &str, user: &str, state: &str) -> Result<(), String> {
        let number: u64 = pull
            .parse()
            .map_err(|_| format!("{pull} is not a number"))?;
        let mut model = self.model.lock().await;
        let resp = pulls::review(&mut model, number, user, state).await;
        if resp.status.is_success() {
            Ok(())
        } else {
            Err(resp.body["message"].as_str().unwrap_or_default().to_owned())
        }
    }

    /// Refuses every request with 403 and rate-limit headers for `duration`.
    pub async fn rate_limit_for(&self, duration: Duration) {
        self.model.lock().await.faults.rate_limited_until = Some(SystemTime::now() + duration);
    }

    /// The next requests answer with these statuses, one each (e.g. 502).
    pub async fn fail_next(&self, statuses: &[u16]) {
        self.model
            .lock()
            .await
            .faults
            .fail_next
            .extend(statuses.iter().copied());
    }

    /// Leaves check runs of new commits queued (CI not finished).
    pub async fn hold_ci(&self, hold: bool) {
        self.model.lock().await.faults.ci_pending = hold;
    }

    /// Requests that counted against the rate limit so far (304 answers do not).
    pub async fn counted_requests(&self) -> u64 {
        self.model.lock().await.counted
    }

    /// Lets `token` act as `login` too (e.g. one token per dkd replica, all as `BOT`, so
    /// [`GithubFake::writes`] tells the replicas apart).
    pub async fn add_token(&self, token: &str, login: &str) {
        self.model
            .lock()
            .await
            .tokens
            .insert(token.to_owned(), login.to_owned());
    }

    /// Every request that was not a GET, oldest first, with the token that made it.
    pub async fn writes(&self) -> Vec<WriteRecord> {
        self.model.lock().await.writes.clone()
    }

    /// The pull requests, oldest first.
    pub async fn pulls(&self) -> Vec<PullRecord> {
        self.model.lock().await.pulls.clone()
    }

    /// A person closes pull request `pull` on GitHub (not through dkd).
    pub async fn close_by_hand(&self, pull: &str) {
        let number: u64 = pull.parse().expect("a pull request number");
        if let Some(record) = self.model.lock().await.pull_mut(number) {
            record.open = false;
        }
    }

    /// Every review requested through the API, oldest first.
    pub async fn review_requests(&self) -> Vec<ReviewRequest> {
        self.model.lock().await.review_requests.clone()
    }

    /// Whether `branch` exists.
    pub async fn has_branch(&self, branch: &str) -> bool {
        let model = self.model.lock().await;
        repo::branch_head(&model, branch).await.is_some()
    }

    /// The contents of `path` on `main`.
    pub async fn read_base(&self, path: &str) -> Option<String> {
        let model = self.model.lock().await;
        let files = model
            .git
            .read_files("main", &[path.to_owned()])
            .await
            .ok()?;
        files
            .into_iter()
            .next()
            .flatten()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }
}

async fn handle(State(model): State<Arc<Mutex<Model>>>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, 16 * 1024 * 1024).await else {
        return wire::Resp::error(400, "body too large").into_response();
    };
    let mut model = model.lock().await;
    wire::answer(
        &mut model,
        parts.method,
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
        &body,
    )
    .await
    .into_response()
}

impl IntoResponse for wire::Resp {
    fn into_response(self) -> Response {
        let body = if self.body.is_null() {
            Body::empty()
        } else {
            Body::from(self.body.to_string())
        };
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        if !self.body.is_null() {
            response.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json; charset=utf-8"),
            );
        }
        response
    }
}
