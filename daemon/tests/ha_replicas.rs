//! Issue 13's "Tests that must exist": three real dkd replicas on loopback
//! (tests/support/replicas/) electing a leader on a Lease in the Kubernetes API fake,
//! promoting through the GitHub fake — one leader at a time over many renewals; a `kill -9`
//! of the leader mid-promotion lands every promotion exactly once and a new leader serves
//! writes within the lease duration plus a few seconds; a leader stopped past its lease
//! writes nothing after SIGCONT; a Watch resumes on another replica with no gap and no
//! duplicate; a mutating call on a follower is forwarded as its caller, and a forged
//! identity header from a client is ignored.

#[path = "../../tests/support/github_fake/mod.rs"]
mod github_fake;
#[path = "../../tests/support/kube_fake/mod.rs"]
mod kube_fake;
#[path = "../../tests/support/replicas/mod.rs"]
mod replicas;
#[path = "../../tests/support/mod.rs"]
mod support;

use std::{
    collections::BTreeSet,
    time::{Duration, Instant, SystemTime},
};

use datakit::proto::{
    self, CancelRequest, PromoteRequest, WatchRequest, WhoAmIRequest,
    data_kit_service_client::DataKitServiceClient, watch_event::Event,
};
use k8s_openapi::jiff::Timestamp;
use kube_fake::LeaseWrite;
use replicas::{LEASE_DURATION, LEASE_RENEW, Replica, Replicas};
use support::{eventually, json, package::PackageDir, stderr};
use tonic::{Code, metadata::MetadataValue};
use tonic_health::pb::health_check_response::ServingStatus;

/// What a replica logs when it finds it no longer holds the Lease (fenced, or resumed
/// after its lease expired). The lead: make dkd log this phrase, or change it here.
const LOST_LEADERSHIP: &str = "lost leadership";
/// The header replicas use among themselves to name the caller of a forwarded call; a
/// client sending it must be ignored.
const FORWARDED_PRINCIPAL: &str = "x-datakit-forwarded-principal";
/// How much later than the lease duration a new leader may take over and serve writes.
const FAILOVER_SLACK: Duration = Duration::from_secs(3);

/// Publishes `v1.0.0` of each package to the shared registry.
fn publish(replicas: &Replicas, packages: &[&str]) {
    for package in packages {
        replicas.publish(&PackageDir::new(package, &[]), "v1.0.0");
    }
}

/// `dk -o json promote PACKAGE v1.0.0 --to ENV` on `replica` as `user`; the promotion.
fn promote(replica: &Replica, user: &str, package: &str, environment: &str) -> serde_json::Value {
    let output = replica.dk(
        user,
        &[
            "-o",
            "json",
            "promote",
            package,
            "v1.0.0",
            "--to",
            environment,
        ],
    );
    assert!(
        output.status.success(),
        "{}\n{}",
        stderr(&output),
        replica.log()
    );
    json(&output)["promotion"].clone()
}

/// The same, retried until a replica accepts it (during a failover a call may meet no
/// leader for a moment); the promotion.
fn promote_when_served(
    replica: &Replica,
    user: &str,
    package: &str,
    environment: &str,
) -> serde_json::Value {
    eventually(&format!("{} to accept a promotion", replica.name), || {
        let output = replica.dk(
            user,
            &[
                "-o",
                "json",
                "promote",
                package,
                "v1.0.0",
                "--to",
                environment,
            ],
        );
        output
            .status
            .success()
            .then(|| json(&output)["promotion"].clone())
    })
}

fn id_of(promotion: &serde_json::Value) -> String {
    promotion["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a promotion id in {promotion}"))
        .to_owned()
}

/// The promotion `id` of `package` as `replica` shows it (`dk history`).
fn promotion_on(replica: &Replica, package: &str, id: &str) -> Option<serde_json::Value> {
    let output = replica.dk("alice", &["-o", "json", "history", package]);
    if !output.status.success() {
        return None;
    }
    json(&output)
        .as_array()?
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
}

/// Whether promotion `id` has its pull request on the GitHub fake.
fn proposed(replicas: &Replicas, id: &str) -> bool {
    let suffix = format!("/{id}");
    replicas
        .runtime()
        .block_on(replicas.github.pulls())
        .iter()
        .any(|p| p.head_ref.ends_with(&suffix))
}

