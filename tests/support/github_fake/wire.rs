//! The fake GitHub's wire protocol: authentication, injected faults (rate limits with
//! reset headers, 5xx), conditional GETs with ETags (a 304 costs no rate limit), and
//! routing to the endpoint handlers.

use std::{
    collections::HashMap,
    hash::{DefaultHasher, Hash, Hasher},
    time::{Duration, SystemTime},
};

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

use super::{
    model::{Model, WriteRecord},
    pulls, repo,
};

/// One request, parsed.
#[derive(Debug)]
pub struct Req {
    pub method: Method,
    /// Path segments after the API root, percent-decoded.
    pub segments: Vec<String>,
    pub query: HashMap<String, String>,
    pub body: Value,
    /// The login the token belongs to.
    pub user: String,
}

impl Req {
    pub fn query_number(&self, key: &str, default: usize) -> usize {
        self.query
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }
}

/// One answer.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Resp {
    pub fn new(status: u16, body: Value) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
            headers: HeaderMap::new(),
        }
    }

    pub fn ok(body: Value) -> Self {
        Self::new(200, body)
    }

    /// A GitHub error body: `{"message": …}`.
    pub fn error(status: u16, message: &str) -> Self {
        Self::new(
            status,
            json!({ "message": message, "documentation_url": "https://docs.github.com/rest" }),
        )
    }

    pub fn not_found() -> Self {
        Self::error(404, "Not Found")
    }
}

/// Answers one request against `model`.
pub async fn answer(
    model: &mut Model,
    method: Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Resp {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("token "))
        });
    let Some(user) = token.and_then(|t| model.tokens.get(t)).cloned() else {
        return Resp::error(401, "Bad credentials");
    };
    let token = token.unwrap_or_default().to_owned();
    if let Some(until) = model.faults.rate_limited_until {
        if until > SystemTime::now() {
            model.counted += 1;
            let reset = until
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs()
                + 1;
            let mut resp = Resp::error(403, "API rate limit exceeded for user ID 1.");
            resp.headers
                .insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
            resp.headers
                .insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
            if let Ok(value) = HeaderValue::from_str(&reset.to_string()) {
                resp.headers.insert("x-ratelimit-reset", value);
            }
            return resp;
        }
        model.faults.rate_limited_until = None;
    }
    if let Some(status) = model.faults.fail_next.pop_front() {
        model.counted += 1;
        return Resp::error(status, "Server Error");
    }
    let segments: Vec<String> = path
        .trim_start_matches("/api/v3")
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect();
    let query = query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    let body = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(body) => body,
            Err(_) => return Resp::error(400, "Problems parsing JSON"),
        }
    };
    let req = Req {
        method,
        segments,
        query,
        body,
        user,
    };
    let mut resp = route(model, &req).await;
    if req.method != Method::GET {
        model.writes.push(WriteRecord {
            token,
            user: req.user.clone(),
            method: req.method.to_string(),
            path: req.segments.join("/"),
            status: resp.status.as_u16(),
            at: SystemTime::now(),
        });
    }
    if req.method == Method::GET && resp.status == StatusCode::OK {
        let etag = format!("W/\"{:016x}\"", hash(&resp.body.to_string()));
        let matches = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == etag);
        if matches {
            model.not_modified += 1;
            return Resp {
                status: StatusCode::NOT_MODIFIED,
                body: Value::Null,
                headers: HeaderMap::new(),
            };
        }
        if let Ok(value) = HeaderValue::from_str(&etag) {
            resp.headers.insert(header::ETAG, value);
        }
    }
    model.counted += 1;
    resp
}

async fn route(model: &mut Model, req: &Req) -> Resp {
    let parts: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    match parts.as_slice() {
        ["orgs", org, "teams", slug, "members"] if req.method == Method::GET => {
            if *org != model.owner {
                return Resp::not_found();
            }
            match model.teams.get(*slug) {
                Some(members) => Resp::ok(Value::Array(
                    members.iter().map(|m| json!({ "login": m })).collect(),
                )),
                None => Resp::not_found(),
            }
        }
        ["repos", owner, repo, rest @ ..] if *owner == model.owner && *repo == model.repo => {
            match rest.first().copied() {
                Some("pulls" | "issues") => pulls::route(model, req, rest).await,
                _ => repo::route(model, req, rest).await,
            }
        }
        _ => Resp::not_found(),
    }
}

fn hash(text: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// Percent-decoding of a path segment or query value.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// GitHub's timestamp format.
pub fn timestamp(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// The time a git commit was made, from its `%ct`.
pub fn from_epoch(seconds: &str) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(seconds.trim().parse().unwrap_or_default())
}
