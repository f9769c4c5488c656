//! The engine on fakes of every port, with a forge that blocks one package's calls: a
//! promotion stuck on the forge holds up neither requests for nor the reconciling of
//! promotions of other packages.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, SystemTime},
};

use datakit::manifest::Teams;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::{Engine, Ports, PromoteRequest};
use crate::{
    promotion::{
        Approver, ChangeRef, ConfigSource, EnvironmentCatalog, EventLog, Promotion, PromotionKind,
        PromotionState,
        ports::{
            ChangeProposal, ChangeState, ChangeStatus, ClusterError, ClusterStatus, FileVersion,
            ForgeError, GitForge, GroupSource, PackageSync, RecordedPromotion, Registry,
            RegistryError, ResolvedArtifact, SignatureLayer, StateStore, SyncLogLine, TreeFile,
        },
    },
    store::MemoryStore,
};

const ENVIRONMENTS: &str = "environments:\n  dev:\n    cluster: dev-cluster\n    namespace: dev\n    approval: { required: false, auto_merge: true }\n";

/// How long anything here may take before the test calls it held up.
const PATIENCE: Duration = Duration::from_secs(10);

/// A forge whose `change_status` of `blocked`'s change requests waits until `gate` opens.
struct BlockingForge {
    blocked: String,
    gate: watch::Sender<bool>,
    /// Notified when a call of `blocked` starts to wait.
    waiting: Notify,
}

impl BlockingForge {
    fn unsupported<T>() -> Result<T, ForgeError> {
        Err(ForgeError::Unsupported("not in this fake".into()))
    }
}

#[async_trait::async_trait]
impl GitForge for BlockingForge {
    fn describe(&self) -> String {
        "a forge that blocks one package".into()
    }
    async fn base_revision(&self) -> Result<String, ForgeError> {
        Ok("base".into())
    }
    async fn list_files(&self, _: &str, _: &str) -> Result<Vec<String>, ForgeError> {
        Ok(Vec::new())
    }
    async fn list_tree(&self, _: &str, _: &str) -> Result<Vec<TreeFile>, ForgeError> {
        Ok(Vec::new())
    }
    async fn read_files(
        &self,
        _: &str,
        paths: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, ForgeError> {
        Ok(vec![None; paths.len()])
    }
    async fn contains(&self, _: &str, _: &str) -> Result<bool, ForgeError> {
        Ok(false)
    }
    async fn file_history(&self, _: &str, _: usize) -> Result<Vec<FileVersion>, ForgeError> {
        Ok(Vec::new())
    }
    async fn propose_change(&self, proposal: &ChangeProposal) -> Result<ChangeRef, ForgeError> {
        Ok(ChangeRef {
            id: proposal.branch.clone(),
            branch: proposal.branch.clone(),
            title: proposal.title.clone(),
            url: String::new(),
        })
    }
    async fn change_status(&self, change: &ChangeRef) -> Result<ChangeStatus, ForgeError> {
        if change.branch.contains(&format!("/{}/", self.blocked)) {
            self.waiting.notify_one();
            let mut gate = self.gate.subscribe();
            let _ = gate.wait_for(|open| *open).await;
        }
        Ok(ChangeStatus {
            state: ChangeState::Open,
            approvals: Vec::new(),
            checks: Vec::new(),
        })
    }
    async fn approve(&self, _: &ChangeRef, _: &Approver) -> Result<(), ForgeError> {
        Self::unsupported()
    }
    async fn merge(&self, change: &ChangeRef) -> Result<String, ForgeError> {
        Ok(format!("merge-of-{}", change.id))
    }
    async fn close(&self, _: &ChangeRef, _: &str) -> Result<(), ForgeError> {
        Ok(())
    }
    async fn find_landed(&self, _: &str) -> Result<Option<String>, ForgeError> {
        Ok(None)
    }
    async fn base_history(&self, _: usize) -> Result<Vec<String>, ForgeError> {
        Ok(Vec::new())
    }
    async fn recorded_promotions(&self) -> Result<Vec<RecordedPromotion>, ForgeError> {
        Ok(Vec::new())
    }
    fn group_source(&self) -> GroupSource {
        GroupSource::TeamsFile
    }
    async fn reviewer_teams(&self) -> Result<Option<Teams>, ForgeError> {
        Ok(None)
    }
}

/// Every version of every package is published, unsigned, without bindings.
struct EveryVersion;

#[async_trait::async_trait]
impl Registry for EveryVersion {
    fn describe(&self) -> String {
        "every version".into()
    }
    async fn resolve(
        &self,
        package: &str,
        version: &str,
    ) -> Result<ResolvedArtifact, RegistryError> {
        Ok(ResolvedArtifact {
            reference: format!("registry.example/{package}:{version}"),
            digest: format!("sha256:{}", "a".repeat(64)),
            bindings: BTreeMap::new(),
        })
    }
    async fn signatures(&self, _: &str, _: &str) -> Result<Vec<SignatureLayer>, RegistryError> {
        Ok(Vec::new())
    }
    async fn has_package(&self, _: &str) -> Result<bool, RegistryError> {
        Ok(true)
    }
}

/// Nothing is deployed anywhere (promotions wait in `Syncing`).
struct NothingDeployed;

#[async_trait::async_trait]
impl ClusterStatus for NothingDeployed {
    fn describe(&self) -> String {
        "nothing deployed".into()
    }
    async fn package_status(&self, _: &str, _: &str) -> Result<Option<PackageSync>, ClusterError> {
        Ok(None)
    }
    async fn environment_status(&self, _: &str) -> Result<Vec<PackageSync>, ClusterError> {
        Ok(Vec::new())
    }
    async fn sync_log(&self, _: &str, _: &str) -> Result<Vec<SyncLogLine>, ClusterError> {
        Ok(Vec::new())
    }
}

fn engine_blocking(package: &str) -> (Arc<Engine>, Arc<BlockingForge>) {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
    store
        .save_config(&ConfigSource {
            revision: "base".into(),
            loaded_at: SystemTime::now(),
            files: BTreeMap::from([("config/environments.yaml".to_owned(), ENVIRONMENTS.into())]),
        })
        .expect("config");
    let forge = Arc::new(BlockingForge {
        blocked: package.to_owned(),
        gate: watch::Sender::new(false),
        waiting: Notify::new(),
    });
    let engine = Engine::new(Ports {
        catalog: Arc::new(EnvironmentCatalog::from_store(
            store.as_ref(),
            GroupSource::TeamsFile,
        )),
        forge: forge.clone(),
        registry: Arc::new(EveryVersion),
        cluster: Arc::new(NothingDeployed),
        events: Arc::new(EventLog::new(store.clone(), 1000)),
        store,
    });
    (Arc::new(engine), forge)
}

fn promote(package: &str) -> PromoteRequest {
    PromoteRequest {
        package: package.into(),
        version: "v1.0.0".into(),
        environment: "dev".into(),
        kind: PromotionKind::Promotion,
        dry_run: false,
        force: false,
        promoter: "carol".into(),
        reason: None,
    }
}

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen within {PATIENCE:?}"))
}

