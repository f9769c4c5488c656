//! Finding and reaching `dkd`: `--daemon`/`DK_DAEMON` (`unix:///path`, `https://host:port`,
//! `http://` on loopback), else the local socket in `DK_HOME`, starting a local `dkd` when
//! none answers (unless `DK_NO_AUTOSTART=1`). A shared dkd gets `DK_TOKEN` as a bearer token
//! and, over TLS, `DK_CA_FILE` and `DK_CLIENT_CERT` / `DK_CLIENT_KEY` (`crate::tls`).

use std::{
    io::ErrorKind,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use datakit::{
    proto::data_kit_service_client::DataKitServiceClient, text::quoted, users::describe_uid,
};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::{
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint, Uri},
};

use crate::{
    error::{CliError, Failure},
    output::note,
};

/// How long to wait for an autostarted dkd to open its socket.
const AUTOSTART_TIMEOUT: Duration = Duration::from_secs(20);

/// The largest answer dk reads. tonic refuses anything over 4 MiB by default, and
/// `dk status --env ENV` on 100,000 packages is about 20 MB; dkd's answers are bounded by
/// what it holds, so this only guards against a peer that is not dkd.
const MAX_ANSWER_BYTES: usize = 256 * 1024 * 1024;

/// The client every command uses.
pub type Client = DataKitServiceClient<InterceptedService<Channel, BearerToken>>;

/// Where dkd is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonAddress {
    /// A Unix socket; `local` when it is the default one in `DK_HOME`, which dk may start.
    Unix { path: PathBuf, local: bool },
    /// A shared daemon over TCP (`https://`, or `http://` for plain-text test setups).
    Tcp(Uri),
}

impl DaemonAddress {
    /// Parses `--daemon`; `None` means the local socket of `home`.
    pub fn resolve(flag: Option<&str>, home: &Path) -> Result<Self, CliError> {
        let Some(address) = flag.filter(|a| !a.is_empty()) else {
            return Ok(Self::Unix {
                path: home.join("dkd.sock"),
                local: true,
            });
        };
        let invalid = || {
            CliError::new(
                Failure::InvalidInput,
                format!(
                    "invalid daemon address {}: use unix:///path/to/dkd.sock or https://host:port",
                    quoted(&redacted(address))
                ),
            )
        };
        if let Some(path) = address
            .strip_prefix("unix://")
            .or_else(|| address.strip_prefix("unix:"))
        {
            if !path.starts_with('/') {
                return Err(invalid());
            }
            return Ok(Self::Unix {
                path: PathBuf::from(path),
                local: false,
            });
        }
        if address.starts_with("https://") || address.starts_with("http://") {
            return address.parse::<Uri>().map(Self::Tcp).map_err(|_| invalid());
        }
        Err(invalid())
    }
}

/// `address` without the password of its userinfo (`https://user:***@host:1`), or without
/// the whole userinfo when it has no password (it may be a token): for every message that
/// shows the daemon address. Whatever stands before the last `@` is userinfo, scheme or
/// not, `/`, `?` or `#` in it or not: a mistyped address must not print a secret either.
pub fn redacted(address: &str) -> String {
    let Some((before, host)) = address.rsplit_once('@') else {
        return address.to_owned();
    };
    let (scheme, userinfo) = match before.split_once("://") {
        Some((scheme, userinfo)) => (format!("{scheme}://"), userinfo),
        None => (String::new(), before),
    };
    let hidden = match userinfo.split_once(':') {
        Some((user, _password)) if !user.contains(['/', '?', '#']) => format!("{user}:***"),
        _ => "***".to_owned(),
    };
    format!("{scheme}{hidden}@{host}")
}

/// Adds `authorization: Bearer $DK_TOKEN` to every call when a token is set.
#[derive(Debug, Clone, Default)]
pub struct BearerToken(Option<MetadataValue<Ascii>>);

impl Interceptor for BearerToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
        }
        Ok(request)
    }
}

fn bearer_token() -> Result<BearerToken, CliError> {
    let Some(token) = std::env::var("DK_TOKEN").ok().filter(|t| !t.is_empty()) else {
        return Ok(BearerToken(None));
    };
    format!("Bearer {token}")
        .parse()
        .map(|value| BearerToken(Some(value)))
        .map_err(|_| {
            CliError::new(
                Failure::InvalidInput,
                "DK_TOKEN holds characters a header cannot carry",
            )
        })
}

