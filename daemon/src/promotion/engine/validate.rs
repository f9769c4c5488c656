//! The checks a promotion must pass before anything is written, in the contract's
//! order: a rollback goes back to a version the environment ran, the artifact resolves
//! (its digest is pinned, and is the one that ran for a rollback), the upstream
//! environment runs the version, no freeze window is open, and every binding resolves in
//! the target.

use std::time::SystemTime;

use datakit::manifest::{Environment, Version, package_manifest_path, parse_deployed_package};

use super::{Engine, PromoteRequest};
use crate::promotion::{LoadedConfig, PromotionError, model::PromotionKind, ports::SyncState};

/// What a validated request promotes: the exact version and the pinned artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub version: String,
    pub reference: String,
    pub digest: String,
    /// `--force` was needed: the upstream environment does not run the version.
    pub upstream_skipped: bool,
}

fn rfc3339(time: SystemTime) -> String {
    prost_types::Timestamp::from(time).to_string()
}

/// How far back a rollback reaches: the versions among the manifest's last 100 changes on
/// the base branch. That is one page of GitHub's commit list (its largest), and two git
/// processes on the embedded forge; older versions go through a normal promotion.
const ROLLBACK_REACH: usize = 100;
/// How many rollback targets a refusal lists.
const LISTED_TARGETS: usize = 5;

/// One version an environment ran, with the digest it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RanVersion {
    pub version: String,
    pub digest: String,
}

/// One version an environment ran, with every digest it ran as (newest first; more than
/// one only where a manifest was edited by hand).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RanAs {
    pub version: String,
    pub digests: Vec<String>,
}

impl RanAs {
    fn add(&mut self, digest: String) {
        if !self.digests.contains(&digest) {
            self.digests.push(digest);
        }
    }
}

/// What an environment ran of one package, from its manifest's history on the base branch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct RunHistory {
    /// What runs now; `None` when the manifest is absent (or unreadable) on the base branch.
    pub current: Option<RanAs>,
    /// The rollback targets: earlier versions, newest first, each once, never the current.
    pub earlier: Vec<RanAs>,
}

impl RunHistory {
    /// Reads manifests of one file, newest first (`None`: deleted or unreadable there).
    fn from_manifests(manifests: impl IntoIterator<Item = Option<RanVersion>>) -> Self {
        let mut manifests = manifests.into_iter();
        let mut current = manifests.next().flatten().map(|ran| RanAs {
            version: ran.version,
            digests: vec![ran.digest],
        });
        let mut earlier: Vec<RanAs> = Vec::new();
        for ran in manifests.flatten() {
            let known = current
                .iter_mut()
                .chain(earlier.iter_mut())
                .find(|known| known.version == ran.version);
            match known {
                Some(known) => known.add(ran.digest),
                None => earlier.push(RanAs {
                    version: ran.version,
                    digests: vec![ran.digest],
                }),
            }
        }
        Self { current, earlier }
    }

    /// What `version` ran as, if it is the current version (a no-op) or a rollback target.
    fn ran(&self, version: &str) -> Option<&RanAs> {
        self.current
            .iter()
            .chain(&self.earlier)
            .find(|ran| ran.version == version)
    }

    /// Why `version` is no rollback target, with the ones there are, in one line.
    fn refusal(&self, package: &str, environment: &str, version: &str) -> String {
        let instead = format!("promote {version} through the upstream environments instead");
        let Some(current) = &self.current else {
            if self.earlier.is_empty() {
                return format!(
                    "{package} never ran in {environment}: there is nothing to roll back; {instead}"
                );
            }
            return format!(
                "{package} {version} never ran in {environment}: roll back to {} (newest first), or {instead}",
                self.listed_targets()
            );
        };
        if self.earlier.is_empty() {
            return format!(
                "{package} {version} never ran in {environment}, which has run only {}: there is nothing to roll back to; {instead}",
                current.version
            );
        }
        format!(
            "{package} {version} never ran in {environment}: roll back to {} (newest first), or {instead}",
            self.listed_targets()
        )
    }

