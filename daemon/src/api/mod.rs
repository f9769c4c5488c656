//! The gRPC API: the only module that knows tonic or the generated `datakit.v1` types.
//! It converts between proto and domain types, maps domain errors to status codes, and
//! serves on the local socket and the network listener (TLS, authentication, gRPC-Web,
//! limits).

mod access;
mod audit;
mod audit_events;
mod audited;
mod authenticate;
mod authority_rewriter;
mod cached_row;
mod convert;
mod dashboard;
mod encoded;
mod encoded_routes;
mod errors;
mod identity;
mod input;
mod lapse;
mod limits;
mod local_authority;
mod logs;
mod network;
mod notifications;
pub mod replica;
mod server;
mod service;
mod status_cache;
mod status_rows;
mod tls;
mod tokens;
mod version;
mod watch;
mod watch_conversions;
mod watch_snapshot;
mod web;
mod whoami;

pub use audited::AuditedApi;
pub use network::NetworkListener;
pub use server::{Listeners, PeerListener, ServeError, serve};
pub use service::{ApiSources, DataKitApi};
pub use version::{Backend, Backends};
