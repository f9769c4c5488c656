//! One conformance suite for every `ClusterStatus`: what a cluster runs is reported per
//! package and environment with version, digest, promotion, revision, sync, health and a
//! sync log. The Argo CD implementation must pass it too.

use std::{future::Future, pin::Pin};

use dkd::cluster::{AppliedPackage, ClusterStatus, HealthState, LocalTarget, SyncState};

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
        Box::pin(async move { result.expect("apply") })
    });
    suite(&target, deploy).await;
}