    /// `v1.2.0, v1.1.0 and 3 older`.
    fn listed_targets(&self) -> String {
        let shown: Vec<&str> = self
            .earlier
            .iter()
            .take(LISTED_TARGETS)
            .map(|ran| ran.version.as_str())
            .collect();
        match self.earlier.len().saturating_sub(LISTED_TARGETS) {
            0 => shown.join(", "),
            more => format!("{} and {more} older", shown.join(", ")),
        }
    }
}

impl Engine {
    pub(super) async fn validate(
        &self,
        config: &LoadedConfig,
        environment: &Environment,
        request: &PromoteRequest,
        version: &Version,
    ) -> Result<Target, PromotionError> {
        let ran = if request.kind == PromotionKind::Rollback {
            let history = self
                .run_history(&request.package, &environment.name)
                .await?;
            let ran = history.ran(version.as_str()).cloned().ok_or_else(|| {
                PromotionError::Refused(history.refusal(
                    &request.package,
                    &environment.name,
                    version.as_str(),
                ))
            })?;
            Some(ran)
        } else {
            None
        };
        let resolved = self
            .ports
            .registry
            .resolve(&request.package, version.as_str())
            .await?;
        if let Some(ran) = ran
            && !ran.digests.contains(&resolved.digest)
        {
            return Err(PromotionError::Refused(format!(
                "{} {version} ran in {} as {}, but the registry serves {}: a rollback goes back to exactly what ran; promote {version} instead",
                request.package,
                environment.name,
                ran.digests.join(" and "),
                resolved.digest
            )));
        }
        let mut upstream_skipped = false;
        if request.kind == PromotionKind::Promotion {
            let skipped = self
                .environments_not_running(config, environment, &request.package, version.as_str())
                .await?;
            if !skipped.is_empty() {
                if !request.force {
                    return Err(PromotionError::Refused(format!(
                        "{} {} does not run in {} yet (skipped: {}): promote it there first, or use --force",
                        request.package,
                        version,
                        environment.upstream.as_deref().unwrap_or_default(),
                        skipped.join(", ")
                    )));
                }
                upstream_skipped = true;
            }
            if let Some(freeze) = environment.active_freeze(SystemTime::now()) {
                return Err(PromotionError::Refused(format!(
                    "{} is frozen until {} ({}): promotions are refused, rollbacks are allowed",
                    environment.name,
                    rfc3339(freeze.end),
                    freeze.reason
                )));
            }
        }
        let stores = config
            .stores
            .get(&environment.name)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (key, store) in &resolved.bindings {
            if !stores.iter().any(|entry| &entry.store.name == store) {
                return Err(PromotionError::Refused(format!(
                    "binding {key} of {} needs store {store} in {}, which is not defined: expected {}",
                    request.package,
                    environment.name,
                    environment.store_manifest_path(store)
                )));
            }
        }
        Ok(Target {
            version: version.as_str().to_owned(),
            reference: resolved.reference,
            digest: resolved.digest,
            upstream_skipped,
        })
    }

    /// What `environment` ran of `package`, from the last [`ROLLBACK_REACH`] changes of
    /// its manifest on the base branch.
    pub(super) async fn run_history(
        &self,
        package: &str,
        environment: &str,
    ) -> Result<RunHistory, PromotionError> {
        let file = package_manifest_path(environment, package);
        let history = self.ports.forge.file_history(&file, ROLLBACK_REACH).await?;
        Ok(RunHistory::from_manifests(history.iter().map(|entry| {
            let deployed = parse_deployed_package(&file, entry.contents.as_deref()?).ok()?;
            Some(RanVersion {
                version: deployed.version,
                digest: deployed.digest,
            })
        })))
    }

