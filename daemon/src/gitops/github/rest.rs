//! The REST layer of the GitHub forge: every request goes through octocrab with the
//! token, GETs are conditional (ETags, so polling an idle promotion costs no rate limit),
//! and rate limits (403/429 with reset or retry-after) and 5xx answers become a back-off
//! that later calls respect without touching the network.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, SystemTime},
};

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use octocrab::{Octocrab, service::middleware::retry::RetryConfig};
use serde_json::Value;

use super::GithubSettings;
use crate::promotion::ports::ForgeError;

/// How many conditional-GET answers are remembered before the cache starts over.
const ETAG_CACHE_LIMIT: usize = 2_000;
/// Wait this long after a 429 that names no reset time.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// Longest back-off after repeated server errors.
const MAX_SERVER_ERROR_WAIT: Duration = Duration::from_secs(60);
const TIMEOUT: Duration = Duration::from_secs(30);

/// One answer: its status and JSON body (`Null` when empty).
#[derive(Debug)]
pub(super) struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }

    /// The `message` GitHub puts in error bodies.
    pub fn message(&self) -> String {
        self.body["message"]
            .as_str()
            .unwrap_or("no message")
            .to_owned()
    }
}

/// Why calls are held back for now.
#[derive(Debug, Clone)]
struct Blocked {
    until: SystemTime,
    rate_limited: bool,
    reason: String,
}

#[derive(Debug, Default)]
struct Backoff {
    blocked: Option<Blocked>,
    server_errors: u32,
}

/// An authenticated client for one repository's REST API.
pub(super) struct Rest {
    octocrab: Octocrab,
    api_url: String,
    etags: Mutex<HashMap<String, (HeaderValue, Value)>>,
    backoff: Mutex<Backoff>,
}

impl std::fmt::Debug for Rest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rest")
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