fn time(text: Option<&str>) -> Option<Timestamp> {
    text?.parse().ok()
}

/// The Lease protocol held: the holder changes only with a new transition, and only once
/// the previous holder's lease had expired (its last renewal plus its duration), unless
/// the previous holder released it.
fn assert_one_leader_at_a_time(writes: &[LeaseWrite]) {
    for pair in writes.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        let released = before.holder.as_deref().is_none_or(str::is_empty);
        if before.holder == after.holder || after.holder.as_deref().is_none_or(str::is_empty) {
            continue;
        }
        assert_eq!(
            after.transitions,
            before.transitions + 1,
            "a takeover counts a transition: {before:?} → {after:?}"
        );
        if released {
            continue;
        }
        let expired = time(before.renewed.as_deref())
            .zip(before.duration_seconds)
            .map(|(renewed, seconds)| renewed + Duration::from_secs(seconds.unsigned_abs()));
        let acquired = time(after.acquired.as_deref());
        assert!(
            expired.is_some() && acquired.is_some() && acquired >= expired,
            "{after:?} took the Lease before {before:?} expired"
        );
    }
}

/// Lease writes by `holder` so far.
fn renewals_by(replicas: &Replicas, holder: usize) -> usize {
    let name = &replicas.replica(holder).name;
    replicas
        .lease_writes()
        .iter()
        .filter(|w| w.holder.as_ref() == Some(name))
        .count()
}

/// Waits until `holder` has written the Lease `more` more times: an observation window
/// measured in renewals rather than in sleeps.
fn wait_for_renewals(replicas: &Replicas, holder: usize, more: usize) {
    let target = renewals_by(replicas, holder) + more;
    eventually(&format!("{more} more renewals"), || {
        (renewals_by(replicas, holder) >= target).then_some(())
    });
}

#[test]
fn one_replica_leads_at_a_time_over_many_renewals() {
    let replicas = Replicas::start(3);
    let leader = replicas.wait_for_leader();
    let first = renewals_by(&replicas, leader);
    let window = Duration::from_secs(10);
    let started = Instant::now();
    while started.elapsed() < window {
        assert_eq!(
            replicas.leader(),
            Some(leader),
            "the leader changed while nobody failed\n{}",
            replicas.logs()
        );
        for replica in replicas.all() {
            let health = replicas.runtime().block_on(replica.health(""));
            assert_eq!(
                health,
                Some(ServingStatus::Serving),
                "{} is not ready: followers serve too\n{}",
                replica.name,
                replicas.logs()
            );
        }
        // Sampling the window, not waiting for something.
        std::thread::sleep(Duration::from_millis(200));
    }
    let writes = replicas.lease_writes();
    let name = replicas.replica(leader).name.clone();
    assert!(
        writes.iter().all(|w| w.holder.as_ref() == Some(&name)),
        "only {name} wrote the Lease: {writes:?}"
    );
    let renewals = renewals_by(&replicas, leader) - first;
    let expected = (window.as_secs() / LEASE_RENEW.as_secs()) as usize;
    assert!(
        renewals + 2 >= expected,
        "{renewals} renewals in {window:?}, renewing every {LEASE_RENEW:?}: {writes:?}"
    );
    assert!(
        writes
            .iter()
            .all(|w| w.transitions == writes[0].transitions),
        "no transitions: {writes:?}"
    );
    let renewed: Vec<_> = writes.iter().map(|w| time(w.renewed.as_deref())).collect();
    assert!(
        renewed.windows(2).all(|t| t[0] < t[1]),
        "renewTime moves forward: {writes:?}"
    );
    for (index, replica) in replicas.all().iter().enumerate() {
        if index != leader {
            assert!(
                !replica.log().contains(LOST_LEADERSHIP),
                "{} never led\n{}",
                replica.name,
                replica.log()
            );
        }
    }
    assert_one_leader_at_a_time(&writes);
}

