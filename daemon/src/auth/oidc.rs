//! OIDC tokens (JWT) on the network listener: a bearer token shaped like a JWT is verified
//! against the configured issuer's keys — signature, `iss`, `aud`, `exp` and `nbf` (within
//! the configured clock skew) — and authenticates as the user its username claim names,
//! with the groups of its groups claim. A refusal says what failed, never the token.

mod keys;
mod verified;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use datakit::{
    manifest::{validate_login, validate_name},
    text::quoted,
};
use jsonwebtoken::{Algorithm, Validation, errors::ErrorKind};
use serde_json::{Map, Value};

pub use keys::KeysError;
use keys::{IssuerKeys, KeyMiss};
use verified::VerifiedTokens;

use super::{AuthMethod, Principal, Validity, tokens::rfc3339};
use crate::config::OidcSettings;

/// Why an OIDC token does not authenticate. The messages never contain the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcRejection {
    #[error("OIDC token: malformed ({0}): send the token your identity provider issued")]
    Malformed(&'static str),
    #[error("OIDC token: no key id (kid) in its header: dkd finds the issuer's key by its kid")]
    NoKeyId,
    #[error(
        "OIDC token: unknown key {kid}: not among the issuer's keys (fetched {fetched_ago} ago; dkd fetches them again at most every {interval}): sign in again for a fresh token"
    )]
    UnknownKey {
        kid: String,
        fetched_ago: String,
        interval: String,
    },
    #[error(
        "OIDC token: cannot be checked, the issuer's keys cannot be fetched ({0}): try again later, or ask dkd's admin to check auth.oidc"
    )]
    KeysUnavailable(String),
    #[error("OIDC token: algorithm {alg} is not one the issuer's key {kid} signs with")]
    WrongAlgorithm { alg: String, kid: String },
    #[error("OIDC token: bad signature: not signed by the issuer's key {kid}")]
    BadSignature { kid: String },
    #[error("OIDC token: expired at {at}: sign in again for a fresh token")]
    Expired { at: String },
    #[error(
        "OIDC token: not yet valid: valid from {at}: check that dkd's clock and the issuer's agree"
    )]
    NotYetValid { at: String },
    #[error(
        "OIDC token: wrong audience: this dkd accepts tokens for {expected} only: sign in to that client"
    )]
    WrongAudience { expected: String },
    #[error("OIDC token: wrong issuer: this dkd accepts tokens of {expected} only")]
    WrongIssuer { expected: String },
    #[error("OIDC token: no {0} claim: dkd needs exp, iss and aud in every token")]
    MissingClaim(String),
    #[error(
        "OIDC token: no username claim {claim}: ask dkd's admin to set auth.oidc.username_claim to a claim your tokens carry"
    )]
    NoUsername { claim: String },
    #[error("OIDC token: its {claim} claim is not a dkd user name: {reason}")]
    InvalidUsername { claim: String, reason: String },
    #[error("OIDC token: its {claim} claim is not a list of group names")]
    GroupsNotStrings { claim: String },
}

/// Verifies the tokens of one issuer.
#[derive(Debug)]
pub struct OidcVerifier {
    settings: OidcSettings,
    keys: IssuerKeys,
    verified: VerifiedTokens,
    /// The checks every token passes; the algorithm is set per token, from its key.
    validation: Validation,
}

/// Whether `token` is shaped like a JWT: three dot-separated base64url parts.
pub fn looks_like_jwt(token: &str) -> bool {
    let base64url = |part: &str| {
        part.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3 && parts.iter().all(|part| !part.is_empty() && base64url(part))
}

fn seconds_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// A NumericDate claim (seconds since the epoch, maybe with a fraction).
fn numeric_date(value: Option<&Value>) -> Option<u64> {
    let value = value?;
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
            .map(|seconds| seconds as u64)
    })
}

/// The NumericDate `claim` of `token`'s payload as RFC 3339, for a message about a token
/// whose signature was verified.
fn claim_time(token: &str, claim: &str) -> String {
    token
        .split('.')
        .nth(1)
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|json| serde_json::from_slice::<Map<String, Value>>(&json).ok())
        .and_then(|claims| numeric_date(claims.get(claim)))
        .map_or_else(|| "an unreadable time".to_owned(), rfc3339)
}

