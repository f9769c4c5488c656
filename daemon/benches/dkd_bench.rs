//! `cargo bench -p dkd --bench dkd_bench`: the real `dkd` and `dk` binaries over real Unix
//! sockets, each number a ratio against a baseline measured in the same run (the machine is
//! small and noisy). See docs/benchmarks.md.
//!
//! 1. `Status(package=X)` throughput with 10,000 packages x 3 environments cached, against
//!    `grpc.health.v1.Health/Check` on the same socket (same connections, concurrency and
//!    duration, interleaved); Status p50/p99 latency at concurrency 16.
//! 2. Watch fan-out: 10,000 `Watch` subscribers, one promotion as the trigger, latency from
//!    the trigger to each subscriber's receipt; baseline: the same with 1 subscriber; dkd's
//!    resident memory with every stream open.
//! 3. Promotions to `dev` driven to Healthy on the embedded forge, per item, against a raw
//!    git-plumbing commit of the same manifest into a bare repository.
//! 4. `dk status PKG` whole-process wall time against `dk --version`.
//! 5. dkd cold start and resident memory on the 10,000-package home, against an empty home.
//! 6. `Status` over the TLS listener with an OIDC token (an issuer on loopback), against
//!    `Status` on the same dkd's Unix socket, interleaved.
//!
//! Environment: `DKD_BENCH_PACKAGES` (default 10000) seeds another home (100000 for the
//! big one, or a small one for a quick run); `DKD_BENCH_RESEED=1` rebuilds the cached home;
//! `DKD_BENCH_WATCHERS` (default 10000) sets the Watch subscribers.

mod bench_support;

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use bench_support::{
    Dkd, Rng, big_home, binary, client, fmt_duration, fmt_mb,
    listener::{self, SigningKey, TestIssuer},
    machine, mean, median, own_cpu_ticks,
    packages::{self, PackageDir},
    percentile, plumbing_commit,
    report::{self, Goal, Row, Value},
    seed::{self, Seeded},
    try_channel, wait_for_status,
};
use datakit::{
    manifest::{ANNOTATION_PROMOTED_BY, ANNOTATION_PROMOTION_ID, DeployedPackage},
    proto::{
        self, PromoteRequest, PromotionState, StatusRequest, WatchRequest,
        data_kit_service_client::DataKitServiceClient, watch_event::Event,
    },
};
use tokio::sync::mpsc;
use tonic::{
    metadata::{Ascii, MetadataValue},
    transport::Channel,
};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// Concurrency of the Status measurement (closed loop: each worker waits for its answer).
const STATUS_WORKERS: usize = 16;
/// HTTP/2 connections the workers share.
const STATUS_CONNECTIONS: usize = 4;
/// Length of one measured slice; Status and Health slices alternate.
const STATUS_SLICE: Duration = Duration::from_secs(2);
/// Slices of each kind.
const STATUS_ROUNDS: usize = 3;
/// Watch subscribers (unless `DKD_BENCH_WATCHERS` says), and the streams per connection
/// they share.
const WATCH_SUBSCRIBERS: usize = 10_000;
const WATCH_STREAMS_PER_CONNECTION: usize = 50;
/// Trigger rounds with every subscriber, and with the single-subscriber baseline.
const WATCH_ROUNDS: usize = 4;
const WATCH_BASELINE_ROUNDS: usize = 8;
/// Promotions submitted together, and promotions run one at a time (context row).
const PROMOTIONS: usize = 20;
const SEQUENTIAL_PROMOTIONS: usize = 3;
/// Runs of `dk status` and of `dk --version`, interleaved.
const DK_RUNS: usize = 30;
/// Cold starts of each kind, interleaved.
const COLD_STARTS: usize = 3;

