//! A test OIDC issuer on loopback: its discovery document and JWKS served over plain HTTP
//! on 127.0.0.1 (counting the requests), signing keys made in the test (ES256 with rcgen,
//! RS256 with a fixed test-only RSA key, as ring cannot generate RSA keys), and tokens
//! signed with them by jsonwebtoken.

use std::{
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{Router, extract::State, http::header, response::IntoResponse, routing::get};
use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// A 2048-bit RSA key (PKCS#1 PEM) for tests only, and its modulus (base64url).
const RSA_KEY_PEM: &str = include_str!("oidc-test-rsa-key.pem");
const RSA_MODULUS: &str = "1LchZFVSV3nju0rzQ4kaj0tAcTYggAKJrdJOhebvzh9k1c0Mzvo5mwcNteZ86ylXbc2ATb-8Ru94jm9SvdmcGR7f7PoBaxJCXPsyAse0tyqp3ADtgIwndbFSvXFt0tQx1Y3kA8jUosIMgBvX8TJqZ8VTMsXqEQsuEDVtYjZZh_Ta-YOMBXvmvosmR92SiCS_NXnay9wGdTNlvslOYs01vi8FwQe0YkghTWfg1bzXumh7LhLpzhV157CFsHDcJH5Gs88MTMfGk_vDwnH-tA9BGa3XTTP6aM1srMYF5pkyj0yPzWReS8r7SjUd4X6tY2FvRePOtoLmzpzIefoEopNEtw";

/// A signing key of the test issuer.
pub struct SigningKey {
    kid: String,
    algorithm: Algorithm,
    encoding: EncodingKey,
    /// The public key as published in the JWKS.
    jwk: Value,
}

impl SigningKey {
    /// A new ECDSA P-256 key (ES256) with key id `kid`.
    pub fn es256(kid: &str) -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("EC key");
        // An uncompressed point: 0x04, then x and y.
        let point = key.public_key_raw();
        assert_eq!(point.len(), 65, "an uncompressed P-256 point");
        Self {
            kid: kid.to_owned(),
            algorithm: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(&key.serialize_der()),
            jwk: json!({
                "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..]),
            }),
        }
    }

    /// The fixed test RSA key (RS256) with key id `kid`.
    pub fn rs256(kid: &str) -> Self {
        let base64: String = RSA_KEY_PEM
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let der = STANDARD.decode(base64).expect("PEM body");
        Self {
            kid: kid.to_owned(),
            algorithm: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_der(&der),
            jwk: json!({
                "kty": "RSA", "use": "sig", "kid": kid, "n": RSA_MODULUS, "e": "AQAB",
            }),
        }
    }

    /// A JWT of `claims` signed with this key, naming its kid.
    pub fn sign(&self, claims: &Value) -> String {
        let header = Header {
            kid: Some(self.kid.clone()),
            ..Header::new(self.algorithm)
        };
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }

    /// The same key's token, claiming to be signed by key `kid` instead.
    pub fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let header = Header {
            kid: Some(kid.to_owned()),
            ..Header::new(self.algorithm)
        };
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }
}

/// Seconds since the Unix epoch, now.
pub fn now() -> i64 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    i64::try_from(seconds).expect("seconds fit")
}

#[derive(Default)]
struct Published {
    keys: Vec<Value>,
    discovery_requests: usize,
    jwks_requests: usize,
}

type Shared = (Arc<Mutex<Published>>, String);

/// The issuer's HTTP server, on its own runtime; stopped when dropped.
pub struct TestIssuer {
    /// Runs the server; dropping it stops the server.
    _runtime: tokio::runtime::Runtime,
    issuer: String,
    published: Arc<Mutex<Published>>,
}

impl TestIssuer {
    /// Serves `http://127.0.0.1:PORT/realms/test/.well-known/openid-configuration` and the
    /// JWKS it names, with no keys yet.
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind the issuer");
        let port = listener.local_addr().expect("address").port();
        let issuer = format!("http://127.0.0.1:{port}/realms/test");
        let published = Arc::new(Mutex::new(Published::default()));
        let router = Router::new()
            .route(
                "/realms/test/.well-known/openid-configuration",
                get(discovery),
            )
            .route("/realms/test/jwks", get(jwks))
            .with_state((published.clone(), issuer.clone()));
        runtime.spawn(async move { axum::serve(listener, router).await });
        Self {
            _runtime: runtime,
            issuer,
            published,
        }
    }

    /// The issuer URL, as its tokens' `iss` says it.
    pub fn url(&self) -> &str {
        &self.issuer
    }

    /// Publishes exactly `keys` in the JWKS from now on.
    pub fn publish(&self, keys: &[&SigningKey]) {
        self.published.lock().expect("lock").keys =
            keys.iter().map(|key| key.jwk.clone()).collect();
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_requests(&self) -> usize {
        self.published.lock().expect("lock").jwks_requests
    }

    /// How many times the discovery document was fetched.
    pub fn discovery_requests(&self) -> usize {
        self.published.lock().expect("lock").discovery_requests
    }

    /// Claims of a token this issuer gives `user` (in `groups`) for `audience`, valid for
    /// ten minutes from now.
    pub fn claims(&self, user: &str, groups: &[&str], audience: &str) -> Value {
        json!({
            "iss": self.issuer,
            "aud": audience,
            "sub": format!("id-of-{user}"),
            "preferred_username": user,
            "groups": groups,
            "iat": now(),
            "exp": now() + 600,
        })
    }
}

fn json_response(body: &Value) -> impl IntoResponse + use<> {
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

async fn discovery(State((published, issuer)): State<Shared>) -> impl IntoResponse {
    published.lock().expect("lock").discovery_requests += 1;
    json_response(&json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks"),
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
    }))
}

async fn jwks(State((published, _)): State<Shared>) -> impl IntoResponse {
    let mut published = published.lock().expect("lock");
    published.jwks_requests += 1;
    json_response(&json!({ "keys": published.keys }))
}
