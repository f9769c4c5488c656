//! Authentication on the loopback listener: each call carries the dashboard session the
//! page got for its one-time code (`authorization: Bearer <session>`); the call then acts
//! as the principal that minted the code — the socket's owner, exactly as `dk` on the
//! socket — until the session expires. Anything else is answered UNAUTHENTICATED.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use futures::future::{BoxFuture, FutureExt as _};
use tonic::{Code, body::Body};
use tower::{Layer, Service};

use super::logins::Logins;
use crate::api::errors::answer;

/// Wraps the loopback listener's services in [`SessionCheck`].
#[derive(Debug, Clone)]
pub struct SessionLayer(Arc<Logins>);

impl SessionLayer {
    pub fn new(logins: Arc<Logins>) -> Self {
        Self(logins)
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionCheck<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionCheck {
            inner,
            logins: self.0.clone(),
        }
    }
}

/// Puts the session's principal into each request before `inner` sees it.
#[derive(Debug, Clone)]
pub struct SessionCheck<S> {
    inner: S,
    logins: Arc<Logins>,
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
                let refusal = answer(
                    Code::Unauthenticated,
                    "no dashboard session, or it expired or dkd restarted: run `dk ui` again for a new login link",
                )
                .into_http();
                async move { Ok(refusal) }.boxed()
            }
        }
    }
}
