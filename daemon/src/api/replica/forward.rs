//! Forwarding on a follower: a call that changes something (promote, approve, hold, …)
//! is authenticated here, then passed to the leader over the peers listener with the
//! caller's `Principal` (never the caller's own credentials, and never a header the
//! caller sent), so any replica behind one Service accepts any call and the leader
//! decides it as that caller — RBAC, approval rules and the audit log included.

use std::{
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
};

use futures::future::BoxFuture;
use tonic::{
    Code,
    body::Body,
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};
use tower::{Layer, Service, ServiceExt};

use super::principal::{FORWARDED_PRINCIPAL, encode, leader_unreachable};
use crate::{
    api::errors::answer,
    auth::Principal,
    config::Peers,
    promotion::{LeaderInfo, Leadership},
};

/// The methods only the leader serves.
const LEADER_METHODS: [&str; 10] = [
    "Promote",
    "Rollback",
    "Approve",
    "Reject",
    "Cancel",
    "AddStore",
    "SetHold",
    "ReleaseHold",
    "Verify",
    // The leader delivers webhooks, so it alone knows how they went.
    "GetNotificationStatus",
];

fn leader_only(path: &str) -> bool {
    path.strip_prefix("/datakit.v1.DataKitService/")
        .is_some_and(|method| LEADER_METHODS.contains(&method))
}

/// Why the peers' TLS files cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("ha.peers: cannot read {path}: {source}")]
pub struct PeerTlsError {
    path: String,
    source: std::io::Error,
}

/// Connections from this replica to the leader, authenticated with this replica's
/// certificate; one channel per leader address, made again when the leader changes.
pub struct LeaderLink {
    leadership: Arc<Leadership>,
    tls: ClientTlsConfig,
    channel: Mutex<Option<(String, Channel)>>,
}

impl std::fmt::Debug for LeaderLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderLink").finish_non_exhaustive()
    }
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, PeerTlsError> {
    std::fs::read(path).map_err(|source| PeerTlsError {
        path: path.display().to_string(),
        source,
    })
}

impl LeaderLink {
    pub fn new(leadership: Arc<Leadership>, peers: &Peers) -> Result<Self, PeerTlsError> {
        let tls = ClientTlsConfig::new()
            .domain_name(peers.server_name.clone())
            .identity(Identity::from_pem(
                read(&peers.tls.cert)?,
                read(&peers.tls.key)?,
            ))
            .ca_certificate(Certificate::from_pem(read(&peers.ca)?));
        Ok(Self {
            leadership,
            tls,
            channel: Mutex::new(None),
        })
    }

    pub fn leadership(&self) -> &Arc<Leadership> {
        &self.leadership
    }

    /// A channel to `leader` (connected lazily, kept while it leads).
    pub fn channel(&self, leader: &LeaderInfo) -> Result<Channel, tonic::transport::Error> {
        let mut cached = self.channel.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((address, channel)) = cached.as_ref()
            && *address == leader.address
        {
            return Ok(channel.clone());
        }
        let channel = Endpoint::from_shared(format!("https://{}", leader.address))?
            .tls_config(self.tls.clone())?
            .connect_timeout(std::time::Duration::from_secs(2))
            .http2_keep_alive_interval(std::time::Duration::from_secs(5))
            .keep_alive_timeout(std::time::Duration::from_secs(5))
            .connect_lazy();
        *cached = Some((leader.address.clone(), channel.clone()));
        Ok(channel)
    }
}

/// Wraps a router's services in `Forward`.
#[derive(Clone)]
pub struct ForwardLayer(Option<Arc<LeaderLink>>);

impl ForwardLayer {
    /// Forwards through `link`; `None` (a lone dkd) forwards nothing.
    pub fn new(link: Option<Arc<LeaderLink>>) -> Self {
        Self(link)
    }
}

impl<S> Layer<S> for ForwardLayer {
    type Service = Forward<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Forward {
            inner,
            link: self.0.clone(),
        }
    }
}

/// See the module documentation.
#[derive(Clone)]
pub struct Forward<S> {
    inner: S,
    link: Option<Arc<LeaderLink>>,
}

impl<S> Service<http::Request<Body>> for Forward<S>
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

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let link = match &self.link {
            Some(link) if leader_only(request.uri().path()) && !link.leadership.may_write() => {
                link.clone()
            }
            _ => return Box::pin(self.inner.call(request)),
        };
        Box::pin(async move { Ok(forward(&link, request).await) })
    }
}

/// Passes `request` to the leader as its authenticated caller and returns its answer.
async fn forward(link: &LeaderLink, request: http::Request<Body>) -> http::Response<Body> {
    let Some(leader) = link.leadership.leader() else {
        return leader_unreachable(
            "no dkd replica leads at this moment (an election is under way): retry in a few seconds",
        )
        .into_http();
    };
    let Some(principal) = request.extensions().get::<Principal>().cloned() else {
        return answer(
            Code::Unauthenticated,
            "dkd cannot tell who is calling: no authenticated principal",
        )
        .into_http();
    };
    let Some(caller) = encode(&principal) else {
        return answer(Code::Internal, "cannot describe the caller to the leader").into_http();
    };
    let (parts, body) = request.into_parts();
    let mut forwarded = http::Request::new(body);
    *forwarded.method_mut() = parts.method;
    *forwarded.uri_mut() = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.clone(), |path| http::Uri::from(path.clone()));
    *forwarded.version_mut() = http::Version::HTTP_2;
    let headers = forwarded.headers_mut();
    *headers = parts.headers;
    headers.remove(http::header::AUTHORIZATION);
    headers.remove(http::header::HOST);
    headers.insert(FORWARDED_PRINCIPAL, caller);
    let unreachable = |error: &dyn std::fmt::Display| {
        tracing::warn!(leader = %leader.replica, address = %leader.address, %error, "cannot forward a call to the leader");
        leader_unreachable(&format!(
            "cannot reach the leading dkd replica {} at {}: {error}; retry in a few seconds",
            leader.replica, leader.address
        ))
        .into_http()
    };
    let channel = match link.channel(&leader) {
        Ok(channel) => channel,
        Err(error) => return unreachable(&error),
    };
    match channel.oneshot(forwarded).await {
        Ok(response) => response,
        Err(error) => unreachable(&error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_calls_that_change_something_go_to_the_leader() {
        for path in [
            "/datakit.v1.DataKitService/Promote",
            "/datakit.v1.DataKitService/Approve",
            "/datakit.v1.DataKitService/SetHold",
        ] {
            assert!(leader_only(path), "{path}");
        }
        for path in [
            "/datakit.v1.DataKitService/Status",
            "/datakit.v1.DataKitService/Watch",
            "/datakit.v1.DataKitService/GetPromotion",
            "/grpc.health.v1.Health/Check",
            "/datakit.v1.DataKitService/PromoteX",
        ] {
            assert!(!leader_only(path), "{path}");
        }
    }
}
