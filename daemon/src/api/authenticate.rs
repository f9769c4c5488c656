//! Authentication on the network listener: every request but gRPC health carries a bearer
//! token — a service token (`dkt_…`) or, when `auth.oidc` is configured, an OIDC token
//! (anything shaped like a JWT) — or comes over a connection with a client certificate
//! signed by the client CA. The principal goes into the request's extensions for the RPC to
//! act as; anything else is answered UNAUTHENTICATED, saying which method failed and why,
//! never echoing the token. A token, when sent, decides: a certificate on the same
//! connection is then not consulted. CORS preflights (which carry no credentials) never
//! get here: the CORS layer in front of this one answers them (`web.rs`).

use std::{
    net::SocketAddr,
    sync::Arc,
    task::{Context, Poll},
    time::SystemTime,
};

use futures::future::BoxFuture;
use rustls::pki_types::{CertificateDer, UnixTime};
use tonic::{
    Code, Status,
    body::Body,
    transport::server::{TcpConnectInfo, TlsConnectInfo},
};
use tower::{Layer, Service};

use super::{
    audit::{Caller, Recorder},
    errors::answer,
};
use crate::auth::{ClientCa, OidcVerifier, Principal, TokenStore, looks_like_jwt};

/// Paths served without authentication: load balancers and probes must reach health.
const UNAUTHENTICATED_PREFIX: &str = "/grpc.health.v1.Health/";

/// What the listener accepts as credentials.
#[derive(Debug, Clone)]
pub struct Authenticator {
    tokens: Arc<TokenStore>,
    oidc: Option<Arc<OidcVerifier>>,
    client_ca: Option<ClientCa>,
    /// Where refused calls are recorded (set by the server before it serves).
    audit: Option<Recorder>,
}

impl Authenticator {
    pub fn new(
        tokens: Arc<TokenStore>,
        oidc: Option<Arc<OidcVerifier>>,
        client_ca: Option<ClientCa>,
    ) -> Self {
        Self {
            tokens,
            oidc,
            client_ca,
            audit: None,
        }
    }

    /// This authenticator, recording every call it refuses with `audit`.
    pub fn audited(mut self, audit: Recorder) -> Self {
        self.audit = Some(audit);
        self
    }

    /// The principal of a request with `headers`, over a connection that presented
    /// `certificates`; the message says which method failed and why.
    async fn authenticate(
        &self,
        headers: &http::HeaderMap,
        certificates: Option<&[CertificateDer<'static>]>,
    ) -> Result<Principal, String> {
        if let Some(value) = headers.get(http::header::AUTHORIZATION) {
            // The scheme is case-insensitive (RFC 9110).
            let token = value
                .to_str()
                .ok()
                .and_then(|value| value.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim())
                .ok_or_else(|| {
                    "authorization: not `Bearer <token>`: set DK_TOKEN to a service token or an OIDC token"
                        .to_owned()
                })?;
            if !looks_like_jwt(token) {
                return self
                    .tokens
                    .authenticate(token, SystemTime::now())
                    .map_err(|rejection| rejection.to_string());
            }
            return match &self.oidc {
                Some(oidc) => oidc
                    .verify(token)
                    .await
                    .map_err(|rejection| rejection.to_string()),
                None => Err("OIDC token: this dkd accepts none (auth.oidc is not configured in its dkd.yaml): use a service token".to_owned()),
            };
        }
        let tokens = if self.oidc.is_some() {
            "a service token or an OIDC token (DK_TOKEN)"
        } else {
            "a service token (DK_TOKEN)"
        };
        match (
            &self.client_ca,
            certificates.filter(|chain| !chain.is_empty()),
        ) {
            (Some(ca), Some(chain)) => ca
                .authenticate(chain, UnixTime::now())
                .map_err(|rejection| rejection.to_string()),
            (Some(_), None) => Err(format!(
                "no credentials: send {tokens} or a client certificate (DK_CLIENT_CERT and DK_CLIENT_KEY)"
            )),
            (None, _) => Err(format!(
                "no credentials: send {tokens}; this dkd's admin issues service tokens with dk token create"
            )),
        }
    }
}

/// Wraps every service of the listener in `Authenticate`.
#[derive(Debug, Clone)]
pub struct AuthenticateLayer(Arc<Authenticator>);

impl AuthenticateLayer {
    pub fn new(authenticator: Authenticator) -> Self {
        Self(Arc::new(authenticator))
    }
}

impl<S> Layer<S> for AuthenticateLayer {
    type Service = Authenticate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticate {
            inner,
            authenticator: self.0.clone(),
        }
    }
}

/// Authenticates each request before `inner` sees it.
#[derive(Debug, Clone)]
pub struct Authenticate<S> {
    inner: S,
    authenticator: Arc<Authenticator>,
}

impl<S> Service<http::Request<Body>> for Authenticate<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        if request.uri().path().starts_with(UNAUTHENTICATED_PREFIX) {
            return Box::pin(self.inner.call(request));
        }
        // The clone that was made ready serves this request (tower's rule for services
        // called from a future).
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let authenticator = self.authenticator.clone();
        Box::pin(async move {
            let (peer, certificates) = connection(&request);
            match authenticator
                .authenticate(
                    request.headers(),
                    certificates.as_deref().map(Vec::as_slice),
                )
                .await
            {
                Ok(principal) => {
                    tracing::debug!(principal = %principal.name, method = principal.method.describe(), rpc = request.uri().path(), "authenticated");
                    request.extensions_mut().insert(principal);
                    inner.call(request).await
                }
                Err(reason) => {
                    tracing::warn!(peer = ?peer, rpc = request.uri().path(), %reason, "refused an unauthenticated call");
                    if let Some(audit) = &authenticator.audit {
                        let caller = Caller {
                            principal: None,
                            peer: peer
                                .map_or_else(|| "unknown".to_owned(), |peer| peer.to_string()),
                        };
                        let rpc = request.uri().path();
                        audit
                            .refused(rpc, caller, Code::Unauthenticated, &reason)
                            .await;
                    }
                    let refusal: Status = answer(Code::Unauthenticated, &reason);
                    Ok(refusal.into_http())
                }
            }
        })
    }
}

/// The peer address and, over TLS, the client certificates of `request`'s connection.
fn connection(
    request: &http::Request<Body>,
) -> (
    Option<SocketAddr>,
    Option<Arc<Vec<CertificateDer<'static>>>>,
) {
    let extensions = request.extensions();
    if let Some(tls) = extensions.get::<TlsConnectInfo<TcpConnectInfo>>() {
        return (tls.get_ref().remote_addr(), tls.peer_certs());
    }
    let peer = extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr);
    (peer, None)
}
