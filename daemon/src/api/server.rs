//! Serves the API, gRPC health and server reflection (v1 and v1alpha) on the local Unix
//! socket, to dkd's own user only (whatever `:authority` its clients send), and on the
//! network listener when one is configured, behind authentication, also to browsers
//! (gRPC-Web, CORS) and within its limits. A replica also serves the peers listener (other
//! replicas only: forwarded calls and the event log) and forwards calls that change
//! something to the leader; `probes:` serves health alone in plain text for Kubernetes.
//! All stop together and drain in-flight calls and streams.

use std::{
    future::Future,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::Path,
    sync::Arc,
};

use datakit::proto::{
    FILE_DESCRIPTOR_SET, data_kit_service_server::DataKitServiceServer,
    replica_service_server::ReplicaServiceServer,
};
use tokio::net::UnixListener;
use tokio_stream::{
    StreamExt,
    wrappers::{TcpListenerStream, UnixListenerStream},
};
use tokio_util::sync::CancellationToken;
use tonic::{
    service::InterceptorLayer,
    transport::{Server, server::Router},
};
use tonic_health::{ServingStatus, server::HealthReporter};
use tonic_web::GrpcWebLayer;
use tower::layer::util::Stack;

use super::{
    AuditedApi, DataKitApi,
    audit::remember_rpc_path,
    authenticate::AuthenticateLayer,
    dashboard::PagesLayer,
    encoded_routes::EncodedRoutesLayer,
    identity::OwnerOnly,
    limits::LimitsLayer,
    local_authority::LocalAuthority,
    network::{Incoming, NetworkListener},
    replica::{ForwardLayer, LeaderLink, MirrorSource, ReplicaOnlyLayer},
    tls::TlsError,
    web,
};
use crate::auth::{ClientCa, ClientCaError, KeysError};

/// The health service name a liveness probe asks for: SERVING while dkd's runtime answers.
const LIVENESS: &str = "liveness";

/// What a replica serves besides the API: the peers listener.
pub struct PeerListener {
    pub listener: NetworkListener,
    /// The CA whose certificates are replicas'.
    pub replica_ca: ClientCa,
    /// The event log for followers.
    pub mirror: MirrorSource,
    /// Where calls that change something go while another replica leads.
    pub link: Arc<LeaderLink>,
}

/// The listeners besides the local socket.
#[derive(Default)]
pub struct Listeners {
    pub network: Option<NetworkListener>,
    /// `probes.address`: plain-text health for Kubernetes.
    pub probes: Option<std::net::SocketAddr>,
    pub peers: Option<PeerListener>,
}

