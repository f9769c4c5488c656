//! OIDC tokens already verified, so a caller sending the same token on every call pays for
//! its signature and claims once: keyed by SHA-256 of the token (the token itself is never
//! kept), each until the token's `exp`, at most `CAPACITY` of them. Only successes are
//! kept: a refused token is checked again, which a flood of bad tokens cannot turn into
//! memory.

use std::{
    collections::HashMap,
    sync::{PoisonError, RwLock},
};

use sha2::{Digest as _, Sha256};

use crate::auth::Principal;

/// The most verified tokens kept; past it, expired ones go, and if none has expired all do.
const CAPACITY: usize = 10_000;

/// The digest a token is kept under.
pub type TokenDigest = [u8; 32];

/// SHA-256 of `token`.
pub fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

struct Verified {
    principal: Principal,
    /// The token's `exp`, seconds since the Unix epoch.
    expires_at: u64,
}

/// The cache of verified tokens.
#[derive(Default)]
pub struct VerifiedTokens {
    entries: RwLock<HashMap<TokenDigest, Verified>>,
}

impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTokens").finish_non_exhaustive()
    }
}

impl VerifiedTokens {
    /// The principal of the token with `digest`, if it was verified and has not expired at
    /// `now` (seconds since the epoch).
    pub fn get(&self, digest: &TokenDigest, now: u64) -> Option<Principal> {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(digest)
            .filter(|verified| verified.expires_at > now)
            .map(|verified| verified.principal.clone())
    }

    /// Keeps `principal` for the token with `digest` until `expires_at`.
    pub fn insert(&self, digest: TokenDigest, principal: Principal, expires_at: u64, now: u64) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY {
            entries.retain(|_, verified| verified.expires_at > now);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            digest,
            Verified {
                principal,
                expires_at,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Principal {
        Principal {
            name: "alice".to_owned(),
            groups: vec!["security".to_owned()],
            method: crate::auth::AuthMethod::Oidc,
            validity: crate::auth::Validity::default(),
        }
    }

    #[test]
    fn a_verified_token_is_remembered_until_it_expires() {
        let cache = VerifiedTokens::default();
        let token = digest("header.payload.signature");
        assert_eq!(cache.get(&token, 100), None);
        cache.insert(token, alice(), 200, 100);
        assert_eq!(cache.get(&token, 199), Some(alice()));
        assert_eq!(cache.get(&token, 200), None);
        assert_eq!(cache.get(&digest("header.payload.other"), 150), None);
    }

    #[test]
    fn a_full_cache_drops_expired_tokens_first_and_never_grows_past_its_capacity() {
        let cache = VerifiedTokens::default();
        for n in 0..CAPACITY {
            let expires_at = if n % 2 == 0 { 50 } else { 500 };
            cache.insert(digest(&n.to_string()), alice(), expires_at, 10);
        }
        cache.insert(digest("one more"), alice(), 500, 100);
        assert_eq!(cache.len(), CAPACITY / 2 + 1);
        assert_eq!(cache.get(&digest("1"), 100), Some(alice()));
        for n in 0..CAPACITY {
            cache.insert(digest(&format!("again {n}")), alice(), 500, 100);
        }
        assert!(cache.len() <= CAPACITY, "{}", cache.len());
    }
}
