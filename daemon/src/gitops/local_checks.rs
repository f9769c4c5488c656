//! The embedded forge's CI: the manifests check of a change request's head, at a cost that
//! follows the change rather than the repository. The head is valid when its base is and
//! its configuration and the files it wrote validate. A base is known valid when the
//! catalog accepted it or a merge of ours left it; any other base (a push by hand) is
//! validated once, incrementally, reading only manifests whose content changed. A change
//! to `config/environments.yaml`, where every manifest's namespace comes from, is checked
//! on its whole tree; a change on top of the accepted base that writes no configuration
//! file is checked against the accepted configuration files, without reading them again.

use std::{
    collections::BTreeMap,
    sync::{Arc, OnceLock},
};

use datakit::manifest::ENVIRONMENTS_FILE;
use tokio::sync::{Mutex, watch};

use super::checks::{check_tree, check_written, failed};
use crate::promotion::{
    CatalogState, Check, ConfigSource, DeployedManifests, LoadedConfig,
    ports::{ForgeError, GitForge, GroupSource},
    read_config_source,
};

/// The manifests checks of one embedded forge, with what they learned about its base.
pub struct ChangeChecks {
    groups: GroupSource,
    base: Mutex<CheckedBase>,
    /// The catalog's state: the revision it accepted was validated as a whole.
    accepted: OnceLock<watch::Receiver<CatalogState>>,
}

/// The newest base commit known to be valid as a whole, and the manifests validated last.
#[derive(Default)]
struct CheckedBase {
    valid: Option<String>,
    manifests: DeployedManifests,
}

impl ChangeChecks {
    pub fn new(groups: GroupSource) -> Self {
        Self {
            groups,
            base: Mutex::default(),
            accepted: OnceLock::new(),
        }
    }

    /// Trusts every revision the catalog accepts as valid as a whole (it validated the
    /// configuration and every manifest of it, or accepted it before dkd restarted).
    pub fn trust_accepted(&self, accepted: watch::Receiver<CatalogState>) {
        // Set once at start; a second catalog would be a wiring mistake, and the first stays.
        let _ = self.accepted.set(accepted);
    }

    /// The configuration files of `revision` when it is the one the catalog accepted.
    fn accepted_source(&self, revision: &str) -> Option<Arc<ConfigSource>> {
        let accepted = self.accepted.get()?.borrow();
        (accepted.source.as_ref())
            .filter(|source| source.revision == revision)
            .cloned()
    }

    fn is_accepted(&self, revision: &str) -> bool {
        self.accepted.get().is_some_and(|accepted| {
            accepted
                .borrow()
                .current
                .as_ref()
                .is_some_and(|config| config.revision == revision)
        })
    }

    /// The check of `head`, a commit on top of `parent` that wrote `paths`.
    pub async fn check(
        &self,
        forge: &dyn GitForge,
        head: &str,
        parent: Option<&str>,
        paths: &[String],
    ) -> Result<Check, ForgeError> {
        if paths.iter().any(|path| path == ENVIRONMENTS_FILE) {
            return Ok(check_tree(
                head,
                &whole_tree(forge, head).await?,
                self.groups,
            ));
        }
        if let Some(parent) = parent
            && let Some(problem) = self.base_problem(forge, parent).await?
        {
            return Ok(failed(problem));
        }
        let kept = parent
            .and_then(|parent| self.accepted_source(parent))
            .and_then(|source| source.unchanged_at(head, paths.iter().map(String::as_str)));
        let config = match kept {
            Some(config) => config,
            None => read_config_source(forge, head).await?,
        };
        let contents = forge.read_files(head, paths).await?;
        let written: BTreeMap<String, String> = paths
            .iter()
            .zip(contents)
            .filter_map(|(path, bytes)| {
                Some((path.clone(), String::from_utf8_lossy(&bytes?).into_owned()))
            })
            .collect();
        Ok(check_written(&config, &written, self.groups))
    }

    /// `commit`, whose check passed, is the base now: valid as a whole.
    pub async fn landed(&self, commit: &str) {
        self.base.lock().await.valid = Some(commit.to_owned());
    }

    /// Why the tree of `base` is invalid, if it is.
    async fn base_problem(
        &self,
        forge: &dyn GitForge,
        base: &str,
    ) -> Result<Option<String>, ForgeError> {
        let mut checked = self.base.lock().await;
        if checked.valid.as_deref() == Some(base) || self.is_accepted(base) {
            return Ok(None);
        }
        let source = read_config_source(forge, base).await?;
        let config = match LoadedConfig::from_source(&source, self.groups) {
            Ok(config) => config,
            Err(problem) => return Ok(Some(problem.to_string())),
        };
        let problem = checked.manifests.check(forge, &config, None).await?;
        if problem.is_none() {
            checked.valid = Some(base.to_owned());
        }
        Ok(problem.map(|problem| problem.to_string()))
    }
}

/// Every file under `config/` and `environments/` at `revision`.
async fn whole_tree(
    forge: &dyn GitForge,
    revision: &str,
) -> Result<BTreeMap<String, String>, ForgeError> {
    let mut paths = forge.list_files(revision, "config/").await?;
    paths.extend(forge.list_files(revision, "environments/").await?);
    let contents = forge.read_files(revision, &paths).await?;
    Ok(paths
        .into_iter()
        .zip(contents)
        .filter_map(|(path, bytes)| Some((path, String::from_utf8_lossy(&bytes?).into_owned())))
        .collect())
}
