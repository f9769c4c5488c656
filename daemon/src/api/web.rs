//! gRPC-Web for browser pages and IDE webviews on the network listener: tonic-web
//! translates gRPC-Web (HTTP/1.1 or HTTP/2) to gRPC, and a CORS layer lets pages of the
//! configured origins — exactly those — call dkd with a bearer token and read the gRPC
//! status. It answers preflight requests itself, before authentication: a browser sends
//! no credentials in a preflight. With no origins configured there is no CORS at all, and
//! only same-origin pages can call.

use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// Headers a gRPC-Web call sends besides the CORS-safelisted ones.
const REQUEST_HEADERS: [HeaderName; 5] = [
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    HeaderName::from_static("x-grpc-web"),
    HeaderName::from_static("x-user-agent"),
    HeaderName::from_static("grpc-timeout"),
];

/// Response headers a page may read: the outcome of the call.
const EXPOSED_HEADERS: [HeaderName; 2] = [
    HeaderName::from_static("grpc-status"),
    HeaderName::from_static("grpc-message"),
];

/// The CORS layer for `origins` (validated by the configuration), or none without any.
pub fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::POST])
            .allow_headers(REQUEST_HEADERS)
            .expose_headers(EXPOSED_HEADERS)
            .max_age(PREFLIGHT_MAX_AGE),
    )
}
