//! The three-replica harness itself (tests/support/replicas/), in the parts that need no
//! dkd: the replica certificate works as server AND client certificate for the name
//! replicas check, each replica's `dkd.yaml` is YAML naming files that exist and ports
//! nobody else uses, a published version is in the shared registry, and the GitHub fake
//! tells the replicas' tokens apart.

#[path = "../../tests/support/github_fake/mod.rs"]
mod github_fake;
#[path = "../../tests/support/kube_fake/mod.rs"]
mod kube_fake;
#[path = "../../tests/support/replicas/mod.rs"]
mod replicas;
#[path = "../../tests/support/mod.rs"]
mod support;

use std::{collections::BTreeSet, path::Path, sync::Arc};

use replicas::{LEASE_NAME, LEASE_NAMESPACE, REGISTRY_NAMESPACE, REPLICA_SERVER_NAME, Replicas};
use rustls::{
    ClientConfig, RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject},
    server::WebPkiClientVerifier,
};
use serde_json::Value;
use support::{certificates::PemPair, package::PackageDir};
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn roots(ca: &Path) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca).expect("read the CA") {
        roots
            .add(certificate.expect("a CA certificate"))
            .expect("add the CA");
    }
    Arc::new(roots)
}

fn chain(pair: &PemPair) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let certificates = CertificateDer::pem_file_iter(&pair.cert)
        .expect("read the certificate")
        .collect::<Result<_, _>>()
        .expect("certificates");
    let key = PrivateKeyDer::from_pem_file(&pair.key).expect("read the key");
    (certificates, key)
}

/// A TLS handshake in memory: `server` serves, `client` presents its certificate, each
/// trusting `ca`, the client checking the server for `name`.
async fn handshake(
    server: &PemPair,
    client: &PemPair,
    ca: &Path,
    name: &str,
) -> Result<(), String> {
    let (server_chain, server_key) = chain(server);
    let verifier = WebPkiClientVerifier::builder(roots(ca))
        .build()
        .map_err(|e| e.to_string())?;
    let acceptor = TlsAcceptor::from(Arc::new(
        ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(server_chain, server_key)
            .map_err(|e| e.to_string())?,
    ));
    let (client_chain, client_key) = chain(client);
    let connector = TlsConnector::from(Arc::new(
        ClientConfig::builder()
            .with_root_certificates(roots(ca))
            .with_client_auth_cert(client_chain, client_key)
            .map_err(|e| e.to_string())?,
    ));
    let name = ServerName::try_from(name.to_owned()).map_err(|e| e.to_string())?;
    let (near, far) = tokio::io::duplex(64 * 1024);
    let (accepted, connected) = tokio::join!(acceptor.accept(far), connector.connect(name, near));
    accepted.map_err(|e| format!("server side: {e}"))?;
    connected.map_err(|e| format!("client side: {e}"))?;
    Ok(())
}

#[test]
fn the_replica_certificate_authenticates_a_replica_both_as_server_and_as_client() {
    let replicas = Replicas::prepare(1);
    let (replica, ca) = replicas.replica_certificate();
    replicas
        .runtime()
        .block_on(handshake(replica, replica, ca, REPLICA_SERVER_NAME))
        .expect("replica to replica over mTLS");

    let wrong_name = replicas
        .runtime()
        .block_on(handshake(replica, replica, ca, "somebody-else"));
    assert!(wrong_name.is_err(), "the name is checked");

    // A client certificate (no serverAuth, other CA) is no replica.
    let (client_ca, alice) = replicas.client_certificate("alice");
    let as_server =
        replicas
            .runtime()
            .block_on(handshake(alice, replica, client_ca, REPLICA_SERVER_NAME));
    assert!(as_server.is_err(), "{as_server:?}");
}

/// Every string under a key ending in `file` or named `kubeconfig`, with its path in the
/// document.
fn named_files(value: &Value, at: &str, found: &mut Vec<(String, String)>) {
    if let Some(fields) = value.as_object() {
        for (key, inner) in fields {
            let here = format!("{at}.{key}");
            match inner.as_str() {
                Some(path) if key.ends_with("file") || key == "kubeconfig" => {
                    found.push((here, path.to_owned()));
                }
                _ => named_files(inner, &here, found),
            }
        }
    }
}

