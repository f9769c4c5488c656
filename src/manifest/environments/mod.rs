//! `config/environments.yaml`: the environments, their promotion path, approval rules,
//! stores folders, freeze windows, required signatures and soak times.

mod approval;
mod fields;
mod freeze;
mod graph;
mod signatures;
mod soak;
mod stores_path;
mod teams_check;
mod verify;

use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_saphyr::Spanned;

use self::approval::{ApprovalSpans, RawApproval, build_approval};
use self::fields::EnvironmentFields;
use self::freeze::{RawFreeze, build_freezes};
use self::graph::{Declared, resolve_upstreams};
use self::signatures::{RawSignatures, build_signature_keys};
use self::soak::{RawPromotion, build_soak, check_soak_has_upstream};
use self::stores_path::build_stores_path;
use self::verify::{RawVerify, build_verify};
use super::error::ManifestError;
use super::names::validate_name;
use super::ordered_map::OrderedMap;
use super::yaml;

pub use self::approval::{ApprovalRule, RollbackRule};
pub use self::freeze::FreezeWindow;
pub use self::verify::{DEFAULT_VERIFY_TIMEOUT, Verification};

/// The environments of a deployment repository, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentsConfig {
    file: String,
    environments: Vec<Environment>,
    /// Where each environment's approval values were written (same order as `environments`).
    approval_spans: Vec<ApprovalSpans>,
}

/// One environment: where it runs, what comes before it, and who approves promotions to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// Its name, e.g. `prod`.
    pub name: String,
    /// The environment a version must be in before it is promoted here; `None` for the root.
    pub upstream: Option<String>,
    /// Kube context or cluster name in dkd's config.
    pub cluster: String,
    /// Kubernetes namespace the packages run in.
    pub namespace: String,
    /// Who must approve promotions here.
    pub approval: ApprovalRule,
    /// Repository folder of its `Store` manifests, ending with '/'.
    pub stores_path: String,
    /// Windows in which promotions (not rollbacks) are refused.
    pub freezes: Vec<FreezeWindow>,
    /// `require_signatures.keys`: repository paths of public keys, one of which must have
    /// signed a version's digest (cosign format) before it gets here; empty: no requirement.
    pub signature_keys: Vec<String>,
    /// `auto_promote: true`: dkd opens the promotion itself once a version is Healthy in
    /// the upstream environment (and passes every check a manual promotion does).
    pub auto_promote: bool,
    /// `promotion.soak`: how long a version must have been Healthy in the upstream,
    /// continuously, before it is promoted here; `None`: no soak.
    pub soak: Option<Duration>,
    /// `verify:`: a verification runs after a package is Synced and Healthy here, and a
    /// version that failed it is not promoted onward; `None`: no verification.
    pub verify: Option<Verification>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironmentsFile {
    environments: Spanned<Option<OrderedMap<RawEnvironment>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    after: Option<Spanned<String>>,
    cluster: Spanned<String>,
    namespace: Spanned<String>,
    approval: RawApproval,
    stores: Option<Spanned<String>>,
    #[serde(default)]
    freeze: Vec<RawFreeze>,
    require_signatures: Option<RawSignatures>,
    auto_promote: Option<Spanned<bool>>,
    promotion: Option<RawPromotion>,
    verify: Option<RawVerify>,
}

/// The most environments one deployment repository may declare. Each environment carries
/// its whole path, so what dkd keeps and answers grows with the square of the count: 256
/// keeps `ListEnvironments` well under a megabyte and gRPC's default 4 MB message limit.
pub const MAX_ENVIRONMENTS: usize = 256;

/// Parses `config/environments.yaml` (`file` is used in errors) and checks every rule that
/// needs only this file. Cross-file rules: [`EnvironmentsConfig::validate_teams`].
pub fn parse_environments(file: &str, text: &str) -> Result<EnvironmentsConfig, ManifestError> {
    let raw: RawEnvironmentsFile = yaml::parse_yaml(file, text)?;
    let entries = match raw.environments.value {
        Some(map) if !map.entries.is_empty() => map.entries,
        _ => {
            return Err(ManifestError::new(
                file,
                "environments",
                "no environments are defined: add at least one, e.g. dev",
            )
            .at(raw.environments.referenced));
        }
    };
    if entries.len() > MAX_ENVIRONMENTS {
        return Err(ManifestError::new(
            file,
            "environments",
            format!(
                "{} environments is over the budget of {MAX_ENVIRONMENTS} per deployment repository: use fewer, or another repository for another team",
                entries.len()
            ),
        )
        .at(raw.environments.referenced));
    }
    let mut declared = Vec::with_capacity(entries.len());
    let mut environments = Vec::with_capacity(entries.len());
    let mut approval_spans = Vec::with_capacity(entries.len());
    let mut auto_promote_spans = Vec::with_capacity(entries.len());
    let mut soaks = Vec::with_capacity(entries.len());
    for (name, raw_environment) in entries {
        validate_name("environment", &name.value).map_err(|error| {
            ManifestError::new(file, "environments", error.to_string()).at(name.referenced)
        })?;
        let fields = EnvironmentFields {
            file,
            environment: &name.value,
        };
        let cluster = build_cluster(&fields, raw_environment.cluster)?;
        let namespace = build_namespace(&fields, raw_environment.namespace)?;
        let (approval, spans) = build_approval(&fields, raw_environment.approval)?;
        let soak = build_soak(&fields, raw_environment.promotion)?;
        environments.push(Environment {
            name: name.value.clone(),
            upstream: None,
            cluster,
            namespace,
            approval,
            stores_path: build_stores_path(&fields, raw_environment.stores)?,
            freezes: build_freezes(&fields, raw_environment.freeze)?,
            signature_keys: build_signature_keys(&fields, raw_environment.require_signatures)?,
            auto_promote: raw_environment
                .auto_promote
                .as_ref()
                .is_some_and(|auto| auto.value),
            soak: soak.as_ref().map(|soak| soak.duration),
            verify: build_verify(&fields, raw_environment.verify)?,
        });
        auto_promote_spans.push(raw_environment.auto_promote.map(|auto| auto.referenced));
        soaks.push(soak);
        approval_spans.push(spans);
        declared.push(Declared {
            name: name.value,
            after: raw_environment.after,
        });
    }
    let upstreams = resolve_upstreams(file, &declared)?;
    for (index, upstream) in upstreams.into_iter().enumerate() {
        let upstream_name = upstream
            .and_then(|upstream| declared.get(upstream))
            .map(|up| up.name.clone());
        if let Some(environment) = environments.get_mut(index) {
            if let Some(Some(soak)) = soaks.get(index) {
                let fields = EnvironmentFields {
                    file,
                    environment: &environment.name,
                };
                check_soak_has_upstream(&fields, soak, upstream_name.as_deref())?;
            }
            environment.upstream = upstream_name;
        }
    }
    for (environment, span) in environments.iter().zip(auto_promote_spans) {
        if let (true, None, Some(span)) = (environment.auto_promote, &environment.upstream, span) {
            return Err(EnvironmentFields {
                file,
                environment: &environment.name,
            }
            .error(
                "auto_promote",
                span,
                format!(
                    "{} has no upstream environment to promote from automatically: remove auto_promote, or put it on an environment after another",
                    environment.name
                ),
            ));
        }
    }
    Ok(EnvironmentsConfig {
        file: file.to_string(),
        environments,
        approval_spans,
    })
}