/// Connects to dkd at `address`, starting a local one if needed and allowed.
pub async fn connect(address: &DaemonAddress, home: &Path) -> Result<Client, CliError> {
    let channel = match address {
        DaemonAddress::Tcp(uri) => connect_tcp(uri).await?,
        DaemonAddress::Unix { path, local } => match unix_channel(path).await {
            Ok(channel) => channel,
            // Someone else's dkd: starting another would not help.
            Err(error)
                if io_cause(&error).map(std::io::Error::kind)
                    == Some(ErrorKind::PermissionDenied) =>
            {
                return Err(permission_denied(path));
            }
            Err(error) if *local && autostart_allowed() => {
                note_autostart(&error, home);
                start_daemon(home)?;
                wait_for_socket(path).await?
            }
            Err(error) => {
                return Err(unreachable(
                    &path.display().to_string(),
                    &cause(&error),
                    *local,
                ));
            }
        },
    };
    Ok(
        DataKitServiceClient::with_interceptor(channel, bearer_token()?)
            .max_decoding_message_size(MAX_ANSWER_BYTES),
    )
}

fn autostart_allowed() -> bool {
    std::env::var("DK_NO_AUTOSTART")
        .map(|v| v != "1")
        .unwrap_or(true)
}

/// The innermost I/O error of `error`, e.g. "Permission denied" on connect.
fn io_cause<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        current = error.source();
    }
    None
}

/// What went wrong in words: the innermost cause, not tonic's "transport error".
fn cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    innermost.to_string()
}

/// The socket belongs to another user (mode 0600 in a 0700 home): say whose it is.
///
/// Exit 4, refused by a precondition, rather than 5, unavailable: the daemon may well be
/// running, the OS refuses this user by rule, and retrying will not help — which is also
/// what dkd itself answers (PermissionDenied, exit 4) to a connection from another user
/// that gets past the file modes.
fn permission_denied(socket: &Path) -> CliError {
    // The socket itself cannot be examined when its folder is closed to us: then the
    // folder's owner, who is the socket's owner too unless someone moved things around.
    let owner = socket
        .ancestors()
        .find_map(|path| std::fs::metadata(path).ok())
        .map_or_else(|| "unknown".to_owned(), |meta| describe_uid(meta.uid()));
    CliError::new(
        Failure::Refused,
        format!(
            "permission denied on {} (owned by {owner}): dkd serves only the user it runs as; run dk as {owner}, or use a DK_HOME of your own",
            socket.display()
        ),
    )
}

fn unreachable(address: &str, error: &dyn std::fmt::Display, local: bool) -> CliError {
    let hint = if local {
        "start it with `dkd` (or unset DK_NO_AUTOSTART)"
    } else {
        "check --daemon / DK_DAEMON"
    };
    CliError::new(
        Failure::Unavailable,
        format!("cannot reach dkd at {address}: {error}; {hint}"),
    )
}

/// Says on stderr (stdout stays clean for scripts) that a dkd is being started.
fn note_autostart(reason: &tonic::transport::Error, home: &Path) {
    note(&format!(
        "dk: no dkd is running for {} ({}); starting one…",
        home.display(),
        cause(reason)
    ));
}

/// A channel to the dkd socket at `path`, with tonic's default options (dk's own client
/// raises the answer limit on top of it).
pub async fn unix_channel(path: &Path) -> Result<Channel, tonic::transport::Error> {
    let path = path.to_path_buf();
    // The URI is required by the API but unused: the connector always dials the socket.
    Endpoint::from_static("http://dkd.local")
        .connect_timeout(Duration::from_secs(5))
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { UnixStream::connect(path).await.map(TokioIo::new) }
        }))
        .await
}

/// Plain-text `http://` carries no credential off this machine: a token or a client
/// certificate for a non-loopback host needs `https://`.
fn refuse_clear_text_credentials(uri: &Uri, address: &str) -> Result<(), CliError> {
    let host = uri.host().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let token = std::env::var_os("DK_TOKEN").is_some_and(|t| !t.is_empty());
    if crate::tls::client_certificate_set() {
        return Err(CliError::new(
            Failure::InvalidInput,
            format!(
                "a client certificate (DK_CLIENT_CERT) needs TLS: use https:// instead of {address}"
            ),
        ));
    }
    if token && !loopback {
        return Err(CliError::new(
            Failure::InvalidInput,
            format!("refusing to send DK_TOKEN in plain text to {address}: use https://"),
        ));
    }
    Ok(())
}

