//! The Kubernetes API fake serves `coordination.k8s.io/v1` Leases to the real kube client
//! with the API server's optimistic concurrency: create, get, replace with the current
//! resourceVersion, 409 Conflict for a stale one, 409 AlreadyExists for a second create,
//! merge patches and server-side apply with a resourceVersion precondition, and every
//! accepted write listed for tests in order.

#[path = "../../tests/support/kube_fake/mod.rs"]
mod kube_fake;

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api, Client, Config,
    api::{DeleteParams, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use kube_fake::KubeFake;

const NAMESPACE: &str = "datakit";
const NAME: &str = "dkd-leader";

async fn leases(fake: &KubeFake) -> Api<Lease> {
    datakit::install_crypto_provider();
    let kubeconfig = Kubeconfig::read_from(fake.kubeconfig()).expect("read the kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kube config");
    let client = Client::try_from(config).expect("kube client");
    Api::namespaced(client, NAMESPACE)
}

fn lease(holder: &str, transitions: i32) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(NAME.into()),
            namespace: Some(NAMESPACE.into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(3),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }),
    }
}

fn holder(lease: &Lease) -> Option<&str> {
    lease.spec.as_ref()?.holder_identity.as_deref()
}

/// The API server's refusal as kube reports it: (code, reason).
fn refusal(error: kube::Error) -> (u16, String) {
    match error {
        kube::Error::Api(status) => (status.code, status.reason.clone()),
        other => panic!("expected an API refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_lease_is_created_read_and_replaced_and_a_stale_replace_is_a_409_conflict() {
    let fake = KubeFake::start().await;
    let api = leases(&fake).await;

    let missing = api.get(NAME).await.expect_err("no lease yet");
    assert_eq!(refusal(missing), (404, "NotFound".into()));
    assert!(api.get_opt(NAME).await.expect("get_opt").is_none());

    let created = api
        .create(&PostParams::default(), &lease("replica-0", 0))
        .await
        .expect("create");
    let first_version = created
        .metadata
        .resource_version
        .clone()
        .expect("a version");
    assert_eq!(holder(&created), Some("replica-0"));

    let read = api.get(NAME).await.expect("get");
    assert_eq!(
        read.metadata.resource_version.as_deref(),
        Some(&*first_version)
    );

    // replica-1 takes over with the version it read: accepted, with a new version.
    let mut takeover = read.clone();
    takeover.spec = lease("replica-1", 1).spec;
    let taken = api
        .replace(NAME, &PostParams::default(), &takeover)
        .await
        .expect("replace with the current resourceVersion");
    let second_version = taken.metadata.resource_version.clone().expect("a version");
    assert_ne!(second_version, first_version);
    assert_eq!(holder(&taken), Some("replica-1"));

    // replica-2 read before the takeover: its replace names the old version and loses.
    let mut stale = read;
    stale.spec = lease("replica-2", 1).spec;
    let conflict = api
        .replace(NAME, &PostParams::default(), &stale)
        .await
        .expect_err("a stale replace");
    let (code, reason) = refusal(conflict);
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    let after = fake.lease(NAMESPACE, NAME).expect("the lease");
    assert_eq!(after["spec"]["holderIdentity"], "replica-1", "{after}");

    // Without a resourceVersion a replace is unconditional, as on the real server.
    let mut unconditional = lease("replica-2", 2);
    unconditional.metadata.resource_version = None;
    let forced = api
        .replace(NAME, &PostParams::default(), &unconditional)
        .await
        .expect("an unconditional replace");
    assert_eq!(holder(&forced), Some("replica-2"));

    let writes = fake.lease_writes();
    let holders: Vec<_> = writes.iter().map(|w| w.holder.as_deref()).collect();
    assert_eq!(
        holders,
        [Some("replica-0"), Some("replica-1"), Some("replica-2")],
        "{writes:?}"
    );
    assert_eq!(
        writes.iter().map(|w| w.transitions).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert!(
        writes
            .windows(2)
            .all(|w| w[0].resource_version < w[1].resource_version),
        "{writes:?}"
    );
}

#[tokio::test]
async fn a_second_create_is_409_already_exists_and_a_replace_of_a_missing_lease_is_404() {
    let fake = KubeFake::start().await;
    let api = leases(&fake).await;

    let absent = api
        .replace(NAME, &PostParams::default(), &lease("replica-0", 0))
        .await
        .expect_err("nothing to replace");
    assert_eq!(refusal(absent), (404, "NotFound".into()));

    api.create(&PostParams::default(), &lease("replica-0", 0))
        .await
        .expect("the first create");
    let second = api
        .create(&PostParams::default(), &lease("replica-1", 0))
        .await
        .expect_err("the name is taken");
    assert_eq!(refusal(second), (409, "AlreadyExists".into()));
    let kept = fake.lease(NAMESPACE, NAME).expect("the lease");
    assert_eq!(kept["spec"]["holderIdentity"], "replica-0", "{kept}");
    assert_eq!(fake.lease_writes().len(), 1);
}

#[tokio::test]
async fn patches_and_server_side_apply_honour_a_resource_version_precondition() {
    let fake = KubeFake::start().await;
    let api = leases(&fake).await;

    // Server-side apply creates the lease when there is none.
    let applied = api
        .patch(
            NAME,
            &PatchParams::apply("dkd").force(),
            &Patch::Apply(lease("replica-0", 0)),
        )
        .await
        .expect("apply creates");
    let version = applied
        .metadata
        .resource_version
        .clone()
        .expect("a version");

    let renewed = api
        .patch(
            NAME,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({
                "metadata": { "resourceVersion": version },
                "spec": { "renewTime": "2026-01-01T00:00:00.000000Z" },
            })),
        )
        .await
        .expect("a merge patch with the current version");
    assert_eq!(holder(&renewed), Some("replica-0"), "the patch merges");

    let stale = api
        .patch(
            NAME,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({
                "metadata": { "resourceVersion": version },
                "spec": { "holderIdentity": "replica-1" },
            })),
        )
        .await
        .expect_err("a merge patch with a stale version");
    assert_eq!(refusal(stale), (409, "Conflict".into()));

    let stale_delete = api
        .delete(
            NAME,
            &DeleteParams {
                preconditions: Some(kube::api::Preconditions {
                    resource_version: Some(version),
                    uid: None,
                }),
                ..DeleteParams::default()
            },
        )
        .await
        .expect_err("a delete with a stale version");
    assert_eq!(refusal(stale_delete), (409, "Conflict".into()));
    api.delete(NAME, &DeleteParams::default())
        .await
        .expect("delete");
    assert!(fake.lease(NAMESPACE, NAME).is_none());
    let verbs: Vec<_> = fake.lease_writes().iter().map(|w| w.verb).collect();
    assert_eq!(verbs, ["ADDED", "MODIFIED", "DELETED"]);
}
