//! `dkd`, the DataKit promotion daemon, as a library: `app::run` starts everything, so
//! tests can build the whole daemon in-process. See docs/architecture.md.

pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod gitops;
pub mod home;
pub mod lease;
pub mod lock;
pub mod notify;
pub mod promotion;
pub mod registry;
pub mod store;