fn main() {
    datakit::install_crypto_provider();
    let started = Instant::now();
    println!("dkd_bench on {}", machine());
    bench_support::build_binaries();
    println!(
        "binaries: {} and {} (cargo build: {:.1} s)",
        binary("dkd").display(),
        binary("dk").display(),
        started.elapsed().as_secs_f64()
    );
    let count = std::env::var("DKD_BENCH_PACKAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000usize);
    let reseed = std::env::var("DKD_BENCH_RESEED").is_ok_and(|v| v == "1");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // The OIDC issuer runs on a runtime of its own, so it starts (and stops) out here.
    let issuer = wants("tls").then(|| {
        let issuer = TestIssuer::start();
        let key = SigningKey::es256("bench-key");
        issuer.publish(&[&key]);
        (issuer, key)
    });
    let rows = runtime.block_on(run(count, reseed, started, issuer.as_ref()));
    report::print(&rows);
    println!(
        "\ntotal {:.0} s (measurements after build and seeding: {:.0} s)",
        started.elapsed().as_secs_f64(),
        rows_elapsed(started)
    );
}

fn rows_elapsed(started: Instant) -> f64 {
    let seeded = SEEDING_DONE.get().copied().unwrap_or(started);
    seeded.elapsed().as_secs_f64()
}

static SEEDING_DONE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

async fn run(
    count: usize,
    reseed: bool,
    started: Instant,
    issuer: Option<&(TestIssuer, SigningKey)>,
) -> Vec<Row> {
    let target = bench_support::target_dir();
    let scratch_root = target.join("bench-tmp");
    std::fs::create_dir_all(&scratch_root).expect("target/bench-tmp");

    let mut seeded = seed::ensure(&target, count, reseed).await;
    match seeded.seeded_in {
        Some(took) => println!("seeding took {:.1} s", took.as_secs_f64()),
        None => println!(
            "reusing the seeded home {} ({} packages, seeded in {}; DKD_BENCH_RESEED=1 rebuilds it)",
            seeded.home.display(),
            count,
            seeded
                .seeding_took
                .map_or_else(|| "an unknown time".to_owned(), fmt_duration)
        ),
    }
    let _ = SEEDING_DONE.set(Instant::now());
    println!(
        "build and setup took {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut rows = Vec::new();

    if wants("start") || wants("status") || wants("dk") {
        // 5. Cold start and memory; the last dkd on the seeded home stays up for 1. and 4.
        let (daemon, start_rows) = if wants("start") {
            match cold_starts(&seeded, &scratch_root).await {
                Ok(result) => result,
                Err(problem) => {
                    println!("the cached home is unusable ({problem}); reseeding");
                    seeded = seed::ensure(&target, count, true).await;
                    cold_starts(&seeded, &scratch_root)
                        .await
                        .expect("a freshly seeded home works")
                }
            }
        } else {
            let daemon = Dkd::spawn(&seeded.home);
            let last = seeded.packages.last().expect("packages");
            let (took, answer) = wait_for_status(&daemon.socket(), last, daemon.spawned_at).await;
            answer.expect("Status on the seeded home");
            let (settled, cpu) = daemon.settle().await;
            println!(
                "dkd answered after {}, went idle {} after its start ({} of CPU with git by then)",
                fmt_duration(took),
                fmt_duration(settled),
                fmt_duration(cpu)
            );
            (daemon, Vec::new())
        };
        // 1. Status throughput and latency.
        if wants("status") {
            rows.extend(status_throughput(&daemon, &seeded.packages).await);
        }
        // 4. dk status wall time.
        if wants("dk") {
            rows.push(dk_status_wall(&seeded.home, &seeded.packages));
        }
        // 7. An idle dkd, and a push by someone else, on the seeded home.
        if wants("idle") {
            rows.push(big_home::idle_cpu(&daemon, seeded.packages.len()).await);
        }
        if wants("push") {
            let package = seeded.packages.last().expect("packages");
            rows.push(
                big_home::push_to_applied(
                    &seeded.home,
                    &daemon.socket(),
                    package,
                    seeded.packages.len(),
                )
                .await,
            );
        }
        daemon.stop();
        rows.extend(start_rows);
    }

    // 2. and 3. on a small home of their own, or with DKD_BENCH_ON_SEEDED=1 on a copy of
    // the seeded home.
    if wants("watch") || wants("promote") {
        let home = tempfile::Builder::new()
            .prefix("small-")
            .tempdir_in(&scratch_root)
            .expect("small home");
        if std::env::var("DKD_BENCH_ON_SEEDED").is_ok_and(|v| v == "1") {
            copy_home(&seeded.home, home.path());
        }
        rows.extend(watch_and_promotions(home.path()).await);
    }

    // 6. on a small home of its own, with a TLS listener.
    if let Some((issuer, key)) = issuer {
        let home = tempfile::Builder::new()
            .prefix("tls-")
            .tempdir_in(&scratch_root)
            .expect("TLS home");
        rows.extend(status_over_tls(home.path(), issuer, key).await);
    }
    rows
}

/// Copies the seeded home (deployment repository, state database, registry, targets) into the
/// empty folder `to` (`cp -a`), so promotions measured there leave the seed as it was.
fn copy_home(from: &Path, to: &Path) {
    let step = Instant::now();
    for part in [
        "deploy.git",
        "state.sled",
        "registry",
        "targets",
        "dkd.yaml",
    ] {
        let source = from.join(part);
        if !source.exists() {
            continue;
        }
        let copied = std::process::Command::new("cp")
            .arg("-a")
            .arg(&source)
            .arg(to.join(part))
            .status()
            .expect("cp");
        assert!(copied.success(), "cp -a {}", source.display());
    }
    println!(
        "copied the seeded home in {:.1} s",
        step.elapsed().as_secs_f64()
    );
}

/// How many Watch subscribers the fan-out measures (`DKD_BENCH_WATCHERS`).
fn watch_subscribers() -> usize {
    std::env::var("DKD_BENCH_WATCHERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(WATCH_SUBSCRIBERS)
}

/// Whether `section` runs: `DKD_BENCH_ONLY=start,status,dk,idle,push,watch,promote,tls`
/// picks some.
fn wants(section: &str) -> bool {
    match std::env::var("DKD_BENCH_ONLY") {
        Ok(list) if !list.trim().is_empty() => list.split(',').any(|s| s.trim() == section),
        _ => true,
    }
}

// ---------------------------------------------------------------------------------------
// 5. Cold start and resident memory

async fn cold_starts(seeded: &Seeded, scratch_root: &Path) -> Result<(Dkd, Vec<Row>), String> {
    let last = seeded.packages.last().expect("packages").clone();
    let mut empty_times = Vec::new();
    let mut empty_rss = Vec::new();
    let mut full_times = Vec::new();
    let mut full_ready_rss = Vec::new();
    let mut full_rss = Vec::new();
    let mut full_peak = Vec::new();
    let mut settle_times = Vec::new();
    let mut settle_cpu = Vec::new();
    let mut kept = None;
    for round in 0..COLD_STARTS {
        // The baseline: an empty DK_HOME (dkd creates deploy.git and its database).
        let empty = tempfile::Builder::new()
            .prefix("empty-")
            .tempdir_in(scratch_root)
            .expect("empty home");
        let daemon = Dkd::spawn(empty.path());
        let (took, answer) = wait_for_status(&daemon.socket(), &last, daemon.spawned_at).await;
        match answer {
            Err(status) if status.code() == tonic::Code::NotFound => {}
            other => return Err(format!("unexpected answer on an empty home: {other:?}")),
        }
        empty_times.push(took);
        let _ = daemon.settle().await;
        empty_rss.push(daemon.settled_rss_bytes().await);
        daemon.stop();

        // The seeded home.
        let daemon = Dkd::spawn(&seeded.home);
        let (took, answer) = wait_for_status(&daemon.socket(), &last, daemon.spawned_at).await;
        let rows = answer.map_err(|status| format!("Status({last}): {status}"))?;
        let deployed = rows.packages.iter().filter(|r| r.deployed).count();
        if deployed != seeded.environments.len() {
            return Err(format!(
                "{last} is deployed in {deployed} environments, not {}",
                seeded.environments.len()
            ));
        }
        full_times.push(took);
        full_ready_rss.push(daemon.rss_bytes());
        let (settled, cpu) = daemon.settle().await;
        settle_times.push(settled);
        settle_cpu.push(cpu);
        full_rss.push(daemon.settled_rss_bytes().await);
        full_peak.push(daemon.peak_rss_bytes());
        println!(
            "cold start {}: empty {} / {} packages {} (RSS at ready {}, after its first sync pass {}, which ended {} after the start with {} of CPU with git, peak {})",
            round + 1,
            fmt_duration(empty_times[round]),
            seeded.packages.len(),
            fmt_duration(took),
            fmt_mb(full_ready_rss[round]),
            fmt_mb(full_rss[round]),
            fmt_duration(settle_times[round]),
            fmt_duration(settle_cpu[round]),
            fmt_mb(full_peak[round]),
        );
        if round + 1 == COLD_STARTS {
            kept = Some(daemon);
        } else {
            daemon.stop();
        }
    }
    let median_bytes = |values: &[u64]| {
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        sorted[sorted.len() / 2]
    };
    let packages = seeded.packages.len();
    let (start_goal, rss_goal) = start_goals(packages);
    let rows = vec![
        Row::new(
            &format!("dkd cold start to first Status, {packages} pkgs x 3 envs"),
            Value::Time(median(&full_times)),
            Value::Time(median(&empty_times)),
            Goal::Below(start_goal),
        )
        .note("empty DK_HOME"),
        Row::new(
            &format!("dkd RSS after start (first sync pass done, settled), {packages} pkgs"),
            Value::Bytes(median_bytes(&full_rss)),
            Value::Bytes(median_bytes(&empty_rss)),
            Goal::BelowBytes(rss_goal),
        )
        .note("empty DK_HOME"),
        Row::new(
            &format!("dkd RSS when the socket first answers, {packages} pkgs"),
            Value::Bytes(median_bytes(&full_ready_rss)),
            Value::Bytes(median_bytes(&empty_rss)),
            Goal::None,
        )
        .note("empty DK_HOME"),
        Row::new(
            &format!("first sync pass after a cold start, {packages} pkgs x 3 envs"),
            Value::Time(median(&settle_times)),
            Value::Time(median(&full_times)),
            Goal::Below(Duration::from_secs(5)),
        )
        .note("start to first Status"),
        Row::new(
            &format!("dkd peak RSS (VmHWM) during start, {packages} pkgs"),
            Value::Bytes(median_bytes(&full_peak)),
            Value::Bytes(median_bytes(&empty_rss)),
            Goal::None,
        )
        .note("empty DK_HOME"),
    ];
    Ok((kept.expect("a kept daemon"), rows))
}

/// The goals of a cold start and of the memory after the first pass: the 10,000-package
/// home's (500 ms, 100 MB), and issue 14's for the 100,000-package home (1 s, 300 MB).
fn start_goals(packages: usize) -> (Duration, u64) {
    if packages >= 100_000 {
        (Duration::from_secs(1), 300_000_000)
    } else {
        (Duration::from_millis(500), 100_000_000)
    }
}

// ---------------------------------------------------------------------------------------
// 1. Status throughput and latency

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    Status,
    Health,
}

/// The connections a measurement runs over, and the bearer token each call carries (on
/// the network listener).
struct Lane {
    channels: Vec<Channel>,
    bearer: Option<MetadataValue<Ascii>>,
}

impl Lane {
    /// `connections` HTTP/2 connections to the Unix socket `socket`.
    async fn socket(socket: &Path, connections: usize) -> Self {
        let mut channels = Vec::new();
        for _ in 0..connections {
            channels.push(try_channel(socket).await.expect("connect"));
        }
        Self {
            channels,
            bearer: None,
        }
    }

    /// A `Status` request for `package`, with the lane's credentials.
    fn status_request(&self, package: &str) -> tonic::Request<StatusRequest> {
        let mut request = tonic::Request::new(StatusRequest {
            package: package.to_owned(),
            environment: String::new(),
        });
        if let Some(bearer) = &self.bearer {
            request
                .metadata_mut()
                .insert("authorization", bearer.clone());
        }
        request
    }
}

/// Runs `STATUS_WORKERS` closed-loop workers over `lane` for `slice`; returns every
/// latency (one per successful call) and the number of failed calls.
async fn slice(
    rpc: Rpc,
    lane: &Arc<Lane>,
    packages: &Arc<Vec<String>>,
    slice: Duration,
    seed: u64,
) -> (Vec<Duration>, usize) {
    let deadline = Instant::now() + slice;
    let workers: Vec<_> = (0..STATUS_WORKERS)
        .map(|w| {
            let lane = lane.clone();
            let channel = lane.channels[w % lane.channels.len()].clone();
            let packages = packages.clone();
            tokio::spawn(async move {
                let mut rng = Rng::new(seed * 1_000 + w as u64 + 1);
                let mut status = DataKitServiceClient::new(channel.clone());
                let mut health = HealthClient::new(channel);
                let mut latencies = Vec::with_capacity(50_000);
                let mut failures = 0;
                while Instant::now() < deadline {
                    let begin = Instant::now();
                    let ok = match rpc {
                        Rpc::Status => status
                            .status(lane.status_request(&packages[rng.below(packages.len())]))
                            .await
                            .is_ok_and(|r| r.into_inner().packages.len() == 3),
                        Rpc::Health => health
                            .check(HealthCheckRequest {
                                service: String::new(),
                            })
                            .await
                            .is_ok(),
                    };
                    if ok {
                        latencies.push(begin.elapsed());
                    } else {
                        failures += 1;
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failures = 0;
    for worker in workers {
        let (mut l, f) = worker.await.expect("worker");
        latencies.append(&mut l);
        failures += f;
    }
    (latencies, failures)
}

/// What one kind of call's slices measured: each call's latency, and the clock ticks dkd
/// and the bench's clients used meanwhile.
#[derive(Default)]
struct Slices {
    latencies: Vec<Duration>,
    dkd_ticks: u64,
    client_ticks: u64,
}

async fn status_throughput(daemon: &Dkd, packages: &[String]) -> Vec<Row> {
    let lane = Arc::new(Lane::socket(&daemon.socket(), STATUS_CONNECTIONS).await);
    let packages = Arc::new(packages.to_vec());
    // Warm-up: connections, allocator, page cache.
    slice(Rpc::Status, &lane, &packages, Duration::from_millis(500), 0).await;
    slice(Rpc::Health, &lane, &packages, Duration::from_millis(500), 0).await;
    // dkd's own CPU and the clients' in each kind's slices: the clients share the machine,
    // so the throughput ratio is the client's cost as much as dkd's.
    let (mut status, mut health) = (Slices::default(), Slices::default());
    let mut failures = 0;
    for round in 0..STATUS_ROUNDS {
        // Alternate which kind goes first, so drift hits both alike.
        let order = if round % 2 == 0 {
            [Rpc::Status, Rpc::Health]
        } else {
            [Rpc::Health, Rpc::Status]
        };
        for rpc in order {
            let ticks_before = (daemon.cpu_ticks(), own_cpu_ticks());
            let (mut latencies, failed) =
                slice(rpc, &lane, &packages, STATUS_SLICE, round as u64 + 1).await;
            failures += failed;
            let kind = match rpc {
                Rpc::Status => &mut status,
                Rpc::Health => &mut health,
            };
            kind.latencies.append(&mut latencies);
            kind.dkd_ticks += daemon.cpu_ticks().saturating_sub(ticks_before.0);
            kind.client_ticks += own_cpu_ticks().saturating_sub(ticks_before.1);
        }
    }
    assert_eq!(failures, 0, "{failures} calls failed");
    let measured = STATUS_SLICE.as_secs_f64() * STATUS_ROUNDS as f64;
    let status_rate = status.latencies.len() as f64 / measured;
    let health_rate = health.latencies.len() as f64 / measured;
    println!(
        "Status: {} calls, Health/Check: {} calls, {} workers on {} connections, {} s each",
        status.latencies.len(),
        health.latencies.len(),
        STATUS_WORKERS,
        STATUS_CONNECTIONS,
        measured
    );
    // 100 ticks per second.
    let per_call = |ticks: u64, kind: &Slices| {
        Duration::from_secs_f64(ticks as f64 / 100.0 / kind.latencies.len().max(1) as f64)
    };
    println!(
        "dkd used {:.0}% of one core in Status slices, {:.0}% in Health/Check slices (the rest of 2 cores: the bench's clients)",
        status.dkd_ticks as f64 / measured,
        health.dkd_ticks as f64 / measured
    );
    let n = packages.len();
    vec![
        Row::new(
            &format!("dkd CPU per Status(package) call, {n} pkgs x 3 envs"),
            Value::Time(per_call(status.dkd_ticks, &status)),
            Value::Time(per_call(health.dkd_ticks, &health)),
            Goal::None,
        )
        .note("per Health/Check call"),
        Row::new(
            "the bench's client CPU per Status(package) call",
            Value::Time(per_call(status.client_ticks, &status)),
            Value::Time(per_call(health.client_ticks, &health)),
            Goal::None,
        )
        .note("per Health/Check call"),
        Row::new(
            &format!("Status(package) throughput, {n} pkgs x 3 envs, c={STATUS_WORKERS}"),
            Value::Rate(status_rate),
            Value::Rate(health_rate),
            Goal::RatioAtLeast(0.9),
        )
        .note("Health/Check"),
        Row::new(
            &format!("Status p50 latency, c={STATUS_WORKERS}"),
            Value::Time(percentile(&status.latencies, 50.0)),
            Value::Time(percentile(&health.latencies, 50.0)),
            Goal::None,
        )
        .note("Health/Check p50"),
        Row::new(
            &format!("Status p99 latency, c={STATUS_WORKERS}"),
            Value::Time(percentile(&status.latencies, 99.0)),
            Value::Time(percentile(&health.latencies, 99.0)),
            Goal::RatioAtMost(1.2),
        )
        .note("Health/Check p99"),
    ]
}

// ---------------------------------------------------------------------------------------
// 6. Status over TLS with an OIDC token, against Status over the Unix socket

/// Status throughput and p99 on one dkd over its TLS listener, each call carrying an OIDC
/// token (verified once, then cached per token), against the same calls on its Unix
/// socket, slices interleaved. The home is small and fresh: the ratio is the cost of the
/// transport and of authentication, not of the data.
async fn status_over_tls(home: &Path, issuer: &TestIssuer, key: &SigningKey) -> Vec<Row> {
    let listening = listener::start(home, issuer, key, "bench-reader", &["readers"]);
    let socket = listening.daemon.socket();
    let (_, _) = wait_for_status(&socket, "tls-bench", listening.daemon.spawned_at).await;
    PackageDir::new("tls-bench").publish(home, "v1.0.0");
    let socket_lane = Arc::new(Lane::socket(&socket, STATUS_CONNECTIONS).await);
    let mut channels = Vec::new();
    for _ in 0..STATUS_CONNECTIONS {
        channels.push(listening.channel().await.expect("connect over TLS"));
    }
    let tls_lane = Arc::new(Lane {
        channels,
        bearer: Some(listening.bearer.clone()),
    });
    let packages = Arc::new(vec!["tls-bench".to_owned()]);
    listener::grant_readers(home);
    let granted = Instant::now();
    let mut probe = DataKitServiceClient::new(tls_lane.channels[0].clone());
    while let Err(status) = probe.status(tls_lane.status_request("tls-bench")).await {
        assert!(
            granted.elapsed() < bench_support::PATIENCE,
            "Status over TLS with the reader's token: {status} (see {})",
            home.join("bench-dkd.log").display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    slice(
        Rpc::Status,
        &socket_lane,
        &packages,
        Duration::from_millis(500),
        0,
    )
    .await;
    let mut over_socket = Vec::new();
    let mut over_tls = Vec::new();
    for round in 0..STATUS_ROUNDS {
        let lanes = if round % 2 == 0 {
            [(&socket_lane, false), (&tls_lane, true)]
        } else {
            [(&tls_lane, true), (&socket_lane, false)]
        };
        for (lane, tls) in lanes {
            let (mut latencies, failed) =
                slice(Rpc::Status, lane, &packages, STATUS_SLICE, round as u64 + 1).await;
            assert_eq!(failed, 0, "{failed} calls failed");
            if tls {
                over_tls.append(&mut latencies);
            } else {
                over_socket.append(&mut latencies);
            }
        }
    }
    listening.daemon.stop();
    let measured = STATUS_SLICE.as_secs_f64() * STATUS_ROUNDS as f64;
    println!(
        "Status over TLS + OIDC token: {} calls, over the Unix socket: {} calls",
        over_tls.len(),
        over_socket.len()
    );
    vec![
        Row::new(
            &format!("Status throughput over TLS + JWT, c={STATUS_WORKERS}"),
            Value::Rate(over_tls.len() as f64 / measured),
            Value::Rate(over_socket.len() as f64 / measured),
            Goal::RatioAtLeast(0.7),
        )
        .note("Unix socket"),
        Row::new(
            &format!("Status p99 latency over TLS + JWT, c={STATUS_WORKERS}"),
            Value::Time(percentile(&over_tls, 99.0)),
            Value::Time(percentile(&over_socket, 99.0)),
            Goal::None,
        )
        .note("Unix socket p99"),
    ]
}

// ---------------------------------------------------------------------------------------
// 4. dk status wall time

fn dk_status_wall(home: &Path, packages: &[String]) -> Row {
    let mut rng = Rng::new(4);
    let timed = |args: &[&str]| {
        let begin = Instant::now();
        let output = bench_support::dk(home, args);
        let took = begin.elapsed();
        assert!(
            output.status.success(),
            "dk {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        took
    };
    // Warm-up (page cache of the dk binary).
    for _ in 0..3 {
        timed(&["--version"]);
        timed(&["status", &packages[0]]);
    }
    let mut version = Vec::new();
    let mut status = Vec::new();
    for _ in 0..DK_RUNS {
        version.push(timed(&["--version"]));
        let package = &packages[rng.below(packages.len())];
        status.push(timed(&["status", package]));
    }
    println!(
        "dk status: median {} (min {}, max {}); dk --version: median {} (min {}, max {})",
        fmt_duration(median(&status)),
        fmt_duration(percentile(&status, 0.0)),
        fmt_duration(percentile(&status, 100.0)),
        fmt_duration(median(&version)),
        fmt_duration(percentile(&version, 0.0)),
        fmt_duration(percentile(&version, 100.0)),
    );
    Row::new(
        &format!("dk status PKG wall time, median of {DK_RUNS}"),
        Value::Time(median(&status)),
        Value::Time(median(&version)),
        Goal::RatioAtMost(2.0),
    )
    .note("dk --version")
}

// ---------------------------------------------------------------------------------------
// 2. Watch fan-out and 3. promotions, on a small home

/// A Promotion event one subscriber received, and when.
struct Received {
    subscriber: usize,
    package: String,
    version: String,
    state: i32,
    at: Instant,
}

/// Opens `count` Watch streams (filter: `package`) over `connections` connections and waits
/// for every whole snapshot; every Promotion event is forwarded to the returned receiver.
async fn subscribe(
    socket: &Path,
    package: &str,
    count: usize,
    connections: usize,
) -> (
    mpsc::UnboundedReceiver<Received>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let mut channels = Vec::new();
    for _ in 0..connections {
        channels.push(try_channel(socket).await.expect("connect"));
    }
    let (sender, receiver) = mpsc::unbounded_channel();
    let (ready_sender, mut ready) = mpsc::unbounded_channel();
    let tasks = (0..count)
        .map(|subscriber| {
            let mut client = DataKitServiceClient::new(channels[subscriber % connections].clone());
            let sender = sender.clone();
            let ready = ready_sender.clone();
            let package = package.to_owned();
            tokio::spawn(async move {
                let mut stream = client
                    .watch(WatchRequest {
                        package,
                        ..Default::default()
                    })
                    .await
                    .expect("watch")
                    .into_inner();
                while let Ok(Some(event)) = stream.message().await {
                    let at = Instant::now();
                    match event.event {
                        // Ready once the snapshot's last part is in.
                        Some(Event::Snapshot(part)) if !part.more => {
                            let _ = ready.send(());
                        }
                        Some(Event::Promotion(p)) => {
                            let _ = sender.send(Received {
                                subscriber,
                                package: p.package,
                                version: p.version,
                                state: p.state,
                                at,
                            });
                        }
                        _ => {}
                    }
                }
            })
        })
        .collect();
    for _ in 0..count {
        tokio::time::timeout(bench_support::PATIENCE, ready.recv())
            .await
            .expect("every subscriber gets its snapshot")
            .expect("a subscriber ended early");
    }
    (receiver, tasks)
}

/// Promotes `package` `version` to dev at t0 and collects, per subscriber, the time from t0
/// to its first Promotion event of that version; returns when every subscriber has seen
/// the promotion Healthy, so that the next round does not start while this one's later
/// events are still being fanned out.
async fn watch_round(
    client: &mut DataKitServiceClient<Channel>,
    received: &mut mpsc::UnboundedReceiver<Received>,
    subscribers: usize,
    package: &str,
    version: &str,
) -> Vec<Duration> {
    let mut first: Vec<Option<Duration>> = vec![None; subscribers];
    let mut healthy = vec![false; subscribers];
    let t0 = Instant::now();
    // Receipts are timestamped by the subscribers' tasks, so waiting for the answer first
    // costs nothing.
    client
        .promote(PromoteRequest {
            package: package.to_owned(),
            version: version.to_owned(),
            environment: "dev".into(),
            ..Default::default()
        })
        .await
        .expect("Promote");
    let deadline = t0 + bench_support::PATIENCE;
    let (mut missing, mut not_healthy) = (subscribers, subscribers);
    while missing > 0 || not_healthy > 0 {
        let Ok(Some(event)) = tokio::time::timeout_at(deadline.into(), received.recv()).await
        else {
            panic!(
                "round {version}: {missing} of {subscribers} subscribers got nothing, {not_healthy} did not see it Healthy"
            );
        };
        if event.package != package || event.version != version {
            continue;
        }
        if first[event.subscriber].is_none() {
            first[event.subscriber] = Some(event.at.duration_since(t0));
            missing -= 1;
        }
        if event.state == PromotionState::Healthy as i32 && !healthy[event.subscriber] {
            healthy[event.subscriber] = true;
            not_healthy -= 1;
        }
    }
    first.into_iter().flatten().collect()
}

/// The manifest the engine writes for a promotion of `name` `version` to dev.
fn dev_manifest(home: &Path, name: &str, version: &str, digest: &str, id: usize) -> Vec<u8> {
    DeployedPackage {
        name: name.to_owned(),
        namespace: "dev".into(),
        annotations: [
            (ANNOTATION_PROMOTION_ID.to_owned(), format!("p-{id}")),
            (ANNOTATION_PROMOTED_BY.to_owned(), "bench".to_owned()),
        ]
        .into(),
        version: version.to_owned(),
        artifact: packages::reference(&home.join("registry"), name, version),
        digest: digest.to_owned(),
    }
    .to_yaml()
    .into_bytes()
}

/// Commits each manifest of `items` in turn into a bare clone of `home`'s deploy.git with
/// git plumbing; returns the mean time per commit.
fn raw_commits(home: &Path, scratch: &Path, items: &[(String, String)]) -> Duration {
    let bare = tempfile::Builder::new()
        .prefix("raw-")
        .tempdir_in(scratch)
        .expect("tempdir");
    let repo = bare.path().join("raw.git");
    let output = std::process::Command::new("git")
        .args(["clone", "--bare", "--quiet"])
        .arg(home.join("deploy.git"))
        .arg(&repo)
        .output()
        .expect("git clone");
    assert!(output.status.success(), "git clone --bare failed");
    let mut times = Vec::new();
    for (i, (name, digest)) in items.iter().enumerate() {
        let file = (
            format!("environments/dev/{name}.yaml"),
            dev_manifest(home, name, "v1.0.0", digest, i + 1),
        );
        let begin = Instant::now();
        plumbing_commit(&repo, &[file], &format!("Promote {name} v1.0.0 to dev"));
        times.push(begin.elapsed());
    }
    mean(&times)
}

/// Waits on `stream` until every package of `names` has a Healthy promotion (of v1.0.0).
async fn wait_healthy(stream: &mut tonic::Streaming<proto::WatchEvent>, names: &[String]) {
    let mut pending: std::collections::BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let deadline = Instant::now() + bench_support::PATIENCE;
    while !pending.is_empty() {
        let event = tokio::time::timeout_at(deadline.into(), stream.message())
            .await
            .expect("promotions reach Healthy in time")
            .expect("watch stream")
            .expect("watch stream open");
        if let Some(Event::Promotion(p)) = event.event {
            if p.state == PromotionState::Healthy as i32 {
                pending.remove(p.package.as_str());
            } else if matches!(
                PromotionState::try_from(p.state),
                Ok(PromotionState::Failed | PromotionState::Rejected)
            ) {
                panic!("promotion of {} failed: {}", p.package, p.message);
            }
        }
    }
}

async fn watch_and_promotions(home: &Path) -> Vec<Row> {
    let scratch = home.parent().expect("scratch root").to_path_buf();
    let daemon = Dkd::spawn(home);
    let (_, _) = wait_for_status(&daemon.socket(), "watch-bench", daemon.spawned_at).await;
    let socket = daemon.socket();

    // Packages, published with the real dk build + dk publish.
    let step = Instant::now();
    let watched = PackageDir::new("watch-bench");
    let versions: Vec<String> = (1..=WATCH_BASELINE_ROUNDS + WATCH_ROUNDS)
        .map(|i| format!("v1.0.{i}"))
        .collect();
    for version in &versions {
        watched.publish(home, version);
    }
    let publish = |name: String| {
        let dir = PackageDir::new(&name);
        let digest = dir.publish(home, "v1.0.0");
        (name, digest)
    };
    let concurrent: Vec<(String, String)> = (0..PROMOTIONS)
        .map(|i| publish(format!("prom-{i:02}")))
        .collect();
    let sequential: Vec<(String, String)> = (0..SEQUENTIAL_PROMOTIONS)
        .map(|i| publish(format!("seq-{i}")))
        .collect();
    println!(
        "small home: {} artifacts published with dk build + dk publish in {:.1} s",
        versions.len() + concurrent.len() + sequential.len(),
        step.elapsed().as_secs_f64()
    );

    let mut rpc = client(&socket).await;
    let mut rows = Vec::new();
    if wants("watch") {
        let idle_rss = daemon.rss_bytes();
        // 2. Watch fan-out: first the single subscriber, then all of them.
        let (mut received, tasks) = subscribe(&socket, "watch-bench", 1, 1).await;
        let mut single = Vec::new();
        for version in &versions[..WATCH_BASELINE_ROUNDS] {
            single.extend(watch_round(&mut rpc, &mut received, 1, "watch-bench", version).await);
        }
        tasks.iter().for_each(tokio::task::JoinHandle::abort);
        drop(received);
        let step = Instant::now();
        let watchers = watch_subscribers();
        let (mut received, tasks) = subscribe(
            &socket,
            "watch-bench",
            watchers,
            watchers.div_ceil(WATCH_STREAMS_PER_CONNECTION),
        )
        .await;
        println!(
            "{watchers} Watch streams open (snapshots received) in {:.2} s",
            step.elapsed().as_secs_f64()
        );
        let mut fanned = Vec::new();
        for version in &versions[WATCH_BASELINE_ROUNDS..] {
            let round =
                watch_round(&mut rpc, &mut received, watchers, "watch-bench", version).await;
            println!(
                "  round {version}: {} subscribers, p50 {}, p99 {}, last {}",
                round.len(),
                fmt_duration(percentile(&round, 50.0)),
                fmt_duration(percentile(&round, 99.0)),
                fmt_duration(percentile(&round, 100.0)),
            );
            fanned.extend(round);
        }
        let watching_rss = daemon.rss_bytes();
        tasks.iter().for_each(tokio::task::JoinHandle::abort);
        drop(received);
        println!(
            "Watch: 1 subscriber p50 {} p99 {} ({} samples); {watchers} subscribers p50 {} p99 {} ({} samples)",
            fmt_duration(percentile(&single, 50.0)),
            fmt_duration(percentile(&single, 99.0)),
            single.len(),
            fmt_duration(percentile(&fanned, 50.0)),
            fmt_duration(percentile(&fanned, 99.0)),
            fanned.len()
        );
        rows.extend([
            Row::new(
                &format!("Watch delivery p50, {watchers} subscribers"),
                Value::Time(percentile(&fanned, 50.0)),
                Value::Time(percentile(&single, 50.0)),
                Goal::None,
            )
            .note("1 subscriber"),
            Row::new(
                &format!("Watch delivery p99, {watchers} subscribers"),
                Value::Time(percentile(&fanned, 99.0)),
                Value::Time(percentile(&single, 99.0)),
                Goal::Below(Duration::from_millis(250)),
            )
            .note("1 subscriber"),
            Row::new(
                &format!("dkd RSS with {watchers} Watch streams open"),
                Value::Bytes(watching_rss),
                Value::Bytes(idle_rss),
                Goal::BelowBytes(1_000_000_000),
            )
            .note("no stream open"),
        ]);
    }

    if wants("promote") {
        // 3. Promotions: raw commits, promotions, raw commits again (drift hits both).
        tokio::time::sleep(Duration::from_millis(500)).await;
        let raw_before = raw_commits(home, &scratch, &concurrent);
        let channel = try_channel(&socket).await.expect("connect");
        // Unfiltered: on a seeded home the snapshot holds every package (30,000 rows are
        // about 5 MB, past tonic's default 4 MB).
        let mut watcher = DataKitServiceClient::new(channel.clone())
            .max_decoding_message_size(256 * 1024 * 1024)
            .watch(WatchRequest::default())
            .await
            .expect("watch")
            .into_inner();
        watcher.message().await.expect("snapshot");
        let names: Vec<String> = concurrent.iter().map(|(n, _)| n.clone()).collect();
        let t0 = Instant::now();
        let submitted: Vec<_> = names
            .iter()
            .map(|name| {
                let mut client = DataKitServiceClient::new(channel.clone());
                let request = PromoteRequest {
                    package: name.clone(),
                    version: "v1.0.0".into(),
                    environment: "dev".into(),
                    ..Default::default()
                };
                tokio::spawn(async move { client.promote(request).await })
            })
            .collect();
        for promote in submitted {
            promote.await.expect("task").expect("Promote");
        }
        wait_healthy(&mut watcher, &names).await;
        let all = t0.elapsed();
        let raw_after = raw_commits(home, &scratch, &concurrent);
        let raw = (raw_before + raw_after) / 2;
        let per_item = all / PROMOTIONS as u32;
        println!(
            "{PROMOTIONS} promotions to Healthy in {} ({:.1}/s, {} each); raw commit {} before, {} after",
            fmt_duration(all),
            PROMOTIONS as f64 / all.as_secs_f64(),
            fmt_duration(per_item),
            fmt_duration(raw_before),
            fmt_duration(raw_after)
        );
        let mut one_at_a_time = Vec::new();
        for (name, _) in &sequential {
            let begin = Instant::now();
            rpc.promote(PromoteRequest {
                package: name.clone(),
                version: "v1.0.0".into(),
                environment: "dev".into(),
                ..Default::default()
            })
            .await
            .expect("Promote");
            wait_healthy(&mut watcher, std::slice::from_ref(name)).await;
            one_at_a_time.push(begin.elapsed());
        }
        rows.push(
            Row::new(
                &format!("Promotion to Healthy per item, {PROMOTIONS} submitted together"),
                Value::Time(per_item),
                Value::Time(raw),
                Goal::RatioAtMost(1.5),
            )
            .note(format!(
                "raw plumbing commit; {:.1} promotions/s",
                PROMOTIONS as f64 / all.as_secs_f64()
            )),
        );
        rows.push(
            Row::new(
                "Promotion to Healthy, one at a time (median of 3)",
                Value::Time(median(&one_at_a_time)),
                Value::Time(raw),
                Goal::RatioAtMost(4.0),
            )
            .note("raw plumbing commit"),
        );
    }
    daemon.stop();
    rows
}
