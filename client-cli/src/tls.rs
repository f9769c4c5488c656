//! How `dk` trusts a shared dkd and proves who it is: the CA of `DK_CA_FILE` instead of the
//! system's roots, a client certificate from `DK_CLIENT_CERT` / `DK_CLIENT_KEY`, and one
//! line saying what to do when the server's certificate is not trusted.

use std::path::PathBuf;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use crate::error::{CliError, Failure};

/// A non-empty environment variable as a path.
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

/// Reads the file `variable` names, refusing one that does not hold what `valid` expects.
fn read_pem(
    variable: &str,
    path: &PathBuf,
    what: &str,
    valid: impl Fn(&[u8]) -> bool,
) -> Result<Vec<u8>, CliError> {
    let bytes = std::fs::read(path).map_err(|error| {
        CliError::new(
            Failure::InvalidInput,
            format!("{variable}: cannot read {}: {error}", path.display()),
        )
    })?;
    if !valid(&bytes) {
        return Err(CliError::new(
            Failure::InvalidInput,
            format!("{variable}: {} holds no PEM {what}", path.display()),
        ));
    }
    Ok(bytes)
}

fn has_certificate(pem: &[u8]) -> bool {
    CertificateDer::pem_slice_iter(pem).any(|certificate| certificate.is_ok())
}

fn has_key(pem: &[u8]) -> bool {
    PrivateKeyDer::from_pem_slice(pem).is_ok()
}

/// The TLS settings for `https://` daemons, from the environment.
pub fn client_config() -> Result<ClientTlsConfig, CliError> {
    let config = ClientTlsConfig::new();
    let config = match env_path("DK_CA_FILE") {
        Some(path) => config.ca_certificate(Certificate::from_pem(read_pem(
            "DK_CA_FILE",
            &path,
            "certificate",
            has_certificate,
        )?)),
        None => config.with_native_roots(),
    };
    match (env_path("DK_CLIENT_CERT"), env_path("DK_CLIENT_KEY")) {
        (None, None) => Ok(config),
        (Some(cert), Some(key)) => Ok(config.identity(Identity::from_pem(
            read_pem("DK_CLIENT_CERT", &cert, "certificate", has_certificate)?,
            read_pem("DK_CLIENT_KEY", &key, "private key", has_key)?,
        ))),
        _ => Err(CliError::new(
            Failure::InvalidInput,
            "set both DK_CLIENT_CERT and DK_CLIENT_KEY (a client certificate and its key), or neither",
        )),
    }
}

/// Whether a client certificate is configured (it needs `https://`).
pub fn client_certificate_set() -> bool {
    env_path("DK_CLIENT_CERT").is_some() || env_path("DK_CLIENT_KEY").is_some()
}

/// The rustls error somewhere in `error`'s chain. `io::Error` hides the error it wraps
/// from `source()`, so each one is opened too.
fn rustls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        if let Some(inner) = error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(inner);
        }
        current = error.source();
    }
    None
}

/// A connection failure that is dkd's certificate not being trusted, in one line saying
/// what to do (exit 4: retrying will not help until trust is fixed).
pub fn untrusted_server(
    address: &str,
    error: &(dyn std::error::Error + 'static),
) -> Option<CliError> {
    let rustls::Error::InvalidCertificate(reason) = rustls_error(error)? else {
        return None;
    };
    let fix = match env_path("DK_CA_FILE") {
        Some(path) => format!(
            "it is not signed by the CA in DK_CA_FILE ({}), or does not name this host: check DK_CA_FILE and the address",
            path.display()
        ),
        None => "set DK_CA_FILE to the CA certificate (PEM) that signed it".to_owned(),
    };
    Some(CliError::new(
        Failure::Refused,
        format!("the certificate of dkd at {address} is not trusted ({reason}): {fix}"),
    ))
}
