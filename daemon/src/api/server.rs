//! Serves the API, gRPC health and server reflection (v1 and v1alpha) on the local Unix
//! socket until shutdown.

use std::{future::Future, os::unix::fs::PermissionsExt, path::Path};

use datakit::proto::{FILE_DESCRIPTOR_SET, data_kit_service_server::DataKitServiceServer};
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tonic_health::ServingStatus;

use super::DataKitApi;

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

/// Binds `socket` (mode 0600; a stale file is replaced — the caller holds the instance
/// lock) and serves until `shutdown` resolves, then drains in-flight calls.
pub async fn serve_unix(
    api: DataKitApi,
    socket: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let bind_error = |source| ServeError::Bind {
        path: socket.display().to_string(),
        source,
    };
    match std::fs::remove_file(socket) {
        Ok(()) => tracing::info!(socket = %socket.display(), "removed a stale socket"),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(bind_error(error)),
    }
    let listener = UnixListener::bind(socket).map_err(bind_error)?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600)).map_err(bind_error)?;

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
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(DataKitServiceServer::new(api))
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
        .await?;
    Ok(())
}

/// Reflection over our contract and gRPC health (grpcurl 1.8 speaks only v1alpha).
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}
