//! The network listener of a shared dkd: TCP with TLS (the certificate re-read on rotation,
//! client certificates asked for when a client CA is configured) or, on loopback only, plain
//! text. TLS handshakes run concurrently, each with a deadline, so a slow or silent client
//! never holds up the others; only finished connections reach the gRPC server.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use tokio_stream::wrappers::ReceiverStream;

use super::{
    authenticate::Authenticator,
    server::ServeError,
    tls::{self, RotatingCertificate},
};
use crate::{
    auth::{ClientCa, OidcVerifier, TokenStore},
    config::{ListenLimits, Listener, ListenerSecurity, OidcSettings},
};

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// How long accepting pauses after the OS refused a connection (e.g. out of descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Connections finished but not yet taken by the gRPC server.
const READY_CONNECTIONS: usize = 64;

/// A bound network listener, ready to serve.
pub struct NetworkListener {
    tcp: TcpListener,
    tls: Option<(TlsAcceptor, Arc<RotatingCertificate>)>,
    authenticator: Authenticator,
    cors_origins: Vec<String>,
    limits: ListenLimits,
}

impl std::fmt::Debug for NetworkListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkListener")
            .field("tcp", &self.tcp)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl NetworkListener {
    /// Loads the TLS files and binds `listener`'s address: a listener that cannot serve
    /// stops dkd at start, naming the file or the address. With `oidc`, the issuer's keys
    /// are fetched in the background, so the first OIDC token need not wait for them.
    pub async fn bind(
        listener: &Listener,
        tokens: Arc<TokenStore>,
        oidc: Option<OidcSettings>,
    ) -> Result<Self, ServeError> {
        let (tls, client_ca) = match &listener.security {
            ListenerSecurity::Insecure => (None, None),
            ListenerSecurity::Tls(files) => {
                let client_ca = files.client_ca.as_deref().map(ClientCa::load).transpose()?;
                let (config, certificate) = tls::server_config(files, client_ca.as_ref())?;
                (
                    Some((TlsAcceptor::from(Arc::new(config)), certificate)),
                    client_ca,
                )
            }
        };
        let tcp = TcpListener::bind(listener.address)
            .await
            .map_err(|source| ServeError::Bind {
                path: listener.address.to_string(),
                source,
            })?;
        let oidc = oidc.map(OidcVerifier::new).transpose()?.map(Arc::new);
        if let Some(oidc) = oidc.clone() {
            tokio::spawn(async move { oidc.prefetch_keys().await });
        }
        Ok(Self {
            tcp,
            tls,
            authenticator: Authenticator::new(tokens, oidc, client_ca),
            cors_origins: listener.cors_origins.clone(),
            limits: listener.limits,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.tcp.local_addr().ok()
    }

    /// Whether connections are encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The credentials this listener accepts.
    pub fn authenticator(&self) -> Authenticator {
        self.authenticator.clone()
    }

    /// Browser origins allowed to call with gRPC-Web.
    pub fn cors_origins(&self) -> &[String] {
        &self.cors_origins
    }

    /// What one caller may take from the listener.
    pub fn limits(&self) -> ListenLimits {
        self.limits
    }

    /// Splits into the plain TCP listener, or a stream of finished TLS connections.
    pub fn incoming(self) -> Incoming {
        match self.tls {
            None => Incoming::Plain(self.tcp),
            Some((acceptor, certificate)) => {
                Incoming::Tls(accept_tls(self.tcp, acceptor, certificate))
            }
        }
    }
}

/// What the gRPC server reads connections from.
pub enum Incoming {
    Plain(TcpListener),
    Tls(ReceiverStream<Result<TlsStream<TcpStream>, std::io::Error>>),
}

/// Accepts TCP connections and runs each TLS handshake in its own task, after checking the
/// certificate files for a rotation (on the blocking pool, when a check is due); the stream
/// ends, and the listening socket closes, once the gRPC server drops it (at shutdown).
fn accept_tls(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    certificate: Arc<RotatingCertificate>,
) -> ReceiverStream<Result<TlsStream<TcpStream>, std::io::Error>> {
    let (ready, connections) = mpsc::channel(READY_CONNECTIONS);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = ready.closed() => break,
                accepted = tcp.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, %peer, "cannot set TCP_NODELAY");
            }
            let (acceptor, ready) = (acceptor.clone(), ready.clone());
            let certificate = certificate.clone();
            tokio::spawn(async move {
                if certificate.claim_check() {
                    let checking = certificate.clone();
                    let checked = tokio::task::spawn_blocking(move || checking.reload_if_changed());
                    if tokio::time::timeout(HANDSHAKE_DEADLINE, checked)
                        .await
                        .is_err()
                    {
                        tracing::warn!(
                            "the TLS certificate files could not be checked in time; serving the current certificate"
                        );
                    }
                }
                match tokio::time::timeout(HANDSHAKE_DEADLINE, acceptor.accept(stream)).await {
                    Ok(Ok(connection)) => {
                        // The server gone means shutdown: the connection is just closed.
                        let _ = ready.send(Ok(connection)).await;
                    }
                    Ok(Err(error)) => tracing::info!(%peer, %error, "TLS handshake failed"),
                    Err(_) => tracing::info!(%peer, "TLS handshake took too long; closed"),
                }
            });
        }
    });
    ReceiverStream::new(connections)
}