#[test]
fn killing_the_leader_mid_promotion_lands_each_promotion_once_and_a_new_leader_serves_writes_promptly()
 {
    let mut replicas = Replicas::start(3);
    let packages = ["alpha", "beta", "gamma", "delta"];
    publish(&replicas, &packages);
    publish(&replicas, &["epsilon"]);
    let leader = replicas.wait_for_leader();
    let follower = replicas.followers()[0];

    // Accepted on the leader and on a follower (forwarded), held at CI so they are all in
    // flight together.
    replicas.runtime().block_on(replicas.github.hold_ci(true));
    let mut ids: Vec<(String, String)> = packages
        .iter()
        .enumerate()
        .map(|(i, package)| {
            let via = if i % 2 == 0 { leader } else { follower };
            let promotion = promote(replicas.replica(via), "alice", package, "dev");
            ((*package).to_owned(), id_of(&promotion))
        })
        .collect();
    eventually("a pull request for every promotion", || {
        ids.iter()
            .all(|(_, id)| proposed(&replicas, id))
            .then_some(())
    });

    // CI turns green; the moment the first merge lands the leader dies, the others mid-way.
    replicas.runtime().block_on(replicas.github.hold_ci(false));
    eventually("a first merge", || {
        ids.iter()
            .any(|(_, id)| replicas.merges_of(id) > 0)
            .then_some(())
    });
    let killed_at = Instant::now();
    replicas.replica_mut(leader).kill9();

    let (new_leader, took) = replicas.wait_for_new_leader(leader);
    assert!(
        took <= LEASE_DURATION + FAILOVER_SLACK,
        "a new leader after {took:?}\n{}",
        replicas.logs()
    );
    // A write accepted through a survivor that is not the new leader (forwarded to it).
    let via = (0..replicas.len())
        .find(|i| *i != leader && *i != new_leader)
        .expect("a third replica");
    let promotion = promote_when_served(replicas.replica(via), "alice", "epsilon", "dev");
    let served = killed_at.elapsed();
    assert!(
        served <= LEASE_DURATION + FAILOVER_SLACK + Duration::from_secs(2),
        "writes served again {served:?} after the kill\n{}",
        replicas.logs()
    );
    ids.push(("epsilon".into(), id_of(&promotion)));

    eventually("every promotion merged", || {
        ids.iter()
            .all(|(_, id)| replicas.merges_of(id) >= 1)
            .then_some(())
    });
    // Long enough for a duplicate to show: three more renewals by the new leader.
    wait_for_renewals(&replicas, new_leader, 3);
    let survivor = replicas.replica(new_leader);
    for (package, id) in &ids {
        assert_eq!(
            replicas.merges_of(id),
            1,
            "{id} merged exactly once\n{}",
            replicas.logs()
        );
        let manifest = replicas
            .runtime()
            .block_on(
                replicas
                    .github
                    .read_base(&format!("environments/dev/{package}.yaml")),
            )
            .unwrap_or_default();
        assert!(manifest.contains("v1.0.0"), "{package} on main: {manifest}");
        let shown = promotion_on(survivor, package, id).expect("the new leader knows it");
        assert!(
            shown["mergeCommit"].is_string(),
            "the new leader shows {id} merged: {shown}"
        );
    }
    let merges: usize = (0..replicas.len())
        .map(|i| {
            replicas
                .github_writes_of(i)
                .iter()
                .filter(|w| w.is_merge() && w.status == 200)
                .count()
        })
        .sum();
    assert_eq!(merges, ids.len(), "one successful merge call per promotion");
    assert_one_leader_at_a_time(&replicas.lease_writes());
}

