//! The manifest model shared by `dkd` and `dk`: the deployment repository's
//! `config/environments.yaml`, `config/teams.yaml` and `config/rbac.yaml`, `Store` and
//! `DeployedPackage` manifests, and a package's `dk.yaml`, each parsed with bounds and validated with
//! one-line errors that point at the file, line and field.

mod data_package;
mod defaults;
mod deployed_package;
mod environments;
mod error;
mod header;
mod hold;
mod names;
mod ordered_map;
mod paths;
mod rbac;
mod store;
mod store_types;
mod teams;
#[cfg(test)]
mod test_support;
mod verification;
mod version;
mod yaml;

pub use data_package::{DataPackage, parse_data_package};
pub use defaults::{DEFAULT_ENVIRONMENTS_YAML, DEFAULT_TEAMS_YAML};
pub use deployed_package::{
    ANNOTATION_PROMOTED_BY, ANNOTATION_PROMOTION_ID, ANNOTATION_ROLLBACK, ANNOTATION_ROLLBACK_FROM,
    DeployedPackage, parse_deployed_package, parse_deployed_package_in,
};
pub use environments::{
    ApprovalRule, DEFAULT_VERIFY_TIMEOUT, Environment, EnvironmentsConfig, FreezeWindow,
    RollbackRule, Verification, parse_environments,
};
pub use error::ManifestError;
pub use hold::{Blocks, HOLDS_DIR, Hold, HoldKind, Release, hold_path, parse_hold};
pub use names::{NameError, validate_login, validate_name, validate_promotion_id};
pub use paths::{ENVIRONMENTS_FILE, RBAC_FILE, TEAMS_FILE, package_manifest_path};
pub use rbac::{Action, Binding, Pattern, RbacPolicy, Role, Rule, parse_rbac};
pub use store::{Store, parse_store};
pub use store_types::{
    STORE_TYPES, StoreScaffoldError, StoreType, parse_settings, scaffold_store, store_type,
};
pub use teams::{Teams, parse_teams};
pub use verification::{
    VerificationDefinition, default_verification_path, parse_verification, verification_path,
};
pub use version::{Version, VersionError};
pub use yaml::{MAX_MANIFEST_BYTES, parse_yaml, to_yaml};

/// The `apiVersion` of every DataKit manifest.
pub const API_VERSION: &str = "datakit.infoblox.dev/v1alpha1";
