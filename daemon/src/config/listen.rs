//! `listen:` of `dkd.yaml`: the network listener of a shared dkd — an address, the TLS
//! certificate and key files, an optional client CA for mTLS, or plain-text TCP with
//! `insecure: true`, which is accepted only on a loopback address; the browser origins
//! allowed to call it with gRPC-Web (CORS) and its limits.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use super::{ConfigError, ListenLimits};

/// `listen:` as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// `IP:PORT`, e.g. `127.0.0.1:8443` or `[::]:8443`.
    pub address: String,
    /// The server's certificate chain (PEM), leaf first; re-read when it changes.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// The certificate's private key (PEM); re-read when it changes.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// CA certificates (PEM) whose client certificates authenticate callers (mTLS).
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// Plain-text TCP instead of TLS: only on a loopback address.
    #[serde(default)]
    pub insecure: bool,
    /// Browser origins (`scheme://host[:port]`, exactly as browsers send them) whose pages
    /// may call dkd with gRPC-Web; none means no CORS headers (same-origin pages only).
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// What one caller may take from the listener.
    #[serde(default)]
    pub limits: ListenLimits,
}

/// A validated listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub address: SocketAddr,
    pub security: ListenerSecurity,
    /// Validated origins, e.g. `https://ide.example.com`.
    pub cors_origins: Vec<String>,
    pub limits: ListenLimits,
}

/// How the listener protects its connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerSecurity {
    Tls(TlsFiles),
    /// Plain-text TCP on a loopback address.
    Insecure,
}

/// The files of a TLS listener, absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

impl ListenConfig {
    /// Checks `listen:` of `file`; relative paths are taken from `base` (the folder of
    /// `dkd.yaml`).
    pub fn validate(&self, file: &str, base: &Path) -> Result<Listener, ConfigError> {
        let refuse = |key: &'static str, reason: String| ConfigError::Listen {
            file: file.to_owned(),
            key,
            reason,
        };
        let address: SocketAddr = self.address.parse().map_err(|_| {
            refuse(
                "address",
                format!(
                    "{} is not an IP address and port: use e.g. 127.0.0.1:8443, or [::]:8443 for every interface",
                    datakit::text::quoted(&self.address)
                ),
            )
        })?;
        for origin in &self.cors_origins {
            check_origin(origin).map_err(|reason| refuse("cors_origins", reason))?;
        }
        if let Some(key) = self.limits.zero_key() {
            return Err(refuse(
                key,
                "must be at least 1: 0 would refuse every call; remove the key for the default"
                    .to_owned(),
            ));
        }
        let listener = |security| Listener {
            address,
            security,
            cors_origins: self.cors_origins.clone(),
            limits: self.limits,
        };
        let files = [
            ("cert_file", &self.cert_file),
            ("key_file", &self.key_file),
            ("client_ca_file", &self.client_ca_file),
        ];
        if self.insecure {
            if !address.ip().is_loopback() {
                return Err(refuse(
                    "insecure",
                    format!(
                        "plain-text TCP is allowed only on a loopback address, not {address}: listen on 127.0.0.1 or [::1], or serve TLS with cert_file and key_file"
                    ),
                ));
            }
            if let Some((key, _)) = files.iter().find(|(_, path)| path.is_some()) {
                return Err(refuse(
                    "insecure",
                    format!(
                        "cannot be combined with {key}: remove insecure: true to serve TLS, or remove the TLS files"
                    ),
                ));
            }
            return Ok(listener(ListenerSecurity::Insecure));
        }
        let required = |key: &'static str, path: &Option<PathBuf>| {
            path.as_deref().map(|path| base.join(path)).ok_or_else(|| {
                refuse(
                    key,
                    "required: dkd serves TLS on the network (insecure: true is for a loopback address only)"
                        .to_owned(),
                )
            })
        };
        Ok(listener(ListenerSecurity::Tls(TlsFiles {
            cert: required("cert_file", &self.cert_file)?,
            key: required("key_file", &self.key_file)?,
            client_ca: self.client_ca_file.as_deref().map(|path| base.join(path)),
        })))
    }
}

