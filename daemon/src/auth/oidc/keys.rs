//! The OIDC issuer's signing keys: its JWKS, fetched from `jwks_url` or from the `jwks_uri`
//! of `ISSUER/.well-known/openid-configuration`, kept in memory, and fetched again when a
//! token names a key id (`kid`) not among them or the keys are an hour old — but never more
//! than once per refetch interval, so a flood of tokens with made-up key ids cannot hammer
//! the issuer. Only signing keys dkd can verify with ring are kept: RSA (RS256/384/512,
//! PS256/384/512), EC P-256 (ES256) and P-384 (ES384), Ed25519 (EdDSA); each key accepts
//! only its own algorithms, and symmetric (`oct`) or encryption keys are ignored.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use jsonwebtoken::{
    Algorithm, DecodingKey,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse},
};
use reqwest::Url;
use serde::Deserialize;
use tokio::time::Instant;

use crate::config::endpoint_url;

/// How long one fetch (discovery document or JWKS) may take.
const FETCH_DEADLINE: Duration = Duration::from_secs(10);
/// The largest discovery document or JWKS dkd reads.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Keys this old are fetched again on next use (a key the issuer withdrew stops counting),
/// while the old ones keep serving if the issuer cannot be reached.
const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);

/// Why the keys cannot be fetched at all.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("cannot build the HTTP client for the issuer's keys: {0}")]
    Client(String),
}

/// A key of the issuer and the algorithms a token signed with it may name.
pub struct IssuerKey {
    pub decoding: DecodingKey,
    pub algorithms: Vec<Algorithm>,
}

/// Why no key was found for a key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMiss {
    /// The issuer's keys (fetched `fetched_ago`) do not include it.
    Unknown {
        fetched_ago: Duration,
        refetch_interval: Duration,
    },
    /// No keys could be fetched yet; the reason of the last attempt.
    Unavailable(String),
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<IssuerKey>>,
    fetched_at: Option<Instant>,
}

#[derive(Default)]
struct FetchState {
    /// The JWKS URL, once configured or discovered.
    jwks_url: Option<Url>,
    last_attempt: Option<Instant>,
    last_failure: Option<String>,
}