async fn connect_tcp(uri: &Uri) -> Result<Channel, CliError> {
    let address = redacted(&uri.to_string());
    let mut endpoint = Endpoint::from(uri.clone()).connect_timeout(Duration::from_secs(10));
    if uri.scheme_str() == Some("https") {
        endpoint = endpoint
            .tls_config(crate::tls::client_config()?)
            .map_err(|error| unreachable(&address, &error, false))?;
    } else {
        refuse_clear_text_credentials(uri, &address)?;
    }
    endpoint.connect().await.map_err(|error| {
        if let Some(untrusted) = crate::tls::untrusted_server(&address, &error) {
            return untrusted;
        }
        // The cause may quote the URI; never its password.
        let reason = match uri
            .authority()
            .map(|a| a.as_str())
            .and_then(|a| a.rsplit_once('@'))
        {
            Some((userinfo, _)) => cause(&error).replace(userinfo, "***"),
            None => cause(&error),
        };
        unreachable(&address, &reason, false)
    })
}

/// Starts `dkd` for `home` in the background, detached from this terminal, logging to
/// `DK_HOME/dkd.log`.
fn start_daemon(home: &Path) -> Result<(), CliError> {
    let failed = |reason: String| {
        CliError::new(
            Failure::Unavailable,
            format!("cannot start dkd: {reason}; install dkd next to dk or on PATH"),
        )
    };
    // 0700 from the start, as dkd keeps it: it will hold the socket and the database.
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(home)
        .map_err(|e| failed(format!("cannot create {}: {e}", home.display())))?;
    let log_path = home.join("dkd.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| failed(format!("cannot open {}: {e}", log_path.display())))?;
    let stderr = log.try_clone().map_err(|e| failed(e.to_string()))?;
    let mut command = Command::new(dkd_binary());
    command
        .arg("--home")
        .arg(home)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(stderr);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command.spawn().map(drop).map_err(|e| failed(e.to_string()))
}

/// `dkd` beside this `dk` when there is one, else from PATH.
fn dkd_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("dkd")))
        .filter(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from("dkd"))
}

async fn wait_for_socket(path: &Path) -> Result<Channel, CliError> {
    let deadline = Instant::now() + AUTOSTART_TIMEOUT;
    loop {
        match unix_channel(path).await {
            Ok(channel) => return Ok(channel),
            Err(error) if Instant::now() >= deadline => {
                let log = path.with_file_name("dkd.log");
                let message = format!(
                    "dkd did not open {} within {}s ({}); see {}",
                    path.display(),
                    AUTOSTART_TIMEOUT.as_secs(),
                    cause(&error),
                    log.display()
                );
                return Err(CliError::new(Failure::Unavailable, message));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_flag_means_the_local_socket_in_dk_home() {
        let address = DaemonAddress::resolve(None, Path::new("/h")).expect("resolves");
        assert_eq!(
            address,
            DaemonAddress::Unix {
                path: "/h/dkd.sock".into(),
                local: true
            }
        );
    }

    #[test]
    fn unix_and_https_addresses_are_understood() {
        let unix =
            DaemonAddress::resolve(Some("unix:///run/dkd.sock"), Path::new("/h")).expect("unix");
        assert_eq!(
            unix,
            DaemonAddress::Unix {
                path: "/run/dkd.sock".into(),
                local: false
            }
        );
        let https = DaemonAddress::resolve(Some("https://dkd.example.com:8443"), Path::new("/h"))
            .expect("https");
        assert!(matches!(https, DaemonAddress::Tcp(uri) if uri.port_u16() == Some(8443)));
    }

    #[test]
    fn passwords_in_daemon_addresses_are_redacted() {
        assert_eq!(
            redacted("https://user:secret@host:1"),
            "https://user:***@host:1"
        );
        assert_eq!(
            redacted("https://token@host:1/x?y"),
            "https://***@host:1/x?y"
        );
        assert_eq!(
            redacted("https://host:1/a@b"),
            "https://host:***@b",
            "an @ anywhere hides what stands before it"
        );
        for mistyped in [
            "user:secret@host:1",
            "https//user:secret@h:1",
            "https://user:sec/ret@host:1",
            "https://user:se?c#ret@host:1",
            "https://user:a@b@host:1",
        ] {
            let shown = redacted(mistyped);
            assert!(
                !shown.contains("sec") && !shown.contains("ret") && !shown.contains("a@b"),
                "{mistyped} → {shown}"
            );
        }
        assert_eq!(redacted("unix:///run/dkd.sock"), "unix:///run/dkd.sock");
        let error =
            DaemonAddress::resolve(Some("ftp://u:secret@h"), Path::new("/h")).expect_err("invalid");
        assert!(!error.message.contains("secret"), "{}", error.message);
    }

    #[test]
    fn anything_else_is_invalid_input() {
        for bad in ["dkd.example.com:8443", "unix://relative/path", "ftp://x"] {
            let error = DaemonAddress::resolve(Some(bad), Path::new("/h")).expect_err(bad);
            assert_eq!(error.failure, Failure::InvalidInput, "{bad}");
        }
    }
}
