//! The promotion domain: the environment configuration read from the deployment
//! repository, promotions as state machines, the approval policy, the engine that drives
//! them and the local sync loop. Talks to ports only; names no sled, git, tonic or
//! cluster client.

mod auto_promotion;
mod board_entries;
mod catalog;
mod cluster_feed;
mod compact_status;
mod config_source;
mod deployed_manifests;
mod engine;
mod error;
mod events;
mod health_span;
mod leadership;
mod mirror;
mod model;
mod policy;
pub mod ports;
mod rebuild;
mod status;
#[cfg(test)]
pub mod testing;

pub use auto_promotion::AutoPromoter;
pub use catalog::{CatalogState, EnvironmentCatalog, follow_base_branch, publish_config_changes};
pub use cluster_feed::ClusterFeed;
pub use config_source::{
    ConfigProblem, ConfigSource, LoadedConfig, StoreEntry, read_config_source,
};
pub use deployed_manifests::{DeployedManifests, Expected, expected_manifest, validate_manifest};
pub use engine::{
    Decision, Engine, Explanation, HoldOutcome, Ports, Promotable, PromoteOutcome, PromoteRequest,
    StoreChangeOutcome, StoreChangeRequest,
};
pub use error::PromotionError;
pub use events::{Event, EventKind, EventLog, ReadError};
pub use health_span::HealthSpan;
pub use leadership::{LeaderInfo, Leadership, Role};
pub use mirror::Mirror;
pub use model::{
    AUTO_PROMOTER, Approval, Approver, ChangeRef, Check, CheckOutcome, Promotion, PromotionKind,
    PromotionState, Transition, change_branch, now, parse_change_branch,
};
pub use policy::{EffectiveRule, Evaluation, Policy};
pub use rebuild::{Rebuilt, promotion_number, rebuild_from_forge};
pub use status::{StatusBoard, StatusRow};
