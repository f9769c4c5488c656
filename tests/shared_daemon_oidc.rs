//! OIDC tokens on a shared dkd, through the real binaries: a test issuer on loopback serves
//! its discovery document and JWKS (keys made in the test), and `dk` sends its tokens as
//! `DK_TOKEN` over TLS. A valid token (ES256 or RS256) authenticates its username claim
//! with its groups and is verified once; an expired, not yet valid, foreign, forged or
//! nameless one is refused saying why, never echoing it; an unknown key id fetches the keys
//! again, so a rotated key counts, but never more than once per refetch interval.

mod support;

use std::time::Instant;

use datakit::proto::{ListEnvironmentsRequest, data_kit_service_client::DataKitServiceClient};
use serde_json::{Value, json};
use support::{
    Daemon, TestHome, eventually, last_json,
    oidc::{SigningKey, TestIssuer, now},
    package::PackageDir,
    shared::{Shared, refused},
    stderr,
};
use tonic::{Code, Request, Status, metadata::MetadataValue};

/// A shared dkd that accepts the tokens of a test issuer for the audience `dkd`.
struct Oidc {
    issuer: TestIssuer,
    /// The issuer's ES256 key `key-1`, published.
    key: SigningKey,
    /// The issuer's RS256 key `rsa-1`, published.
    rsa: SigningKey,
    shared: Shared,
}

impl Oidc {
    /// Starts the issuer and dkd with `extra` lines of `auth.oidc:`, and waits for dkd to
    /// fetch the issuer's keys (it does at start).
    fn start(extra: &str) -> Self {
        let issuer = TestIssuer::start();
        let key = SigningKey::es256("key-1");
        let rsa = SigningKey::rs256("rsa-1");
        issuer.publish(&[&key, &rsa]);
        let shared = Shared::start_with(
            "",
            &format!(
                "auth:\n  oidc:\n    issuer: {}\n    audience: dkd\n{extra}",
                issuer.url()
            ),
        );
        eventually("dkd to fetch the issuer's keys", || {
            (issuer.jwks_requests() > 0).then_some(())
        });
        Self {
            issuer,
            key,
            rsa,
            shared,
        }
    }

    /// Claims of a valid token for `user` in `groups`.
    fn claims(&self, user: &str, groups: &[&str]) -> Value {
        self.issuer.claims(user, groups, "dkd")
    }

    /// `dk ARGS` over TLS with `token` as DK_TOKEN.
    fn dk(&self, token: &str, args: &[&str]) -> std::process::Output {
        self.shared.dk_as(token, args)
    }

    /// Asserts that `token` is refused (exit 4, one line) with each of `expected`, and that
    /// the message shows no part of the token.
    fn refuses(&self, token: &str, expected: &[&str]) {
        let output = self.dk(token, &["env", "list"]);
        refused(&output, expected);
        let message = stderr(&output);
        for part in token.split('.') {
            assert!(
                !message.contains(part),
                "the message echoes the token: {message}"
            );
        }
    }
}

/// `claims` with `changes` applied: a `null` removes the claim.
fn with(claims: &Value, changes: &Value) -> Value {
    let mut claims = claims.clone();
    for (name, value) in changes.as_object().expect("an object") {
        let object = claims.as_object_mut().expect("an object");
        if value.is_null() {
            object.remove(name);
        } else {
            object.insert(name.clone(), value.clone());
        }
    }
    claims
}

/// ListEnvironments over TLS with `token`.
async fn list_environments(shared: &Shared, token: &str) -> Result<(), Status> {
    let bearer: MetadataValue<_> = format!("Bearer {token}").parse().expect("header");
    let mut request = Request::new(ListEnvironmentsRequest {});
    request.metadata_mut().insert("authorization", bearer);
    DataKitServiceClient::new(shared.channel().await)
        .list_environments(request)
        .await
        .map(drop)
}

#[test]
fn a_valid_token_authenticates_its_username_claim_with_its_groups_and_is_verified_once() {
    let oidc = Oidc::start("");
    let alice = oidc
        .key
        .sign(&oidc.claims("alice", &["security", "team-leads"]));
    let bob = oidc.rsa.sign(&oidc.claims("bob", &[]));
    let package = PackageDir::new("my-package", &[]);
    package.publish(&oidc.shared.home, "v1.0.0");
    package.publish(&oidc.shared.home, "v1.0.1");

    let promote = |token: &str, version: &str| {
        last_json(&oidc.dk(
            token,
            &[
                "-o",
                "json",
                "promote",
                "my-package",
                version,
                "--to",
                "dev",
                "--wait",
            ],
        ))
    };
    let by_alice = promote(&alice, "v1.0.0");
    assert_eq!(by_alice["promotion"]["promoter"], "alice", "{by_alice}");
    let by_bob = promote(&bob, "v1.0.1");
    assert_eq!(by_bob["promotion"]["promoter"], "bob", "{by_bob}");
    for _ in 0..3 {
        let listed = oidc.dk(&alice, &["env", "list"]);
        assert!(listed.status.success(), "{}", stderr(&listed));
    }

    let log = oidc.shared.daemon.log();
    let verified: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("verified an OIDC token"))
        .collect();
    let of_alice: Vec<&&str> = verified
        .iter()
        .filter(|line| line.contains("user=alice"))
        .collect();
    assert_eq!(of_alice.len(), 1, "verified once, then cached: {log}");
    assert!(
        of_alice[0].contains(r#"groups=["security", "team-leads"]"#),
        "{}",
        of_alice[0]
    );
    assert!(
        verified.iter().any(|line| line.contains("user=bob")),
        "{log}"
    );
    assert!(!log.contains(&alice), "dkd never logs a token");
    assert_eq!(oidc.issuer.discovery_requests(), 1);
}