/// Polls until promotion `id` is in `state`.
async fn reaches(engine: &Engine, id: &str, state: PromotionState) -> Promotion {
    within(&format!("{id} reaching {}", state.name()), async {
        loop {
            let promotion = engine.get(id).expect("promotion");
            if promotion.state == state {
                return promotion;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_stuck_on_the_forge_holds_up_no_promotion_of_another_package() {
    let (engine, forge) = engine_blocking("alpha");
    let shutdown = CancellationToken::new();
    let running = tokio::spawn({
        let (engine, shutdown) = (engine.clone(), shutdown.clone());
        async move { engine.run(shutdown).await }
    });
    let alpha = within("promoting alpha", engine.promote(promote("alpha")))
        .await
        .expect("alpha accepted")
        .promotion
        .expect("alpha's record");
    within(
        "the reconcile loop asking the forge about alpha",
        forge.waiting.notified(),
    )
    .await;

    let beta = within(
        "promoting beta while alpha is stuck",
        engine.promote(promote("beta")),
    )
    .await
    .expect("beta accepted")
    .promotion
    .expect("beta's record");
    let beta = reaches(&engine, &beta.id, PromotionState::Syncing).await;
    assert!(beta.merge_commit.is_some(), "{beta:?}");
    assert_eq!(
        engine.get(&alpha.id).expect("alpha").state,
        PromotionState::ChangeProposed,
        "alpha still waits on the forge"
    );

    forge.gate.send_replace(true);
    reaches(&engine, &alpha.id, PromotionState::Syncing).await;
    shutdown.cancel();
    within("the reconcile loop stopping", running)
        .await
        .expect("the loop ends cleanly");
}
