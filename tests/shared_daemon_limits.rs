//! The limits of a shared dkd's network listener through the real binaries: a message over
//! the size limit, a unary call past its deadline, too many Watch streams for one principal,
//! and too many streams on one HTTP/2 connection — each answered on the listener without
//! slowing other callers, and none of it applied on the local socket.

mod support;

use std::time::{Duration, Instant};

use datakit::proto::{
    ListEnvironmentsRequest, LogsRequest, StatusRequest, WatchRequest,
    data_kit_service_client::DataKitServiceClient,
};
use support::{
    PATIENCE, channel,
    shared::{Shared, authorized},
};
use tokio_stream::StreamExt;
use tonic::{Code, Streaming};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

/// The first event of a Watch stream (the snapshot), so the stream is surely open.
async fn opened<T: std::fmt::Debug>(stream: &mut Streaming<T>) {
    let first = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("a first event within the patience");
    assert!(matches!(first, Some(Ok(_))), "{first:?}");
}

#[test]
fn a_message_over_the_size_limit_is_resource_exhausted_on_the_listener_but_not_on_the_socket() {
    let shared = Shared::start("  limits: { max_message_bytes: 1024 }\n");
    let token = shared.token(&["big-sender"]);
    let huge = StatusRequest {
        package: "a".repeat(2000),
        ..Default::default()
    };
    runtime().block_on(async {
        let mut client = authorized(shared.channel().await, &token);
        let refused = client
            .status(huge.clone())
            .await
            .expect_err("too large over TLS");
        assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
        assert!(
            refused.message().contains("1024 bytes")
                && refused
                    .message()
                    .contains("listen.limits.max_message_bytes"),
            "{}",
            refused.message()
        );

        // A normal call on the same listener still works.
        client
            .list_environments(ListEnvironmentsRequest {})
            .await
            .expect("a small call over TLS");

        // The socket reads the message and answers about its content instead.
        let mut local = DataKitServiceClient::new(channel(&shared.home.socket()).await);
        let answered = local.status(huge).await.expect_err("an invalid name");
        assert_eq!(answered.code(), Code::InvalidArgument, "{answered:?}");
    });
}

#[test]
fn a_unary_call_past_the_deadline_is_deadline_exceeded_while_streams_and_the_socket_run_on() {
    // A registry that accepts connections and never answers: asking it whether an unknown
    // package is published takes forever.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let registry = silent.local_addr().expect("address");
    let shared = Shared::start_with(
        "  limits: { unary_deadline_ms: 500 }\n",
        &format!(
            "heartbeat_interval_ms: 100\nregistry: {{ type: oci, url: \"{registry}/acme\" }}\n"
        ),
    );
    let token = shared.token(&["slow-caller"]);
    let unknown = StatusRequest {
        package: "never-published".to_owned(),
        ..Default::default()
    };
    runtime().block_on(async {
        let mut client = authorized(shared.channel().await, &token);
        let mut watch = client
            .watch(WatchRequest::default())
            .await
            .expect("watch over TLS")
            .into_inner();
        opened(&mut watch).await;

        let started = Instant::now();
        let cut = client
            .status(unknown.clone())
            .await
            .expect_err("cut at the deadline");
        assert_eq!(cut.code(), Code::DeadlineExceeded, "{cut:?}");
        assert!(
            cut.message().contains("listen.limits.unary_deadline_ms")
                && cut.message().contains("500 ms"),
            "{}",
            cut.message()
        );
        assert!(started.elapsed() < PATIENCE, "{:?}", started.elapsed());

        // The Watch stream opened before is not cut: it still delivers (heartbeats).
        let later = tokio::time::timeout(PATIENCE, watch.next())
            .await
            .expect("the stream still delivers");
        assert!(matches!(later, Some(Ok(_))), "{later:?}");

        // On the socket the same call is still waiting well past the listener's deadline.
        let mut local = DataKitServiceClient::new(channel(&shared.home.socket()).await);
        let waited =
            tokio::time::timeout(Duration::from_secs(2), local.status(unknown.clone())).await;
        assert!(waited.is_err(), "the socket cut the call: {waited:?}");
    });
    drop(silent);
}

