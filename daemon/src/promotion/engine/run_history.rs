//! What an environment ran of a package, read from its manifest's history on the base
//! branch: the rollback targets, and why a version is none.

use datakit::manifest::{package_manifest_path, parse_deployed_package};

use super::Engine;
use crate::promotion::PromotionError;

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
    /// The base-branch commit that wrote it.
    pub commit: String,
}

/// One version an environment ran, with every digest it ran as (newest first; more than
/// one only where a manifest was edited by hand).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RanAs {
    pub version: String,
    pub digests: Vec<String>,
    /// The base-branch commits that wrote it, newest first: it ran only if one of them
    /// was an accepted revision.
    pub commits: Vec<String>,
}

impl RanAs {
    fn new(ran: RanVersion) -> Self {
        Self {
            version: ran.version,
            digests: vec![ran.digest],
            commits: vec![ran.commit],
        }
    }

    fn add(&mut self, ran: RanVersion) {
        if !self.digests.contains(&ran.digest) {
            self.digests.push(ran.digest);
        }
        self.commits.push(ran.commit);
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
        let mut current = manifests.next().flatten().map(RanAs::new);
        let mut earlier: Vec<RanAs> = Vec::new();
        for ran in manifests.flatten() {
            let known = current
                .iter_mut()
                .chain(earlier.iter_mut())
                .find(|known| known.version == ran.version);
            match known {
                Some(known) => known.add(ran),
                None => earlier.push(RanAs::new(ran)),
            }
        }
        Self { current, earlier }
    }

    /// What `version` ran as, if it is the current version (a no-op) or a rollback target.
    pub(super) fn ran(&self, version: &str) -> Option<&RanAs> {
        self.current
            .iter()
            .chain(&self.earlier)
            .find(|ran| ran.version == version)
    }

    /// Why `version` is no rollback target, with the ones there are, in one line.
    pub(super) fn refusal(&self, package: &str, environment: &str, version: &str) -> String {
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
                commit: entry.commit.clone(),
            })
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ran(version: &str) -> Option<RanVersion> {
        Some(RanVersion {
            version: version.into(),
            digest: format!("sha256:{version}"),
            commit: format!("commit-{version}"),
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
            commit: "edited-by-hand".into(),
        };
        let history = history(&[ran("v2"), Some(edited), ran("v1")]);
        assert_eq!(
            history.ran("v1").map(|r| r.digests.clone()),
            Some(vec!["sha256:edited".to_owned(), "sha256:v1".to_owned()])
        );
        assert_eq!(
            history.ran("v1").map(|r| r.commits.clone()),
            Some(vec!["edited-by-hand".to_owned(), "commit-v1".to_owned()]),
            "every commit that wrote it, newest first"
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
