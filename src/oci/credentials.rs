//! Registry credentials: `DK_REGISTRY_TOKEN`, or `DK_REGISTRY_USERNAME` with
//! `DK_REGISTRY_PASSWORD`, else the registry's entry in the Docker config file
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`), else none. Passwords and
//! tokens never appear in `Debug` output or in messages.

use std::{fmt, path::PathBuf};

use base64::Engine as _;
use serde::Deserialize;

/// How to log in to a registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Anonymous,
    Basic { username: String, password: String },
    Bearer { token: String },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Self::Bearer { .. } => f
                .debug_struct("Bearer")
                .field("token", &"<redacted>")
                .finish(),
        }
    }
}

/// Credentials that are configured but unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("DK_REGISTRY_USERNAME and DK_REGISTRY_PASSWORD go together: set both, or neither")]
    Incomplete,
    #[error(
        "cannot use the Docker config {path} ({reason}): fix it, or set DOCKER_CONFIG to another directory"
    )]
    DockerConfig { path: String, reason: String },
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, DockerAuth>,
}

#[derive(Deserialize)]
struct DockerAuth {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    #[serde(rename = "registrytoken")]
    registry_token: Option<String>,
}

impl Credentials {
    /// The credentials for `host` (`host[:port]`) from this process's environment.
    pub fn lookup(host: &str) -> Result<Self, CredentialsError> {
        Self::lookup_with(host, |name| std::env::var(name).ok())
    }

    /// The credentials for `host`, reading environment variables through `env`.
    pub fn lookup_with(
        host: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, CredentialsError> {
        let var = |name: &str| env(name).filter(|value| !value.is_empty());
        if let Some(token) = var("DK_REGISTRY_TOKEN") {
            return Ok(Self::Bearer { token });
        }
        match (var("DK_REGISTRY_USERNAME"), var("DK_REGISTRY_PASSWORD")) {
            (Some(username), Some(password)) => return Ok(Self::Basic { username, password }),
            (None, None) => {}
            _ => return Err(CredentialsError::Incomplete),
        }
        let path = match (var("DOCKER_CONFIG"), var("HOME")) {
            (Some(dir), _) => PathBuf::from(dir).join("config.json"),
            (None, Some(home)) => PathBuf::from(home).join(".docker").join("config.json"),
            (None, None) => return Ok(Self::Anonymous),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::Anonymous);
            }
            Err(error) => return Err(docker_config_error(&path, &error.to_string())),
        };
        from_docker_config(&text, host)
            .map(|found| found.unwrap_or(Self::Anonymous))
            .map_err(|reason| docker_config_error(&path, &reason))
    }

    /// What is presented to the registry, for messages: never the secret.
    pub fn describe(&self) -> String {
        match self {
            Self::Anonymous => "anonymous access".to_owned(),
            Self::Basic { username, .. } => format!("the login of user {username}"),
            Self::Bearer { .. } => {
                "the token (from DK_REGISTRY_TOKEN or the Docker config)".to_owned()
            }
        }
    }
}

fn docker_config_error(path: &std::path::Path, reason: &str) -> CredentialsError {
    CredentialsError::DockerConfig {
        path: path.display().to_string(),
        reason: reason.to_owned(),
    }
}

/// `auths` keys are written as `host`, `https://host`, `https://host/v1/`…: the host part.
fn auth_key_host(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or(key).to_ascii_lowercase();
    match host.as_str() {
        "docker.io" | "registry-1.docker.io" => "index.docker.io".to_owned(),
        _ => host,
    }
}

