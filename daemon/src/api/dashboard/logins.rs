//! The one-time login codes `dk ui` hands out and the dashboard sessions they open, in
//! memory only (a restarted dkd forgets them all). A code is 256 random bits, good for one
//! exchange within `CODE_LIFETIME`; the session it opens is another 256-bit secret the page
//! keeps in its tab and sends as a bearer token, good for `SESSION_LIFETIME`. dkd keeps only
//! SHA-256 hashes of both and looks them up by hash, so a lookup's timing says nothing
//! about a secret.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant, SystemTime},
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest as _, Sha256};

use crate::auth::{Principal, Validity};

/// How long a login code may wait to be used.
pub const CODE_LIFETIME: Duration = Duration::from_secs(120);
/// How long a dashboard session lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Why a secret could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the operating system's random source failed: {0}")]
    Random(getrandom::Error),
}

/// A principal and until when it holds.
#[derive(Debug, Clone)]
struct Grant {
    principal: Principal,
    until: Instant,
}

/// Open codes and sessions, by the SHA-256 of their secret.
#[derive(Debug, Default)]
pub struct Logins {
    codes: Mutex<HashMap<[u8; 32], Grant>>,
    sessions: Mutex<HashMap<[u8; 32], Grant>>,
}

/// A secret handed out once, and when it expires.
pub struct Issued {
    pub secret: String,
    pub expires_at: SystemTime,
}

fn fingerprint(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn random_secret() -> Result<String, LoginError> {
    let mut bytes = [0; 32];
    getrandom::fill(&mut bytes).map_err(LoginError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Stores a new secret for `principal` in `table`, dropping expired ones on the way.
fn issue(
    table: &Mutex<HashMap<[u8; 32], Grant>>,
    principal: Principal,
    lifetime: Duration,
) -> Result<Issued, LoginError> {
    let secret = random_secret()?;
    let now = Instant::now();
    let mut table = table
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    table.retain(|_, grant| grant.until > now);
    table.insert(
        fingerprint(&secret),
        Grant {
            principal,
            until: now + lifetime,
        },
    );
    Ok(Issued {
        secret,
        expires_at: SystemTime::now() + lifetime,
    })
}

impl Logins {
    /// A new one-time code that signs in as `principal`.
    pub fn mint_code(&self, principal: Principal) -> Result<Issued, LoginError> {
        issue(&self.codes, principal, CODE_LIFETIME)
    }

    /// Exchanges `code` for a session: once, and only before it expires.
    pub fn redeem(&self, code: &str) -> Result<Option<Issued>, LoginError> {
        let taken = self
            .codes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&fingerprint(code));
        match taken {
            Some(grant) if grant.until > Instant::now() => {
                let mut principal = grant.principal;
                let expires = SystemTime::now() + SESSION_LIFETIME;
                principal.validity = Validity {
                    expires_at: expires
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .ok()
                        .map(|since| since.as_secs()),
                    service_token: None,
                };
                issue(&self.sessions, principal, SESSION_LIFETIME).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The principal of an open session, if `session` is one.
    pub fn session(&self, session: &str) -> Option<Principal> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&fingerprint(session))
            .filter(|grant| grant.until > Instant::now())
            .map(|grant| grant.principal.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_opens_one_session_and_only_once() {
        let logins = Logins::default();
        let code = logins
            .mint_code(Principal::local("me".to_owned()))
            .expect("code");
        let session = logins
            .redeem(&code.secret)
            .expect("random")
            .expect("a session");
        assert_eq!(
            logins.session(&session.secret).map(|p| p.name),
            Some("me".to_owned())
        );
        assert!(logins.redeem(&code.secret).expect("random").is_none());
        assert!(logins.session(&code.secret).is_none());
        assert!(logins.session("made-up").is_none());
    }
}
