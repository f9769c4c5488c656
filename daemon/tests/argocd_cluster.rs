//! The Argo CD backend against the Kubernetes API fake, through the real kube client:
//! watches survive dropped connections and 410 Gone, every change is announced, Jobs are
//! the Last Run and their pods' logs the run logs (tail, since, follow).

mod argocd_support;
#[path = "../../tests/support/kube_fake/mod.rs"]
mod kube_fake;

use argocd_support::argocd_on;

use std::time::{Duration, Instant, SystemTime};

use dkd::{
    cluster::argocd::ArgoCdCluster,
    promotion::ports::{
        ClusterError, ClusterStatus, HealthState, PackageSync, RunLogLine, RunLogOptions,
        RunLogStream, RunResult, SyncState,
    },
};
use futures::StreamExt;
use kube_fake::{
    KubeFake,
    objects::{ARGOCD_NAMESPACE, AppStatus, application, job, pod},
};
use tokio_util::sync::CancellationToken;

const PATIENCE: Duration = Duration::from_secs(10);

fn status(sync: &'static str, revision: &'static str, health: &'static str) -> AppStatus<'static> {
    AppStatus {
        sync,
        revision,
        health,
        health_message: if health == "Healthy" {
            ""
        } else {
            "pod crashed"
        },
        phase: "Succeeded",
        at: SystemTime::now(),
    }
}

/// Polls the backend until `check` holds for `alpha` in dev.
async fn until(
    cluster: &ArgoCdCluster,
    what: &str,
    check: impl Fn(&PackageSync) -> bool,
) -> PackageSync {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = cluster
            .package_status("dev", "alpha")
            .await
            .expect("status")
            && check(&status)
        {
            return status;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sync_health_and_an_operation_in_progress_are_mapped_and_announced() {
    let fake = KubeFake::start().await;
    let stop = CancellationToken::new();
    let cluster = argocd_on(&fake, stop.clone()).await;
    let mut changes = cluster.changes();
    fake.apply(application(
        "dev",
        "alpha",
        "v1.0.0",
        &status("OutOfSync", "c0", "Healthy"),
        None,
    ));
    until(&cluster, "OutOfSync", |s| s.sync == SyncState::OutOfSync).await;
    let mut running = status("OutOfSync", "c1", "Progressing");
    running.phase = "Running";
    fake.apply(application("dev", "alpha", "v1.1.0", &running, None));
    until(&cluster, "Syncing", |s| {
        s.sync == SyncState::Syncing && s.health == HealthState::Progressing
    })
    .await;
    fake.apply(application(
        "dev",
        "alpha",
        "v1.1.0",
        &status("Synced", "c1", "Degraded"),
        None,
    ));
    let degraded = until(&cluster, "Degraded", |s| s.health == HealthState::Degraded).await;
    assert_eq!(
        (degraded.sync, degraded.revision.as_str()),
        (SyncState::Synced, "c1")
    );
    assert_eq!(degraded.message, "pod crashed");
    assert_eq!(degraded.promotion_id.as_deref(), Some("p-v1.1.0"));
    let announced = tokio::time::timeout(PATIENCE, changes.recv())
        .await
        .expect("a change is announced")
        .expect("channel open");
    assert_eq!(announced, "dev");
    // An Application of no bound environment is not reported.
    fake.apply(application(
        "staging",
        "alpha",
        "v9.0.0",
        &status("Synced", "c9", "Healthy"),
        None,
    ));
    assert_eq!(
        cluster.environment_status("dev").await.expect("env").len(),
        1
    );
    stop.cancel();
}

#[tokio::test]
async fn a_dropped_watch_reconnects_from_its_resource_version_and_misses_nothing() {
    let fake = KubeFake::start().await;
    let stop = CancellationToken::new();
    let cluster = argocd_on(&fake, stop.clone()).await;
    fake.apply(application(
        "dev",
        "alpha",
        "v1.0.0",
        &status("Synced", "c1", "Healthy"),
        None,
    ));
    until(&cluster, "v1.0.0", |s| s.version == "v1.0.0").await;
    let lists_before = fake
        .requests("/applications?")
        .iter()
        .filter(|r| !r.contains("watch=true"))
        .count();
    fake.drop_connections();
    fake.apply(application(
        "dev",
        "alpha",
        "v1.1.0",
        &status("Synced", "c2", "Healthy"),
        None,
    ));
    until(&cluster, "v1.1.0 after the drop", |s| s.version == "v1.1.0").await;
    let watches = fake.requests("watch=true");
    assert!(
        watches.iter().any(|w| w.contains("/applications?")
            && w.contains("resourceVersion=")
            && !w.contains("resourceVersion=0&")),
        "the watch resumed from a resourceVersion: {watches:?}"
    );
    let lists_after = fake
        .requests("/applications?")
        .iter()
        .filter(|r| !r.contains("watch=true"))
        .count();
    assert_eq!(
        lists_before, lists_after,
        "a dropped watch resumes without listing again"
    );
    stop.cancel();
}

#[tokio::test]
async fn a_410_gone_makes_the_watch_list_again_and_deletions_in_between_are_seen() {
    let fake = KubeFake::start().await;
    let stop = CancellationToken::new();
    let cluster = argocd_on(&fake, stop.clone()).await;
    fake.apply(application(
        "dev",
        "alpha",
        "v1.0.0",
        &status("Synced", "c1", "Healthy"),
        None,
    ));
    fake.apply(application(
        "dev",
        "beta",
        "v1.0.0",
        &status("Synced", "c1", "Healthy"),
        None,
    ));
    until(&cluster, "alpha", |_| true).await;
    let lists = || {
        fake.requests("/applications?")
            .iter()
            .filter(|r| !r.contains("watch=true"))
            .count()
    };
    let lists_before = lists();
    fake.force_gone();
    // Changed while the watch was away and its history compacted.
    fake.delete(
        "argoproj.io/v1alpha1",
        "Application",
        ARGOCD_NAMESPACE,
        "dev-beta",
    );
    fake.apply(application(
        "dev",
        "alpha",
        "v2.0.0",
        &status("Synced", "c3", "Healthy"),
        None,
    ));
    until(&cluster, "v2.0.0 after 410", |s| s.version == "v2.0.0").await;
    let deadline = Instant::now() + PATIENCE;
    while cluster
        .package_status("dev", "beta")
        .await
        .expect("status")
        .is_some()
    {
        assert!(
            Instant::now() < deadline,
            "the deleted Application is forgotten after the relist"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        lists() > lists_before,
        "410 Gone leads to a new list: {:?}",
        fake.requests("/applications")
    );
    stop.cancel();
}

#[tokio::test]
async fn the_newest_job_is_the_last_run_and_its_pod_logs_are_the_run_logs() {
    let fake = KubeFake::start().await;
    let stop = CancellationToken::new();
    let cluster = argocd_on(&fake, stop.clone()).await;
    fake.apply(application(
        "dev",
        "alpha",
        "v1.0.0",
        &status("Synced", "c1", "Healthy"),
        None,
    ));
    let earlier = SystemTime::now() - Duration::from_secs(600);
    fake.apply(job("dev", "alpha-1", "alpha", earlier, Some(false)));
    // Whole seconds: sinceTime has second precision.
    let seconds = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
    fake.apply(job("dev", "alpha-2", "alpha", now, None));
    fake.apply(job(
        "dev",
        "beta-1",
        "beta",
        now + Duration::from_secs(5),
        Some(true),
    ));
    let running = until(&cluster, "the newest run", |s| {
        s.last_run.as_ref().is_some_and(|r| r.name == "alpha-2")
    })
    .await;
    let run = running.last_run.expect("a run");
    assert_eq!((run.result, run.finished_at), (RunResult::Running, None));
    fake.apply(job("dev", "alpha-2", "alpha", now, Some(true)));
    until(&cluster, "success", |s| {
        s.last_run
            .as_ref()
            .is_some_and(|r| r.result == RunResult::Success)
    })
    .await;

    assert!(
        cluster
            .run_logs("dev", "beta", RunLogOptions::default())
            .await
            .expect("logs")
            .is_some()
    );
    assert!(
        cluster
            .run_logs("dev", "gamma", RunLogOptions::default())
            .await
            .expect("logs")
            .is_none(),
        "no job, no run logs"
    );

    fake.apply(pod("dev", "alpha-2-xk2p", "alpha-2"));
    for (i, text) in ["starting", "reading events", "wrote 10 rows"]
        .iter()
        .enumerate()
    {
        fake.log(
            "dev",
            "alpha-2-xk2p",
            now + Duration::from_secs(i as u64),
            text,
        );
    }
    let tail = RunLogOptions {
        follow: false,
        tail: 2,
        since: None,
    };
    let lines: Vec<_> = cluster
        .run_logs("dev", "alpha", tail)
        .await
        .expect("logs")
        .expect("a run")
        .collect()
        .await;
    let texts: Vec<String> = lines.into_iter().map(|l| l.expect("line").text).collect();
    assert_eq!(texts, ["reading events", "wrote 10 rows"]);
    let since = RunLogOptions {
        follow: false,
        tail: 0,
        since: Some(now + Duration::from_secs(2)),
    };
    let lines: Vec<_> = cluster
        .run_logs("dev", "alpha", since)
        .await
        .expect("logs")
        .expect("run")
        .collect()
        .await;
    assert_eq!(lines.len(), 1, "{lines:?}");

    let follow = RunLogOptions {
        follow: true,
        tail: 1,
        since: None,
    };
    let mut stream = cluster
        .run_logs("dev", "alpha", follow)
        .await
        .expect("logs")
        .expect("run");
    let first = next(&mut stream).await.expect("line").expect("ok");
    assert_eq!(
        (first.origin.as_str(), first.text.as_str()),
        ("alpha-2-xk2p", "wrote 10 rows")
    );
    fake.log("dev", "alpha-2-xk2p", SystemTime::now(), "done");
    assert_eq!(
        next(&mut stream).await.expect("line").expect("ok").text,
        "done"
    );
    fake.finish_log("dev", "alpha-2-xk2p");
    assert!(
        next(&mut stream).await.is_none(),
        "the follow ends with the log"
    );
    stop.cancel();
}

/// The next line of a run log, failing the test if none comes in time.
async fn next(stream: &mut RunLogStream) -> Option<Result<RunLogLine, ClusterError>> {
    tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("a line in time")
}