impl Rest {
    pub fn new(settings: &GithubSettings) -> Result<Self, ForgeError> {
        let octocrab = Octocrab::builder()
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(TIMEOUT))
            .set_read_timeout(Some(TIMEOUT))
            .set_write_timeout(Some(TIMEOUT))
            .personal_token(settings.token.expose().to_owned())
            .base_uri(settings.api_url.as_str())
            .and_then(|builder| builder.build())
            .map_err(|error| {
                ForgeError::Unavailable(format!(
                    "cannot set up the GitHub client for {}: {}",
                    settings.api_url,
                    first_line(&error.to_string())
                ))
            })?;
        Ok(Self {
            octocrab,
            api_url: settings.api_url.clone(),
            etags: Mutex::new(HashMap::new()),
            backoff: Mutex::new(Backoff::default()),
        })
    }

    /// A conditional GET of `path` (below the API root, with its query).
    pub async fn get(&self, path: &str) -> Result<Reply, ForgeError> {
        self.check_backoff()?;
        let cached = self
            .etags
            .lock()
            .ok()
            .and_then(|cache| cache.get(path).cloned());
        let mut headers = HeaderMap::new();
        if let Some((etag, _)) = &cached {
            headers.insert(header::IF_NONE_MATCH, etag.clone());
        }
        let response = self
            .octocrab
            ._get_with_headers(path, Some(headers))
            .await
            .map_err(|error| self.transport(&error))?;
        if response.status() == StatusCode::NOT_MODIFIED
            && let Some((_, body)) = cached
        {
            self.succeeded();
            return Ok(Reply {
                status: StatusCode::OK,
                body,
            });
        }
        let etag = response.headers().get(header::ETAG).cloned();
        let status = response.status();
        let headers = response.headers().clone();
        let text = self
            .octocrab
            .body_to_string(response)
            .await
            .map_err(|error| self.transport(&error))?;
        let reply = self.finish(status, &headers, &text)?;
        if reply.status == StatusCode::OK
            && let (Some(etag), Ok(mut cache)) = (etag, self.etags.lock())
        {
            if cache.len() >= ETAG_CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(path.to_owned(), (etag, reply.body.clone()));
        }
        Ok(reply)
    }

    /// A POST, PUT, PATCH or DELETE of `path` with a JSON `body`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, ForgeError> {
        self.check_backoff()?;
        let response = match method {
            Method::POST => self.octocrab._post(path, body).await,
            Method::PUT => self.octocrab._put(path, body).await,
            Method::PATCH => self.octocrab._patch(path, body).await,
            Method::DELETE => self.octocrab._delete(path, body).await,
            other => {
                return Err(ForgeError::Unavailable(format!(
                    "unsupported GitHub method {other}"
                )));
            }
        }
        .map_err(|error| self.transport(&error))?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = self
            .octocrab
            .body_to_string(response)
            .await
            .map_err(|error| self.transport(&error))?;
        self.finish(status, &headers, &text)
    }

    fn check_backoff(&self) -> Result<(), ForgeError> {
        let Ok(backoff) = self.backoff.lock() else {
            return Ok(());
        };
        match &backoff.blocked {
            Some(blocked) if blocked.until > SystemTime::now() => Err(blocked_error(blocked)),
            _ => Ok(()),
        }
    }

    fn succeeded(&self) {
        if let Ok(mut backoff) = self.backoff.lock() {
            backoff.server_errors = 0;
            backoff.blocked = None;
        }
    }

    fn block(&self, rate_limited: bool, wait: Duration, reason: String) -> ForgeError {
        let blocked = Blocked {
            until: SystemTime::now() + wait,
            rate_limited,
            reason,
        };
        let error = blocked_error(&blocked);
        tracing::warn!(%error, "GitHub asked dkd to back off");
        if let Ok(mut backoff) = self.backoff.lock() {
            backoff.blocked = Some(blocked);
        }
        error
    }

    fn transport(&self, error: &octocrab::Error) -> ForgeError {
        ForgeError::Unavailable(format!(
            "cannot reach GitHub at {}: {}; will retry",
            self.api_url,
            first_line(&error.to_string())
        ))
    }

    fn finish(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        text: &str,
    ) -> Result<Reply, ForgeError> {
        let body = serde_json::from_str(text).unwrap_or(Value::Null);
        let reply = Reply { status, body };
        if let Some(wait) = rate_limit_wait(status, headers) {
            tracing::warn!(message = %reply.message(), "GitHub rate limit");
            return Err(self.block(true, wait, "GitHub".to_owned()));
        }
        if status.is_server_error() {
            let failures = self
                .backoff
                .lock()
                .map(|mut backoff| {
                    backoff.server_errors = backoff.server_errors.saturating_add(1);
                    backoff.server_errors
                })
                .unwrap_or(1);
            let wait = Duration::from_millis(500)
                .saturating_mul(1 << failures.min(8))
                .min(MAX_SERVER_ERROR_WAIT);
            return Err(self.block(false, wait, format!("GitHub answered {status}")));
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(ForgeError::Unavailable(
                "GitHub rejected the token (401): check forge.token_env or forge.token_file in dkd.yaml".into(),
            ));
        }
        self.succeeded();
        Ok(reply)
    }
}

/// How long GitHub asks to wait, if this answer is a rate limit.
fn rate_limit_wait(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let number = |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.parse().ok() };
    if let Some(seconds) = number("retry-after") {
        return Some(Duration::from_secs(seconds));
    }
    if number("x-ratelimit-remaining") == Some(0) {
        let reset = SystemTime::UNIX_EPOCH + Duration::from_secs(number("x-ratelimit-reset")?);
        return Some(
            reset
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::from_secs(1)),
        );
    }
    (status == StatusCode::TOO_MANY_REQUESTS).then_some(DEFAULT_RATE_LIMIT_WAIT)
}

fn blocked_error(blocked: &Blocked) -> ForgeError {
    if blocked.rate_limited {
        ForgeError::RateLimited {
            forge: blocked.reason.clone(),
            until: blocked.until,
        }
    } else {
        ForgeError::Unavailable(format!(
            "{}; retrying after {}",
            blocked.reason,
            humantime::format_rfc3339_seconds(blocked.until)
        ))
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// Percent-encodes a query value or path (keeping `/`).
pub(super) fn encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}
