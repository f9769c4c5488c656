//! Serves the routes whose answers are encoded once ([`Encoded`]) in place of the generated
//! ones (whose codec would encode every message again): `Watch`, whose events go to every
//! subscriber as the same bytes, and `Status`, whose rows are copied in as precomputed
//! bytes. It sits innermost on every server, after authentication, limits and forwarding,
//! and lets every other call through to the router.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use datakit::proto;
use futures::future::BoxFuture;
use tonic::{
    Request, Response, Status,
    body::Body,
    server::{Grpc, ServerStreamingService, UnaryService},
};
use tower::{Layer, Service};

use super::{
    AuditedApi,
    encoded::{Encoded, EncodedCodec},
    service::EncodedStream,
};

/// The paths of the routes this layer serves itself.
const WATCH_PATH: &str = "/datakit.v1.DataKitService/Watch";
const STATUS_PATH: &str = "/datakit.v1.DataKitService/Status";

/// Serves `Watch` and `Status` from `api`, with messages of at most `max_message_bytes`
/// each way when given (as the listener's other calls).
#[derive(Clone)]
pub struct EncodedRoutesLayer {
    /// Shared, not cloned: tonic clones the service for every call, and the API is a few
    /// dozen handles.
    api: Arc<AuditedApi>,
    max_message_bytes: Option<usize>,
}

impl EncodedRoutesLayer {
    pub fn new(api: AuditedApi, max_message_bytes: Option<usize>) -> Self {
        Self {
            api: Arc::new(api),
            max_message_bytes,
        }
    }
}

impl<S> Layer<S> for EncodedRoutesLayer {
    type Service = EncodedRoutes<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EncodedRoutes {
            inner,
            routes: self.clone(),
        }
    }
}

/// `inner`, but `Watch` and `Status` answered with encodings made once.
#[derive(Clone)]
pub struct EncodedRoutes<S> {
    inner: S,
    routes: EncodedRoutesLayer,
}

impl<S> Service<http::Request<Body>> for EncodedRoutes<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let routes = self.routes.clone();
        let limit = routes.max_message_bytes;
        match request.uri().path() {
            WATCH_PATH => Box::pin(async move {
                let mut grpc = Grpc::new(EncodedCodec::<proto::WatchRequest>::default())
                    .apply_max_message_size_config(limit, limit);
                Ok(grpc.server_streaming(WatchCall(routes.api), request).await)
            }),
            STATUS_PATH => Box::pin(async move {
                let mut grpc = Grpc::new(EncodedCodec::<proto::StatusRequest>::default())
                    .apply_max_message_size_config(limit, limit);
                Ok(grpc.unary(StatusCall(routes.api), request).await)
            }),
            _ => Box::pin(self.inner.call(request)),
        }
    }
}

/// One `Watch` call on the audited API.
struct WatchCall(Arc<AuditedApi>);

impl ServerStreamingService<proto::WatchRequest> for WatchCall {
    type Response = Encoded;
    type ResponseStream = EncodedStream;
    type Future = BoxFuture<'static, Result<Response<EncodedStream>, Status>>;

    fn call(&mut self, request: Request<proto::WatchRequest>) -> Self::Future {
        let api = self.0.clone();
        Box::pin(async move { api.watch_encoded(request).await })
    }
}

/// One `Status` call on the audited API.
struct StatusCall(Arc<AuditedApi>);

impl UnaryService<proto::StatusRequest> for StatusCall {
    type Response = Encoded;
    type Future = BoxFuture<'static, Result<Response<Encoded>, Status>>;

    fn call(&mut self, request: Request<proto::StatusRequest>) -> Self::Future {
        let api = self.0.clone();
        Box::pin(async move { api.status_encoded(request).await })
    }
}
