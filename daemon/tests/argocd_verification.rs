//! Verification runs on Argo CD against the Kubernetes API fake, through the real kube
//! client: a run creates a Job from the definition's `job:` template in the environment's
//! namespace, labelled with package, environment and run; the Job's outcome is the run's,
//! its pods' logs are what `dk logs --verify` shows, and it is never the package's Last Run.

mod argocd_support;
#[path = "../../tests/support/kube_fake/mod.rs"]
mod kube_fake;

use argocd_support::argocd_on;

use std::time::{Duration, Instant, SystemTime};

use datakit::manifest::parse_verification;
use dkd::{
    cluster::argocd::ArgoCdCluster,
    promotion::ports::{VerificationOutcome, VerificationRequest, VerificationRunner},
};
use kube_fake::{
    KubeFake,
    objects::{job, pod},
};
use tokio_util::sync::CancellationToken;

const PATIENCE: Duration = Duration::from_secs(10);

fn request(run: &str) -> VerificationRequest {
    let definition = parse_verification(
        "environments/dev/verify/default.yaml",
        "job:\n  spec:\n    template:\n      spec:\n        restartPolicy: Never\n        containers: [{ name: smoke, image: busybox, command: [sh, -c, 'echo ok'] }]\n",
    )
    .expect("a definition");
    VerificationRequest {
        run: run.into(),
        environment: "dev".into(),
        package: "alpha".into(),
        version: "v1.0.0".into(),
        definition,
        timeout: Duration::from_secs(60),
        retries: 1,
    }
}

/// Polls `request` until `check` accepts the outcome.
async fn poll_until(
    cluster: &ArgoCdCluster,
    request: &VerificationRequest,
    check: impl Fn(&VerificationOutcome) -> bool,
) -> VerificationOutcome {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let outcome = cluster.poll(request).await;
        if check(&outcome) {
            return outcome;
        }
        assert!(Instant::now() < deadline, "last outcome: {outcome:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Gives the created Job `run` the status of a finished one.
fn finish(fake: &KubeFake, run: &str, succeeded: bool) {
    let mut created = fake
        .get("batch/v1", "Job", "dev", run)
        .expect("the Job was created");
    created["status"] =
        job("dev", run, "alpha", SystemTime::now(), Some(succeeded))["status"].clone();
    fake.apply(created);
}

#[tokio::test]
async fn a_run_creates_a_labelled_job_in_the_namespace_and_passes_when_it_completes() {
    let fake = KubeFake::start().await;
    let stop = CancellationToken::new();
    let cluster = argocd_on(&fake, stop.clone()).await;
    let run = request("verify-p-1-1");

    assert_eq!(cluster.poll(&run).await, VerificationOutcome::Running);
    let created = fake
        .get("batch/v1", "Job", "dev", "verify-p-1-1")
        .expect("the Job was created in dev's namespace");
    let labels = &created["metadata"]["labels"];
    assert_eq!(labels["datakit.infoblox.dev/package"], "alpha");
    assert_eq!(labels["datakit.infoblox.dev/environment"], "dev");
    assert_eq!(labels["datakit.infoblox.dev/verification"], "verify-p-1-1");
    assert_eq!(created["spec"]["backoffLimit"], 1, "retries");
    assert_eq!(
        created["spec"]["activeDeadlineSeconds"], 120,
        "timeout × attempts"
    );
    assert_eq!(
        created["spec"]["template"]["spec"]["containers"][0]["name"],
        "smoke"
    );

    fake.apply(pod("dev", "verify-p-1-1-abcd", "verify-p-1-1"));
    fake.log(
        "dev",
        "verify-p-1-1-abcd",
        SystemTime::now(),
        "smoke test ok",
    );
    fake.finish_log("dev", "verify-p-1-1-abcd");
    finish(&fake, "verify-p-1-1", true);
    let outcome = poll_until(&cluster, &run, |o| o != &VerificationOutcome::Running).await;
    assert!(
        matches!(&outcome, VerificationOutcome::Passed(m) if m.contains("verify-p-1-1")),
        "{outcome:?}"
    );
    let (name, lines) = cluster.logs("dev", "alpha").await.expect("the run's logs");
    assert_eq!(name, "verify-p-1-1");
    assert!(
        lines.iter().any(|line| line.text == "smoke test ok"),
        "{lines:?}"
    );
    // A poll before the watch saw the Job posts it again; the API server answers 409 and
    // the run goes on with the one Job.
    assert!(
        fake.requests("POST")
            .iter()
            .all(|request| request.contains("/namespaces/dev/jobs")),
        "{:?}",
        fake.requests("POST")
    );
    stop.cancel();
}

#[tokio::test]
async fn a_failed_job_fails_the_run_naming_it_and_is_never_the_last_run() {
    use dkd::promotion::ports::ClusterStatus;
    let fake = KubeFake::start().await;
    let stop = CancellationToken::new();
    let cluster = argocd_on(&fake, stop.clone()).await;
    let run = request("verify-p-2-1");
    assert_eq!(cluster.poll(&run).await, VerificationOutcome::Running);
    finish(&fake, "verify-p-2-1", false);
    let outcome = poll_until(&cluster, &run, |o| o != &VerificationOutcome::Running).await;
    assert!(
        matches!(&outcome, VerificationOutcome::Failed(m) if m.contains("verify-p-2-1") && m.contains("--verify")),
        "{outcome:?}"
    );
    assert!(
        cluster
            .run_logs("dev", "alpha", Default::default())
            .await
            .expect("logs")
            .is_none(),
        "a verification Job is not the package's run"
    );

    let mut without_job = request("verify-p-3-1");
    without_job.definition.job = None;
    without_job.definition.command = vec!["true".into()];
    let refused = cluster.poll(&without_job).await;
    assert!(
        matches!(&refused, VerificationOutcome::Failed(m) if m.contains("job:")),
        "{refused:?}"
    );
    stop.cancel();
}