#[test]
fn a_leader_stopped_past_its_lease_writes_nothing_after_it_resumes() {
    let mut replicas = Replicas::start(3);
    publish(&replicas, &["alpha", "beta"]);
    let old = replicas.wait_for_leader();

    // Its own work, held at CI: when it wakes up, merging is what it would do next.
    replicas.runtime().block_on(replicas.github.hold_ci(true));
    let ids: Vec<String> = ["alpha", "beta"]
        .iter()
        .map(|package| id_of(&promote(replicas.replica(old), "alice", package, "dev")))
        .collect();
    eventually("the pull requests", || {
        ids.iter().all(|id| proposed(&replicas, id)).then_some(())
    });

    replicas.replica_mut(old).sigstop();
    let (new, took) = replicas.wait_for_new_leader(old);
    assert!(
        took <= LEASE_DURATION + FAILOVER_SLACK,
        "{took:?}\n{}",
        replicas.logs()
    );
    // CI goes green while it sleeps: the new leader merges them.
    replicas.runtime().block_on(replicas.github.hold_ci(false));
    eventually("the new leader to merge both", || {
        ids.iter()
            .all(|id| replicas.merges_of(id) == 1)
            .then_some(())
    });

    let resumed_at = SystemTime::now();
    replicas.replica_mut(old).sigcont();
    eventually("the old leader to notice it lost the Lease", || {
        replicas
            .replica(old)
            .log()
            .contains(LOST_LEADERSHIP)
            .then_some(())
    });
    // Watched for three renewals of the new leader: the old one stays quiet on GitHub.
    wait_for_renewals(&replicas, new, 3);
    assert!(
        replicas.replica_mut(old).is_running(),
        "it runs on as a follower\n{}",
        replicas.replica(old).log()
    );
    let written = replicas.github_writes_of_since(old, resumed_at);
    assert!(
        written.is_empty(),
        "the resumed old leader wrote to GitHub: {written:?}\n{}",
        replicas.replica(old).log()
    );
    assert_eq!(replicas.leader(), Some(new));
    for id in &ids {
        assert_eq!(replicas.merges_of(id), 1, "{id}");
    }
    let name = replicas.replica(old).name.clone();
    let writes = replicas.lease_writes();
    let takeover = writes
        .iter()
        .position(|w| w.holder.as_ref() != Some(&name))
        .expect("a takeover");
    assert!(
        writes[takeover..]
            .iter()
            .all(|w| w.holder.as_ref() != Some(&name)),
        "the old leader wrote the Lease after losing it: {writes:?}"
    );
    assert_one_leader_at_a_time(&writes);
}

/// Reads events with a sequence (not snapshots or heartbeats) until `done` says so.
async fn sequenced_until(
    events: &mut tonic::Streaming<proto::WatchEvent>,
    done: impl Fn(&proto::WatchEvent) -> bool,
) -> Vec<proto::WatchEvent> {
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout(support::PATIENCE, events.message())
            .await
            .expect("a Watch event in time")
            .expect("the stream is healthy")
            .expect("the stream is open");
        if event.sequence == 0 {
            continue;
        }
        let finished = done(&event);
        seen.push(event);
        if finished {
            return seen;
        }
    }
}

fn about(event: &proto::WatchEvent, id: &str) -> bool {
    matches!(&event.event, Some(Event::Promotion(p)) if p.id == id)
}

#[test]
fn a_watch_on_a_killed_leader_resumes_on_another_replica_with_no_gap_and_no_duplicate() {
    let mut replicas = Replicas::start(3);
    publish(&replicas, &["alpha", "beta"]);
    let leader = replicas.wait_for_leader();
    let runtime = replicas.runtime();

    // Watching the leader (the harder case: the next leader must continue its sequence).
    let (first, last) = runtime.block_on(async {
        let channel = replicas.replica(leader).grpc_channel("alice").await;
        let mut client = DataKitServiceClient::new(channel);
        let mut events = client
            .watch(WatchRequest::default())
            .await
            .expect("Watch")
            .into_inner();
        let snapshot = events.message().await.expect("ok").expect("a snapshot");
        assert!(matches!(snapshot.event, Some(Event::Snapshot(_))));
        // dk runs off the runtime's workers: the stream and the fakes keep being served.
        let id = tokio::task::block_in_place(|| {
            id_of(&promote(replicas.replica(leader), "alice", "alpha", "dev"))
        });
        let seen = sequenced_until(&mut events, |e| about(e, &id)).await;
        let sequences: Vec<u64> = seen.iter().map(|e| e.sequence).collect();
        let last = *sequences.last().expect("an event");
        (sequences, last)
    });
    assert!(
        first.windows(2).all(|s| s[1] == s[0] + 1),
        "contiguous before the kill: {first:?}"
    );

    replicas.replica_mut(leader).kill9();
    let (new_leader, _) = replicas.wait_for_new_leader(leader);
    let resume_on = (0..replicas.len())
        .find(|i| *i != leader && *i != new_leader)
        .expect("a third replica");
    let id = id_of(&promote_when_served(
        replicas.replica(resume_on),
        "alice",
        "beta",
        "dev",
    ));

    let runtime = replicas.runtime();
    let resumed = runtime.block_on(async {
        let channel = replicas.replica(resume_on).grpc_channel("alice").await;
        let mut client = DataKitServiceClient::new(channel);
        let mut events = client
            .watch(WatchRequest {
                resume_after: Some(last),
                ..WatchRequest::default()
            })
            .await
            .expect("Watch resumed on another replica")
            .into_inner();
        sequenced_until(&mut events, |e| about(e, &id)).await
    });
    let sequences: Vec<u64> = resumed.iter().map(|e| e.sequence).collect();
    assert_eq!(
        sequences.first(),
        Some(&(last + 1)),
        "no gap after {last}: {sequences:?}"
    );
    assert!(
        sequences.windows(2).all(|s| s[1] == s[0] + 1),
        "no gap, no duplicate: {sequences:?}"
    );
    let distinct: BTreeSet<u64> = first.iter().chain(&sequences).copied().collect();
    assert_eq!(
        distinct.len(),
        first.len() + sequences.len(),
        "no event twice"
    );
}

