//! The `Registry` port's conformance suite, run against every implementation this machine
//! can reach: the embedded OCI layout and a real registry (Debian's `docker-registry` on
//! loopback). Packages are published with the real `dk build` and `dk publish`, so the
//! suite also shows that dkd resolves exactly what dk writes.

#[path = "../../tests/support/registry.rs"]
mod registry_harness;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use datakit::oci::Credentials;
use dkd::{
    config::{RegistryConfig, RegistryKind},
    home::DkHome,
    promotion::ports::{Registry, RegistryError, ResolvedArtifact},
    registry::{self, LayoutRegistry, OciRegistry},
};
use registry_harness::{RegistryServer, TEST_PASSWORD, TEST_USER};

const PACKAGE: &str = "conformance-pkg";

/// The `dk` binary next to this test's profile directory (`cargo test --workspace` builds it).
fn dk_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .join("dk");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace --bins` (or cargo test --workspace)",
        path.display()
    );
    path
}

/// Publishes packages with `dk` into a `DK_HOME`, embedded or to `--registry`.
struct Publisher {
    home: tempfile::TempDir,
    sources: tempfile::TempDir,
    registry: Option<String>,
}

impl Publisher {
    fn new(registry: Option<String>) -> Self {
        Self {
            home: tempfile::tempdir().expect("home"),
            sources: tempfile::tempdir().expect("sources"),
            registry,
        }
    }

    fn dk(&self, args: &[&str]) -> Output {
        Command::new(dk_binary())
            .args(args)
            .env("DK_HOME", self.home.path())
            .env("DK_NO_AUTOSTART", "1")
            .env("DOCKER_CONFIG", self.home.path().join("no-docker-config"))
            .env_remove("DK_REGISTRY")
            .env_remove("DK_REGISTRY_TOKEN")
            .env_remove("DK_REGISTRY_USERNAME")
            .env_remove("DK_REGISTRY_PASSWORD")
            .env_remove("SOURCE_DATE_EPOCH")
            .output()
            .expect("run dk")
    }

    /// `dk build` + `dk publish` of `package` at `version` with `content`; the built digest.
    fn publish(&self, package: &str, version: &str, content: &str) -> String {
        let dir = self.sources.path().join(format!("{package}-{version}"));
        std::fs::create_dir_all(&dir).expect("package dir");
        std::fs::write(
            dir.join("dk.yaml"),
            format!(
                "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataPackage\nmetadata: {{ name: {package} }}\nspec: {{ store: events-store, bindings: {{ output: warehouse }} }}\n"
            ),
        )
        .expect("dk.yaml");
        std::fs::write(dir.join("query.sql"), content).expect("content");
        let dir = dir.to_string_lossy().into_owned();
        let built = self.dk(&["-o", "json", "build", &dir, "--version", version]);
        assert!(built.status.success(), "dk build: {}", text(&built.stderr));
        let mut publish = vec!["publish", dir.as_str()];
        if let Some(registry) = &self.registry {
            publish.extend(["--registry", registry.as_str()]);
        }
        let published = self.dk(&publish);
        assert!(
            published.status.success(),
            "dk publish: {}",
            text(&published.stderr)
        );
        let built: serde_json::Value = serde_json::from_slice(&built.stdout).expect("JSON");
        built["digest"].as_str().expect("digest").to_owned()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn not_found(result: Result<ResolvedArtifact, RegistryError>) -> String {
    match result {
        Err(error @ RegistryError::NotFound { .. }) => error.to_string(),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// What every `Registry` must do, given one and a publisher that writes where it reads.
async fn conformance(registry: &dyn Registry, publisher: &Publisher) {
    let first = publisher.publish(PACKAGE, "v1.0.0", "select 1");
    let second = publisher.publish(PACKAGE, "v1.1.0", "select 2");
    assert_ne!(first, second);

    // A published version resolves to the digest dk built, with a reference naming it and
    // the bindings of its dk.yaml.
    let resolved = registry.resolve(PACKAGE, "v1.0.0").await.expect("resolves");
    assert_eq!(resolved.digest, first);
    assert!(
        resolved.reference.ends_with(&format!("/{PACKAGE}:v1.0.0")),
        "{}",
        resolved.reference
    );
    assert_eq!(
        resolved.bindings,
        BTreeMap::from([
            ("output".to_owned(), "warehouse".to_owned()),
            ("store".to_owned(), "events-store".to_owned())
        ])
    );

    // Each version resolves to its own digest.
    let resolved = registry.resolve(PACKAGE, "v1.1.0").await.expect("resolves");
    assert_eq!(resolved.digest, second);

    // An unpublished version or package is NotFound, saying what to do.
    let message = not_found(registry.resolve(PACKAGE, "v9.9.9").await);
    assert!(
        message.contains(PACKAGE) && message.contains("v9.9.9") && message.contains("dk publish"),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");
    not_found(registry.resolve("never-published", "v1.0.0").await);
    // The spelling of a version matters: 1.0.0 was never published, v1.0.0 was.
    not_found(registry.resolve(PACKAGE, "1.0.0").await);

    // Names that are no package names are simply not there (never a path outside).
    for bad in ["../etc", "Upper", ""] {
        not_found(registry.resolve(bad, "v1.0.0").await);
    }

    // Many at once, more than any registry looks up together: each as `resolve` answers
    // it, in the order asked.
    let asked = [
        (PACKAGE, "v1.1.0"),
        ("never-published", "v1.0.0"),
        (PACKAGE, "v1.0.0"),
        ("../etc", "v1.0.0"),
    ];
    let versions: Vec<_> = asked
        .iter()
        .cycle()
        .take(asked.len() * 10)
        .map(|(package, version)| (package.to_string(), version.to_string()))
        .collect();
    let mut all = registry.resolve_all(versions.clone()).await.into_iter();
    assert_eq!(all.len(), versions.len());
    let digest = |found: Option<Result<ResolvedArtifact, RegistryError>>| {
        found.expect("an answer").expect("resolves").digest
    };
    for _ in 0..10 {
        assert_eq!(digest(all.next()), second);
        not_found(all.next().expect("an answer"));
        assert_eq!(digest(all.next()), first);
        not_found(all.next().expect("an answer"));
    }
    assert!(registry.resolve_all(Vec::new()).await.is_empty());

    // A package with any published version is known; others, and bad names, are not.
    assert!(registry.has_package(PACKAGE).await.expect("has_package"));
    assert!(
        !registry
            .has_package("never-published")
            .await
            .expect("has_package")
    );
    for bad in ["../etc", "Upper", ""] {
        assert!(
            !registry.has_package(bad).await.expect("has_package"),
            "{bad:?}"
        );
    }

    assert!(!registry.describe().is_empty());
}

#[tokio::test]
async fn the_embedded_layout_conforms() {
    let publisher = Publisher::new(None);
    let registry = LayoutRegistry::in_home(&DkHome::new(publisher.home.path()));
    conformance(&registry, &publisher).await;
    let resolved = registry.resolve(PACKAGE, "v1.0.0").await.expect("resolves");
    let layout = publisher.home.path().join("registry").join(PACKAGE);
    assert_eq!(
        resolved.reference,
        format!("oci:{}:v1.0.0", layout.display())
    );
}

#[tokio::test]
async fn a_real_registry_on_loopback_conforms() {
    let server = RegistryServer::start();
    let url = server.url("conformance");
    let publisher = Publisher::new(Some(url.clone()));
    let registry =
        OciRegistry::with_credentials(&url, false, Credentials::Anonymous).expect("registry");
    conformance(&registry, &publisher).await;
    let resolved = registry.resolve(PACKAGE, "v1.0.0").await.expect("resolves");
    assert_eq!(resolved.reference, format!("{url}/{PACKAGE}:v1.0.0"));
}

#[tokio::test]
async fn a_stopped_registry_is_unavailable_never_not_found() {
    let mut server = RegistryServer::start();
    let url = server.url("conformance");
    let registry =
        OciRegistry::with_credentials(&url, false, Credentials::Anonymous).expect("registry");
    server.stop();
    match registry.resolve(PACKAGE, "v1.0.0").await {
        Err(RegistryError::Unavailable(message)) => {
            assert!(message.contains(&server.host()), "{message}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_registry_refusing_dkds_login_is_denied_naming_the_user_only() {
    let server = RegistryServer::start_with_login();
    let url = server.url("conformance");
    let wrong = Credentials::Basic {
        username: TEST_USER.to_owned(),
        password: "wrong-password".to_owned(),
    };
    let registry = OciRegistry::with_credentials(&url, false, wrong).expect("registry");
    match registry.resolve(PACKAGE, "v1.0.0").await {
        Err(RegistryError::Denied(message)) => {
            assert!(message.contains(TEST_USER), "{message}");
            assert!(!message.contains("wrong-password"), "{message}");
        }
        other => panic!("expected Denied, got {other:?}"),
    }
    let right = Credentials::Basic {
        username: TEST_USER.to_owned(),
        password: TEST_PASSWORD.to_owned(),
    };
    let registry = OciRegistry::with_credentials(&url, false, right).expect("registry");
    not_found(registry.resolve(PACKAGE, "v1.0.0").await);
}

#[tokio::test]
async fn a_corrupt_embedded_index_is_unavailable_never_not_found() {
    let home = tempfile::tempdir().expect("home");
    let layout = home.path().join("registry").join(PACKAGE);
    std::fs::create_dir_all(&layout).expect("layout");
    std::fs::write(layout.join("index.json"), "{ half a write").expect("index");
    let registry = LayoutRegistry::in_home(&DkHome::new(home.path()));
    assert!(matches!(
        registry.resolve(PACKAGE, "v1.0.0").await,
        Err(RegistryError::Unavailable(_))
    ));
}

#[test]
fn dkd_yaml_selects_the_registry() {
    let home = tempfile::tempdir().expect("home");
    let home = DkHome::new(home.path());
    let embedded = registry::from_config(&RegistryConfig::default(), &home).expect("embedded");
    assert!(
        embedded.describe().contains("registry"),
        "{}",
        embedded.describe()
    );
    let oci = RegistryConfig {
        kind: RegistryKind::Oci,
        url: Some("127.0.0.1:5000/team".to_owned()),
        plain_http: false,
    };
    let remote = registry::from_config(&oci, &home).expect("oci");
    assert!(
        remote.describe().contains("127.0.0.1:5000/team"),
        "{}",
        remote.describe()
    );
    let missing = RegistryConfig { url: None, ..oci };
    assert!(registry::from_config(&missing, &home).is_err());
}
