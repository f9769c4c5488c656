//! One conformance suite for every `ClusterStatus`: what a cluster runs is reported per
//! package and environment with version, digest, promotion, revision, sync, health and a
//! sync log. The Argo CD implementation passes it against the Kubernetes API fake.

#[path = "../../tests/support/kube_fake/mod.rs"]
mod kube_fake;

use std::{
    collections::BTreeMap,
    future::Future,
    pin::Pin,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use dkd::{
    cluster::{
        AppliedPackage, LocalTarget,
        argocd::{ArgoCdCluster, ClusterAccess, EnvironmentBinding},
    },
    promotion::ports::{ClusterStatus, HealthState, SyncState},
};
use kube_fake::{
    KubeFake,
    objects::{ARGOCD_NAMESPACE, AppStatus, application},
};
use tokio_util::sync::CancellationToken;

/// Makes the cluster run `package` `version` in `environment` at `revision` with `health`,
/// the way the backend's own sync would (the local sync loop; Argo CD).
type Deploy = Box<
    dyn Fn(&str, &str, &str, &str, HealthState) -> Pin<Box<dyn Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

async fn suite(cluster: &dyn ClusterStatus, deploy: Deploy) {
    assert_eq!(
        cluster
            .package_status("dev", "alpha")
            .await
            .expect("status"),
        None,
        "nothing runs yet"
    );
    assert!(
        cluster
            .environment_status("dev")
            .await
            .expect("env")
            .is_empty()
    );

    deploy("dev", "alpha", "v1.0.0", "c1", HealthState::Healthy).await;
    let status = cluster
        .package_status("dev", "alpha")
        .await
        .expect("status")
        .expect("deployed");
    assert_eq!(
        (status.version.as_str(), status.revision.as_str()),
        ("v1.0.0", "c1")
    );
    assert_eq!(
        (status.sync, status.health),
        (SyncState::Synced, HealthState::Healthy)
    );
    assert_eq!(status.promotion_id.as_deref(), Some("p-v1.0.0"));

    deploy("dev", "alpha", "v1.1.0", "c2", HealthState::Degraded).await;
    deploy("dev", "beta", "v3.0.0", "c2", HealthState::Healthy).await;
    let status = cluster
        .package_status("dev", "alpha")
        .await
        .expect("status")
        .expect("deployed");
    assert_eq!(
        (status.version.as_str(), status.health),
        ("v1.1.0", HealthState::Degraded)
    );
    assert!(!status.message.is_empty(), "a degraded package says why");
    let names: Vec<String> = cluster
        .environment_status("dev")
        .await
        .expect("env")
        .into_iter()
        .map(|p| p.package)
        .collect();
    assert_eq!(names, ["alpha", "beta"]);
    assert_eq!(
        cluster
            .package_status("prod", "alpha")
            .await
            .expect("status"),
        None,
        "environments are separate"
    );

    let log = cluster.sync_log("dev", "alpha").await.expect("log");
    assert!(log.len() >= 2, "{log:?}");
    assert!(
        log.windows(2).all(|pair| pair[0].at <= pair[1].at),
        "oldest first"
    );
    assert!(
        log.last().is_some_and(|line| line.text.contains("v1.1.0")),
        "{log:?}"
    );
}

#[tokio::test]
async fn the_local_target_passes_the_cluster_conformance_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = LocalTarget::new(dir.path());
    let applied =
        std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, AppliedPackage)>::new()));
    let deploy_target = target.clone();
    let deploy: Deploy = Box::new(move |environment, package, version, revision, health| {
        let mut all = applied.lock().expect("lock");
        all.retain(|(env, p)| !(env == environment && p.package == package));
        all.push((
            environment.to_owned(),
            AppliedPackage {
                package: package.to_owned(),
                manifest: format!("version: {version}\n"),
                version: version.to_owned(),
                digest: format!("sha256:{}", "c".repeat(64)),
                promotion_id: Some(format!("p-{version}")),
                health,
                message: if health == HealthState::Healthy {
                    String::new()
                } else {
                    "digest not found".to_owned()
                },
            },
        ));
        let in_environment: Vec<AppliedPackage> = all
            .iter()
            .filter(|(env, _)| env == environment)
            .map(|(_, p)| p.clone())
            .collect();
        let result = deploy_target.apply(environment, revision, &in_environment);
        Box::pin(async move {
            let running = result.expect("apply");
            assert_eq!(
                running.len(),
                in_environment.len(),
                "a status per package applied"
            );
        })
    });
    suite(&target, deploy).await;
}

/// Argo CD on the fake, with `dev` and `prod` on one cluster.
async fn argocd_on(fake: &KubeFake, stop: CancellationToken) -> ArgoCdCluster {
    let access = BTreeMap::from([(
        "fake-cluster".to_owned(),
        ClusterAccess {
            kubeconfig: fake.kubeconfig().to_path_buf(),
            context: Some("fake".into()),
            argocd_namespace: ARGOCD_NAMESPACE.into(),
        },
    )]);
    let bindings = ["dev", "prod"]
        .map(|env| EnvironmentBinding {
            environment: env.into(),
            cluster: "fake-cluster".into(),
            namespace: env.into(),
        })
        .to_vec();
    ArgoCdCluster::start(access, bindings, stop)
        .await
        .expect("start the Argo CD backend")
}

#[tokio::test]
async fn the_argo_cd_cluster_passes_the_cluster_conformance_suite() {
    datakit::install_crypto_provider();
    let fake = Arc::new(KubeFake::start().await);
    let stop = CancellationToken::new();
    let cluster = Arc::new(argocd_on(&fake, stop.clone()).await);
    let (deploy_fake, deploy_cluster) = (fake.clone(), cluster.clone());
    let deploy: Deploy = Box::new(move |environment, package, version, revision, health| {
        let previous = deploy_fake.get(
            "argoproj.io/v1alpha1",
            "Application",
            ARGOCD_NAMESPACE,
            &format!("{environment}-{package}"),
        );
        let status = AppStatus {
            sync: "Synced",
            revision,
            health: health.name(),
            health_message: if health == HealthState::Healthy {
                ""
            } else {
                "digest not found"
            },
            phase: "Succeeded",
            at: SystemTime::now(),
        };
        deploy_fake.apply(application(
            environment,
            package,
            version,
            &status,
            previous.as_ref(),
        ));
        let cluster = deploy_cluster.clone();
        let (environment, package) = (environment.to_owned(), package.to_owned());
        let (version, revision) = (version.to_owned(), revision.to_owned());
        Box::pin(async move {
            // Argo CD reports through a watch: wait until the change arrived.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let seen = cluster
                    .package_status(&environment, &package)
                    .await
                    .expect("status");
                if seen.is_some_and(|s| {
                    s.version == version && s.revision == revision && s.health == health
                }) {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "the watch never delivered {package} {version}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    });
    suite(cluster.as_ref(), deploy).await;
    stop.cancel();
}
