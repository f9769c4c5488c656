//! Authentication on the loopback listener: each call carries the dashboard session the
//! page got for its one-time code (`authorization: Bearer <session>`); the call then acts
//! as the principal that minted the code — the socket's owner, exactly as `dk` on the
//! socket — until the session expires. Anything else is answered UNAUTHENTICATED and
//! recorded in the audit log, like a refused call on the network listener.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use futures::future::{BoxFuture, FutureExt as _};
use tonic::{Code, body::Body, transport::server::TcpConnectInfo};
use tower::{Layer, Service};

use super::logins::Logins;
use crate::api::{
    audit::{Caller, Recorder},
    errors::answer,
};

/// What a refused call is told.
const NO_SESSION: &str =
    "no dashboard session, or it expired or dkd restarted: run `dk ui` again for a new login link";

/// Wraps the loopback listener's services in [`SessionCheck`].
#[derive(Debug, Clone)]
pub struct SessionLayer {
    logins: Arc<Logins>,
    audit: Recorder,
}

impl SessionLayer {
    /// Checks sessions against `logins`, recording refusals with `audit`.
    pub fn new(logins: Arc<Logins>, audit: Recorder) -> Self {
        Self { logins, audit }
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionCheck<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionCheck {
            inner,
            logins: self.logins.clone(),
            audit: self.audit.clone(),
        }
    }
}

/// Puts the session's principal into each request before `inner` sees it.
#[derive(Debug, Clone)]
pub struct SessionCheck<S> {
    inner: S,
    logins: Arc<Logins>,
    audit: Recorder,
}

fn bearer(request: &http::Request<Body>) -> Option<&str> {
    request
        .headers()
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, session)| session.trim())
}

impl<S> Service<http::Request<Body>> for SessionCheck<S>
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

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        match bearer(&request).and_then(|session| self.logins.session(session)) {
            Some(principal) => {
                request.extensions_mut().insert(principal);
                self.inner.call(request).boxed()
            }
            None => {
                let rpc = request.uri().path().to_owned();
                let peer = request
                    .extensions()
                    .get::<TcpConnectInfo>()
                    .and_then(TcpConnectInfo::remote_addr)
                    .map_or_else(|| "loopback".to_owned(), |peer| peer.to_string());
                tracing::warn!(%peer, %rpc, "refused a dashboard call without a valid session");
                let audit = self.audit.clone();
                async move {
                    let caller = Caller {
                        principal: None,
                        peer,
                    };
                    audit
                        .refused(&rpc, caller, Code::Unauthenticated, NO_SESSION)
                        .await;
                    Ok(answer(Code::Unauthenticated, NO_SESSION).into_http())
                }
                .boxed()
            }
        }
    }
}