fn build_cluster(
    fields: &EnvironmentFields<'_>,
    cluster: Spanned<String>,
) -> Result<String, ManifestError> {
    if cluster.value.is_empty()
        || cluster
            .value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(fields.error(
            "cluster",
            cluster.referenced,
            format!(
                "invalid cluster {:?}: name a kube context or cluster from dkd's config, without spaces",
                cluster.value
            ),
        ));
    }
    Ok(cluster.value)
}

fn build_namespace(
    fields: &EnvironmentFields<'_>,
    namespace: Spanned<String>,
) -> Result<String, ManifestError> {
    validate_name("namespace", &namespace.value)
        .map_err(|error| fields.error("namespace", namespace.referenced, error.to_string()))?;
    Ok(namespace.value)
}

impl EnvironmentsConfig {
    /// Every environment, in file order.
    pub fn environments(&self) -> &[Environment] {
        &self.environments
    }

    /// The environment called `name`.
    pub fn get(&self, name: &str) -> Option<&Environment> {
        self.environments
            .iter()
            .find(|environment| environment.name == name)
    }

    /// Every public key file some environment requires signatures by, sorted, once each.
    pub fn signature_key_files(&self) -> Vec<&str> {
        let mut files: Vec<&str> = self
            .environments
            .iter()
            .flat_map(|environment| environment.signature_keys.iter().map(String::as_str))
            .collect();
        files.sort_unstable();
        files.dedup();
        files
    }

    /// Every environment name, in file order.
    pub fn names(&self) -> Vec<&str> {
        self.environments
            .iter()
            .map(|environment| environment.name.as_str())
            .collect()
    }

    /// The environment a version must be in before it is promoted to `name`.
    pub fn upstream_of(&self, name: &str) -> Option<&Environment> {
        self.get(name)?
            .upstream
            .as_deref()
            .and_then(|upstream| self.get(upstream))
    }

    /// The promotion path that ends at `name`, root first and `name` last; empty if unknown.
    pub fn path_to(&self, name: &str) -> Vec<&Environment> {
        let mut path = Vec::new();
        let mut current = self.get(name);
        while let Some(environment) = current {
            if path.len() == self.environments.len() {
                break; // Unreachable for a validated config, which has no cycle.
            }
            path.push(environment);
            current = environment
                .upstream
                .as_deref()
                .and_then(|upstream| self.get(upstream));
        }
        path.reverse();
        path
    }

    /// Every environment, each after its upstream and otherwise in file order (the row order
    /// of status tables).
    pub fn path_order(&self) -> Vec<&Environment> {
        let mut ordered: Vec<&Environment> = Vec::with_capacity(self.environments.len());
        while ordered.len() < self.environments.len() {
            let is_placed = |name: &str| ordered.iter().any(|placed| placed.name == name);
            let next = self.environments.iter().find(|environment| {
                !is_placed(&environment.name)
                    && environment.upstream.as_deref().is_none_or(&is_placed)
            });
            match next {
                Some(environment) => ordered.push(environment),
                None => break, // Unreachable for a validated config, which has no cycle.
            }
        }
        ordered
    }
}

impl Environment {
    /// The freeze window `now` falls in, if any.
    pub fn active_freeze(&self, now: SystemTime) -> Option<&FreezeWindow> {
        self.freezes.iter().find(|window| window.contains(now))
    }

    /// Where the `Store` manifest called `store` lives, e.g. `environments/dev/stores/events.yaml`.
    pub fn store_manifest_path(&self, store: &str) -> String {
        format!("{}{store}.yaml", self.stores_path)
    }
}

#[cfg(test)]
mod test_fixtures;
#[cfg(test)]
mod tests;
