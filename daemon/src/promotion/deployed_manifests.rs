//! Every `DeployedPackage` of a revision (`environments/<env>/<package>.yaml`), validated
//! with its configuration so a bad one refuses the revision like a configuration error,
//! re-reading only the manifests whose contents changed.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use datakit::manifest::{ManifestError, parse_deployed_package, parse_deployed_package_in};

use super::{ConfigProblem, LoadedConfig};
use crate::promotion::ports::{FolderChanges, ForgeError, GitForge, RevisionChanges, TreeFile};

/// The folder every environment's manifests live in.
const ENVIRONMENTS_DIR: &str = "environments/";

/// What a file under `environments/` must be to validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected<'a> {
    /// A `DeployedPackage` of a configured environment, naming its namespace.
    InNamespace(&'a str),
    /// A `DeployedPackage` in the folder of an environment that is not configured (Argo CD
    /// would still deploy it): it must parse.
    AnyNamespace,
}

/// Whether `path` is a `DeployedPackage` manifest under `config`, and what it must name:
/// a `.yaml`/`.yml` file directly in `environments/<folder>/`, outside every stores folder.
pub fn expected_manifest<'a>(config: &'a LoadedConfig, path: &str) -> Option<Expected<'a>> {
    let rest = path.strip_prefix(ENVIRONMENTS_DIR)?;
    let (folder, file) = rest.split_once('/')?;
    if file.contains('/') || !(file.ends_with(".yaml") || file.ends_with(".yml")) {
        return None;
    }
    let environments = config.environments.environments();
    if environments
        .iter()
        .any(|env| path.starts_with(&env.stores_path))
    {
        return None;
    }
    Some(
        environments
            .iter()
            .find(|env| env.name == folder)
            .map_or(Expected::AnyNamespace, |env| {
                Expected::InNamespace(&env.namespace)
            }),
    )
}

/// Validates one manifest as [`expected_manifest`] said it must be; returns the namespace
/// it names.
pub fn validate_manifest(
    path: &str,
    text: &str,
    expected: Expected<'_>,
) -> Result<String, ManifestError> {
    match expected {
        Expected::InNamespace(namespace) => parse_deployed_package_in(path, text, namespace),
        Expected::AnyNamespace => parse_deployed_package(path, text),
    }
    .map(|deployed| deployed.namespace)
}

/// A manifest known to validate.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Valid {
    /// Its content id.
    id: String,
    /// The namespace it names; `None` when it was trusted without being read and its
    /// folder is no configured environment.
    namespace: Option<String>,
}

impl Valid {
    /// Whether a file with content `id` is still valid where `expected` applies.
    fn holds_for(&self, id: &str, expected: Expected<'_>) -> bool {
        self.id == id
            && match expected {
                Expected::AnyNamespace => true,
                Expected::InNamespace(namespace) => self.namespace.as_deref() == Some(namespace),
            }
    }
}

/// The `DeployedPackage` manifests known to validate, by path, content id and namespace.
///
/// Cost per new revision: what changed in `environments/` since the last revision checked
/// (a tree diff, or one GitHub compare), and reading and parsing only the manifests it
/// wrote — typically the one file a promotion wrote. A whole check (the environments'
/// expectations changed, or the forge cannot tell what changed) lists `environments/` with
/// content ids and reads only the manifests whose id changed or that now belong to another
/// namespace. Memory: a path, an id and a namespace per manifest listed, about 6 MB for
/// 10,000 packages × 3 environments.
///
/// A manifest that fails is never remembered, so it is read and refused again in every
/// revision until it is fixed or removed.
#[derive(Debug, Default)]
pub struct DeployedManifests {
    /// Path → what validated, for every manifest of the last revision checked.
    valid: HashMap<String, Valid>,
    /// Whether `valid` was filled once in this process (see [`Self::trust`]).
    filled: bool,
    /// A configuration accepted before dkd restarted, trusted but not listed yet: its
    /// manifests join `valid` when a whole check first needs them.
    trusted: Option<Arc<LoadedConfig>>,
    /// The revision `valid` and `invalid` describe, when the forge can tell what changed
    /// since it.
    checked: Option<Checked>,
}

/// The last revision checked, what its environments expected, and its bad manifests.
#[derive(Debug)]
struct Checked {
    revision: String,
    environments: Vec<(String, String, String)>,
    /// Path → why it failed, for every manifest of that revision that did.
    invalid: BTreeMap<String, ConfigProblem>,
}

