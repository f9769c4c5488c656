//! The Watch stream over gRPC: a snapshot first, then every change with a persisted
//! sequence number; resuming misses nothing and repeats nothing; a stale resume point is
//! told to take a fresh snapshot; a slow subscriber never delays a fast one.

mod support;

use datakit::proto::{
    PromoteRequest, PromotionState, WatchEvent, WatchRequest,
    data_kit_service_client::DataKitServiceClient, watch_event::Event,
};
use support::{PATIENCE, TestHome, package::PackageDir};
use tokio_stream::StreamExt;
use tonic::{Streaming, transport::Channel};

async fn client(home: &TestHome) -> DataKitServiceClient<Channel> {
    DataKitServiceClient::new(support::channel(&home.socket()).await)
}

async fn watch(
    client: &mut DataKitServiceClient<Channel>,
    resume_after: Option<u64>,
) -> Streaming<WatchEvent> {
    let request = WatchRequest {
        resume_after,
        ..Default::default()
    };
    client.watch(request).await.expect("watch").into_inner()
}

async fn next(stream: &mut Streaming<WatchEvent>) -> WatchEvent {
    tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("an event within the patience")
        .expect("stream open")
        .expect("event")
}

/// Reads sequenced events until `package` reaches Healthy; returns their sequences.
async fn until_healthy(stream: &mut Streaming<WatchEvent>, package: &str) -> Vec<u64> {
    let mut sequences = Vec::new();
    loop {
        let event = next(stream).await;
        if event.sequence == 0 {
            continue;
        }
        sequences.push(event.sequence);
        if let Some(Event::Promotion(p)) = &event.event
            && p.package == package
            && p.state == PromotionState::Healthy as i32
        {
            return sequences;
        }
    }
}

async fn promote(client: &mut DataKitServiceClient<Channel>, package: &str, version: &str) {
    let request = PromoteRequest {
        package: package.into(),
        version: version.into(),
        environment: "dev".into(),
        ..Default::default()
    };
    client.promote(request).await.expect("promote");
}

fn consecutive(sequences: &[u64]) -> bool {
    sequences.windows(2).all(|pair| pair[1] == pair[0] + 1)
}

#[tokio::test]
async fn a_resumed_watch_gets_exactly_the_missed_events() {
    datakit::install_crypto_provider();
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    for name in ["alpha", "beta"] {
        PackageDir::new(name, &[]).publish(&home, "v1.0.0");
    }
    let mut client = client(&home).await;
    let mut stream = watch(&mut client, None).await;
    let snapshot = next(&mut stream).await;
    assert!(
        matches!(snapshot.event, Some(Event::Snapshot(_))),
        "a snapshot first: {snapshot:?}"
    );
    promote(&mut client, "alpha", "v1.0.0").await;
    let first = until_healthy(&mut stream, "alpha").await;
    assert_eq!(
        first[0],
        snapshot.snapshot_sequence + 1,
        "follows on from the snapshot"
    );
    assert!(consecutive(&first), "no gap: {first:?}");
    drop(stream);

    promote(&mut client, "beta", "v1.0.0").await;
    let last_seen = *first.last().expect("events");
    let mut resumed = watch(&mut client, Some(last_seen)).await;
    let replayed = until_healthy(&mut resumed, "beta").await;
    assert_eq!(
        replayed[0],
        last_seen + 1,
        "starts right after the resume point: {replayed:?}"
    );
    assert!(consecutive(&replayed), "no gap, no duplicate: {replayed:?}");
}

#[tokio::test]
async fn a_resume_point_the_log_no_longer_holds_is_refused_with_out_of_range() {
    datakit::install_crypto_provider();
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let mut client = client(&home).await;
    let mut stream = watch(&mut client, Some(1_000_000)).await;
    let status = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("an answer")
        .expect("one message")
        .expect_err("refused");
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    assert!(
        status.message().contains("fresh snapshot"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn a_slow_subscriber_does_not_delay_a_fast_one_and_later_catches_up() {
    datakit::install_crypto_provider();
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    // Enough promotions (about 8 events each) to overflow the slow subscriber's buffer in
    // dkd (256 events) and HTTP/2's flow-control window behind it.
    let names: Vec<String> = (0..60).map(|i| format!("pkg-{i}")).collect();
    for name in &names {
        PackageDir::new(name, &[]).publish(&home, "v1.0.0");
    }
    // Separate connections, as separate clients have: HTTP/2 flow control is per
    // connection, so two streams on one connection share one window.
    let mut client = client(&home).await;
    let (mut slow_client, mut fast_client) = (self::client(&home).await, self::client(&home).await);
    let mut slow = watch(&mut slow_client, None).await;
    let slow_snapshot = next(&mut slow).await;
    let mut fast = watch(&mut fast_client, None).await;
    next(&mut fast).await;
    for name in &names {
        promote(&mut client, name, "v1.0.0").await;
    }
    let mut healthy = std::collections::BTreeSet::new();
    let mut fast_last = 0;
    while healthy.len() < names.len() {
        let event = next(&mut fast).await;
        fast_last = fast_last.max(event.sequence);
        if let Some(Event::Promotion(p)) = event.event
            && p.state == PromotionState::Healthy as i32
        {
            healthy.insert(p.package);
        }
    }
    // The slow subscriber, read only now, still gets every event in order.
    let mut sequences = Vec::new();
    while sequences.last().is_none_or(|last| *last < fast_last) {
        let event = next(&mut slow).await;
        if event.sequence != 0 {
            sequences.push(event.sequence);
        }
    }
    assert_eq!(sequences[0], slow_snapshot.snapshot_sequence + 1);
    assert!(
        consecutive(&sequences),
        "caught up from the store without a gap"
    );
    assert!(
        sequences.len() > 400,
        "the test overflowed the buffers: {} events",
        sequences.len()
    );
}
