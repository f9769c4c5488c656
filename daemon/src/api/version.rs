//! `GetVersion`: what this dkd is — version, commit, API version — and the backends it was
//! started with, for `dk version`.

use datakit::proto;

/// The commit dkd was built from: `DATAKIT_COMMIT` in the build's environment
/// (`DATAKIT_COMMIT=$(git rev-parse --short HEAD) cargo build`), else "unknown".
pub const COMMIT: &str = match option_env!("DATAKIT_COMMIT") {
    Some(commit) => commit,
    None => "unknown",
};

/// The gRPC API dkd serves.
const API_VERSION: &str = "datakit.v1";

/// One backend as dkd.yaml names it (`embedded`, `github`, `argocd`, `oci`) and where it
/// points, in words.
#[derive(Debug, Clone)]
pub struct Backend {
    pub kind: &'static str,
    pub description: String,
}

/// The forge, cluster and registry dkd was started with.
#[derive(Debug, Clone)]
pub struct Backends {
    pub forge: Backend,
    pub cluster: Backend,
    pub registry: Backend,
}

fn backend(backend: &Backend) -> Option<proto::Backend> {
    Some(proto::Backend {
        kind: backend.kind.to_owned(),
        description: backend.description.clone(),
    })
}

/// The answer: the same for every authenticated caller.
pub fn answer(backends: &Backends) -> proto::VersionResponse {
    proto::VersionResponse {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        commit: COMMIT.to_owned(),
        api_version: API_VERSION.to_owned(),
        forge: backend(&backends.forge),
        cluster: backend(&backends.cluster),
        registry: backend(&backends.registry),
    }
}
