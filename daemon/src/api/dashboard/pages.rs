//! The layer in front of gRPC-Web that answers what is not an RPC: `GET` of the dashboard's
//! files (no credentials needed: they hold no data; the page then calls the API with the
//! caller's credentials), and on the loopback listener `POST /login`, which exchanges a
//! one-time code (header `x-dashboard-login`) for a session. On the loopback listener it
//! also refuses every request whose `Host` is not the listener's own loopback address, so
//! a web page on another origin cannot reach it by pointing a DNS name at 127.0.0.1.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use futures::future::{BoxFuture, FutureExt as _};
use http::{Method, StatusCode, header};
use tonic::body::Body;
use tower::{Layer, Service};

use super::{
    assets::{SECURITY_HEADERS, asset},
    logins::Logins,
};

/// The header carrying the one-time code to `POST /login`.
const LOGIN_HEADER: &str = "x-dashboard-login";

/// What the loopback listener adds to the public pages.
#[derive(Debug, Clone)]
struct Loopback {
    logins: Arc<Logins>,
    port: u16,
}

/// Serves the dashboard's pages in front of `inner`.
#[derive(Debug, Clone, Default)]
pub struct PagesLayer {
    loopback: Option<Loopback>,
}

impl PagesLayer {
    /// The pages alone, for the network listener.
    pub fn public() -> Self {
        Self::default()
    }

    /// The pages, `POST /login` and the `Host` check of the loopback listener on `port`.
    pub fn loopback(logins: Arc<Logins>, port: u16) -> Self {
        Self {
            loopback: Some(Loopback { logins, port }),
        }
    }
}

impl<S> Layer<S> for PagesLayer {
    type Service = Pages<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Pages {
            inner,
            loopback: self.loopback.clone(),
        }
    }
}

/// See [`PagesLayer`].
#[derive(Debug, Clone)]
pub struct Pages<S> {
    inner: S,
    loopback: Option<Loopback>,
}

fn answer(status: StatusCode, content_type: &str, body: String) -> http::Response<Body> {
    let mut response = http::Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type);
    for (name, value) in SECURITY_HEADERS {
        response = response.header(name, value);
    }
    response
        .body(Body::new(body))
        .unwrap_or_else(|_| http::Response::new(Body::empty()))
}

fn text(status: StatusCode, message: &str) -> http::Response<Body> {
    answer(status, "text/plain; charset=utf-8", format!("{message}\n"))
}

/// Whether `request` names the loopback listener on `port` as its host.
fn addressed_to(request: &http::Request<Body>, port: u16) -> bool {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| request.uri().authority().map(http::uri::Authority::as_str));
    host.is_some_and(|host| {
        host == format!("127.0.0.1:{port}") || host == format!("localhost:{port}")
    })
}

impl Loopback {
    fn login(&self, request: &http::Request<Body>) -> http::Response<Body> {
        let code = request
            .headers()
            .get(LOGIN_HEADER)
            .and_then(|code| code.to_str().ok())
            .unwrap_or_default();
        match self.logins.redeem(code) {
            Ok(Some(session)) => {
                let expires = humantime::format_rfc3339_seconds(session.expires_at);
                let body = serde_json::json!({ "session": session.secret, "expires_at": expires.to_string() });
                answer(StatusCode::OK, "application/json", body.to_string())
            }
            Ok(None) => text(
                StatusCode::FORBIDDEN,
                "this login link was used already or has expired: run `dk ui` again for a new one",
            ),
            Err(error) => text(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
        }
    }
}

impl<S> Service<http::Request<Body>> for Pages<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Send,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if let Some(loopback) = &self.loopback {
            if !addressed_to(&request, loopback.port) {
                let refusal = text(
                    StatusCode::MISDIRECTED_REQUEST,
                    "the dashboard answers only requests addressed to 127.0.0.1 or localhost with its port",
                );
                return async move { Ok(refusal) }.boxed();
            }
            if request.method() == Method::POST && request.uri().path() == "/login" {
                let answered = loopback.login(&request);
                return async move { Ok(answered) }.boxed();
            }
        }
        if request.method() == Method::GET
            && let Some(file) = asset(request.uri().path())
        {
            let answered = answer(StatusCode::OK, file.content_type, file.body.to_owned());
            return async move { Ok(answered) }.boxed();
        }
        self.inner.call(request).boxed()
    }
}