#[test]
fn watch_and_logs_streams_over_the_cap_of_one_principal_are_resource_exhausted_and_nobody_else_is_capped()
 {
    let shared = Shared::start("  limits: { streams_per_principal: 2 }\n");
    let greedy = shared.token(&["greedy"]);
    let other = shared.token(&["other"]);
    runtime().block_on(async {
        let mut client = authorized(shared.channel().await, &greedy);
        let mut open = Vec::new();
        for _ in 0..2 {
            let mut stream = client
                .watch(WatchRequest::default())
                .await
                .expect("within the cap")
                .into_inner();
            opened(&mut stream).await;
            open.push(stream);
        }
        let refused = client
            .watch(WatchRequest::default())
            .await
            .expect_err("over the cap");
        assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
        let message = refused.message();
        assert!(
            message.starts_with("greedy already has 2 Watch and Logs streams open")
                && message.contains("listen.limits.streams_per_principal"),
            "{message}"
        );
        // Logs streams share the cap: it answers before the request is even looked at.
        let logs = client
            .logs(LogsRequest {
                package: "any-package".to_owned(),
                environment: "dev".to_owned(),
                ..LogsRequest::default()
            })
            .await
            .expect_err("a Logs stream over the cap");
        assert_eq!(logs.code(), Code::ResourceExhausted, "{logs:?}");

        // Another principal, and the socket's owner, are not counted against greedy.
        let mut others = authorized(shared.channel().await, &other);
        let mut theirs = others
            .watch(WatchRequest::default())
            .await
            .expect("another principal watches")
            .into_inner();
        opened(&mut theirs).await;
        let mut local = DataKitServiceClient::new(channel(&shared.home.socket()).await);
        let mut local_streams = Vec::new();
        for _ in 0..3 {
            let mut stream = local
                .watch(WatchRequest::default())
                .await
                .expect("the socket has no cap")
                .into_inner();
            opened(&mut stream).await;
            local_streams.push(stream);
        }

        // A closed stream frees its place.
        drop(open.pop());
        let deadline = Instant::now() + PATIENCE;
        loop {
            match client.watch(WatchRequest::default()).await {
                Ok(stream) => {
                    opened(&mut stream.into_inner()).await;
                    break;
                }
                Err(status) if status.code() == Code::ResourceExhausted => {
                    assert!(Instant::now() < deadline, "the closed stream was not freed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(status) => panic!("{status:?}"),
            }
        }
    });
}

#[test]
fn one_connection_gets_at_most_max_concurrent_streams_while_other_connections_are_served() {
    let shared = Shared::start("  limits: { max_concurrent_streams: 2 }\n");
    let token = shared.token(&["busy"]);
    runtime().block_on(async {
        let mut client = authorized(shared.channel().await, &token);
        let mut open = Vec::new();
        for _ in 0..2 {
            let mut stream = client
                .watch(WatchRequest::default())
                .await
                .expect("within the limit")
                .into_inner();
            opened(&mut stream).await;
            open.push(stream);
        }
        // HTTP/2 flow control: the client holds a third stream back until one closes.
        let mut same_connection = client.clone();
        let third = same_connection.list_environments(ListEnvironmentsRequest {});
        tokio::pin!(third);
        let held = tokio::time::timeout(Duration::from_secs(1), &mut third).await;
        assert!(held.is_err(), "a third stream was opened: {held:?}");

        // Another connection is served meanwhile.
        authorized(shared.channel().await, &token)
            .list_environments(ListEnvironmentsRequest {})
            .await
            .expect("another connection is served");

        drop(open.pop());
        tokio::time::timeout(PATIENCE, third)
            .await
            .expect("served once a stream closed")
            .expect("the held call succeeds");
    });
}
