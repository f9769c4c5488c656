//! Issue 13's measures, on three real dkd replicas (tests/support/replicas/) against the
//! GitHub and Kubernetes API fakes: the time from killing the leader to the first merge by
//! the new leader, as a ratio of the lease duration; and Watch delivery p99 through a
//! follower against through the leader, in the same run (the same Argo CD changes watched
//! on both). `cargo bench -p dkd --bench ha_bench`.

#[path = "../../tests/support/github_fake/mod.rs"]
mod github_fake;
#[path = "../../tests/support/kube_fake/mod.rs"]
mod kube_fake;
#[path = "../../tests/support/replicas/mod.rs"]
mod replicas;
#[path = "../../tests/support/mod.rs"]
mod support;

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use datakit::proto::{
    PromoteRequest, WatchRequest, data_kit_service_client::DataKitServiceClient, watch_event::Event,
};
use replicas::{LEASE_DURATION, Replicas};
use support::{eventually, package::PackageDir};
use tokio_stream::StreamExt;

/// Failovers measured; the median is reported.
const FAILOVERS: usize = 3;
/// Status changes watched through both replicas.
const CHANGES: usize = 100;
/// Time between two changes.
const CHANGE_INTERVAL: Duration = Duration::from_millis(100);

fn main() {
    let mut failovers: Vec<Duration> = (0..FAILOVERS).map(|_| failover()).collect();
    failovers.sort();
    let median = failovers[FAILOVERS / 2];
    let (leader, follower) = watch_delivery();
    println!("| measure | value |\n|---|---|");
    println!(
        "| leader killed → first merge by the new leader (median of {FAILOVERS}) | {:.2} s = {:.2} × the {} s lease |",
        median.as_secs_f64(),
        median.as_secs_f64() / LEASE_DURATION.as_secs_f64(),
        LEASE_DURATION.as_secs()
    );
    println!(
        "| Watch delivery p99, {CHANGES} changes: follower vs leader | {:.1} ms vs {:.1} ms = {:.2} |",
        ms(follower),
        ms(leader),
        ms(follower) / ms(leader)
    );
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Kills the leader with a promotion waiting only for CI, turns CI green at once, and
/// returns how long until the promotion merged (by the new leader).
fn failover() -> Duration {
    let mut replicas = Replicas::start(3);
    replicas.publish(&PackageDir::new("alpha", &[]), "v1.0.0");
    let leader = replicas.wait_for_leader();
    replicas.runtime().block_on(replicas.github.hold_ci(true));
    let id = replicas.runtime().block_on(async {
        let mut client =
            DataKitServiceClient::new(replicas.replica(leader).grpc_channel("alice").await);
        let request = PromoteRequest {
            package: "alpha".into(),
            version: "v1.0.0".into(),
            environment: "dev".into(),
            ..PromoteRequest::default()
        };
        let promoted = client
            .promote(request)
            .await
            .expect("promoted")
            .into_inner();
        promoted.promotion.expect("a promotion").id
    });
    eventually("the pull request", || {
        replicas
            .runtime()
            .block_on(replicas.github.pulls())
            .iter()
            .any(|p| p.head_ref.ends_with(&format!("/{id}")))
            .then_some(())
    });
    let killed = Instant::now();
    replicas.replica_mut(leader).kill9();
    replicas.runtime().block_on(replicas.github.hold_ci(false));
    eventually("the new leader's merge", || {
        (replicas.merges_of(&id) == 1).then_some(())
    });
    killed.elapsed()
}

/// p99 of the delay from an Argo CD change to its Status event, watched through the
/// leader and through a follower at once. Changes are matched by their revision (two
/// changes close together may reach the board as one).
fn watch_delivery() -> (Duration, Duration) {
    let replicas = Replicas::start(3);
    let leader = replicas.wait_for_leader();
    let follower = replicas.followers()[0];
    let runtime = replicas.runtime();
    let watch = |index: usize| {
        let replica = replicas.replica(index);
        let channel = runtime.block_on(replica.grpc_channel("alice"));
        runtime.spawn(async move {
            let mut stream = DataKitServiceClient::new(channel)
                .watch(WatchRequest::default())
                .await
                .expect("a Watch")
                .into_inner();
            let mut arrivals = HashMap::new();
            let last = format!("{:040x}", CHANGES - 1);
            while let Ok(Some(Ok(event))) =
                tokio::time::timeout(Duration::from_secs(30), stream.next()).await
            {
                if let Some(Event::Status(status)) = event.event {
                    arrivals.insert(status.synced_revision.clone(), Instant::now());
                    if status.synced_revision == last {
                        break;
                    }
                }
            }
            arrivals
        })
    };
    let (on_leader, on_follower) = (watch(leader), watch(follower));
    // Both streams are open (their snapshot sent) before the first change.
    std::thread::sleep(Duration::from_millis(500));
    let mut sent = HashMap::new();
    for change in 0..CHANGES {
        let revision = format!("{change:040x}");
        sent.insert(revision.clone(), Instant::now());
        replicas.argo_cd_synced("dev", "alpha", "v1.0.0", "p-1", &revision);
        std::thread::sleep(CHANGE_INTERVAL);
    }
    let on_leader = runtime.block_on(on_leader).expect("leader's watch");
    let on_follower = runtime.block_on(on_follower).expect("follower's watch");
    (
        p99(delays(&sent, &on_leader)),
        p99(delays(&sent, &on_follower)),
    )
}

fn delays(sent: &HashMap<String, Instant>, arrived: &HashMap<String, Instant>) -> Vec<Duration> {
    let delays: Vec<Duration> = sent
        .iter()
        .filter_map(|(revision, at)| Some(arrived.get(revision)?.saturating_duration_since(*at)))
        .collect();
    assert!(
        delays.len() * 10 >= sent.len() * 9,
        "only {} of {} changes arrived",
        delays.len(),
        sent.len()
    );
    delays
}

fn p99(mut delays: Vec<Duration>) -> Duration {
    delays.sort();
    delays[(delays.len() * 99 / 100).min(delays.len() - 1)]
}
