//! Serves `Watch` with events encoded once for all subscribers ([`Encoded`]), in place of
//! the generated route (whose codec would encode each event again per stream). It sits
//! innermost on every server, after authentication, limits and forwarding, and lets every
//! other call through to the router.

use std::task::{Context, Poll};

use datakit::proto;
use futures::future::BoxFuture;
use tonic::{
    Request, Response, Status,
    body::Body,
    server::{Grpc, ServerStreamingService},
};
use tower::{Layer, Service};

use super::{
    AuditedApi,
    encoded::{Encoded, EncodedCodec},
    service::EncodedStream,
};

/// The path of the route this layer serves itself.
const WATCH_PATH: &str = "/datakit.v1.DataKitService/Watch";

/// Serves `Watch` from `api`, with messages of at most `max_message_bytes` each way when
/// given (as the listener's other calls).
#[derive(Clone)]
pub struct EncodedWatchLayer {
    api: AuditedApi,
    max_message_bytes: Option<usize>,
}

impl EncodedWatchLayer {
    pub fn new(api: AuditedApi, max_message_bytes: Option<usize>) -> Self {
        Self {
            api,
            max_message_bytes,
        }
    }
}

impl<S> Layer<S> for EncodedWatchLayer {
    type Service = EncodedWatch<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EncodedWatch {
            inner,
            watch: self.clone(),
        }
    }
}

/// `inner`, but `Watch` served with encoded events.
#[derive(Clone)]
pub struct EncodedWatch<S> {
    inner: S,
    watch: EncodedWatchLayer,
}

impl<S> Service<http::Request<Body>> for EncodedWatch<S>
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
        if request.uri().path() != WATCH_PATH {
            return Box::pin(self.inner.call(request));
        }
        let watch = self.watch.clone();
        Box::pin(async move {
            let mut grpc = Grpc::new(EncodedCodec::<proto::WatchRequest>::default())
                .apply_max_message_size_config(watch.max_message_bytes, watch.max_message_bytes);
            Ok(grpc.server_streaming(WatchCall(watch.api), request).await)
        })
    }
}

/// One `Watch` call on the audited API.
struct WatchCall(AuditedApi);

impl ServerStreamingService<proto::WatchRequest> for WatchCall {
    type Response = Encoded;
    type ResponseStream = EncodedStream;
    type Future = BoxFuture<'static, Result<Response<EncodedStream>, Status>>;

    fn call(&mut self, request: Request<proto::WatchRequest>) -> Self::Future {
        let api = self.0.clone();
        Box::pin(async move { api.watch_encoded(request).await })
    }
}
