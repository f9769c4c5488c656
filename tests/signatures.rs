//! Signed artifacts through the real `dk` and `dkd`: `dk sign` stores cosign signatures
//! where cosign keeps them (the embedded registry and a real `docker-registry`), and an
//! environment with `require_signatures` refuses (exit 4) a digest that is unsigned or
//! signed only by other keys, for promotions and rollbacks alike, naming the keys it takes.

mod support;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::Value;
use support::{
    Clone, TestHome, eventually, package::PackageDir, registry::RegistryServer, stderr, stdout,
};

const RELEASE_PUB: &str = include_str!("support/keys/release.pub");
const SIGNED_DEV: &str = "environments:\n  dev:\n    cluster: dev-cluster\n    namespace: dev\n    approval: { required: false, auto_merge: true }\n    require_signatures: { keys: [config/keys/release.pub] }\n";

/// A key of tests/support/keys (made with Python's `cryptography`).
fn key(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support/keys")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// Runs `dk ARGS`, expects exit `code`, and returns the one-line error.
fn refused(home: &TestHome, args: &[&str], code: i32) -> String {
    let output = home.dk(args);
    let message = stderr(&output);
    assert_eq!(
        output.status.code(),
        Some(code),
        "dk {args:?}: {message}{}",
        stdout(&output)
    );
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    message
}

fn succeeds(home: &TestHome, args: &[&str]) -> Output {
    let output = home.dk(args);
    assert!(output.status.success(), "dk {args:?}: {}", stderr(&output));
    output
}

/// Pushes the public key and an environments file whose dev requires signatures by it,
/// and waits until dkd enforces the revision.
fn require_signatures_on_dev(home: &TestHome) {
    let clone = Clone::of(home);
    clone.push_file(
        "config/keys/release.pub",
        RELEASE_PUB,
        "Add the release key",
    );
    clone.push_file(
        "config/environments.yaml",
        SIGNED_DEV,
        "Require signatures on dev",
    );
    let shown = eventually("dev to require signatures", || {
        let output = home.dk(&["env", "show", "dev"]);
        let text = stdout(&output);
        text.contains("Signatures:  required").then_some(text)
    });
    assert!(
        shown.contains("Signatures:  required, by one of config/keys/release.pub"),
        "{shown}"
    );
}

/// Whether Python's `cryptography` (OpenSSL: an implementation independent of dk's) finds
/// `signature` to be `public_key`'s ECDSA-P256-SHA256 signature of `payload`, which is what
/// `cosign verify --key` checks of each layer.
fn independently_verified(public_key: &str, payload: &[u8], signature: &str) -> bool {
    let dir = tempfile::tempdir().expect("tempdir");
    let payload_file = dir.path().join("payload");
    std::fs::write(&payload_file, payload).expect("payload");
    let script = "import base64, sys\nfrom cryptography.hazmat.primitives import hashes, serialization\nfrom cryptography.hazmat.primitives.asymmetric import ec\nkey = serialization.load_pem_public_key(open(sys.argv[1], 'rb').read())\ntry:\n    key.verify(base64.b64decode(sys.argv[3]), open(sys.argv[2], 'rb').read(), ec.ECDSA(hashes.SHA256()))\nexcept Exception:\n    sys.exit(1)\n";
    let output = Command::new("python3")
        .args(["-c", script, public_key])
        .arg(&payload_file)
        .arg(signature)
        .output()
        .expect("python3 (these tests never skip): install python3 and python3-cryptography");
    let error = stderr(&output);
    assert!(
        !error.contains("ModuleNotFoundError"),
        "Python's cryptography is missing (these tests never skip): apt-get install python3-cryptography\n{error}"
    );
    output.status.success()
}

/// Checks one cosign signature layer: media type, annotation, a payload naming `digest` in
/// repository `repository` (cosign parses `<repository>@<digest>` as an image name), and a
/// signature Python verifies with release.pub.
fn assert_cosign_layer(layer: &Value, payload: &[u8], repository: &str, digest: &str) {
    assert_eq!(
        layer["mediaType"], "application/vnd.dev.cosign.simplesigning.v1+json",
        "{layer}"
    );
    let signature = layer["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .expect("signature annotation");
    let claims: Value = serde_json::from_slice(payload).expect("payload JSON");
    assert_eq!(
        claims["critical"]["image"]["docker-manifest-digest"], digest,
        "{claims}"
    );
    assert_eq!(
        claims["critical"]["type"],
        "cosign container image signature"
    );
    assert_eq!(
        claims["critical"]["identity"]["docker-reference"], repository,
        "{claims}"
    );
    assert!(independently_verified(
        &key("release.pub"),
        payload,
        signature
    ));
}

#[test]
fn on_the_embedded_registry_unsigned_and_wrongly_signed_versions_are_refused_until_the_release_key_signs()
 {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    let first = package.publish(&home, "v1.0.0");
    package.touch("second");
    package.publish(&home, "v1.1.0");
    for version in ["v1.0.0", "v1.1.0"] {
        succeeds(
            &home,
            &["promote", "my-package", version, "--to", "dev", "--wait"],
        );
    }
    require_signatures_on_dev(&home);

    // A rollback to a version that ran before the requirement is checked the same way.
    let rollback = [
        "promote",
        "my-package",
        "v1.0.0",
        "--to",
        "dev",
        "--rollback",
    ];
    let unsigned = refused(&home, &rollback, 4);
    assert!(
        unsigned.contains("is not signed")
            && unsigned.contains("config/keys/release.pub")
            && unsigned.contains(&first),
        "{unsigned}"
    );
    succeeds(
        &home,
        &["sign", "my-package", "v1.0.0", "--key", &key("other.key")],
    );
    let wrong_key = refused(&home, &rollback, 4);
    assert!(
        wrong_key.contains("1 signature, by no key it accepts")
            && wrong_key.contains("config/keys/release.pub"),
        "{wrong_key}"
    );
    let signed = succeeds(
        &home,
        &["sign", "my-package", "v1.0.0", "--key", &key("release.key")],
    );
    assert!(
        stdout(&signed).starts_with("Signed "),
        "{}",
        stdout(&signed)
    );
    let again = succeeds(
        &home,
        &["sign", "my-package", "v1.0.0", "--key", &key("release.key")],
    );
    assert!(
        stdout(&again).starts_with("Unchanged "),
        "{}",
        stdout(&again)
    );
    succeeds(&home, &rollback);

    // Stored as cosign stores it: the tag sha256-<hex>.sig, one layer per signature.
    let layout = home.path().join("registry/my-package");
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index"))
            .expect("index JSON");
    let tag = format!("{}.sig", first.replace(':', "-"));
    let entry = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|entry| entry["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .expect("the signature tag");
    let blob = |digest: &str| {
        std::fs::read(
            layout
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .expect("blob")
    };
    let manifest: Value =
        serde_json::from_slice(&blob(entry["digest"].as_str().expect("digest"))).expect("JSON");
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(
        layers.len(),
        2,
        "other.key's, then release.key's: {manifest}"
    );
    let release = &layers[1];
    assert_cosign_layer(
        release,
        &blob(release["digest"].as_str().expect("digest")),
        "my-package",
        &first,
    );
}

#[test]
fn on_a_real_registry_a_promotion_needs_a_signature_by_a_listed_key_and_cosigns_tag_holds_it() {
    let server = RegistryServer::start();
    let registry = server.url("team");
    let home = TestHome::new();
    std::fs::write(
        home.path().join("dkd.yaml"),
        format!("registry: {{ type: oci, url: \"{registry}\" }}\n"),
    )
    .expect("dkd.yaml");
    let _daemon = home.start_daemon();
    let package = PackageDir::new("my-package", &[]);
    let dir = package.path().to_string_lossy().into_owned();
    succeeds(&home, &["build", &dir, "--version", "v1.0.0"]);
    let published = succeeds(
        &home,
        &["-o", "json", "publish", &dir, "--registry", &registry],
    );
    let published: Value = serde_json::from_slice(&published.stdout).expect("JSON");
    let digest = published["digest"].as_str().expect("digest").to_owned();
    require_signatures_on_dev(&home);

    let promote = ["promote", "my-package", "v1.0.0", "--to", "dev", "--wait"];
    let unsigned = refused(&home, &promote, 4);
    assert!(
        unsigned.contains("is not signed") && unsigned.contains("config/keys/release.pub"),
        "{unsigned}"
    );
    let sign = |key_file: &str| {
        succeeds(
            &home,
            &[
                "sign",
                "my-package",
                "v1.0.0",
                "--key",
                &key(key_file),
                "--registry",
                &registry,
            ],
        )
    };
    sign("other.key");
    let wrong_key = refused(&home, &promote, 4);
    assert!(
        wrong_key.contains("by no key it accepts") && wrong_key.contains("release.pub"),
        "{wrong_key}"
    );
    let signed = sign("release.key");
    let tag = format!("{}.sig", digest.replace(':', "-"));
    assert!(
        stdout(&signed).contains(&format!("{}/team/my-package:{tag}", server.host())),
        "{}",
        stdout(&signed)
    );
    succeeds(&home, &promote);

    let response = server.manifest("team/my-package", &tag);
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let manifest: Value = serde_json::from_slice(&response.body).expect("manifest JSON");
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 2, "{manifest}");
    let release = &layers[1];
    let blob_path = format!(
        "/v2/team/my-package/blobs/{}",
        release["digest"].as_str().expect("digest")
    );
    let payload = support::registry::http_get(&server.host(), &blob_path, &[]).expect("GET blob");
    assert_eq!(payload.status, 200);
    let repository = format!("{}/team/my-package", server.host());
    assert_cosign_layer(release, &payload.body, &repository, &digest);
}

#[test]
fn signing_an_unpublished_version_is_exit_3_and_an_encrypted_cosign_key_says_how_to_convert() {
    let home = TestHome::new();
    let unpublished = refused(
        &home,
        &["sign", "my-package", "v9.9.9", "--key", &key("release.key")],
        3,
    );
    assert!(unpublished.contains("dk publish"), "{unpublished}");
    let dir = tempfile::tempdir().expect("tempdir");
    let encrypted: &Path = &dir.path().join("cosign.key");
    std::fs::write(
        encrypted,
        "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOnt9fQ==\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
    )
    .expect("key");
    let package = PackageDir::new("my-package", &[]);
    package.publish(&home, "v1.0.0");
    let message = refused(
        &home,
        &[
            "sign",
            "my-package",
            "v1.0.0",
            "--key",
            &encrypted.to_string_lossy(),
        ],
        2,
    );
    assert!(
        message.contains("cosign import-key-pair") && message.contains("PKCS#8"),
        "{message}"
    );
}