/// An origin as a browser sends it in `Origin:`: `http` or `https`, a lower-case host, an
/// optional port, nothing after. CORS compares origins exactly, so anything else (a
/// trailing slash, a path, a wildcard) would never match and is refused here instead.
fn check_origin(origin: &str) -> Result<(), String> {
    let quoted = datakit::text::quoted(origin);
    let host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| format!("{quoted} is not an origin: write scheme://host[:port], e.g. https://ide.example.com"))?;
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.:[]".contains(c));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{quoted} is not an origin as browsers send it: lower-case scheme://host[:port] with no path, no trailing slash and no wildcard, e.g. https://ide.example.com"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen(text: &str) -> Result<Listener, ConfigError> {
        let config: ListenConfig = datakit::manifest::parse_yaml("dkd.yaml", text).expect("parses");
        config.validate("dkd.yaml", Path::new("/etc/dkd"))
    }

    #[test]
    fn a_tls_listener_takes_relative_files_from_the_configuration_folder() {
        let listener = listen(
            "address: \"[::]:8443\"\ncert_file: tls.crt\nkey_file: /keys/tls.key\nclient_ca_file: ca.pem\n",
        )
        .expect("valid");
        assert_eq!(listener.address.port(), 8443);
        assert_eq!(
            listener.security,
            ListenerSecurity::Tls(TlsFiles {
                cert: "/etc/dkd/tls.crt".into(),
                key: "/keys/tls.key".into(),
                client_ca: Some("/etc/dkd/ca.pem".into()),
            })
        );
    }

    #[test]
    fn plain_text_is_accepted_on_loopback_only() {
        for loopback in ["127.0.0.1:8080", "127.1.2.3:8080", "\"[::1]:8080\""] {
            let listener =
                listen(&format!("address: {loopback}\ninsecure: true\n")).expect(loopback);
            assert_eq!(listener.security, ListenerSecurity::Insecure);
        }
        for open in ["0.0.0.0:8080", "10.1.2.3:8080", "\"[::]:8080\""] {
            let message = listen(&format!("address: {open}\ninsecure: true\n"))
                .expect_err(open)
                .to_string();
            assert!(
                message.starts_with("dkd.yaml: listen.insecure: plain-text TCP is allowed only on a loopback address"),
                "{message}"
            );
            assert!(!message.contains('\n'), "{message}");
        }
    }

    #[test]
    fn cors_origins_are_exact_browser_origins_and_limits_have_defaults() {
        let listener = listen(
            "address: 127.0.0.1:8443\ninsecure: true\ncors_origins: [\"https://ide.example.com\", \"http://127.0.0.1:5173\"]\nlimits: { streams_per_principal: 2 }\n",
        )
        .expect("valid");
        assert_eq!(listener.cors_origins.len(), 2);
        assert_eq!(listener.limits.streams_per_principal, 2);
        assert_eq!(
            listener.limits.max_message_bytes,
            ListenLimits::default().max_message_bytes
        );
        for bad in [
            "\"*\"",
            "https://ide.example.com/",
            "ide.example.com",
            "https://IDE.example.com",
            "\"https://ide.example.com/app\"",
        ] {
            let message = listen(&format!(
                "address: 127.0.0.1:8443\ninsecure: true\ncors_origins: [{bad}]\n"
            ))
            .expect_err(bad)
            .to_string();
            assert!(message.contains("listen.cors_origins: "), "{message}");
            assert!(!message.contains('\n'), "{message}");
        }
        let message =
            listen("address: 127.0.0.1:8443\ninsecure: true\nlimits: { unary_deadline_ms: 0 }\n")
                .expect_err("zero")
                .to_string();
        assert!(
            message.contains("listen.limits.unary_deadline_ms: must be at least 1"),
            "{message}"
        );
    }

    #[test]
    fn tls_without_its_files_or_with_a_bad_address_is_refused_naming_the_field() {
        let cases = [
            (
                "address: 127.0.0.1:8443\nkey_file: k\n",
                "listen.cert_file:",
            ),
            (
                "address: 127.0.0.1:8443\ncert_file: c\n",
                "listen.key_file:",
            ),
            (
                "address: localhost:8443\ncert_file: c\nkey_file: k\n",
                "listen.address:",
            ),
            (
                "address: 127.0.0.1:8443\ninsecure: true\ncert_file: c\n",
                "listen.insecure: cannot be combined with cert_file",
            ),
        ];
        for (text, expected) in cases {
            let message = listen(text).expect_err(text).to_string();
            assert!(message.contains(expected), "{text}: {message}");
        }
    }
}
