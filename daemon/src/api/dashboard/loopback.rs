//! The loopback listener of `dk ui`: started by the first OpenDashboard on 127.0.0.1 (an
//! ephemeral port, plain HTTP: nothing leaves the machine), it serves the dashboard's pages,
//! `POST /login` and the API over gRPC-Web to dashboard sessions only, until dkd stops.

use std::{net::SocketAddr, sync::Arc, time::SystemTime};

use tokio::{net::TcpListener, sync::OnceCell};
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic_web::GrpcWebLayer;

use super::{logins::Logins, pages::PagesLayer, session::SessionLayer};
use crate::{
    api::{DataKitApi, server::with_services},
    auth::Principal,
};

/// Why the dashboard could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("cannot listen on 127.0.0.1 for the dashboard: {0}")]
    Bind(std::io::Error),
    #[error("cannot serve the dashboard: {0}")]
    Serve(String),
    #[error("cannot make a login code: {0}")]
    Login(#[from] super::logins::LoginError),
}

/// A login link and when its code expires.
pub struct LoginLink {
    pub url: String,
    pub expires_at: SystemTime,
}

/// The loopback dashboard, started on first use.
#[derive(Debug, Clone)]
pub struct Dashboard {
    address: Arc<OnceCell<SocketAddr>>,
    logins: Arc<Logins>,
    shutdown: CancellationToken,
}

impl Dashboard {
    /// A dashboard that stops serving when `shutdown` is cancelled.
    pub fn new(shutdown: CancellationToken) -> Self {
        Self {
            address: Arc::new(OnceCell::new()),
            logins: Arc::new(Logins::default()),
            shutdown,
        }
    }

    /// Starts the listener serving `api` unless it runs, and mints a one-time login link
    /// that signs in as `owner`.
    pub async fn open(
        &self,
        api: &DataKitApi,
        owner: Principal,
    ) -> Result<LoginLink, DashboardError> {
        let address = self
            .address
            .get_or_try_init(|| self.start(api.clone()))
            .await?;
        let code = self.logins.mint_code(owner)?;
        Ok(LoginLink {
            url: format!("http://{address}/?login={}", code.secret),
            expires_at: code.expires_at,
        })
    }

    async fn start(&self, api: DataKitApi) -> Result<SocketAddr, DashboardError> {
        let tcp = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(DashboardError::Bind)?;
        let address = tcp.local_addr().map_err(DashboardError::Bind)?;
        let (_, health) = tonic_health::server::health_reporter();
        let router = with_services(
            Server::builder()
                .accept_http1(true)
                .layer(PagesLayer::loopback(self.logins.clone(), address.port()))
                .layer(GrpcWebLayer::new())
                .layer(SessionLayer::new(self.logins.clone(), api.recorder())),
            &api,
            health,
            None,
        )
        .map_err(|error| DashboardError::Serve(error.to_string()))?;
        let stopped = self.shutdown.clone().cancelled_owned();
        tokio::spawn(async move {
            if let Err(error) = router
                .serve_with_incoming_shutdown(TcpListenerStream::new(tcp), stopped)
                .await
            {
                tracing::warn!(%error, "the dashboard's loopback listener stopped");
            }
        });
        tracing::info!(%address, "serving the dashboard on loopback");
        Ok(address)
    }
}