/// How often the listener pings an HTTP/2 connection, and how long it waits for the
/// answer before closing it.
const KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

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
    #[error("listen: {0}")]
    Tls(#[from] TlsError),
    #[error("listen: {0}")]
    ClientCa(#[from] ClientCaError),
    #[error("auth.oidc: {0}")]
    Oidc(#[from] KeysError),
}

/// Binds `socket` (mode 0600 from the first moment it has that name; a stale file is
/// replaced — the caller holds the instance lock) and serves only dkd's own user there,
/// and every authenticated caller on `network`, until `shutdown` resolves; then both stop
/// accepting, health turns NOT_SERVING, and in-flight calls and streams drain. If either
/// server fails, the other stops too.
pub async fn serve(
    api: DataKitApi,
    socket: &Path,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let Listeners {
        network,
        probes,
        peers,
    } = listeners;
    let forward = ForwardLayer::new(peers.as_ref().map(|peers| peers.link.clone()));
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

    // Every port is bound before anything is served: a taken port stops dkd before it
    // has answered anyone on another.
    let probes = match probes {
        Some(address) => {
            let tcp = tokio::net::TcpListener::bind(address)
                .await
                .map_err(|source| ServeError::Bind {
                    path: address.to_string(),
                    source,
                })?;
            Some((address, tcp))
        }
        None => None,
    };

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<DataKitServiceServer<DataKitApi>>()
        .await;
    health.set_service_status("", ServingStatus::Serving).await;
    health
        .set_service_status(LIVENESS, ServingStatus::Serving)
        .await;

    let stop = CancellationToken::new();
    let socket_server = with_services(
        Server::builder().layer(
            tower::ServiceBuilder::new()
                .map_request(remember_rpc_path)
                .layer(InterceptorLayer::new(
                    OwnerOnly::new(owner).audited(api.recorder()),
                ))
                .layer(forward.clone()),
        ),
        &api,
        health_service.clone(),
        None,
    )?
    .serve_with_incoming_shutdown(
        // grpc-core clients name the socket path as :authority; see local_authority.rs.
        UnixListenerStream::new(listener).map(|accepted| accepted.map(LocalAuthority::new)),
        stop.clone().cancelled_owned(),
    );
    tracing::info!(socket = %socket.display(), "serving");
    let network_server = async {
        let Some(network) = network else {
            return Ok(());
        };
        tracing::info!(address = ?network.local_addr(), tls = network.is_tls(), "serving on the network");
        let limits = network.limits();
        // Outermost first: CORS answers preflights before anything asks for credentials;
        // gRPC-Web calls become gRPC calls, so refusals reach browsers as gRPC-Web too.
        let router = with_services(
            Server::builder()
                .accept_http1(true)
                .max_concurrent_streams(limits.max_concurrent_streams)
                // A peer that vanished without closing frees its connection and streams.
                .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
                .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
                .layer(tower::util::option_layer(web::cors(network.cors_origins())))
                // The dashboard's files, before anything asks for credentials.
                .layer(PagesLayer::public())
                .layer(GrpcWebLayer::new())
                .layer(AuthenticateLayer::new(
                    network.authenticator().audited(api.recorder()),
                ))
                .layer(LimitsLayer::new(&limits))
                .layer(forward.clone()),
            &api,
            health_service.clone(),
            Some(limits.max_message_bytes),
        )?;
        let stopped = stop.clone().cancelled_owned();
        match network.incoming() {
            Incoming::Plain(tcp) => {
                router
                    .serve_with_incoming_shutdown(TcpListenerStream::new(tcp), stopped)
                    .await
            }
            Incoming::Tls(connections) => {
                router
                    .serve_with_incoming_shutdown(connections, stopped)
                    .await
            }
        }
        .map_err(ServeError::from)
    };
    let peers_server = async {
        let Some(peers) = peers else {
            return Ok(());
        };
        tracing::info!(address = ?peers.listener.local_addr(), "serving other replicas");
        let router = with_services(
            Server::builder()
                .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
                .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
                .layer(ReplicaOnlyLayer::new(peers.replica_ca)),
            &api,
            health_service.clone(),
            None,
        )?
        .add_service(ReplicaServiceServer::new(peers.mirror));
        let stopped = stop.clone().cancelled_owned();
        match peers.listener.incoming() {
            Incoming::Tls(connections) => {
                router
                    .serve_with_incoming_shutdown(connections, stopped)
                    .await
            }
            Incoming::Plain(tcp) => {
                router
                    .serve_with_incoming_shutdown(TcpListenerStream::new(tcp), stopped)
                    .await
            }
        }
        .map_err(ServeError::from)
    };
    let probes_server = async {
        let Some((address, tcp)) = probes else {
            return Ok(());
        };
        tracing::info!(%address, "serving health probes");
        Server::builder()
            .add_service(health_service.clone())
            .serve_with_incoming_shutdown(
                TcpListenerStream::new(tcp),
                stop.clone().cancelled_owned(),
            )
            .await
            .map_err(ServeError::from)
    };
    let signal = async {
        tokio::select! {
            () = shutdown => {}
            () = stop.cancelled() => {}
        }
        not_serving(&health).await;
        stop.cancel();
    };
    let stop_on_error = |served: Result<(), ServeError>| {
        if served.is_err() {
            stop.cancel();
        }
        served
    };
    let ((), socket_served, network_served, peers_served, probes_served) = tokio::join!(
        signal,
        async { stop_on_error(socket_server.await.map_err(ServeError::from)) },
        async { stop_on_error(network_server.await) },
        async { stop_on_error(peers_server.await) },
        async { stop_on_error(probes_server.await) },
    );
    socket_served
        .and(network_served)
        .and(peers_served)
        .and(probes_served)
}

/// `builder` with every service dkd serves: health, reflection, the API, whose messages
/// are at most `max_message_bytes` each way when given (tonic's defaults otherwise).
pub(super) fn with_services<L: Clone>(
    builder: Server<L>,
    api: &DataKitApi,
    health: tonic_health::pb::health_server::HealthServer<
        impl tonic_health::pb::health_server::Health,
    >,
    max_message_bytes: Option<usize>,
) -> Result<Router<Stack<EncodedRoutesLayer, L>>, ServeError> {
    let audited = AuditedApi::new(api.clone(), api.recorder());
    let mut service = DataKitServiceServer::new(audited.clone());
    if let Some(limit) = max_message_bytes {
        service = service
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit);
    }
    // Innermost: Watch is served there, after every check of the layers outside it.
    let mut builder = builder.layer(EncodedRoutesLayer::new(audited, max_message_bytes));
    Ok(builder
        .add_service(health)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?)
        .add_service(service))
}

async fn not_serving(health: &HealthReporter) {
    health
        .set_not_serving::<DataKitServiceServer<DataKitApi>>()
        .await;
    health
        .set_service_status("", ServingStatus::NotServing)
        .await;
    health
        .set_service_status(LIVENESS, ServingStatus::NotServing)
        .await;
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
