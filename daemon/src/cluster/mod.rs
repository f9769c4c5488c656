//! Clusters: what each environment actually runs. Implementations of the domain's
//! `ClusterStatus` port: the embedded local target, and Argo CD through kube.

pub mod argocd;
mod local;
mod local_health;
mod local_sync;
mod local_verify;

pub use local::{AppliedMarker, AppliedPackage, LocalTarget};
pub use local_sync::LocalSync;
pub use local_verify::CommandRunner;