fn from_docker_config(text: &str, host: &str) -> Result<Option<Credentials>, String> {
    let config: DockerConfig =
        serde_json::from_str(text).map_err(|error| format!("not valid JSON: {error}"))?;
    let wanted = auth_key_host(host);
    let Some(entry) = config
        .auths
        .iter()
        .find(|(key, _)| auth_key_host(key) == wanted)
        .map(|(_, entry)| entry)
    else {
        return Ok(None);
    };
    if let Some(encoded) = entry.auth.as_deref().filter(|auth| !auth.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| format!("auths.{host}.auth is not base64 of user:password"))?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| format!("auths.{host}.auth is not base64 of user:password"))?;
        return Ok(Some(Credentials::Basic {
            username: username.to_owned(),
            password: password.to_owned(),
        }));
    }
    if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
        return Ok(Some(Credentials::Basic {
            username: username.clone(),
            password: password.clone(),
        }));
    }
    Ok(entry
        .registry_token
        .clone()
        .map(|token| Credentials::Bearer { token }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        }
    }

    fn docker_config(json: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("config.json"), json).expect("write");
        dir
    }

    #[test]
    fn debug_output_never_shows_a_password_or_token() {
        let basic = Credentials::Basic {
            username: "alice".into(),
            password: "hunter2".into(),
        };
        let bearer = Credentials::Bearer {
            token: "ghp_secret".into(),
        };
        let shown = format!("{basic:?} {bearer:?} {:?}", Credentials::Anonymous);
        assert!(shown.contains("alice"), "{shown}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("ghp_secret"),
            "{shown}"
        );
        assert!(!basic.describe().contains("hunter2"));
        assert!(!bearer.describe().contains("ghp_secret"));
    }

    #[test]
    fn environment_variables_come_first() {
        let dir = docker_config(r#"{"auths":{"r.io":{"auth":"ZG9jazpwdw=="}}}"#);
        let config = dir.path().to_string_lossy().into_owned();
        let token = Credentials::lookup_with(
            "r.io",
            env(&[("DK_REGISTRY_TOKEN", "t"), ("DOCKER_CONFIG", &config)]),
        );
        assert_eq!(token, Ok(Credentials::Bearer { token: "t".into() }));
        let basic = Credentials::lookup_with(
            "r.io",
            env(&[
                ("DK_REGISTRY_USERNAME", "u"),
                ("DK_REGISTRY_PASSWORD", "p"),
                ("DOCKER_CONFIG", &config),
            ]),
        );
        assert_eq!(
            basic,
            Ok(Credentials::Basic {
                username: "u".into(),
                password: "p".into()
            })
        );
        let half = Credentials::lookup_with("r.io", env(&[("DK_REGISTRY_USERNAME", "u")]));
        assert_eq!(half, Err(CredentialsError::Incomplete));
    }

    #[test]
    fn the_docker_config_entry_of_the_host_is_used_whatever_its_key_spelling() {
        let dir = docker_config(
            r#"{"auths":{"https://r.io:5000/v1/":{"auth":"ZG9jazpwOnc="},"other.io":{"auth":"eDp5"}}}"#,
        );
        let config = dir.path().to_string_lossy().into_owned();
        let found = Credentials::lookup_with("R.io:5000", env(&[("DOCKER_CONFIG", &config)]));
        assert_eq!(
            found,
            Ok(Credentials::Basic {
                username: "dock".into(),
                password: "p:w".into()
            })
        );
        let none = Credentials::lookup_with("unknown.io", env(&[("DOCKER_CONFIG", &config)]));
        assert_eq!(none, Ok(Credentials::Anonymous));
    }

    #[test]
    fn no_docker_config_means_anonymous_and_a_broken_one_is_an_error() {
        let empty = tempfile::tempdir().expect("tempdir");
        let home = empty.path().to_string_lossy().into_owned();
        assert_eq!(
            Credentials::lookup_with("r.io", env(&[("HOME", &home)])),
            Ok(Credentials::Anonymous)
        );
        let dir = docker_config("{not json");
        let config = dir.path().to_string_lossy().into_owned();
        let error = Credentials::lookup_with("r.io", env(&[("DOCKER_CONFIG", &config)]))
            .expect_err("broken");
        assert!(error.to_string().contains("config.json"), "{error}");
    }
}
