//! Service tokens for CI and bots: `DK_HOME/tokens.json`, mode 0600, replaced atomically on
//! every change and read once at start. Tokens are secrets, so they are kept out of the
//! deployment repository (the record of everything else), and out of sled, which is a cache
//! dkd may discard and rebuild from git — which would silently revoke every token. Only
//! salted hashes are kept; revoked and expired records stay, so a caller is told why.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::{Mutex, RwLock},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use datakit::manifest::{validate_login, validate_name};
use serde::{Deserialize, Serialize};

use super::{
    AuthMethod, Principal, Validity,
    secret::{self, SecretError},
};

/// The version of `tokens.json` this dkd writes and reads.
const FILE_VERSION: u32 = 1;

/// A service token as anyone may see it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceToken {
    /// Random, public: it is the part of the token that finds this record.
    pub id: String,
    /// The principal name the token authenticates as.
    pub name: String,
    pub groups: Vec<String>,
    pub created_by: String,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    pub expires_at: Option<u64>,
    pub revoked_at: Option<u64>,
}

/// A token as stored: the public record and the salted hash of its secret.
#[derive(Clone, Serialize, Deserialize)]
struct StoredToken {
    #[serde(flatten)]
    token: ServiceToken,
    /// Base64 of the random salt.
    salt: String,
    /// Base64 of SHA-256(salt ‖ secret).
    hash: String,
}

#[derive(Serialize, Deserialize)]
struct TokenFile {
    version: u32,
    tokens: Vec<StoredToken>,
}

/// Why a token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(
        "{path}: cannot read the service tokens: {reason}: fix the file, or move it aside (which revokes every token)"
    )]
    Unreadable { path: String, reason: String },
    #[error("cannot save the service tokens to {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("a service token named {0:?} is active already: revoke it first (dk token revoke {0})")]
    Exists(String),
    #[error("no active service token named {0:?}: see dk token list")]
    NotFound(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// Why a presented token does not authenticate. The messages never contain the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    #[error("service token: malformed (dkd's service tokens look like dkt_…): check DK_TOKEN")]
    Malformed,
    #[error(
        "service token: unknown to this dkd: check DK_TOKEN, or ask its admin for one (dk token create)"
    )]
    Unknown,
    #[error("service token {name}: revoked at {at}: ask this dkd's admin for a new one")]
    Revoked { name: String, at: String },
    #[error("service token {name}: expired at {at}: ask this dkd's admin for a new one")]
    Expired { name: String, at: String },
}

/// The service tokens of one dkd.
pub struct TokenStore {
    path: PathBuf,
    tokens: RwLock<Vec<StoredToken>>,
    /// Serializes changes: read, change, write, swap.
    writer: Mutex<()>,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `at` (seconds since the epoch) as RFC 3339, for messages.
pub fn rfc3339(at: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(at)).to_string()
}

impl TokenStore {
    /// Reads `path` (no file: no tokens), narrowing its mode to 0600 if it was wider.
    pub fn open(path: &Path) -> Result<Self, TokenError> {
        let display = path.display().to_string();
        let unreadable = |reason: String| TokenError::Unreadable {
            path: display.clone(),
            reason,
        };
        let tokens = match fs::read(path) {
            Ok(bytes) => {
                let mode = fs::metadata(path)
                    .map_err(|e| unreadable(e.to_string()))?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
                        .map_err(|e| unreadable(e.to_string()))?;
                    tracing::warn!(path = %path.display(), "the service tokens file was mode {:o}; narrowed it to 0600", mode & 0o777);
                }
                let file: TokenFile =
                    serde_json::from_slice(&bytes).map_err(|e| unreadable(e.to_string()))?;
                if file.version != FILE_VERSION {
                    return Err(unreadable(format!(
                        "version {} is not the {FILE_VERSION} this dkd reads",
                        file.version
                    )));
                }
                file.tokens
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(unreadable(error.to_string())),
        };
        Ok(Self {
            path: path.to_path_buf(),
            tokens: RwLock::new(tokens),
            writer: Mutex::new(()),
        })
    }

