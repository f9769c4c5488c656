//! The listener's TLS: rustls with ring, HTTP/2 (and HTTP/1.1 for gRPC-Web), client
//! certificates requested when a client CA is configured, and a server certificate that is
//! re-read when its files change.
//!
//! Rotation is checked per handshake, at most once a second (`CHECK_INTERVAL`): a new
//! connection sees a replaced certificate within a second, without a restart, a background
//! task or a file watcher, and an idle dkd does nothing. The connection that claims a check
//! runs it on the blocking pool before its handshake ([`RotatingCertificate`]); rustls'
//! resolver only hands out the current pair, so no handshake touches the disk. Only the file
//! metadata is read at each check; the files themselves only when it changed. A pair that does not load — half
//! written, or a key that does not match the certificate — leaves the previous one in
//! service (logged once per change), so replacing the two files one after the other is safe.

use std::{
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rustls::{
    ServerConfig,
    crypto::ring,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};

use crate::{auth::ClientCa, config::TlsFiles};

/// How often, at most, the certificate files are examined for a change.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Why the listener's TLS cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot load the certificate {cert} with the key {key}: {reason}")]
    Certificate {
        cert: String,
        key: String,
        reason: String,
    },
    #[error("cannot set up TLS: {0}")]
    Config(#[from] rustls::Error),
}

/// The server configuration for `files`, with `client_ca` asking for client certificates,
/// and the certificate it serves, for the acceptor to check for rotation.
pub fn server_config(
    files: &TlsFiles,
    client_ca: Option<&ClientCa>,
) -> Result<(ServerConfig, Arc<RotatingCertificate>), TlsError> {
    let certificate = Arc::new(RotatingCertificate::load(&files.cert, &files.key)?);
    let builder = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        Some(ca) => builder.with_client_cert_verifier(ca.handshake_verifier()),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(certificate.clone());
    // HTTP/1.1 too, for browsers speaking gRPC-Web over it.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((config, certificate))
}

/// What identifies a version of a file: modification time, size and inode (a file
/// replaced by a rename has a new inode even within the same clock tick).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp(Option<(i64, i64, u64, u64)>);

impl Stamp {
    fn of(path: &Path) -> Self {
        Self(
            std::fs::metadata(path)
                .ok()
                .map(|meta| (meta.mtime(), meta.mtime_nsec(), meta.size(), meta.ino())),
        )
    }
}

/// The server certificate and key, re-read when their files change.
#[derive(Debug)]
pub struct RotatingCertificate {
    cert: PathBuf,
    key: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    current: Arc<CertifiedKey>,
    /// The stamps `current` was loaded from, or the last ones that failed to load.
    seen: [Stamp; 2],
    checked: Instant,
}

impl RotatingCertificate {
    /// Loads the pair now: a listener that cannot serve its certificate does not start.
    fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let seen = [Stamp::of(cert), Stamp::of(key)];
        let current = Arc::new(load_pair(cert, key)?);
        Ok(Self {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            state: Mutex::new(State {
                current,
                seen,
                checked: Instant::now(),
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a check is due; the caller that gets `true` makes it (with
    /// [`Self::reload_if_changed`]), everyone else serves the current pair meanwhile.
    pub fn claim_check(&self) -> bool {
        let mut state = self.state();
        let due = state.checked.elapsed() >= CHECK_INTERVAL;
        if due {
            state.checked = Instant::now();
        }
        due
    }

    /// Reloads the pair if its files changed since they were last seen. Reads files: run it
    /// on the blocking pool.
    pub fn reload_if_changed(&self) {
        let stamps = [Stamp::of(&self.cert), Stamp::of(&self.key)];
        if stamps == self.state().seen {
            return;
        }
        let loaded = load_pair(&self.cert, &self.key);
        let mut state = self.state();
        state.seen = stamps;
        match loaded {
            Ok(loaded) => {
                state.current = Arc::new(loaded);
                tracing::info!(cert = %self.cert.display(), "loaded the rotated TLS certificate");
            }
            Err(error) => {
                tracing::warn!(%error, "the TLS certificate files changed but do not load; serving the previous certificate");
            }
        }
    }
}

impl ResolvesServerCert for RotatingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.state().current.clone())
    }
}

/// Reads a PEM chain (leaf first) and its PEM private key, and checks that they match.
fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let failed = |reason: String| TlsError::Certificate {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| failed(format!("the certificate: {e}")))?;
    if chain.is_empty() {
        return Err(failed(
            "no PEM certificate in the certificate file".to_owned(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| failed(format!("the key: {e}")))?;
    CertifiedKey::from_der(chain, key, &ring::default_provider()).map_err(|e| failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("cert");
        let staged = dir.join(format!("{name}.staged"));
        std::fs::create_dir_all(&staged).expect("mkdir");
        std::fs::write(staged.join("cert.pem"), cert.pem()).expect("write");
        std::fs::write(staged.join("key.pem"), key.serialize_pem()).expect("write");
        (staged.join("cert.pem"), staged.join("key.pem"))
    }

    fn install(from: &(PathBuf, PathBuf), to: &(PathBuf, PathBuf)) {
        std::fs::copy(&from.0, dir_tmp(&to.0)).expect("copy");
        std::fs::rename(dir_tmp(&to.0), &to.0).expect("rename");
        std::fs::copy(&from.1, dir_tmp(&to.1)).expect("copy");
        std::fs::rename(dir_tmp(&to.1), &to.1).expect("rename");
    }

    fn dir_tmp(path: &Path) -> PathBuf {
        path.with_extension("tmp")
    }

    /// The leaf a new connection is served, after the check the acceptor makes first.
    fn leaf(resolver: &RotatingCertificate) -> Vec<u8> {
        if resolver.claim_check() {
            resolver.reload_if_changed();
        }
        resolver.state().current.cert[0].to_vec()
    }

    #[test]
    fn a_replaced_pair_is_served_after_the_check_interval_and_a_broken_one_never() {
        let dir = tempfile::tempdir().expect("tempdir");
        let live = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        let first = write_pair(dir.path(), "first");
        install(&first, &live);
        let resolver = RotatingCertificate::load(&live.0, &live.1).expect("loads");
        let served = leaf(&resolver);

        // A certificate whose key is still the old one does not load: the old pair stays.
        let second = write_pair(dir.path(), "second");
        install(&(second.0.clone(), first.1.clone()), &live);
        resolver.state.lock().expect("lock").checked -= CHECK_INTERVAL;
        assert_eq!(leaf(&resolver), served);

        install(&second, &live);
        assert_eq!(leaf(&resolver), served, "checked at most once a second");
        resolver.state.lock().expect("lock").checked -= CHECK_INTERVAL;
        let rotated = leaf(&resolver);
        assert_ne!(rotated, served);
        assert_eq!(
            rotated,
            std::fs::read(&second.0)
                .map(|pem| { CertificateDer::from_pem_slice(&pem).expect("pem").to_vec() })
                .expect("read")
        );
    }

    #[test]
    fn a_missing_or_mismatched_pair_stops_the_listener_naming_the_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, _) = write_pair(dir.path(), "one");
        let (_, other_key) = write_pair(dir.path(), "two");
        let error = RotatingCertificate::load(&cert, &other_key).expect_err("mismatch");
        let message = error.to_string();
        assert!(
            message.contains("one.staged/cert.pem") && message.contains("two.staged/key.pem"),
            "{message}"
        );
        let missing = RotatingCertificate::load(&dir.path().join("nope.crt"), &other_key)
            .expect_err("missing");
        assert!(missing.to_string().contains("nope.crt"), "{missing}");
    }
}