#[test]
fn each_replica_gets_a_dkd_yaml_naming_existing_files_and_ports_of_its_own() {
    let replicas = Replicas::prepare(3);
    let mut ports = BTreeSet::new();
    for replica in replicas.all() {
        let text = std::fs::read_to_string(replica.config_file()).expect("dkd.yaml");
        let config: Value = serde_saphyr::from_str(&text).expect("dkd.yaml is YAML");
        assert_eq!(config["forge"]["type"], "github", "{text}");
        assert_eq!(config["cluster"]["type"], "argocd", "{text}");
        assert_eq!(config["registry"]["type"], "oci", "{text}");
        assert_eq!(
            config["registry"]["url"],
            replicas.registry.url(REGISTRY_NAMESPACE).as_str()
        );
        let ha = &config["ha"];
        assert_eq!(ha["replica"], replica.name.as_str());
        assert_eq!(ha["lease"]["namespace"], LEASE_NAMESPACE);
        assert_eq!(ha["lease"]["name"], LEASE_NAME);
        assert_eq!(
            (
                ha["lease"]["duration"].as_str(),
                ha["lease"]["renew"].as_str()
            ),
            (Some("3s"), Some("1s"))
        );
        assert_eq!(ha["peers"]["listen"], ha["peers"]["advertise"]);
        assert_eq!(ha["peers"]["server_name"], REPLICA_SERVER_NAME);
        for (key, port) in [
            ("listen.address", replica.port),
            ("probes.address", replica.probe_port),
            ("ha.peers.listen", replica.peer_port),
        ] {
            let (section, field) = key.rsplit_once('.').expect("a dotted key");
            let value = section
                .split('.')
                .fold(&config, |v, k| &v[k])
                .get(field)
                .and_then(Value::as_str);
            assert_eq!(value, Some(format!("127.0.0.1:{port}").as_str()), "{key}");
            assert!(ports.insert(port), "port {port} given twice");
        }
        let mut files = Vec::new();
        named_files(&config, "", &mut files);
        let keys: Vec<&str> = files.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys.len(),
            9,
            "token, kubeconfig ×2, listen cert/key/client CA, peer cert/key/CA: {keys:?}"
        );
        for (key, path) in &files {
            assert!(Path::new(path).is_file(), "{key}: {path} does not exist");
        }
    }
}

#[test]
fn a_published_version_is_in_the_shared_registry() {
    let replicas = Replicas::prepare(1);
    let package = PackageDir::new("my-package", &[]);
    let digest = replicas.publish(&package, "v1.0.0");
    let manifest = replicas
        .registry
        .manifest(&format!("{REGISTRY_NAMESPACE}/my-package"), "v1.0.0");
    assert_eq!(manifest.status, 200);
    assert_eq!(
        manifest.header("docker-content-digest"),
        Some(digest.as_str())
    );
}

#[test]
fn the_github_fake_tells_the_replicas_tokens_apart() {
    let replicas = Replicas::prepare(2);
    let (first, second) = (replicas.replica(0), replicas.replica(1));
    let tokens: Vec<String> = [first, second]
        .iter()
        .map(|r| {
            std::fs::read_to_string(r.home.path().join("github-token"))
                .expect("token file")
                .trim()
                .to_owned()
        })
        .collect();
    assert_eq!(
        tokens,
        [first.github_token.clone(), second.github_token.clone()]
    );
    assert_ne!(tokens[0], tokens[1]);

    // A write with the first replica's token is recorded as its own, not the second's.
    let url = format!(
        "{}/api/v3/repos/acme/deploy/pulls/999/merge",
        replicas.github.url()
    );
    let status = replicas.runtime().block_on(async {
        reqwest::Client::new()
            .put(&url)
            .bearer_auth(&tokens[0])
            .body("{}")
            .send()
            .await
            .expect("PUT")
            .status()
    });
    assert_eq!(status.as_u16(), 404, "no such pull request");
    let writes = replicas.github_writes_of(0);
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(
        writes[0].is_merge() && writes[0].user == github_fake::BOT,
        "{writes:?}"
    );
    assert!(replicas.github_writes_of(1).is_empty());
}

#[test]
fn without_its_ha_section_a_replica_serves_client_certificate_users_and_promotes_through_the_fakes()
{
    let mut replicas = Replicas::prepare(1);
    replicas.replica(0).make_standalone();
    let package = PackageDir::new("my-package", &[]);
    replicas.publish(&package, "v1.0.0");
    replicas.replica_mut(0).restart();
    let replica = replicas.replica(0);

    let whoami = support::json(&replica.dk("carol", &["-o", "json", "whoami"]));
    assert_eq!(whoami["name"], "carol", "{whoami}");

    let promoted = replica.dk(
        "carol",
        &[
            "-o",
            "json",
            "promote",
            "my-package",
            "v1.0.0",
            "--to",
            "dev",
        ],
    );
    let promoted = support::json(&promoted);
    let id = promoted["promotion"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    assert_eq!(promoted["promotion"]["promoter"], "carol", "{promoted}");
    support::eventually("the promotion to merge", || {
        (replicas.merges_of(&id) == 1).then_some(())
    });
    let merges: Vec<_> = replicas
        .github_writes_of(0)
        .into_iter()
        .filter(|w| w.is_merge())
        .collect();
    assert_eq!(
        merges.len(),
        1,
        "merged with the replica's own token: {merges:?}"
    );
}
