//! Service token secrets: `dkt_<id>_<secret>`, with a random 8-byte id (hex) that finds the
//! record and a random 32-byte secret (base64url); dkd keeps only a SHA-256 of a random
//! 16-byte salt and the secret, and compares it in constant time. A 256-bit random secret
//! cannot be guessed, so a slow password hash would add nothing but latency per call.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// What every service token starts with, so a token is recognizable in a secret scanner.
const PREFIX: &str = "dkt_";
const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;
pub const SALT_BYTES: usize = 16;

/// Why a secret could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the operating system's random source failed: {0}")]
    Random(getrandom::Error),
}

/// A freshly issued token: its text, shown to its holder once, and what dkd keeps. No
/// `Debug`: the token must never reach a log line.
pub struct IssuedSecret {
    /// `dkt_<id>_<secret>`.
    pub token: String,
    pub id: String,
    pub salt: [u8; SALT_BYTES],
    pub hash: [u8; 32],
}

fn random<const N: usize>() -> Result<[u8; N], SecretError> {
    let mut bytes = [0; N];
    getrandom::fill(&mut bytes).map_err(SecretError::Random)?;
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Makes a new token with a random id, secret and salt.
pub fn issue() -> Result<IssuedSecret, SecretError> {
    let id = hex(&random::<ID_BYTES>()?);
    let secret = random::<SECRET_BYTES>()?;
    let salt = random::<SALT_BYTES>()?;
    Ok(IssuedSecret {
        token: format!("{PREFIX}{id}_{}", URL_SAFE_NO_PAD.encode(secret)),
        hash: hash(&salt, &secret),
        id,
        salt,
    })
}

/// The id and secret of a presented token, or `None` when it is not shaped like one.
pub fn parse(token: &str) -> Option<(&str, [u8; SECRET_BYTES])> {
    // The id is hex, so the first '_' after it ends it (base64url may contain '_').
    let (id, secret) = token.strip_prefix(PREFIX)?.split_once('_')?;
    let id_ok = id.len() == ID_BYTES * 2 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let secret: [u8; SECRET_BYTES] = URL_SAFE_NO_PAD.decode(secret).ok()?.try_into().ok()?;
    id_ok.then_some((id, secret))
}

/// SHA-256 of `salt` then `secret`.
pub fn hash(salt: &[u8], secret: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(secret);
    hasher.finalize().into()
}

/// Whether `secret` hashes with `salt` to `expected`, in constant time.
pub fn matches(salt: &[u8], secret: &[u8], expected: &[u8]) -> bool {
    hash(salt, secret).ct_eq(expected).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_token_parses_back_and_matches_only_its_own_hash() {
        let issued = issue().expect("random");
        let (id, secret) = parse(&issued.token).expect("well formed");
        assert_eq!(id, issued.id);
        assert!(matches(&issued.salt, &secret, &issued.hash));
        let other = issue().expect("random");
        assert_ne!(other.token, issued.token);
        assert!(!matches(&other.salt, &secret, &issued.hash));
        assert!(!matches(&issued.salt, &secret, &other.hash));
    }

    #[test]
    fn anything_not_shaped_like_a_token_is_malformed() {
        let issued = issue().expect("random");
        let (_, secret) = issued.token.split_at(PREFIX.len() + ID_BYTES * 2 + 1);
        for bad in [
            String::new(),
            "Bearer".to_owned(),
            issued.token.replacen("dkt_", "dkx_", 1),
            issued.token[..issued.token.len() - 1].to_owned(),
            format!("{}A", issued.token),
            format!("dkt_zzzzzzzzzzzzzzzz_{secret}"),
            format!("dkt_0123_{secret}"),
        ] {
            assert!(parse(&bad).is_none(), "{bad}");
        }
    }
}
