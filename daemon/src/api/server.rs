//! Serves the API, gRPC health and server reflection (v1 and v1alpha) on the local Unix
//! socket until shutdown, to dkd's own user only.

use std::{
    future::Future,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::Path,
};

use datakit::proto::{FILE_DESCRIPTOR_SET, data_kit_service_server::DataKitServiceServer};
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::service::InterceptorLayer;
use tonic_health::ServingStatus;

use super::{DataKitApi, identity::OwnerOnly};

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {path}: {source}")]
    Bind {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Binds `socket` (mode 0600 from the first moment it has that name; a stale file is
/// replaced — the caller holds the instance lock) and serves only dkd's own user until
/// `shutdown` resolves, then drains in-flight calls.
pub async fn serve_unix(
    api: DataKitApi,
    socket: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let listener = bind_private(socket).map_err(|source| ServeError::Bind {
        path: socket.display().to_string(),
        source,
    })?;
    // The socket is dkd's own file, so its owner is the uid dkd runs as.
    let owner = std::fs::metadata(socket)
        .map_err(|source| ServeError::Bind {
            path: socket.display().to_string(),
            source,
        })?
        .uid();

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<DataKitServiceServer<DataKitApi>>()
        .await;
    health.set_service_status("", ServingStatus::Serving).await;
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;

    tracing::info!(socket = %socket.display(), "serving");
    let shutdown = async move {
        shutdown.await;
        health
            .set_not_serving::<DataKitServiceServer<DataKitApi>>()
            .await;
        health
            .set_service_status("", ServingStatus::NotServing)
            .await;
    };
    tonic::transport::Server::builder()
        .layer(InterceptorLayer::new(OwnerOnly::new(owner)))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(DataKitServiceServer::new(api))
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
        .await?;
    Ok(())
}

/// Binds a listener that appears at `socket` already mode 0600.
///
/// A new socket gets mode 0777 minus the umask, so binding at `socket` and then chmod-ing
/// leaves a moment in which anyone may connect. Narrowing the umask around `bind` does not
/// fix that in a multithreaded program: the umask is per process, so every file another
/// thread (sled, git children, logging) creates meanwhile would get it too, and setting it
/// once before the runtime starts would change the mode of everything dkd ever creates.
/// Instead the socket is bound inside a fresh directory only dkd's user may enter (mode
/// 0700, next to `socket` so the rename stays on one file system), narrowed to 0600 there,
/// and only then renamed to `socket` — atomically, replacing a stale one. Renaming keeps
/// the listening socket: a client connecting by path reaches the same inode.
fn bind_private(socket: &Path) -> std::io::Result<UnixListener> {
    let parent = socket
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let private = tempfile::Builder::new()
        .prefix(".bind-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(parent)?;
    let staged = private.path().join("dkd.sock");
    let listener = UnixListener::bind(&staged)?;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&staged, socket)?;
    Ok(listener)
}

/// Reflection over our contract and gRPC health (grpcurl 1.8 speaks only v1alpha).
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}
