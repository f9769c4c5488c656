//! The Argo CD backend started on the Kubernetes API fake with one environment, `dev`, on
//! one cluster: the setup the Argo CD tests share.

use std::collections::BTreeMap;

use dkd::cluster::argocd::{ArgoCdCluster, ClusterAccess, EnvironmentBinding};
use tokio_util::sync::CancellationToken;

use crate::kube_fake::{KubeFake, objects::ARGOCD_NAMESPACE};

/// Argo CD on `fake`, with `dev` (namespace `dev`) on its one cluster.
pub async fn argocd_on(fake: &KubeFake, stop: CancellationToken) -> ArgoCdCluster {
    datakit::install_crypto_provider();
    let access = BTreeMap::from([(
        "fake-cluster".to_owned(),
        ClusterAccess {
            kubeconfig: fake.kubeconfig().to_path_buf(),
            context: None,
            argocd_namespace: ARGOCD_NAMESPACE.into(),
        },
    )]);
    let bindings = vec![EnvironmentBinding {
        environment: "dev".into(),
        cluster: "fake-cluster".into(),
        namespace: "dev".into(),
    }];
    ArgoCdCluster::start(access, bindings, stop)
        .await
        .expect("start the Argo CD backend")
}