    fn snapshot(&self) -> Vec<StoredToken> {
        self.tokens
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Writes `tokens` (atomically, mode 0600) and only then serves them.
    fn save(&self, tokens: Vec<StoredToken>) -> Result<(), TokenError> {
        let file = TokenFile {
            version: FILE_VERSION,
            tokens,
        };
        let write_error = |source| TokenError::Write {
            path: self.path.display().to_string(),
            source,
        };
        let bytes =
            serde_json::to_vec_pretty(&file).map_err(|e| write_error(std::io::Error::other(e)))?;
        // The temporary file `write_atomically` renames into place is created mode 0600.
        datakit::files::write_atomically(&self.path, &bytes).map_err(write_error)?;
        *self
            .tokens
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = file.tokens;
        Ok(())
    }

    /// Issues a token named `name` for `groups`, valid for `lifetime` (forever if `None`);
    /// returns its record and its text, which is never available again.
    pub fn create(
        &self,
        name: &str,
        groups: &[String],
        lifetime: Option<Duration>,
        created_by: &str,
    ) -> Result<(ServiceToken, String), TokenError> {
        validate_login(name).map_err(|e| TokenError::Invalid(e.to_string()))?;
        for group in groups {
            validate_name("group", group).map_err(|e| TokenError::Invalid(e.to_string()))?;
        }
        let _writing = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = SystemTime::now();
        let mut tokens = self.snapshot();
        if tokens
            .iter()
            .any(|t| t.token.name == name && is_live(&t.token, now))
        {
            return Err(TokenError::Exists(name.to_owned()));
        }
        let issued = secret::issue()?;
        let token = ServiceToken {
            id: issued.id.clone(),
            name: name.to_owned(),
            groups: groups.to_vec(),
            created_by: created_by.to_owned(),
            created_at: seconds(now),
            expires_at: lifetime.map(|lifetime| seconds(now + lifetime)),
            revoked_at: None,
        };
        tokens.push(StoredToken {
            token: token.clone(),
            salt: STANDARD.encode(issued.salt),
            hash: STANDARD.encode(issued.hash),
        });
        self.save(tokens)?;
        tracing::info!(token = name, id = %token.id, by = created_by, "issued a service token");
        Ok((token, issued.token))
    }

    /// Every token ever issued and still on file, oldest first.
    pub fn list(&self) -> Vec<ServiceToken> {
        self.snapshot().into_iter().map(|t| t.token).collect()
    }

    /// Revokes the live token named `name`.
    pub fn revoke(&self, name: &str, revoked_by: &str) -> Result<ServiceToken, TokenError> {
        validate_login(name).map_err(|e| TokenError::Invalid(e.to_string()))?;
        let _writing = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = SystemTime::now();
        let mut tokens = self.snapshot();
        let stored = tokens
            .iter_mut()
            .find(|t| t.token.name == name && is_live(&t.token, now))
            .ok_or_else(|| TokenError::NotFound(name.to_owned()))?;
        stored.token.revoked_at = Some(seconds(now));
        let revoked = stored.token.clone();
        self.save(tokens)?;
        tracing::info!(token = name, id = %revoked.id, by = revoked_by, "revoked a service token");
        Ok(revoked)
    }

    /// The principal `presented` (a bearer token's text) authenticates at `now`.
    pub fn authenticate(
        &self,
        presented: &str,
        now: SystemTime,
    ) -> Result<Principal, TokenRejection> {
        let (id, secret) = secret::parse(presented).ok_or(TokenRejection::Malformed)?;
        self.with_stored(id, |stored| {
            let salt = STANDARD.decode(&stored.salt).unwrap_or_default();
            let hash = STANDARD.decode(&stored.hash).unwrap_or_default();
            // A wrong secret for a known id says no more than an id never issued.
            if !secret::matches(&salt, &secret, &hash) {
                return Err(TokenRejection::Unknown);
            }
            let token = &stored.token;
            standing(token, now)?;
            Ok(Principal {
                name: token.name.clone(),
                groups: token.groups.clone(),
                method: AuthMethod::ServiceToken,
                validity: Validity {
                    expires_at: token.expires_at,
                    service_token: Some(token.id.clone()),
                },
            })
        })
    }

    /// Whether the token with `id` still holds at `now` (a stream opened with it runs on
    /// only while it does): revoked, expired or gone since, it is refused saying so.
    pub fn still_valid(&self, id: &str, now: SystemTime) -> Result<(), TokenRejection> {
        self.with_stored(id, |stored| standing(&stored.token, now))
    }

    /// `check` applied to the stored token with `id`; an id never issued is unknown.
    fn with_stored<T>(
        &self,
        id: &str,
        check: impl FnOnce(&StoredToken) -> Result<T, TokenRejection>,
    ) -> Result<T, TokenRejection> {
        let tokens = self
            .tokens
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stored = tokens
            .iter()
            .find(|t| t.token.id == id)
            .ok_or(TokenRejection::Unknown)?;
        check(stored)
    }
}

/// Refuses `token` if it is revoked or expired at `now`.
fn standing(token: &ServiceToken, now: SystemTime) -> Result<(), TokenRejection> {
    if let Some(at) = token.revoked_at {
        return Err(TokenRejection::Revoked {
            name: token.name.clone(),
            at: rfc3339(at),
        });
    }
    if let Some(at) = token.expires_at.filter(|at| *at <= seconds(now)) {
        return Err(TokenRejection::Expired {
            name: token.name.clone(),
            at: rfc3339(at),
        });
    }
    Ok(())
}

/// Neither revoked nor expired at `now`.
fn is_live(token: &ServiceToken, now: SystemTime) -> bool {
    token.revoked_at.is_none() && token.expires_at.is_none_or(|at| at > seconds(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &tempfile::TempDir) -> TokenStore {
        TokenStore::open(&dir.path().join("tokens.json")).expect("open")
    }

    #[test]
    fn a_token_authenticates_as_its_name_and_groups_until_revoked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tokens = store(&dir);
        let groups = vec!["ci".to_owned(), "team-leads".to_owned()];
        let (record, secret) = tokens
            .create("ci-bot", &groups, None, "carol")
            .expect("create");
        let principal = tokens
            .authenticate(&secret, SystemTime::now())
            .expect("valid");
        assert_eq!(principal.name, "ci-bot");
        assert_eq!(principal.groups, groups);
        assert_eq!(principal.method, AuthMethod::ServiceToken);
        tokens.revoke("ci-bot", "carol").expect("revoke");
        let rejection = tokens
            .authenticate(&secret, SystemTime::now())
            .expect_err("revoked");
        assert!(
            matches!(&rejection, TokenRejection::Revoked { name, .. } if name == "ci-bot"),
            "{rejection}"
        );
        assert_eq!(
            tokens.list(),
            vec![ServiceToken {
                revoked_at: tokens.list()[0].revoked_at,
                ..record
            }]
        );
    }

    #[test]
    fn tokens_survive_a_restart_in_a_private_file_that_holds_no_secret() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, secret) = store(&dir)
            .create("deploy-bot", &[], Some(Duration::from_secs(3600)), "carol")
            .expect("create");
        let path = dir.path().join("tokens.json");
        assert_eq!(
            fs::metadata(&path).expect("stat").permissions().mode() & 0o777,
            0o600
        );
        let text = fs::read_to_string(&path).expect("read");
        // `dkt_<hex id>_<base64url secret>`: the secret itself may contain '_'.
        let secret_part = secret.splitn(3, '_').nth(2).expect("secret part");
        assert!(!text.contains(secret_part), "{text}");
        let reopened = store(&dir);
        assert_eq!(
            reopened
                .authenticate(&secret, SystemTime::now())
                .expect("valid")
                .name,
            "deploy-bot"
        );
    }

    #[test]
    fn expired_unknown_and_malformed_tokens_say_so_without_echoing_the_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tokens = store(&dir);
        let (_, secret) = tokens
            .create("nightly", &[], Some(Duration::from_secs(60)), "carol")
            .expect("create");
        let later = SystemTime::now() + Duration::from_secs(120);
        let expired = tokens.authenticate(&secret, later).expect_err("expired");
        assert!(
            matches!(expired, TokenRejection::Expired { .. }),
            "{expired}"
        );
        // Another secret for the same id: its first character changed.
        let at = "dkt_".len() + 16 + 1;
        let other = if &secret[at..=at] == "A" { "B" } else { "A" };
        let forged = format!("{}{other}{}", &secret[..at], &secret[at + 1..]);
        for (presented, expected) in [
            (forged.as_str(), TokenRejection::Unknown),
            ("not-a-token", TokenRejection::Malformed),
        ] {
            let rejection = tokens
                .authenticate(presented, SystemTime::now())
                .expect_err(presented);
            assert_eq!(rejection, expected);
            assert!(!rejection.to_string().contains(presented));
        }
        // One active token per name.
        assert!(matches!(
            tokens.create("nightly", &[], None, "carol"),
            Err(TokenError::Exists(_))
        ));
    }

    #[test]
    fn names_and_groups_follow_the_user_and_group_name_rules() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tokens = store(&dir);
        for (name, groups) in [("../x", vec![]), ("ci", vec!["Team Leads".to_owned()])] {
            assert!(matches!(
                tokens.create(name, &groups, None, "carol"),
                Err(TokenError::Invalid(_))
            ));
        }
        assert!(matches!(
            tokens.revoke("ghost", "carol"),
            Err(TokenError::NotFound(_))
        ));
    }
}
