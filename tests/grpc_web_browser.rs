//! gRPC-Web in a real browser: headless Chromium opens a page served on loopback (another
//! origin than dkd) whose script calls dkd's TLS port with gRPC-Web and a service token —
//! ListEnvironments, a call without a token, and a Watch stream that must show a promotion
//! the test makes — and a page from an origin not in `listen.cors_origins` gets no CORS
//! allowance; with no origins configured no other origin does. The page is
//! tests/web/grpc_web_page.html. What a browser cannot show is checked on the wire: a
//! gRPC-Web call over HTTP/1.1, and the CORS headers of preflights without credentials.

mod support;

use support::{
    browser::{Browser, PageServer, spki_hash},
    json,
    package::PackageDir,
    shared::Shared,
};

const PAGE: &str = include_str!("web/grpc_web_page.html");

/// The page with its settings: where dkd is, the token, and the mode from its query
/// string (`blocked`, or everything).
fn page(dkd: &str, token: &str, query: &str) -> String {
    let settings = serde_json::json!({ "dkd": dkd, "token": token, "mode": query });
    PAGE.replace("DKD_SETTINGS", &settings.to_string())
}

#[test]
fn a_browser_page_from_an_allowed_origin_lists_environments_and_watches_a_promotion() {
    // The page server's port must be known to configure dkd's allowed origin, and dkd's
    // address and token to build the page: the page is built per request from a cell.
    let settings = std::sync::Arc::new(std::sync::OnceLock::<(String, String)>::new());
    let for_page = settings.clone();
    let server = PageServer::start(move |query| {
        let (dkd, token) = for_page.get().expect("settings before the page is opened");
        page(dkd, token, query)
    });
    let shared = Shared::start(&format!(
        "  cors_origins: [\"http://127.0.0.1:{}\"]\n",
        server.port
    ));
    let token = shared.token(&["browser", "--groups", "ide"]);
    settings
        .set((shared.address(), token.clone()))
        .expect("set once");
    let package = PackageDir::new("web-package", &[]);
    package.publish(&shared.home, "v1.0.0");
    let trusted = spki_hash(&shared.file("tls.key"));

    let browser = Browser::open(&format!("http://127.0.0.1:{}/", server.port), &trusted);
    let environments = server.wait_for("environments", &browser);
    let names = environments["names"].as_array().expect("names");
    assert!(names.iter().any(|name| name == "dev"), "{environments}");
    assert!(
        environments["trailers"]
            .as_str()
            .is_some_and(|trailers| trailers.contains("grpc-status:0")),
        "{environments}"
    );

    // The refusal is readable across origins (grpc-status and grpc-message are exposed).
    let unauthenticated = server.wait_for("unauthenticated", &browser);
    assert_eq!(unauthenticated["status"], "16", "{unauthenticated}");
    assert!(
        unauthenticated["message"]
            .as_str()
            .is_some_and(|message| message.contains("no credentials")),
        "{unauthenticated}"
    );

    server.wait_for("watching", &browser);
    json(&shared.home.dk(&[
        "-o",
        "json",
        "promote",
        "web-package",
        "v1.0.0",
        "--to",
        "dev",
    ]));
    let promotion = server.wait_for("promotion", &browser);
    assert_eq!(promotion["package"], "web-package", "{promotion}");
    assert_eq!(promotion["version"], "v1.0.0", "{promotion}");
    assert_eq!(promotion["environment"], "dev", "{promotion}");
    drop(browser);

    // Same page, same token, another origin (localhost is not 127.0.0.1): the browser
    // refuses the call because dkd grants that origin nothing.
    let blocked = Browser::open(
        &format!("http://localhost:{}/?blocked", server.port),
        &trusted,
    );
    let refused = server.wait_for("blocked", &blocked);
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|error| error.contains("Failed to fetch")),
        "{refused}"
    );
}