fn duration(seconds: Duration) -> String {
    humantime::format_duration(Duration::from_secs(seconds.as_secs())).to_string()
}

impl OidcVerifier {
    pub fn new(settings: OidcSettings) -> Result<Self, KeysError> {
        let keys = IssuerKeys::new(
            &settings.issuer,
            settings.jwks_url.clone(),
            settings.jwks_refetch_interval,
        )?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = settings.clock_skew.as_secs();
        validation.validate_nbf = true;
        validation.set_audience(&[&settings.audience]);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        Ok(Self {
            settings,
            keys,
            verified: VerifiedTokens::default(),
            validation,
        })
    }

    /// Fetches the issuer's keys ahead of the first token.
    pub async fn prefetch_keys(&self) {
        self.keys.prefetch().await;
    }

    /// The principal `token` authenticates, from the cache of verified tokens or verified
    /// now.
    pub async fn verify(&self, token: &str) -> Result<Principal, OidcRejection> {
        let now = seconds_now();
        let digest = verified::digest(token);
        if let Some(principal) = self.verified.get(&digest, now) {
            return Ok(principal);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|error| {
            OidcRejection::Malformed(match error.kind() {
                ErrorKind::Base64(_) | ErrorKind::Utf8(_) => "its header is not base64url",
                _ => "its header is not JSON naming a supported algorithm",
            })
        })?;
        let kid = header.kid.ok_or(OidcRejection::NoKeyId)?;
        let key = self.keys.key(&kid).await.map_err(|miss| match miss {
            KeyMiss::Unknown {
                fetched_ago,
                refetch_interval,
            } => OidcRejection::UnknownKey {
                kid: quoted(&kid),
                fetched_ago: duration(fetched_ago),
                interval: duration(refetch_interval),
            },
            KeyMiss::Unavailable(reason) => OidcRejection::KeysUnavailable(reason),
        })?;
        if !key.algorithms.contains(&header.alg) {
            return Err(OidcRejection::WrongAlgorithm {
                alg: format!("{:?}", header.alg),
                kid: quoted(&kid),
            });
        }
        let mut validation = self.validation.clone();
        validation.algorithms = vec![header.alg];
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation)
            .map_err(|error| self.rejection(error.kind(), token, &kid))?
            .claims;
        let mut principal = self.principal(&claims)?;
        let expires_at = numeric_date(claims.get("exp")).unwrap_or(now);
        principal.validity.expires_at = Some(expires_at);
        // Once per token, not per call: later calls with it are answered from the cache.
        tracing::info!(user = %principal.name, groups = ?principal.groups, expires = %rfc3339(expires_at), "verified an OIDC token");
        self.verified
            .insert(digest, principal.clone(), expires_at, now);
        Ok(principal)
    }

    /// The refusal for a token `decode` refused with `kind` (claims are checked only once
    /// the signature is, so their times can be shown).
    fn rejection(&self, kind: &ErrorKind, token: &str, kid: &str) -> OidcRejection {
        match kind {
            ErrorKind::ExpiredSignature => OidcRejection::Expired {
                at: claim_time(token, "exp"),
            },
            ErrorKind::ImmatureSignature => OidcRejection::NotYetValid {
                at: claim_time(token, "nbf"),
            },
            ErrorKind::InvalidAudience => OidcRejection::WrongAudience {
                expected: quoted(&self.settings.audience),
            },
            ErrorKind::InvalidIssuer => OidcRejection::WrongIssuer {
                expected: quoted(&self.settings.issuer),
            },
            ErrorKind::MissingRequiredClaim(claim) => OidcRejection::MissingClaim(claim.clone()),
            ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
                OidcRejection::Malformed("its payload is not base64url JSON")
            }
            ErrorKind::InvalidToken => OidcRejection::Malformed("not three parts"),
            _ => OidcRejection::BadSignature { kid: quoted(kid) },
        }
    }

    /// The principal of verified `claims`.
    fn principal(&self, claims: &Map<String, Value>) -> Result<Principal, OidcRejection> {
        let username_claim = &self.settings.username_claim;
        let name = claims
            .get(username_claim)
            .and_then(Value::as_str)
            .ok_or_else(|| OidcRejection::NoUsername {
                claim: quoted(username_claim),
            })?;
        validate_login(name).map_err(|error| OidcRejection::InvalidUsername {
            claim: quoted(username_claim),
            reason: error.to_string(),
        })?;
        let groups_claim = &self.settings.groups_claim;
        let not_strings = || OidcRejection::GroupsNotStrings {
            claim: quoted(groups_claim),
        };
        let listed: Vec<&str> = match claims.get(groups_claim) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(group)) => vec![group.as_str()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().ok_or_else(not_strings))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(not_strings()),
        };
        // A group dkd cannot name is left out: that only ever takes rights away.
        let (groups, ignored): (Vec<&str>, Vec<&str>) = listed
            .into_iter()
            .partition(|group| validate_name("group", group).is_ok());
        if !ignored.is_empty() {
            tracing::info!(
                user = name,
                ?ignored,
                "left out groups of an OIDC token that are not valid group names"
            );
        }
        Ok(Principal {
            name: name.to_owned(),
            groups: groups.into_iter().map(str::to_owned).collect(),
            method: AuthMethod::Oidc,
            validity: Validity::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_three_nonempty_base64url_parts_look_like_a_jwt() {
        assert!(looks_like_jwt("eyJh.eyJz.c2ln-_"));
        for other in [
            "dkt_0123456789abcdef_c2VjcmV0",
            "a.b",
            "a.b.c.d",
            "a..c",
            "a.b.c=",
            "a.b c.d",
            "",
        ] {
            assert!(!looks_like_jwt(other), "{other}");
        }
    }

    fn verifier_naming_users_by(username_claim: &str) -> OidcVerifier {
        datakit::install_crypto_provider();
        OidcVerifier::new(OidcSettings {
            issuer: "https://id.example.com".to_owned(),
            audience: "dkd".to_owned(),
            jwks_url: None,
            username_claim: username_claim.to_owned(),
            groups_claim: "groups".to_owned(),
            clock_skew: Duration::from_secs(60),
            jwks_refetch_interval: Duration::from_secs(30),
        })
        .expect("verifier")
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn the_username_claim_names_the_user_and_invalid_group_names_are_left_out() {
        let verifier = verifier_naming_users_by("preferred_username");
        let principal = verifier
            .principal(&claims(serde_json::json!({
                "preferred_username": "alice",
                "groups": ["security", "/Team Leads", "ci"],
            })))
            .expect("a principal");
        assert_eq!(
            principal,
            Principal {
                name: "alice".to_owned(),
                groups: vec!["security".to_owned(), "ci".to_owned()],
                method: AuthMethod::Oidc,
                validity: Validity::default(),
            }
        );
        let refusals = [
            (serde_json::json!({ "sub": "alice" }), "no username claim"),
            (
                serde_json::json!({ "preferred_username": "alice.smith" }),
                "is not a dkd user name",
            ),
            (
                serde_json::json!({ "preferred_username": "alice", "groups": [1] }),
                "not a list of group names",
            ),
            (
                serde_json::json!({ "preferred_username": "alice", "groups": {"a": 1} }),
                "not a list of group names",
            ),
        ];
        for (claims_json, expected) in refusals {
            let message = verifier
                .principal(&claims(claims_json.clone()))
                .expect_err("refused")
                .to_string();
            assert!(message.contains(expected), "{claims_json}: {message}");
        }
        let by_sub = verifier_naming_users_by("sub")
            .principal(&claims(serde_json::json!({ "sub": "f81d4fae-7dec-11d0" })))
            .expect("a principal");
        assert_eq!(by_sub.name, "f81d4fae-7dec-11d0");
        assert!(by_sub.groups.is_empty());
    }
}