/// A client on `channel` that also sends the forwarding header naming `principal`.
fn forging(
    channel: tonic::transport::Channel,
    principal: &str,
) -> DataKitServiceClient<
    tonic::service::interceptor::InterceptedService<
        tonic::transport::Channel,
        impl tonic::service::Interceptor + Clone,
    >,
> {
    let forged: MetadataValue<_> = principal.parse().expect("a header value");
    DataKitServiceClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
        request
            .metadata_mut()
            .insert(FORWARDED_PRINCIPAL, forged.clone());
        Ok(request)
    })
}

#[test]
fn a_mutating_call_on_a_follower_acts_as_its_caller_and_a_forged_principal_header_is_ignored() {
    let replicas = Replicas::start(3);
    publish(&replicas, &["alpha", "beta", "gamma", "delta"]);
    let leader = replicas.wait_for_leader();
    let follower = replicas.followers()[0];

    // dk promote on a follower: forwarded, and carol is the promoter.
    let promoted = promote(replicas.replica(follower), "carol", "alpha", "dev");
    assert_eq!(promoted["promoter"], "carol", "{promoted}");
    let dev = id_of(&promoted);
    let merge = eventually("alpha merged in dev", || replicas.merge_commit_of(&dev));
    // Argo CD reports it to the leader; the follower's status follows the leader's events.
    replicas.argo_cd_synced("dev", "alpha", "v1.0.0", &dev, &merge);
    eventually("the follower to show alpha Healthy in dev", || {
        let output = replicas
            .replica(follower)
            .dk("carol", &["-o", "json", "status", "alpha"]);
        let status = json(&output).to_string();
        (status.contains("HEALTHY") || status.contains("Healthy")).then_some(())
    });

    // dk reject on a follower: recorded as alice's.
    let int = id_of(&promote(
        replicas.replica(follower),
        "carol",
        "alpha",
        "int",
    ));
    eventually("int's pull request", || {
        proposed(&replicas, &int).then_some(())
    });
    let rejected = replicas.replica(follower).dk(
        "alice",
        &["-o", "json", "reject", &int, "--reason", "not yet"],
    );
    let rejected = json(&rejected);
    assert_eq!(
        rejected["message"], "rejected by alice: not yet",
        "{rejected}"
    );

    // dk approve on a follower answers as on a single dkd with forge: github: approvals
    // are reviews on GitHub.
    let approve = replicas.replica(follower).dk("dave", &["approve", &int]);
    assert_eq!(approve.status.code(), Some(4), "{}", stderr(&approve));

    // Forged identity headers, to a follower and to the leader: ignored.
    replicas.runtime().block_on(replicas.github.hold_ci(true));
    let alices = id_of(&promote(replicas.replica(leader), "alice", "beta", "dev"));
    assert_forged_principal_ignored(&replicas, follower, "gamma", &alices);
    assert_forged_principal_ignored(&replicas, leader, "delta", &alices);
}

