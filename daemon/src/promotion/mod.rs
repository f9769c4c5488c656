//! The promotion domain: the environment configuration read from the deployment
//! repository, and (from the promotion engine on) promotions, policy and events. Talks to
//! ports only; names no sled, git, tonic or cluster client.

mod catalog;
mod config_source;

pub use catalog::{CatalogState, EnvironmentCatalog, follow_base_branch};
pub use config_source::{
    ConfigProblem, ConfigSource, LoadedConfig, StoreEntry, read_config_source,
};