    /// The environments on the path to `environment` (not itself) that do not run
    /// `version` of `package`, Synced; empty when the upstream runs it.
    async fn environments_not_running(
        &self,
        config: &LoadedConfig,
        environment: &Environment,
        package: &str,
        version: &str,
    ) -> Result<Vec<String>, PromotionError> {
        let path = config.environments.path_to(&environment.name);
        let upstreams = &path[..path.len().saturating_sub(1)];
        let Some(upstream) = upstreams.last() else {
            return Ok(Vec::new());
        };
        if self.runs(&upstream.name, package, version).await? {
            return Ok(Vec::new());
        }
        let mut skipped = Vec::new();
        for env in upstreams {
            if !self.runs(&env.name, package, version).await? {
                skipped.push(env.name.clone());
            }
        }
        Ok(skipped)
    }

    async fn runs(
        &self,
        environment: &str,
        package: &str,
        version: &str,
    ) -> Result<bool, PromotionError> {
        let status = self
            .ports
            .cluster
            .package_status(environment, package)
            .await?;
        Ok(status.is_some_and(|s| s.version == version && s.sync == SyncState::Synced))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ran(version: &str) -> Option<RanVersion> {
        Some(RanVersion {
            version: version.into(),
            digest: format!("sha256:{version}"),
        })
    }

    fn history(manifests: &[Option<RanVersion>]) -> RunHistory {
        RunHistory::from_manifests(manifests.iter().cloned())
    }

    #[test]
    fn earlier_versions_are_listed_newest_first_once_without_the_current_one() {
        let history = history(&[ran("v3"), ran("v2"), ran("v3"), None, ran("v1"), ran("v2")]);
        assert_eq!(
            history.current.as_ref().map(|c| c.version.as_str()),
            Some("v3")
        );
        let earlier: Vec<&str> = history.earlier.iter().map(|r| r.version.as_str()).collect();
        assert_eq!(earlier, ["v2", "v1"]);
        assert!(history.ran("v1").is_some() && history.ran("v3").is_some());
        assert_eq!(history.ran("v9"), None);
        assert_eq!(
            history.refusal("pkg", "prod", "v9"),
            "pkg v9 never ran in prod: roll back to v2, v1 (newest first), or promote v9 through the upstream environments instead"
        );
    }

    #[test]
    fn every_digest_a_version_ran_as_is_kept_newest_first() {
        let edited = RanVersion {
            version: "v1".into(),
            digest: "sha256:edited".into(),
        };
        let history = history(&[ran("v2"), Some(edited), ran("v1")]);
        assert_eq!(
            history.ran("v1").map(|r| r.digests.clone()),
            Some(vec!["sha256:edited".to_owned(), "sha256:v1".to_owned()])
        );
    }

    #[test]
    fn a_refusal_lists_a_few_targets_and_counts_the_older_ones() {
        let versions: Vec<Option<RanVersion>> =
            (0..9).rev().map(|n| ran(&format!("v{n}"))).collect();
        let refusal = history(&versions).refusal("pkg", "prod", "v42");
        assert!(
            refusal.contains("roll back to v7, v6, v5, v4, v3 and 3 older (newest first)"),
            "{refusal}"
        );
    }

    #[test]
    fn a_package_that_never_ran_or_ran_once_has_nothing_to_roll_back_to() {
        assert!(
            history(&[])
                .refusal("pkg", "prod", "v1")
                .starts_with("pkg never ran in prod: there is nothing to roll back")
        );
        let once = history(&[ran("v1"), ran("v1")]);
        assert!(once.earlier.is_empty());
        assert!(
            once.refusal("pkg", "prod", "v0")
                .contains("which has run only v1: there is nothing to roll back to"),
            "{}",
            once.refusal("pkg", "prod", "v0")
        );
    }

    #[test]
    fn a_deleted_manifest_runs_nothing_but_keeps_its_earlier_versions() {
        let deleted = history(&[None, ran("v2"), ran("v1")]);
        assert_eq!(deleted.current, None);
        assert_eq!(deleted.earlier.len(), 2);
    }
}