/// Sent to `target` by carol with the forwarding header naming alice: WhoAmI says carol,
/// a promotion of `package` to dev is carol's, and carol may not cancel alice's promotion
/// `alices` (which stays open).
fn assert_forged_principal_ignored(
    replicas: &Replicas,
    target: usize,
    package: &str,
    alices: &str,
) {
    let replica = replicas.replica(target);
    replicas.runtime().block_on(async {
        let mut client = forging(replica.grpc_channel("carol").await, "alice");
        let me = client
            .who_am_i(WhoAmIRequest::default())
            .await
            .expect("WhoAmI")
            .into_inner();
        assert_eq!(me.name, "carol", "on {}", replica.name);

        let promoted = client
            .promote(PromoteRequest {
                package: package.into(),
                version: "v1.0.0".into(),
                environment: "dev".into(),
                ..PromoteRequest::default()
            })
            .await
            .expect("Promote")
            .into_inner()
            .promotion
            .expect("a promotion");
        assert_eq!(promoted.promoter, "carol", "on {}", replica.name);

        let cancel = client
            .cancel(CancelRequest {
                promotion_id: alices.to_owned(),
                reason: "forged".into(),
            })
            .await
            .expect_err("carol may not cancel alice's promotion");
        assert_eq!(cancel.code(), Code::PermissionDenied, "{cancel:?}");
        assert!(cancel.message().contains("you are carol"), "{cancel:?}");
    });
    let still = promotion_on(replica, "beta", alices).expect("alice's promotion");
    assert_ne!(still["state"], "Cancelled", "{still}");
}

#[test]
fn a_forged_principal_header_is_ignored_by_a_standalone_dkd_already() {
    let mut replicas = Replicas::prepare(1);
    replicas.replica(0).make_standalone();
    publish(&replicas, &["beta", "gamma"]);
    replicas.replica_mut(0).restart();
    replicas.runtime().block_on(replicas.github.hold_ci(true));
    let alices = id_of(&promote(replicas.replica(0), "alice", "beta", "dev"));
    assert_forged_principal_ignored(&replicas, 0, "gamma", &alices);
}

#[test]
fn dk_promote_wait_through_a_follower_outlives_that_follower_being_killed_and_restarted() {
    let mut replicas = Replicas::start(3);
    publish(&replicas, &["alpha"]);
    replicas.wait_for_leader();
    let follower = replicas.followers()[0];
    replicas.runtime().block_on(replicas.github.hold_ci(true));
    let mut waiting = replicas.replica(follower).dk_spawn(
        "carol",
        &[
            "promote",
            "alpha",
            "v1.0.0",
            "--to",
            "dev",
            "--wait",
            "--timeout",
            "90s",
        ],
    );
    let said = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let said = said.clone();
        let stderr = waiting.stderr.take().expect("dk's stderr");
        std::thread::spawn(move || {
            for line in
                std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok)
            {
                let mut said = said
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                said.push_str(&line);
                said.push('\n');
            }
        })
    };
    // dk has its answer and is waiting (killing the replica before would cut Promote).
    let id = eventually("dk to be waiting", || {
        let said = said
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        said.split_once(" ChangeProposed")
            .map(|(id, _)| id.rsplit('\n').next().unwrap_or(id).to_owned())
    });

    // The replica dk is connected to dies mid-wait; the promotion goes on without it.
    replicas.replica_mut(follower).kill9();
    replicas.runtime().block_on(replicas.github.hold_ci(false));
    let merge = eventually("alpha merged", || replicas.merge_commit_of(&id));
    replicas.argo_cd_synced("dev", "alpha", "v1.0.0", &id, &merge);
    replicas.replica_mut(follower).restart();

    let status = waiting.wait().expect("dk ends");
    reader.join().expect("dk's stderr read");
    let said = said
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    assert!(status.success(), "{said}\n{}", replicas.logs());
    assert!(said.contains("dkd is unavailable; still waiting"), "{said}");
    assert!(said.contains(&format!("{id} Healthy")), "{said}");
}