/// The keys of one issuer.
pub struct IssuerKeys {
    http: reqwest::Client,
    issuer: String,
    refetch_interval: Duration,
    current: RwLock<Arc<KeySet>>,
    /// Held while fetching, so concurrent misses wait for one fetch instead of starting more.
    fetching: tokio::sync::Mutex<FetchState>,
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKeys")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl IssuerKeys {
    /// The keys of `issuer`, at `jwks_url` or discovered, fetched at most once per
    /// `refetch_interval`. Nothing is fetched yet.
    pub fn new(
        issuer: &str,
        jwks_url: Option<Url>,
        refetch_interval: Duration,
    ) -> Result<Self, KeysError> {
        let http = reqwest::Client::builder()
            .timeout(FETCH_DEADLINE)
            .connect_timeout(FETCH_DEADLINE)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("dkd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| KeysError::Client(error.to_string()))?;
        Ok(Self {
            http,
            issuer: issuer.to_owned(),
            refetch_interval,
            current: RwLock::new(Arc::new(KeySet::default())),
            fetching: tokio::sync::Mutex::new(FetchState {
                jwks_url,
                ..FetchState::default()
            }),
        })
    }

    fn snapshot(&self) -> Arc<KeySet> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Fetches the keys now unless they were fetched (or tried) within the refetch
    /// interval: dkd calls it at start, so the first token is verified without waiting.
    pub async fn prefetch(&self) {
        let mut state = self.fetching.lock().await;
        self.fetch_if_allowed(&mut state).await;
    }

    /// The key with id `kid`: from memory, or fetched again if it is unknown (or the keys
    /// are old) and the last fetch is at least the refetch interval ago.
    pub async fn key(&self, kid: &str) -> Result<Arc<IssuerKey>, KeyMiss> {
        let keys = self.snapshot();
        let fresh = |keys: &KeySet| {
            keys.fetched_at
                .is_some_and(|at| at.elapsed() < KEYS_MAX_AGE)
        };
        if let Some(key) = keys.keys.get(kid) {
            if fresh(&keys) {
                return Ok(key.clone());
            }
            // Old keys are refreshed by one caller; the others keep using them meanwhile.
            let Ok(mut state) = self.fetching.try_lock() else {
                return Ok(key.clone());
            };
            self.fetch_if_allowed(&mut state).await;
            return self
                .snapshot()
                .keys
                .get(kid)
                .cloned()
                .ok_or(KeyMiss::Unknown {
                    fetched_ago: Duration::ZERO,
                    refetch_interval: self.refetch_interval,
                });
        }
        let mut state = self.fetching.lock().await;
        // Another caller may have fetched them while this one waited.
        if let Some(key) = self.snapshot().keys.get(kid) {
            return Ok(key.clone());
        }
        self.fetch_if_allowed(&mut state).await;
        let keys = self.snapshot();
        if let Some(key) = keys.keys.get(kid) {
            return Ok(key.clone());
        }
        match (keys.fetched_at, &state.last_failure) {
            (Some(at), _) => Err(KeyMiss::Unknown {
                fetched_ago: at.elapsed(),
                refetch_interval: self.refetch_interval,
            }),
            (None, Some(failure)) => Err(KeyMiss::Unavailable(failure.clone())),
            (None, None) => Err(KeyMiss::Unavailable("not fetched yet".to_owned())),
        }
    }

    /// Fetches the keys unless the last attempt is more recent than the refetch interval.
    async fn fetch_if_allowed(&self, state: &mut FetchState) {
        if state
            .last_attempt
            .is_some_and(|at| at.elapsed() < self.refetch_interval)
        {
            return;
        }
        state.last_attempt = Some(Instant::now());
        match self.fetch(state).await {
            Ok(keys) => {
                tracing::info!(issuer = %self.issuer, keys = keys.keys.len(), "fetched the OIDC issuer's keys");
                state.last_failure = None;
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
            }
            Err(reason) => {
                tracing::warn!(issuer = %self.issuer, %reason, retry_after = ?self.refetch_interval, "cannot fetch the OIDC issuer's keys");
                state.last_failure = Some(reason);
            }
        }
    }

    async fn fetch(&self, state: &mut FetchState) -> Result<KeySet, String> {
        let url = match &state.jwks_url {
            Some(url) => url.clone(),
            None => {
                let url = self.discover().await?;
                state.jwks_url = Some(url.clone());
                url
            }
        };
        let body = self.get(&url).await?;
        let keys = parse_jwks(&body).map_err(|reason| format!("{url}: {reason}"))?;
        Ok(KeySet {
            keys,
            fetched_at: Some(Instant::now()),
        })
    }

    /// The `jwks_uri` of the issuer's discovery document, which must name this issuer.
    async fn discover(&self) -> Result<Url, String> {
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let url = Url::parse(&url).map_err(|error| format!("{url}: {error}"))?;
        let body = self.get(&url).await?;
        let discovery: Discovery = serde_json::from_slice(&body)
            .map_err(|error| format!("{url}: not an OpenID discovery document: {error}"))?;
        if discovery.issuer != self.issuer {
            return Err(format!(
                "{url}: names the issuer {} instead of {}: set auth.oidc.issuer to exactly what the issuer calls itself",
                datakit::text::quoted(&discovery.issuer),
                datakit::text::quoted(&self.issuer)
            ));
        }
        endpoint_url(&discovery.jwks_uri).map_err(|reason| format!("{url}: jwks_uri: {reason}"))
    }

    /// The body of a successful GET of `url`, at most `MAX_DOCUMENT_BYTES`.
    async fn get(&self, url: &Url) -> Result<Vec<u8>, String> {
        let failed = |error: reqwest::Error| format!("{url}: {}", causes(&error.without_url()));
        let mut response = self.http.get(url.clone()).send().await.map_err(failed)?;
        if !response.status().is_success() {
            return Err(format!("{url}: answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!(
                    "{url}: larger than {} KiB",
                    MAX_DOCUMENT_BYTES / 1024
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// `error` and its causes, on one line.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The signing keys of a JWKS document with a key id, by key id. A key dkd cannot use is
/// skipped (logged), so one exotic key does not take the others down.
fn parse_jwks(body: &[u8]) -> Result<HashMap<String, Arc<IssuerKey>>, String> {
    #[derive(Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }
    let document: Document =
        serde_json::from_slice(body).map_err(|error| format!("not a JWKS document: {error}"))?;
    let mut keys = HashMap::new();
    for value in document.keys {
        let kid = value.get("kid").and_then(serde_json::Value::as_str);
        let Some(kid) = kid.map(str::to_owned) else {
            tracing::debug!("skipped a key of the issuer without a kid");
            continue;
        };
        match issuer_key(value) {
            Ok(key) => {
                keys.insert(kid, Arc::new(key));
            }
            Err(reason) => tracing::debug!(%kid, %reason, "skipped a key of the issuer"),
        }
    }
    Ok(keys)
}

/// The key of one JWK, with the algorithms it verifies.
fn issuer_key(value: serde_json::Value) -> Result<IssuerKey, String> {
    let jwk: Jwk = serde_json::from_value(value).map_err(|error| error.to_string())?;
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return Err("not a signing key".to_owned());
    }
    let declared = jwk.common.key_algorithm;
    let algorithms = match (&jwk.algorithm, declared) {
        (AlgorithmParameters::RSA(_), None) => vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        (AlgorithmParameters::RSA(_), Some(algorithm)) => match algorithm {
            KeyAlgorithm::RS256 => vec![Algorithm::RS256],
            KeyAlgorithm::RS384 => vec![Algorithm::RS384],
            KeyAlgorithm::RS512 => vec![Algorithm::RS512],
            KeyAlgorithm::PS256 => vec![Algorithm::PS256],
            KeyAlgorithm::PS384 => vec![Algorithm::PS384],
            KeyAlgorithm::PS512 => vec![Algorithm::PS512],
            other => return Err(format!("RSA key for {other}")),
        },
        (AlgorithmParameters::EllipticCurve(ec), declared) => match (&ec.curve, declared) {
            (EllipticCurve::P256, None | Some(KeyAlgorithm::ES256)) => vec![Algorithm::ES256],
            (EllipticCurve::P384, None | Some(KeyAlgorithm::ES384)) => vec![Algorithm::ES384],
            (curve, _) => return Err(format!("EC key on {curve:?} for {declared:?}")),
        },
        (AlgorithmParameters::OctetKeyPair(okp), None | Some(KeyAlgorithm::EdDSA))
            if okp.curve == EllipticCurve::Ed25519 =>
        {
            vec![Algorithm::EdDSA]
        }
        (AlgorithmParameters::OctetKey(_), _) => {
            return Err("a symmetric key never verifies an issuer's token".to_owned());
        }
        (_, declared) => return Err(format!("unsupported key for {declared:?}")),
    };
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|error| error.to_string())?;
    Ok(IssuerKey {
        decoding,
        algorithms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_signing_keys_with_a_kid_are_kept_each_with_its_own_algorithms() {
        let x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
        let y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
        let body = serde_json::json!({ "keys": [
            { "kty": "EC", "crv": "P-256", "kid": "ec", "x": x, "y": y },
            { "kty": "EC", "crv": "P-256", "x": x, "y": y },
            { "kty": "EC", "crv": "P-256", "kid": "enc", "use": "enc", "x": x, "y": y },
            { "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" },
            { "kty": "RSA", "kid": "oaep", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB" },
            { "kty": "RSA", "kid": "rsa", "alg": "RS256", "n": "AQAB", "e": "AQAB" },
            { "kty": "XYZ", "kid": "exotic" },
        ]});
        let keys = parse_jwks(body.to_string().as_bytes()).expect("a JWKS");
        let mut kids: Vec<&str> = keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        assert_eq!(kids, ["ec", "rsa"]);
        assert_eq!(keys["ec"].algorithms, [Algorithm::ES256]);
        assert_eq!(keys["rsa"].algorithms, [Algorithm::RS256]);
        assert!(parse_jwks(b"{\"keys\": 3}").is_err());
    }
}
