//! The limits of the network listener that act per request: a deadline on unary calls
//! (streams are not cut), RESOURCE_EXHAUSTED for a request over the message size limit
//! (tonic says OUT_OF_RANGE), and the registry of open Watch streams per principal, which
//! the Watch RPC finds in the request's extensions. The local socket has none of these.

use std::{
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use futures::future::BoxFuture;
use tonic::{Code, Status, body::Body};
use tower::{Layer, Service};

use super::{errors::answer, watch::OpenStreams};
use crate::config::ListenLimits;

/// Calls that stream their answer for as long as the client wants: never cut.
const STREAMING_CALLS: [&str; 5] = [
    "/datakit.v1.DataKitService/Watch",
    "/datakit.v1.DataKitService/Logs",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// Applies `ListenLimits` to every request of the listener.
#[derive(Debug, Clone)]
pub struct LimitsLayer {
    unary_deadline: Duration,
    max_message_bytes: usize,
    open_streams: Arc<OpenStreams>,
}

impl LimitsLayer {
    pub fn new(limits: &ListenLimits) -> Self {
        Self {
            unary_deadline: Duration::from_millis(limits.unary_deadline_ms),
            max_message_bytes: limits.max_message_bytes,
            open_streams: Arc::new(OpenStreams::new(limits.streams_per_principal)),
        }
    }
}

impl<S> Layer<S> for LimitsLayer {
    type Service = Limits<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Limits {
            inner,
            limits: self.clone(),
        }
    }
}

/// `inner` within the listener's limits.
#[derive(Debug, Clone)]
pub struct Limits<S> {
    inner: S,
    limits: LimitsLayer,
}

impl<S> Service<http::Request<Body>> for Limits<S>
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

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        request
            .extensions_mut()
            .insert(self.limits.open_streams.clone());
        let deadline = (!STREAMING_CALLS.contains(&request.uri().path()))
            .then_some(self.limits.unary_deadline);
        let max_message_bytes = self.limits.max_message_bytes;
        let called = self.inner.call(request);
        Box::pin(async move {
            let answered = match deadline {
                None => called.await?,
                Some(deadline) => match tokio::time::timeout(deadline, called).await {
                    Ok(answered) => answered?,
                    Err(_) => return Ok(past_deadline(deadline).into_http()),
                },
            };
            Ok(if decoded_too_large(&answered) {
                too_large(max_message_bytes).into_http()
            } else {
                answered
            })
        })
    }
}

fn past_deadline(deadline: Duration) -> Status {
    answer(
        Code::DeadlineExceeded,
        &format!(
            "the call ran longer than this dkd allows a call on its network listener ({} ms): retry later, or its admin raises listen.limits.unary_deadline_ms in dkd.yaml",
            deadline.as_millis()
        ),
    )
}

fn too_large(max_message_bytes: usize) -> Status {
    answer(
        Code::ResourceExhausted,
        &format!(
            "the request is larger than this dkd accepts on its network listener ({max_message_bytes} bytes): send less, or its admin raises listen.limits.max_message_bytes in dkd.yaml"
        ),
    )
}

/// Whether `response` is tonic refusing a request over the decoding limit: OUT_OF_RANGE
/// with its fixed message (a tonic upgrade that changes it fails the listener's tests).
fn decoded_too_large(response: &http::Response<Body>) -> bool {
    Status::from_header_map(response.headers()).is_some_and(|status| {
        status.code() == Code::OutOfRange
            && status
                .message()
                .starts_with("Error, decoded message length too large")
    })
}
