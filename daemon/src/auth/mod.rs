//! Who is calling, as authenticated: the `Principal` every RPC acts as, and the ways dkd
//! establishes one — the OS user on the local socket, a service token, an OIDC token or a
//! client certificate on the network listener — and what it may do (`rbac`). The audit log
//! consumes the principal too; nothing here knows gRPC.

mod certificate;
mod oidc;
mod rbac;
mod secret;
mod tokens;

pub use certificate::{CertificateRejection, ClientCa, ClientCaError, principal_from_certificate};
pub use oidc::{KeysError, OidcRejection, OidcVerifier, looks_like_jwt};
pub use rbac::{Denial, allow, grants};
pub use secret::SecretError;
pub use tokens::{ServiceToken, TokenError, TokenRejection, TokenStore};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user name dkd records (promoter, approver): the OS user, the token's name, the
    /// OIDC token's username claim, the certificate's subject CN.
    pub name: String,
    /// Groups the authentication vouches for (token groups, the OIDC token's groups claim,
    /// certificate OUs); empty on the local socket, where `config/teams.yaml` says who is in
    /// which group.
    pub groups: Vec<String>,
    /// How the caller was authenticated.
    pub method: AuthMethod,
    /// How long the authentication holds: checked again while the caller's streams run.
    pub validity: Validity,
}

/// What ends a principal's authentication after the call that established it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validity {
    /// When the credential expires, in seconds since the Unix epoch (an OIDC token's `exp`,
    /// a service token's expiry).
    pub expires_at: Option<u64>,
    /// The id of the service token authenticated with; revoking it ends the caller's
    /// streams.
    pub service_token: Option<String>,
}

/// How a principal was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// The peer credentials of the local Unix socket: dkd's own OS user, its admin.
    LocalSocket,
    /// A service token (`authorization: Bearer dkt_…`) on the network listener.
    ServiceToken,
    /// An OIDC token (JWT) of the configured issuer on the network listener.
    Oidc,
    /// A client certificate signed by the configured client CA (mTLS).
    ClientCertificate,
}

impl AuthMethod {
    /// The method in words, for messages and logs.
    pub fn describe(self) -> &'static str {
        match self {
            Self::LocalSocket => "the local socket",
            Self::ServiceToken => "a service token",
            Self::Oidc => "an OIDC token",
            Self::ClientCertificate => "a client certificate",
        }
    }

    /// The method with `key` (the inverse of `key`).
    pub fn from_key(key: &str) -> Option<Self> {
        [
            Self::LocalSocket,
            Self::ServiceToken,
            Self::Oidc,
            Self::ClientCertificate,
        ]
        .into_iter()
        .find(|method| method.key() == key)
    }

    /// A stable key for the method, for machine-readable output.
    pub fn key(self) -> &'static str {
        match self {
            Self::LocalSocket => "local-socket",
            Self::ServiceToken => "service-token",
            Self::Oidc => "oidc",
            Self::ClientCertificate => "client-certificate",
        }
    }
}

impl Principal {
    /// The owner of the local socket, who administers this dkd.
    pub fn local(name: String) -> Self {
        Self {
            name,
            groups: Vec::new(),
            method: AuthMethod::LocalSocket,
            validity: Validity::default(),
        }
    }

    /// Whether this caller came through the local socket (and is therefore dkd's owner).
    pub fn is_local(&self) -> bool {
        self.method == AuthMethod::LocalSocket
    }
}