/// `file`'s contents `bytes` validated where `expected` applies: what validated, or why not.
fn validated(
    file: &TreeFile,
    bytes: &[u8],
    expected: Expected<'_>,
    revision: &str,
) -> Result<Valid, ConfigProblem> {
    let text = String::from_utf8_lossy(bytes);
    match validate_manifest(&file.path, &text, expected) {
        Ok(namespace) => Ok(Valid {
            id: file.id.clone(),
            namespace: Some(namespace),
        }),
        Err(error) => Err(ConfigProblem::from_manifest(revision, &error)),
    }
}

/// What decides where a manifest is expected and what it must name: each environment's
/// name, namespace and stores folder.
fn expectations(config: &LoadedConfig) -> Vec<(String, String, String)> {
    config
        .environments
        .environments()
        .iter()
        .map(|e| (e.name.clone(), e.namespace.clone(), e.stores_path.clone()))
        .collect()
}

impl DeployedManifests {
    /// Whether nothing was checked or trusted yet in this process.
    pub fn is_unfilled(&self) -> bool {
        !self.filled
    }

    /// Takes every manifest of `config`'s revision as valid without reading it: that
    /// revision was accepted, manifests included, before dkd restarted. Costs nothing
    /// until a whole check needs to know which (one listing then), instead of reading
    /// every manifest (one GitHub request each) at start; a push compared with it reads
    /// only what changed. A revision accepted by a dkd older than this check is trusted
    /// the same way; a bad manifest in it is caught when it changes.
    pub fn trust(&mut self, config: Arc<LoadedConfig>) {
        self.valid.clear();
        self.filled = true;
        self.checked = Some(Checked {
            revision: config.revision.clone(),
            environments: expectations(&config),
            invalid: BTreeMap::new(),
        });
        self.trusted = Some(config);
    }

    /// Adds the manifests of the trusted revision to `valid`, where nothing newer is known
    /// of their path: what a whole check compares with.
    async fn list_trusted(&mut self, forge: &dyn GitForge) -> Result<(), ForgeError> {
        let Some(config) = &self.trusted else {
            return Ok(());
        };
        let tree = forge.list_tree(&config.revision, ENVIRONMENTS_DIR).await?;
        for file in tree {
            let Some(expected) = expected_manifest(config, &file.path) else {
                continue;
            };
            let namespace = match expected {
                Expected::InNamespace(namespace) => Some(namespace.to_owned()),
                Expected::AnyNamespace => None,
            };
            self.valid.entry(file.path).or_insert(Valid {
                id: file.id,
                namespace,
            });
        }
        self.trusted = None;
        Ok(())
    }

    /// Validates every manifest of `config`'s revision; the first bad one (by path) is the
    /// problem that refuses the revision. When the forge tells what changed since the last
    /// revision checked (and the environments expect the same), only that is read;
    /// `known` spares asking when it is the difference from that revision.
    pub async fn check(
        &mut self,
        forge: &dyn GitForge,
        config: &LoadedConfig,
        known: Option<&RevisionChanges>,
    ) -> Result<Option<ConfigProblem>, ForgeError> {
        if let Some(checked) = &self.checked
            && checked.environments == expectations(config)
        {
            let (from, to) = (checked.revision.as_str(), config.revision.as_str());
            let changes = match known.and_then(|known| known.between(from, to, ENVIRONMENTS_DIR)) {
                Some(changes) => Some(changes),
                None => forge.changed_files(from, to, ENVIRONMENTS_DIR).await?,
            };
            if let Some(changes) = changes {
                return self.check_changes(forge, config, changes).await;
            }
        }
        self.check_all(forge, config).await
    }

