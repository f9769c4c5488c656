//! The caller's identity on a forwarded call: a follower that accepted and authenticated a
//! call forwards it to the leader over the peers listener with the `Principal` in one
//! header. Only the peers listener reads that header, and only from a connection whose
//! client certificate a replica CA signed; a client that sends it anywhere else sends an
//! ignored header (and a follower replaces it before forwarding).

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use futures::future::BoxFuture;
use rustls::pki_types::UnixTime;
use serde::{Deserialize, Serialize};
use tonic::{
    Code, Status,
    body::Body,
    transport::server::{TcpConnectInfo, TlsConnectInfo},
};
use tower::{Layer, Service};

use crate::{
    api::errors::answer,
    auth::{AuthMethod, ClientCa, Principal, Validity},
};

/// The header carrying a forwarded caller.
pub const FORWARDED_PRINCIPAL: &str = "x-datakit-forwarded-principal";

/// A `Principal` as it travels between replicas.
#[derive(Debug, Serialize, Deserialize)]
struct Forwarded {
    name: String,
    groups: Vec<String>,
    method: String,
    expires_at: Option<u64>,
    service_token: Option<String>,
}

/// `principal` as the header value.
pub fn encode(principal: &Principal) -> Option<http::HeaderValue> {
    let forwarded = Forwarded {
        name: principal.name.clone(),
        groups: principal.groups.clone(),
        method: principal.method.key().to_owned(),
        expires_at: principal.validity.expires_at,
        service_token: principal.validity.service_token.clone(),
    };
    let json = serde_json::to_vec(&forwarded).ok()?;
    http::HeaderValue::from_str(&URL_SAFE_NO_PAD.encode(json)).ok()
}

fn decode(value: &http::HeaderValue) -> Option<Principal> {
    let json = URL_SAFE_NO_PAD.decode(value.as_bytes()).ok()?;
    let forwarded: Forwarded = serde_json::from_slice(&json).ok()?;
    Some(Principal {
        name: forwarded.name,
        groups: forwarded.groups,
        method: AuthMethod::from_key(&forwarded.method)?,
        validity: Validity {
            expires_at: forwarded.expires_at,
            service_token: forwarded.service_token,
        },
    })
}

/// Admits only other replicas (a client certificate the replica CA signed) to the peers
/// listener, and makes a forwarded call act as the caller the follower authenticated.
#[derive(Clone)]
pub struct ReplicaOnlyLayer(Arc<ClientCa>);

impl ReplicaOnlyLayer {
    pub fn new(replica_ca: ClientCa) -> Self {
        Self(Arc::new(replica_ca))
    }
}

impl<S> Layer<S> for ReplicaOnlyLayer {
    type Service = ReplicaOnly<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ReplicaOnly {
            inner,
            replica_ca: self.0.clone(),
        }
    }
}

/// See `ReplicaOnlyLayer`.
#[derive(Clone)]
pub struct ReplicaOnly<S> {
    inner: S,
    replica_ca: Arc<ClientCa>,
}

/// Paths a replica may call without forwarding anyone.
const REPLICA_PATHS: [&str; 2] = ["/datakit.v1.ReplicaService/", "/grpc.health.v1.Health/"];

impl<S> Service<http::Request<Body>> for ReplicaOnly<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let refuse = |reason: &str| -> Self::Future {
            let refusal = answer(Code::Unauthenticated, reason).into_http();
            Box::pin(async move { Ok(refusal) })
        };
        let certificates = request
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(TlsConnectInfo::peer_certs);
        let Some(chain) = certificates.filter(|chain| !chain.is_empty()) else {
            return refuse("the peers listener serves only dkd replicas: no client certificate");
        };
        if let Err(rejection) = self.replica_ca.authenticate(&chain, UnixTime::now()) {
            return refuse(&format!(
                "the peers listener serves only dkd replicas: {rejection}"
            ));
        }
        let path = request.uri().path();
        if !REPLICA_PATHS.iter().any(|prefix| path.starts_with(prefix)) {
            let Some(principal) = request.headers().get(FORWARDED_PRINCIPAL).and_then(decode)
            else {
                return refuse("a forwarded call names no caller");
            };
            request.extensions_mut().insert(principal);
        }
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        Box::pin(async move { inner.call(request).await })
    }
}

/// The status of a forwarded call that cannot reach the leader.
pub fn leader_unreachable(detail: &str) -> Status {
    answer(Code::Unavailable, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_principal_survives_the_trip_between_replicas() {
        let principal = Principal {
            name: "alice".into(),
            groups: vec!["team-leads".into()],
            method: AuthMethod::Oidc,
            validity: Validity {
                expires_at: Some(1_900_000_000),
                service_token: None,
            },
        };
        let header = encode(&principal).expect("encodes");
        assert_eq!(decode(&header), Some(principal));
        assert_eq!(decode(&http::HeaderValue::from_static("admin")), None);
    }
}
