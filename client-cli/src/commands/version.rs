//! `dk version`: dk's version and commit, and — when a dkd answers — the daemon's version,
//! commit, API version and backends. Never starts a dkd; one that does not answer is one
//! line, not an error.

use datakit::proto::{self, GetVersionRequest};
use serde::Serialize;

use crate::{
    connect::{DaemonAddress, connect},
    error::CliError,
    output::{OutputFormat, render_structured},
};

/// The commit dk was built from: `DATAKIT_COMMIT` in the build's environment
/// (`DATAKIT_COMMIT=$(git rev-parse --short HEAD) cargo build`), else "unknown".
const COMMIT: &str = match option_env!("DATAKIT_COMMIT") {
    Some(commit) => commit,
    None => "unknown",
};

#[derive(Debug, Serialize)]
struct ClientView {
    version: String,
    commit: String,
}

#[derive(Debug, Serialize)]
struct BackendView {
    kind: String,
    description: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DaemonView {
    version: String,
    commit: String,
    api_version: String,
    forge: Option<BackendView>,
    cluster: Option<BackendView>,
    registry: Option<BackendView>,
}

/// What `dk version -o json|yaml` prints; `daemon` is null and `daemonError` says why when
/// no dkd answered.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct VersionView {
    client: ClientView,
    daemon: Option<DaemonView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    daemon_error: Option<String>,
}

fn backend(backend: Option<proto::Backend>) -> Option<BackendView> {
    backend.map(|b| BackendView {
        kind: b.kind,
        description: b.description,
    })
}

impl From<proto::VersionResponse> for DaemonView {
    fn from(answer: proto::VersionResponse) -> Self {
        Self {
            version: answer.version,
            commit: answer.commit,
            api_version: answer.api_version,
            forge: backend(answer.forge),
            cluster: backend(answer.cluster),
            registry: backend(answer.registry),
        }
    }
}

/// Asks dkd at `address` for its version, without starting one.
async fn ask(address: DaemonAddress, home: &std::path::Path) -> Result<DaemonView, CliError> {
    let address = match address {
        DaemonAddress::Unix { path, .. } => DaemonAddress::Unix { path, local: false },
        tcp => tcp,
    };
    let mut client = connect(&address, home).await?;
    let answer = client.get_version(GetVersionRequest {}).await?.into_inner();
    Ok(DaemonView::from(answer))
}

/// `dk version`.
pub async fn version(
    address: DaemonAddress,
    home: &std::path::Path,
    format: OutputFormat,
) -> Result<String, CliError> {
    let (daemon, daemon_error) = match ask(address, home).await {
        Ok(daemon) => (Some(daemon), None),
        Err(error) => (None, Some(error.message)),
    };
    let view = VersionView {
        client: ClientView {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            commit: COMMIT.to_owned(),
        },
        daemon,
        daemon_error,
    };
    if format != OutputFormat::Table {
        return render_structured(format, &view);
    }
    let mut text = format!(
        "dk   {} (commit {})\n",
        view.client.version, view.client.commit
    );
    match (&view.daemon, &view.daemon_error) {
        (Some(daemon), _) => {
            text.push_str(&format!(
                "dkd  {} (commit {}), API {}\n",
                daemon.version, daemon.commit, daemon.api_version
            ));
            for (label, backend) in [
                ("forge:", &daemon.forge),
                ("cluster:", &daemon.cluster),
                ("registry:", &daemon.registry),
            ] {
                if let Some(backend) = backend {
                    text.push_str(&format!(
                        "  {label:<10}{} — {}\n",
                        backend.kind, backend.description
                    ));
                }
            }
        }
        (None, reason) => text.push_str(&format!(
            "dkd  not reachable: {}\n",
            reason.as_deref().unwrap_or("no answer")
        )),
    }
    Ok(text)
}
