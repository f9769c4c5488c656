//! The gRPC API: the only module that knows tonic or the generated `datakit.v1` types.
//! It converts between proto and domain types and maps domain errors to status codes.

mod convert;
mod errors;
mod identity;
mod input;
mod logs;
mod server;
mod service;
mod watch;

pub use server::{ServeError, serve_unix};
pub use service::{ApiSources, DataKitApi};