#[test]
fn without_configured_origins_a_page_of_another_origin_gets_no_cors_allowance() {
    let settings = std::sync::Arc::new(std::sync::OnceLock::<(String, String)>::new());
    let for_page = settings.clone();
    let server = PageServer::start(move |query| {
        let (dkd, token) = for_page.get().expect("settings before the page is opened");
        page(dkd, token, query)
    });
    let shared = Shared::start("");
    let token = shared.token(&["browser"]);
    settings.set((shared.address(), token)).expect("set once");
    let browser = Browser::open(
        &format!("http://127.0.0.1:{}/?blocked", server.port),
        &spki_hash(&shared.file("tls.key")),
    );
    let refused = server.wait_for("blocked", &browser);
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|error| error.contains("Failed to fetch")),
        "{refused}"
    );
}

/// What dkd answers `request`, sent over TLS with HTTP/1.1 as the only ALPN protocol
/// (trusting the test CA); the answer's header names in lower case.
fn http1_over_tls(shared: &Shared, request: &[u8]) -> String {
    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject as _};
    use std::io::{Read as _, Write as _};

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(shared.file("ca.pem")).expect("the test CA"))
        .expect("trust the test CA");
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connection = rustls::ClientConnection::new(
        std::sync::Arc::new(config),
        ServerName::try_from("127.0.0.1").expect("name"),
    )
    .expect("TLS client");
    let tcp = std::net::TcpStream::connect(("127.0.0.1", shared.port)).expect("connect");
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    tls.write_all(request).expect("send");
    let mut answer = Vec::new();
    // dkd closes after the answer (Connection: close), maybe without close_notify.
    let _ = tls.read_to_end(&mut answer);
    assert_eq!(
        tls.conn.alpn_protocol(),
        Some(&b"http/1.1"[..]),
        "dkd offers HTTP/1.1"
    );
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    format!("{}\r\n\r\n{body}", head.to_lowercase())
}

#[test]
fn over_http1_a_grpc_web_call_is_served_and_only_a_listed_origin_is_allowed_without_credentials() {
    let shared = Shared::start("  cors_origins: [\"https://ide.example.com\"]\n");
    let token = shared.token(&["ide"]);

    let mut call = format!(
        "POST /datakit.v1.DataKitService/ListEnvironments HTTP/1.1\r\nhost: 127.0.0.1\r\norigin: https://ide.example.com\r\ncontent-type: application/grpc-web+proto\r\nx-grpc-web: 1\r\nauthorization: Bearer {token}\r\ncontent-length: 5\r\nconnection: close\r\n\r\n"
    )
    .into_bytes();
    call.extend([0u8; 5]); // one empty message
    let answer = http1_over_tls(&shared, &call);
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    assert!(
        answer.contains("access-control-allow-origin: https://ide.example.com\r\n")
            && answer.contains("access-control-expose-headers: grpc-status,grpc-message\r\n")
            && answer.contains("grpc-status:0"),
        "{answer}"
    );

    let preflight = |origin: &str| {
        http1_over_tls(
            &shared,
            format!(
                "OPTIONS /datakit.v1.DataKitService/Watch HTTP/1.1\r\nhost: 127.0.0.1\r\norigin: {origin}\r\naccess-control-request-method: POST\r\naccess-control-request-headers: authorization,content-type,x-grpc-web\r\nconnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
    };
    // No credentials in a preflight, and none needed.
    let allowed = preflight("https://ide.example.com");
    assert!(allowed.starts_with("http/1.1 200"), "{allowed}");
    assert!(
        allowed.contains("access-control-allow-origin: https://ide.example.com\r\n")
            && allowed.contains(
                "access-control-allow-headers: authorization,content-type,x-grpc-web,x-user-agent,grpc-timeout\r\n"
            )
            && allowed.contains("access-control-allow-methods: post\r\n"),
        "{allowed}"
    );
    let other = preflight("https://evil.example.com");
    assert!(!other.contains("access-control-allow-origin"), "{other}");
}
