//! gRPC-Web in a real browser: headless Chromium opens a page served on loopback (another
//! origin than dkd) whose script calls dkd's TLS port with gRPC-Web and a service token —
//! ListEnvironments, a call without a token, and a Watch stream that must show a promotion
//! the test makes — and a page from an origin not in `listen.cors_origins` gets no CORS
//! allowance; with no origins configured no other origin does. The page is
//! tests/web/grpc_web_page.html.

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