    /// Validates what `changes` wrote since the last revision checked; removed files and
    /// files that are no manifest leave both the valid and the invalid ones.
    async fn check_changes(
        &mut self,
        forge: &dyn GitForge,
        config: &LoadedConfig,
        changes: FolderChanges,
    ) -> Result<Option<ConfigProblem>, ForgeError> {
        let revision = config.revision.as_str();
        let mut gone = changes.removed;
        let mut unread = Vec::new();
        for file in changes.written {
            match expected_manifest(config, &file.path) {
                None => gone.push(file.path),
                Some(expected) => {
                    let known = self.valid.get(&file.path);
                    if !known.is_some_and(|known| known.holds_for(&file.id, expected)) {
                        unread.push((file, expected));
                    }
                }
            }
        }
        // Read before changing anything: a failed read leaves what is known intact.
        let paths: Vec<String> = unread.iter().map(|(file, _)| file.path.clone()).collect();
        let contents = forge.read_files(revision, &paths).await?;
        let Some(checked) = self.checked.as_mut() else {
            return Ok(None);
        };
        for path in gone {
            self.valid.remove(&path);
            checked.invalid.remove(&path);
        }
        for ((file, expected), bytes) in unread.into_iter().zip(contents) {
            self.valid.remove(&file.path);
            checked.invalid.remove(&file.path);
            let Some(bytes) = bytes else { continue };
            match validated(&file, &bytes, expected, revision) {
                Ok(known) => {
                    self.valid.insert(file.path, known);
                }
                Err(problem) => {
                    checked.invalid.insert(file.path, problem);
                }
            }
        }
        checked.revision = revision.to_owned();
        Ok(checked
            .invalid
            .values()
            .next()
            .map(|problem| ConfigProblem {
                revision: revision.to_owned(),
                ..problem.clone()
            }))
    }

    /// Validates every manifest of `config`'s revision, reading those whose content id
    /// differs from what validated last.
    async fn check_all(
        &mut self,
        forge: &dyn GitForge,
        config: &LoadedConfig,
    ) -> Result<Option<ConfigProblem>, ForgeError> {
        self.list_trusted(forge).await?;
        let revision = config.revision.as_str();
        let tree = forge.list_tree(revision, ENVIRONMENTS_DIR).await?;
        let mut valid = HashMap::with_capacity(tree.len());
        let mut unread = Vec::new();
        for file in tree {
            let Some(expected) = expected_manifest(config, &file.path) else {
                continue;
            };
            // Cloned, not taken: a failed read below must leave what is known intact.
            match self.valid.get(&file.path) {
                Some(known) if known.holds_for(&file.id, expected) => {
                    valid.insert(file.path, known.clone());
                }
                _ => unread.push((file, expected)),
            }
        }
        let paths: Vec<String> = unread.iter().map(|(file, _)| file.path.clone()).collect();
        let contents = forge.read_files(revision, &paths).await?;
        let mut invalid = BTreeMap::new();
        for ((file, expected), bytes) in unread.into_iter().zip(contents) {
            let Some(bytes) = bytes else { continue };
            match validated(&file, &bytes, expected, revision) {
                Ok(known) => {
                    valid.insert(file.path, known);
                }
                Err(problem) => {
                    invalid.insert(file.path, problem);
                }
            }
        }
        self.valid = valid;
        self.filled = true;
        let first = invalid.values().next().cloned();
        self.checked = Some(Checked {
            revision: revision.to_owned(),
            environments: expectations(config),
            invalid,
        });
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, time::SystemTime};

    use datakit::manifest::{DEFAULT_ENVIRONMENTS_YAML, ENVIRONMENTS_FILE};

    use super::*;
    use crate::promotion::{ConfigSource, ports::GroupSource};

    fn config() -> LoadedConfig {
        let source = ConfigSource {
            revision: "r".into(),
            loaded_at: SystemTime::UNIX_EPOCH,
            files: BTreeMap::from([(
                ENVIRONMENTS_FILE.to_owned(),
                DEFAULT_ENVIRONMENTS_YAML.to_owned(),
            )]),
        };
        LoadedConfig::from_source(&source, GroupSource::TeamsFile).expect("default config")
    }

    #[test]
    fn manifests_are_the_yaml_files_of_environment_folders_outside_stores() {
        let config = config();
        let expected = |path: &str| expected_manifest(&config, path);
        assert_eq!(
            expected("environments/prod/my-package.yaml"),
            Some(Expected::InNamespace("production"))
        );
        assert_eq!(
            expected("environments/dev/my-package.yml"),
            Some(Expected::InNamespace("dev"))
        );
        assert_eq!(
            expected("environments/old/my-package.yaml"),
            Some(Expected::AnyNamespace)
        );
        for other in [
            "environments/dev/stores/events.yaml",
            "environments/dev/README.md",
            "environments/dev/nested/x.yaml",
            "environments/top.yaml",
            "config/environments.yaml",
        ] {
            assert_eq!(expected(other), None, "{other}");
        }
    }
}