#[test]
fn expired_early_foreign_and_nameless_tokens_are_refused_saying_why() {
    let oidc = Oidc::start("");
    let claims = oidc.claims("alice", &["security"]);
    let sign = |changes: Value| oidc.key.sign(&with(&claims, &changes));

    oidc.refuses(
        &sign(json!({ "exp": now() - 3600 })),
        &["OIDC token: expired at"],
    );
    oidc.refuses(
        &sign(json!({ "nbf": now() + 3600 })),
        &["OIDC token: not yet valid"],
    );
    oidc.refuses(
        &sign(json!({ "aud": "another-app" })),
        &["OIDC token: wrong audience", "\"dkd\""],
    );
    oidc.refuses(
        &sign(json!({ "iss": "https://elsewhere.example.com" })),
        &["OIDC token: wrong issuer", oidc.issuer.url()],
    );
    oidc.refuses(
        &sign(json!({ "preferred_username": null })),
        &["OIDC token: no username claim", "preferred_username"],
    );
    oidc.refuses(&sign(json!({ "exp": null })), &["OIDC token: no exp claim"]);
    // The clock skew (60 s by default) is tolerated both ways, and no more.
    for changes in [json!({ "exp": now() - 20 }), json!({ "nbf": now() + 20 })] {
        let output = oidc.dk(&sign(changes.clone()), &["env", "list"]);
        assert!(output.status.success(), "{changes}: {}", stderr(&output));
    }
}

#[test]
fn a_token_not_signed_by_the_issuers_key_is_refused_as_a_bad_signature() {
    let oidc = Oidc::start("");
    let claims = oidc.claims("mallory", &["security"]);
    let impostor = SigningKey::es256("key-1");
    oidc.refuses(
        &impostor.sign(&claims),
        &["OIDC token: bad signature", "\"key-1\""],
    );
    // Another key's algorithm under the issuer's key id, and an HMAC "signed" with
    // anything, are refused before any signature check.
    oidc.refuses(
        &oidc.rsa.sign_as("key-1", &claims),
        &["OIDC token: algorithm RS256 is not one the issuer's key \"key-1\" signs with"],
    );
    let hmac = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some("key-1".to_owned()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"the public key, maybe"),
    )
    .expect("sign");
    oidc.refuses(&hmac, &["OIDC token: algorithm HS256 is not one"]);
    oidc.refuses(
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln",
        &["OIDC token: malformed"],
    );
}

#[test]
fn an_unknown_kid_fetches_the_keys_again_so_a_rotated_key_is_accepted() {
    let oidc = Oidc::start("    jwks_refetch_interval_seconds: 1\n");
    let rotated = SigningKey::es256("key-2");
    oidc.issuer.publish(&[&oidc.key, &rotated]);
    let token = rotated.sign(&oidc.claims("alice", &[]));
    // Within a second of the last fetch the key is unknown; after it, one fetch finds it.
    eventually("the rotated key to be accepted", || {
        let output = oidc.dk(&token, &["env", "list"]);
        if !output.status.success() {
            refused(&output, &["OIDC token: unknown key \"key-2\""]);
        }
        output.status.success().then_some(())
    });
    assert_eq!(
        oidc.issuer.jwks_requests(),
        2,
        "one fetch at start, one for key-2"
    );
    assert_eq!(oidc.issuer.discovery_requests(), 1);
}

#[test]
fn a_flood_of_unknown_kids_fetches_the_keys_at_most_once_per_interval() {
    let started = Instant::now();
    let oidc = Oidc::start("");
    let claims = oidc.claims("alice", &[]);
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            for n in 0..25 {
                let token = oidc.key.sign_as(&format!("bogus-{n}"), &claims);
                let status = list_environments(&oidc.shared, &token)
                    .await
                    .expect_err("an unknown key");
                assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
                assert!(
                    status.message().contains("OIDC token: unknown key")
                        && status.message().contains("at most every 30s"),
                    "{status:?}"
                );
            }
            list_environments(&oidc.shared, &oidc.key.sign(&claims))
                .await
                .expect("the issuer's own key still counts");
        });
    // One fetch at start; another is allowed only once 30 s have passed since.
    let windows = 1 + usize::try_from(started.elapsed().as_secs() / 30).expect("small");
    let fetches = oidc.issuer.jwks_requests();
    assert!(
        fetches <= windows,
        "{fetches} fetches of the JWKS in {windows} windows of 30 s"
    );
}

#[test]
fn a_misconfigured_oidc_section_stops_dkd_naming_the_field() {
    let home = TestHome::new();
    std::fs::write(
        home.path().join("dkd.yaml"),
        "listen: { address: 127.0.0.1:1, insecure: true }\nauth:\n  oidc:\n    issuer: https://id.example.com\n    clock_skew_seconds: 3600\n",
    )
    .expect("write dkd.yaml");
    let output = Daemon::spawn(home.path()).wait();
    assert!(!output.status.success());
    let log = stderr(&output);
    let error = log
        .lines()
        .find(|line| line.starts_with("dkd: error:"))
        .expect("an error line");
    assert!(error.contains("auth.oidc.audience: required"), "{log}");
}
