//! dkd with `cluster: { type: argocd }`, run in-process against the Kubernetes API fake:
//! Applications changing in Argo CD reach `Status` (what `dk status` shows) and `Watch`
//! within a second, and `Logs` without `sync` streams the newest Job's pod logs.

#[path = "../../tests/support/kube_fake/mod.rs"]
mod kube_fake;

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant, SystemTime},
};

use datakit::proto::{self, data_kit_service_client::DataKitServiceClient, watch_event::Event};
use dkd::{app, home::DkHome};
use kube_fake::{
    KubeFake,
    objects::{AppStatus, application, job, pod},
};
use tonic::{Streaming, transport::Channel};

const PATIENCE: Duration = Duration::from_secs(20);
/// How soon a change in Argo CD must show in dkd.
const PROMPTLY: Duration = Duration::from_secs(1);

fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A client of the dkd serving `socket`, once it accepts connections.
async fn connect(socket: &Path) -> DataKitServiceClient<Channel> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match dk::connect::unix_channel(socket).await {
            Ok(channel) => return DataKitServiceClient::new(channel),
            Err(error) => {
                assert!(Instant::now() < deadline, "dkd never served: {error}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// The next Watch status event about alpha in dev.
async fn next_status(events: &mut Streaming<proto::WatchEvent>) -> proto::PackageStatus {
    loop {
        let event = tokio::time::timeout(PROMPTLY, events.message())
            .await
            .expect("a Watch event within a second")
            .expect("stream ok")
            .expect("stream open");
        if let Some(Event::Status(status)) = event.event {
            return status;
        }
    }
}

/// Polls Status until `check` holds for alpha in dev, within a second.
async fn status_until(
    client: &mut DataKitServiceClient<Channel>,
    check: impl Fn(&proto::PackageStatus) -> bool,
) -> proto::PackageStatus {
    let deadline = Instant::now() + PROMPTLY;
    loop {
        let response = client
            .status(proto::StatusRequest {
                package: "alpha".into(),
                environment: "dev".into(),
            })
            .await;
        if let Ok(response) = response
            && let Some(row) = response.into_inner().packages.into_iter().next()
            && check(&row)
        {
            return row;
        }
        assert!(
            Instant::now() < deadline,
            "Status did not show it within a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn app_status<'a>(sync: &'a str, revision: &'a str, health: &'a str) -> AppStatus<'a> {
    AppStatus {
        sync,
        revision,
        health,
        health_message: if health == "Degraded" {
            "Job alpha-1 failed"
        } else {
            ""
        },
        phase: "Succeeded",
        at: SystemTime::now(),
    }
}

/// A running in-process dkd on a temporary home, reporting from Argo CD on `fake`, with
/// `dev` on the fake's cluster.
struct Dkd {
    home: tempfile::TempDir,
    client: DataKitServiceClient<Channel>,
    stop: tokio::sync::oneshot::Sender<()>,
    daemon: tokio::task::JoinHandle<Result<(), app::AppError>>,
}

impl Dkd {
    async fn start(fake: &KubeFake) -> Self {
        let home = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            home.path().join("dkd.yaml"),
            format!(
                "poll_interval_ms: 100\ncluster: {{ type: argocd }}\nclusters:\n  fake-cluster: {{ kubeconfig: {}, context: fake }}\n",
                fake.kubeconfig().display()
            ),
        )
        .expect("write dkd.yaml");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let daemon = tokio::spawn(app::run(
            app::Options::new(DkHome::new(home.path()), None),
            async move {
                let _ = stopped.await;
            },
        ));
        let mut client = connect(&home.path().join("dkd.sock")).await;

        // The environments, pushed as a user would; dkd starts watching dev when it reads them.
        let clone = tempfile::tempdir().expect("tempdir");
        let repo = home.path().join("deploy.git");
        git(
            clone.path(),
            &["clone", "--quiet", &repo.to_string_lossy(), "."],
        );
        std::fs::create_dir_all(clone.path().join("config")).expect("mkdir");
        std::fs::write(
            clone.path().join("config/environments.yaml"),
            "environments:\n  dev:\n    cluster: fake-cluster\n    namespace: dev\n    approval: { required: false, auto_merge: true }\n",
        )
        .expect("write environments");
        git(clone.path(), &["add", "."]);
        git(clone.path(), &["commit", "--quiet", "-m", "environments"]);
        git(clone.path(), &["push", "--quiet", "origin", "HEAD:main"]);
        let deadline = Instant::now() + PATIENCE;
        loop {
            let environments = client
                .list_environments(proto::ListEnvironmentsRequest {})
                .await
                .expect("list environments")
                .into_inner();
            if environments.environments.iter().any(|e| e.name == "dev") {
                break;
            }
            assert!(Instant::now() < deadline, "dkd never read the environments");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            home,
            client,
            stop,
            daemon,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(PATIENCE, self.daemon)
            .await
            .expect("dkd stops")
            .expect("joined")
            .expect("dkd ran cleanly");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argo_cd_changes_reach_status_watch_and_logs_within_a_second() {
    datakit::install_crypto_provider();
    let fake = KubeFake::start().await;
    let dkd = Dkd::start(&fake).await;
    let mut client = dkd.client.clone();

    fake.apply(application(
        "dev",
        "alpha",
        "v1.0.0",
        &app_status("OutOfSync", "c0", "Missing"),
        None,
    ));
    let out_of_sync = status_until(&mut client, |s| {
        s.sync_status == proto::SyncStatus::OutOfSync as i32
    })
    .await;
    assert_eq!(out_of_sync.version, "v1.0.0");

    let mut events = client
        .watch(proto::WatchRequest {
            package: "alpha".into(),
            environment: "dev".into(),
            resume_after: None,
        })
        .await
        .expect("watch")
        .into_inner();
    let snapshot = tokio::time::timeout(PATIENCE, events.message())
        .await
        .expect("a snapshot")
        .expect("ok")
        .expect("open");
    assert!(matches!(snapshot.event, Some(Event::Snapshot(_))));

    fake.apply(application(
        "dev",
        "alpha",
        "v1.0.0",
        &app_status("Synced", "c1", "Healthy"),
        None,
    ));
    let synced = next_status(&mut events).await;
    assert_eq!(
        (
            synced.sync_status,
            synced.health,
            synced.synced_revision.as_str()
        ),
        (
            proto::SyncStatus::Synced as i32,
            proto::Health::Healthy as i32,
            "c1"
        )
    );
    status_until(&mut client, |s| s.health == proto::Health::Healthy as i32).await;

    let started = SystemTime::now();
    fake.apply(job("dev", "alpha-1", "alpha", started, Some(false)));
    fake.apply(application(
        "dev",
        "alpha",
        "v1.0.0",
        &app_status("Synced", "c1", "Degraded"),
        None,
    ));
    let degraded = status_until(&mut client, |s| {
        s.health == proto::Health::Degraded as i32 && s.last_run.is_some()
    })
    .await;
    assert_eq!(degraded.message, "Job alpha-1 failed");
    let run = degraded.last_run.expect("last run");
    assert_eq!(
        (run.name.as_str(), run.result),
        ("alpha-1", proto::RunResult::Failure as i32)
    );
    let mut seen_degraded = false;
    for _ in 0..4 {
        if next_status(&mut events).await.health == proto::Health::Degraded as i32 {
            seen_degraded = true;
            break;
        }
    }
    assert!(seen_degraded, "Watch reports the Degraded Application");

    fake.apply(pod("dev", "alpha-1-abcde", "alpha-1"));
    fake.log(
        "dev",
        "alpha-1-abcde",
        started,
        "error: store events-store unreachable",
    );
    let mut logs = client
        .logs(proto::LogsRequest {
            package: "alpha".into(),
            environment: "dev".into(),
            ..Default::default()
        })
        .await
        .expect("logs")
        .into_inner();
    let line = tokio::time::timeout(PATIENCE, logs.message())
        .await
        .expect("a log line")
        .expect("ok")
        .expect("a line");
    assert_eq!(
        (line.source, line.origin.as_str(), line.text.as_str()),
        (
            proto::LogSource::Run as i32,
            "alpha-1-abcde",
            "error: store events-store unreachable"
        )
    );

    // The same, as the real dk binary shows it.
    let address = format!("unix://{}", dkd.home.path().join("dkd.sock").display());
    let table = dk(&["--daemon", &address, "status", "--env", "dev"]);
    assert!(
        table.contains("alpha") && table.contains("Degraded ⚠"),
        "{table}"
    );
    let row = dk(&["--daemon", &address, "status", "alpha"]);
    assert!(row.contains("(failure)"), "Last Run with its result: {row}");
    let log = dk(&["--daemon", &address, "logs", "alpha", "--env", "dev"]);
    assert!(
        log.contains("error: store events-store unreachable"),
        "{log}"
    );

    dkd.stop().await;
}

/// Runs the real `dk` binary (built beside this test by `cargo build --workspace --bins`,
/// which `tests/run` does first) and returns its standard output; fails on a non-zero exit.
fn dk(args: &[&str]) -> String {
    let exe = std::env::current_exe().expect("test executable");
    let dk = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .join("dk");
    assert!(
        dk.is_file(),
        "{} is missing: run bash tests/run",
        dk.display()
    );
    let output = std::process::Command::new(&dk)
        .args(args)
        .env("DK_NO_AUTOSTART", "1")
        .output()
        .expect("run dk");
    assert!(
        output.status.success(),
        "dk {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Publishes `alpha` `version` to dkd's embedded registry the way `dk publish` does.
fn publish(home: &Path, version: &str) {
    use datakit::{
        manifest::{Version, parse_data_package},
        oci::{OciLayout, no_progress},
    };
    use dk::artifact::{build::assemble, pack::pack_to_blob, source::SourceInfo, walk::walk};
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataPackage\nmetadata:\n  name: alpha\nspec:\n  bindings: {}\n";
    std::fs::write(dir.path().join("dk.yaml"), manifest).expect("write dk.yaml");
    std::fs::write(dir.path().join("query.sql"), "select 1\n").expect("write content");
    let package = parse_data_package("dk.yaml", manifest).expect("valid dk.yaml");
    let version = Version::parse(version).expect("exact version");
    let layout = OciLayout::new(home.join("registry").join("alpha"));
    let layer =
        pack_to_blob(&layout, &walk(dir.path()).expect("walk"), &no_progress()).expect("pack");
    let artifact = assemble(&package, &version, &SourceInfo::default(), layer).expect("assemble");
    layout
        .publish(version.as_str(), &artifact, &no_progress())
        .expect("publish");
}

async fn promotion_until(
    client: &mut DataKitServiceClient<Channel>,
    id: &str,
    state: proto::PromotionState,
) -> proto::Promotion {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let promotion = client
            .get_promotion(proto::GetPromotionRequest {
                id: id.into(),
                ..Default::default()
            })
            .await
            .expect("get promotion")
            .into_inner()
            .promotion
            .expect("a promotion");
        if promotion.state == state as i32 {
            return promotion;
        }
        assert!(
            Instant::now() < deadline,
            "promotion never reached {state:?}: {promotion:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_is_healthy_once_argo_cd_synced_its_merge_commit_healthy() {
    datakit::install_crypto_provider();
    let fake = KubeFake::start().await;
    let dkd = Dkd::start(&fake).await;
    let mut client = dkd.client.clone();
    publish(dkd.home.path(), "v1.0.0");
    let promotion = client
        .promote(proto::PromoteRequest {
            package: "alpha".into(),
            version: "v1.0.0".into(),
            environment: "dev".into(),
            ..Default::default()
        })
        .await
        .expect("promote")
        .into_inner()
        .promotion
        .expect("a promotion");
    let syncing = promotion_until(&mut client, &promotion.id, proto::PromotionState::Syncing).await;
    let merge = syncing.merge_commit.clone();
    assert!(!merge.is_empty(), "{syncing:?}");

    // Argo CD still shows the old revision, then syncs the merge; the ApplicationSet here
    // sets no promotion-id annotation, so dkd judges by the revision alone.
    let without_id = |mut app: serde_json::Value| {
        if let Some(annotations) = app["metadata"]["annotations"].as_object_mut() {
            annotations.remove("datakit.infoblox.dev/promotion-id");
        }
        app
    };
    fake.apply(without_id(application(
        "dev",
        "alpha",
        "v1.0.0",
        &app_status("OutOfSync", "0000000", "Healthy"),
        None,
    )));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let waiting = promotion_until(&mut client, &promotion.id, proto::PromotionState::Syncing).await;
    assert_eq!(waiting.state, proto::PromotionState::Syncing as i32);
    fake.apply(without_id(application(
        "dev",
        "alpha",
        "v1.0.0",
        &app_status("Synced", &merge, "Healthy"),
        None,
    )));
    promotion_until(&mut client, &promotion.id, proto::PromotionState::Healthy).await;
    dkd.stop().await;
}
