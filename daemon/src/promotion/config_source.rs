//! One revision of the deployment repository's configuration: the raw files
//! (`ConfigSource`, what is persisted) and their validated form (`LoadedConfig`).

use std::{collections::BTreeMap, time::SystemTime};

use datakit::manifest::{
    ENVIRONMENTS_FILE, Environment, EnvironmentsConfig, HOLDS_DIR, Hold, ManifestError, RBAC_FILE,
    RbacPolicy, Store, TEAMS_FILE, Teams, VerificationDefinition, parse_environments, parse_hold,
    parse_rbac, parse_store, parse_teams, parse_verification,
};
use datakit::oci::PublicKey;
use sha2::{Digest as _, Sha256};

use crate::promotion::ports::{ForgeError, GitForge, GroupSource};

/// The folder of `config/environments.yaml`, `config/teams.yaml` and `config/rbac.yaml`.
const CONFIG_DIR: &str = "config/";

/// The configuration files of one base-branch revision, as read from the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSource {
    /// The base-branch commit the files come from.
    pub revision: String,
    /// When dkd read them.
    pub loaded_at: SystemTime,
    /// Repository path → contents, for `config/environments.yaml`, `config/teams.yaml` and
    /// `config/rbac.yaml` (when present), every Store manifest, every hold file, every
    /// public key an environment's `require_signatures` names and the verification
    /// definitions of environments that declare `verify:`.
    pub files: BTreeMap<String, String>,
}

impl ConfigSource {
    /// SHA-256 of every file's path and contents, each length-prefixed so that no two
    /// different sets of files read the same.
    pub fn content_digest(&self) -> [u8; 32] {
        let mut digest = Sha256::new();
        for (path, text) in &self.files {
            for part in [path.as_bytes(), text.as_bytes()] {
                digest.update((part.len() as u64).to_le_bytes());
                digest.update(part);
            }
        }
        digest.finalize().into()
    }

    /// The same files as those of `revision`, whose commit wrote or removed only `changed`
    /// since this revision; `None` when one of them is a configuration file, or this
    /// revision's `config/environments.yaml` does not parse far enough to tell which files
    /// it reads.
    pub fn unchanged_at<'a>(
        &self,
        revision: &str,
        mut changed: impl Iterator<Item = &'a str>,
    ) -> Option<Self> {
        let environments =
            parse_environments(ENVIRONMENTS_FILE, self.files.get(ENVIRONMENTS_FILE)?).ok()?;
        let key_files = environments.signature_key_files();
        let read_here = |path: &str| {
            path.starts_with(CONFIG_DIR)
                || path.starts_with(HOLDS_DIR)
                || key_files.contains(&path)
                || environments.environments().iter().any(|environment| {
                    path.starts_with(&environment.stores_path)
                        || (environment.verify.is_some()
                            && path.starts_with(&verify_dir(&environment.name)))
                })
        };
        if changed.any(read_here) {
            return None;
        }
        Some(Self {
            revision: revision.to_owned(),
            loaded_at: super::model::now(),
            files: self.files.clone(),
        })
    }
}

/// Something wrong with a configuration revision, in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub file: String,
    pub line: Option<u32>,
    pub message: String,
    pub revision: String,
}

impl ConfigProblem {
    fn new(revision: &str, file: &str, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line: None,
            message: message.into(),
            revision: revision.to_owned(),
        }
    }

    pub(super) fn from_manifest(revision: &str, error: &ManifestError) -> Self {
        let message = if error.field.is_empty() {
            error.message.clone()
        } else {
            format!("{}: {}", error.field, error.message)
        };
        Self {
            file: error.file.clone(),
            line: error.line,
            message,
            revision: revision.to_owned(),
        }
    }
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// A Store manifest and the file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreEntry {
    pub file: String,
    pub store: Store,
}

/// A configuration revision that passed every check.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub revision: String,
    /// SHA-256 of the configuration files (paths and contents): equal for every revision
    /// whose configuration reads the same, whatever else its commit changed.
    pub content: [u8; 32],
    pub loaded_at: SystemTime,
    pub environments: EnvironmentsConfig,
    pub teams: Option<Teams>,
    /// Who may do what on the network listener; `None` (no `config/rbac.yaml`): nothing.
    pub rbac: Option<RbacPolicy>,
    /// Environment name → its stores, sorted by name.
    pub stores: BTreeMap<String, Vec<StoreEntry>>,
    /// Repository path → public key, for every key an environment requires signatures by.
    pub signature_keys: BTreeMap<String, PublicKey>,
    /// Repository path → verification definition, for every `environments/<env>/verify/*.yaml`
    /// of an environment that declares `verify:`.
    pub verifications: BTreeMap<String, VerificationDefinition>,
    /// (environment, package) → its hold file, active or released.
    pub holds: BTreeMap<(String, String), Hold>,
}

impl LoadedConfig {
    /// The environment called `name`, or a message naming the known ones.
    pub fn environment(&self, name: &str) -> Result<&Environment, String> {
        self.environments.get(name).ok_or_else(|| {
            format!(
                "unknown environment {name:?}: known environments are {}",
                self.environments.names().join(", ")
            )
        })
    }

    /// The hold on `package` in `environment` that still applies, if any.
    pub fn active_hold(&self, environment: &str, package: &str) -> Option<&Hold> {
        self.holds
            .get(&(environment.to_owned(), package.to_owned()))
            .filter(|hold| hold.is_active())
    }
}

impl LoadedConfig {
    /// Parses and validates `source` as a whole; the first problem refuses the revision.
    /// With `GroupSource::Forge`, `config/teams.yaml` is ignored and approver groups are
    /// not checked against any teams (see [`GroupSource`]).
    pub fn from_source(source: &ConfigSource, groups: GroupSource) -> Result<Self, ConfigProblem> {
        let revision = source.revision.as_str();
        let problem = |error: ManifestError| ConfigProblem::from_manifest(revision, &error);
        let environments_text = source.files.get(ENVIRONMENTS_FILE).ok_or_else(|| {
            ConfigProblem::new(
                revision,
                ENVIRONMENTS_FILE,
                "the file is missing: restore it on the base branch",
            )
        })?;
        let environments =
            parse_environments(ENVIRONMENTS_FILE, environments_text).map_err(problem)?;
        let teams = match groups {
            GroupSource::TeamsFile => source.files.get(TEAMS_FILE),
            GroupSource::Forge => None,
        }
        .map(|text| parse_teams(TEAMS_FILE, text))
        .transpose()
        .map_err(problem)?;
        environments
            .validate_teams(teams.as_ref())
            .map_err(problem)?;
        let rbac = source
            .files
            .get(RBAC_FILE)
            .map(|text| parse_rbac(RBAC_FILE, text, &environments.names()))
            .transpose()
            .map_err(problem)?;
        let signature_keys = signature_keys(source, &environments)?;
        let mut stores = BTreeMap::new();
        for environment in environments.environments() {
            let mut entries: Vec<StoreEntry> = Vec::new();
            for (file, text) in source.files.range(environment.stores_path.clone()..) {
                if !file.starts_with(&environment.stores_path) {
                    break;
                }
                if !is_yaml(file) || file[environment.stores_path.len()..].contains('/') {
                    continue;
                }
                let store = parse_store(file, text).map_err(problem)?;
                if let Some(other) = entries.iter().find(|e| e.store.name == store.name) {
                    let message = format!(
                        "store {} is also defined in {}: keep one",
                        store.name, other.file
                    );
                    return Err(ConfigProblem::new(revision, file, message));
                }
                entries.push(StoreEntry {
                    file: file.clone(),
                    store,
                });
            }
            entries.sort_by(|a, b| a.store.name.cmp(&b.store.name));
            stores.insert(environment.name.clone(), entries);
        }
        let holds = holds_of(source, &environments)?;
        let mut verifications = BTreeMap::new();
        for environment in environments.environments() {
            if environment.verify.is_none() {
                continue;
            }
            let dir = verify_dir(&environment.name);
            for (file, text) in source.files.range(dir.clone()..) {
                if !file.starts_with(&dir) {
                    break;
                }
                if is_yaml(file) && !file[dir.len()..].contains('/') {
                    let definition = parse_verification(file, text).map_err(problem)?;
                    verifications.insert(file.clone(), definition);
                }
            }
        }
        Ok(Self {
            verifications,
            holds,
            revision: source.revision.clone(),
            content: source.content_digest(),
            loaded_at: source.loaded_at,
            environments,
            teams,
            rbac,
            stores,
            signature_keys,
        })
    }
}

/// Parses every public key `environments` requires signatures by; a missing or unusable key
/// file refuses the revision like any other configuration error.
fn signature_keys(
    source: &ConfigSource,
    environments: &EnvironmentsConfig,
) -> Result<BTreeMap<String, PublicKey>, ConfigProblem> {
    let mut keys = BTreeMap::new();
    for file in environments.signature_key_files() {
        let problem = |message: String| ConfigProblem::new(&source.revision, file, message);
        let text = source.files.get(file).ok_or_else(|| {
            problem(format!(
                "the public key named in {ENVIRONMENTS_FILE} (require_signatures) is missing: add it on the base branch (cosign.pub) or remove it from require_signatures"
            ))
        })?;
        let key = PublicKey::from_pem(text)
            .map_err(|error| problem(format!("not a usable public key: {error}")))?;
        keys.insert(file.to_owned(), key);
    }
    Ok(keys)
}

/// Every hold file of `source`, each naming a known environment; the first bad one
/// refuses the revision.
fn holds_of(
    source: &ConfigSource,
    environments: &EnvironmentsConfig,
) -> Result<BTreeMap<(String, String), Hold>, ConfigProblem> {
    let revision = source.revision.as_str();
    let mut holds = BTreeMap::new();
    for (file, text) in source.files.range(HOLDS_DIR.to_owned()..) {
        if !file.starts_with(HOLDS_DIR) {
            break;
        }
        let hold = parse_hold(file, text)
            .map_err(|error| ConfigProblem::from_manifest(revision, &error))?;
        for (field, at) in [
            ("set_at", Some(&hold.set_at)),
            ("released.at", hold.released.as_ref().map(|r| &r.at)),
        ] {
            if let Some(at) = at.filter(|at| humantime::parse_rfc3339(at).is_err()) {
                let message =
                    format!("{field}: {at:?} is not an RFC 3339 time such as 2026-11-30T12:00:00Z");
                return Err(ConfigProblem::new(revision, file, message));
            }
        }
        if environments.get(&hold.environment).is_none() {
            let message = format!(
                "hold on unknown environment {:?}: known environments are {}",
                hold.environment,
                environments.names().join(", ")
            );
            return Err(ConfigProblem::new(revision, file, message));
        }
        holds.insert((hold.environment.clone(), hold.package.clone()), hold);
    }
    Ok(holds)
}

/// The folder of an environment's verification definitions.
fn verify_dir(environment: &str) -> String {
    format!("environments/{environment}/verify/")
}

fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

/// Reads the configuration files of `revision` from the forge. A file that cannot be
/// parsed far enough to find the stores is still returned, so `LoadedConfig::from_source`
/// reports it.
pub async fn read_config_source(
    forge: &dyn GitForge,
    revision: &str,
) -> Result<ConfigSource, ForgeError> {
    let config_files = [
        ENVIRONMENTS_FILE.to_owned(),
        TEAMS_FILE.to_owned(),
        RBAC_FILE.to_owned(),
    ];
    let contents = forge.read_files(revision, &config_files).await?;
    let mut files = BTreeMap::new();
    for (path, content) in config_files.iter().zip(contents) {
        if let Some(bytes) = content {
            files.insert(path.clone(), String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    let environments = files
        .get(ENVIRONMENTS_FILE)
        .and_then(|text| parse_environments(ENVIRONMENTS_FILE, text).ok());
    let store_dirs: Vec<String> = environments
        .iter()
        .flat_map(|config| {
            config.environments().iter().flat_map(|e| {
                std::iter::once(e.stores_path.clone())
                    .chain(e.verify.is_some().then(|| verify_dir(&e.name)))
            })
        })
        .collect();
    let key_files: Vec<String> = environments
        .iter()
        .flat_map(|config| config.signature_key_files().into_iter().map(str::to_owned))
        .collect();
    let contents = if key_files.is_empty() {
        Vec::new()
    } else {
        forge.read_files(revision, &key_files).await?
    };
    for (path, content) in key_files.into_iter().zip(contents) {
        if let Some(bytes) = content {
            files.insert(path, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    let mut store_files = Vec::new();
    for dir in store_dirs {
        store_files.extend(
            forge
                .list_files(revision, &dir)
                .await?
                .into_iter()
                .filter(|p| is_yaml(p)),
        );
    }
    store_files.extend(forge.list_files(revision, HOLDS_DIR).await?);
    let contents = forge.read_files(revision, &store_files).await?;
    for (path, content) in store_files.into_iter().zip(contents) {
        if let Some(bytes) = content {
            files.insert(path, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    Ok(ConfigSource {
        revision: revision.to_owned(),
        loaded_at: super::model::now(),
        files,
    })
}

#[cfg(test)]
mod tests {
    use datakit::manifest::{DEFAULT_ENVIRONMENTS_YAML, DEFAULT_TEAMS_YAML};

    use super::*;
    use crate::promotion::ports::FolderChanges;

    const EVENTS_STORE: &str = "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Store\nmetadata: { name: events-store }\nspec:\n  type: kafka-topic\n  connection: { brokers: dev-kafka:9092, topic: user-events-dev }\n";

    fn source(files: &[(&str, &str)]) -> ConfigSource {
        ConfigSource {
            revision: "abc123".into(),
            loaded_at: SystemTime::UNIX_EPOCH,
            files: files
                .iter()
                .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn the_default_configuration_loads_with_stores_per_environment() {
        let source = source(&[
            (ENVIRONMENTS_FILE, DEFAULT_ENVIRONMENTS_YAML),
            (TEAMS_FILE, DEFAULT_TEAMS_YAML),
            ("environments/dev/stores/events-store.yaml", EVENTS_STORE),
            ("environments/dev/stores/README.md", "not a manifest"),
        ]);
        let loaded = LoadedConfig::from_source(&source, GroupSource::TeamsFile).expect("loads");
        assert_eq!(loaded.environments.names(), vec!["dev", "int", "prod"]);
        let dev_stores: Vec<&str> = loaded.stores["dev"]
            .iter()
            .map(|e| e.store.name.as_str())
            .collect();
        assert_eq!(dev_stores, vec!["events-store"]);
        assert!(loaded.stores["prod"].is_empty());
    }

    #[test]
    fn the_content_digest_follows_the_files_not_the_revision() {
        let one = source(&[("a", "bc"), ("d", "")]);
        let same_files = ConfigSource {
            revision: "def456".into(),
            ..one.clone()
        };
        assert_eq!(one.content_digest(), same_files.content_digest());
        let moved_boundary = source(&[("a", "b"), ("cd", "")]);
        assert_ne!(one.content_digest(), moved_boundary.content_digest());
        let edited = source(&[("a", "bc"), ("d", "e")]);
        assert_ne!(one.content_digest(), edited.content_digest());
    }

    #[test]
    fn with_the_forges_groups_a_small_teams_file_is_ignored() {
        let source = source(&[
            (ENVIRONMENTS_FILE, DEFAULT_ENVIRONMENTS_YAML),
            (TEAMS_FILE, "teams:\n  team-leads: [alice]\n"),
        ]);
        let problem =
            LoadedConfig::from_source(&source, GroupSource::TeamsFile).expect_err("refused");
        assert!(problem.message.contains("@security"), "{problem}");
        let loaded = LoadedConfig::from_source(&source, GroupSource::Forge).expect("accepted");
        assert!(loaded.teams.is_none(), "config/teams.yaml is not read");
    }

    #[test]
    fn an_rbac_policy_naming_an_unknown_environment_refuses_the_revision() {
        let rbac = "roles:\n  ops:\n    - actions: [read]\n      environments: [staging]\n";
        let problem = LoadedConfig::from_source(
            &source(&[
                (ENVIRONMENTS_FILE, DEFAULT_ENVIRONMENTS_YAML),
                (RBAC_FILE, rbac),
            ]),
            GroupSource::TeamsFile,
        )
        .expect_err("refused");
        assert_eq!((problem.file.as_str(), problem.line), (RBAC_FILE, Some(4)));
        assert!(problem.message.contains("staging"), "{problem}");
        let loaded = LoadedConfig::from_source(
            &source(&[(ENVIRONMENTS_FILE, DEFAULT_ENVIRONMENTS_YAML)]),
            GroupSource::TeamsFile,
        )
        .expect("loads");
        assert!(loaded.rbac.is_none(), "no file, no policy");
    }

    const SIGNED_DEV: &str = "environments:\n  dev:\n    cluster: dev-cluster\n    namespace: dev\n    approval: { required: false, auto_merge: true }\n    require_signatures: { keys: [config/keys/release.pub] }\n";
    const RELEASE_PUB: &str = include_str!("../../../tests/support/keys/release.pub");

    #[test]
    fn a_required_signature_key_loads_and_a_missing_or_unparsable_one_refuses_the_revision() {
        let loaded = LoadedConfig::from_source(
            &source(&[
                (ENVIRONMENTS_FILE, SIGNED_DEV),
                ("config/keys/release.pub", RELEASE_PUB),
            ]),
            GroupSource::TeamsFile,
        )
        .expect("loads");
        assert_eq!(
            loaded.signature_keys.get("config/keys/release.pub"),
            Some(&PublicKey::from_pem(RELEASE_PUB).expect("pub"))
        );
        let missing = LoadedConfig::from_source(
            &source(&[(ENVIRONMENTS_FILE, SIGNED_DEV)]),
            GroupSource::TeamsFile,
        )
        .expect_err("refused");
        assert_eq!(missing.file, "config/keys/release.pub");
        assert!(missing.message.contains("missing"), "{missing}");
        let garbage = LoadedConfig::from_source(
            &source(&[
                (ENVIRONMENTS_FILE, SIGNED_DEV),
                ("config/keys/release.pub", "not a key"),
            ]),
            GroupSource::TeamsFile,
        )
        .expect_err("refused");
        assert!(
            garbage
                .to_string()
                .starts_with("config/keys/release.pub: not a usable public key"),
            "{garbage}"
        );
    }

    #[test]
    fn verification_definitions_are_validated_with_the_revision_that_requires_them() {
        let verifying = DEFAULT_ENVIRONMENTS_YAML.replace(
            "    namespace: int\n",
            "    namespace: int\n    verify: { timeout: 1m }\n",
        );
        let loaded = LoadedConfig::from_source(
            &source(&[
                (ENVIRONMENTS_FILE, &verifying),
                (
                    "environments/int/verify/default.yaml",
                    "command: [\"true\"]\n",
                ),
                ("environments/dev/verify/default.yaml", "not: checked\n"),
            ]),
            GroupSource::TeamsFile,
        )
        .expect("loads");
        assert_eq!(
            loaded
                .verifications
                .get("environments/int/verify/default.yaml")
                .map(|definition| definition.command.clone()),
            Some(vec!["true".to_owned()])
        );
        assert!(
            loaded.verifications.len() == 1,
            "dev declares no verify:, so its folder is not read"
        );
        let broken = LoadedConfig::from_source(
            &source(&[
                (ENVIRONMENTS_FILE, &verifying),
                ("environments/int/verify/my-package.yaml", "command: []\n"),
            ]),
            GroupSource::TeamsFile,
        )
        .expect_err("refused");
        assert_eq!(broken.file, "environments/int/verify/my-package.yaml");
        assert!(broken.message.contains("nothing to run"), "{broken}");
    }

    #[test]
    fn the_files_are_kept_for_a_revision_that_wrote_none_of_them() {
        let environments = "environments:\n  dev:\n    cluster: c\n    namespace: dev\n    stores: infra/dev\n    approval: { required: false, auto_merge: true }\n    require_signatures: { keys: [keys/ci.pub] }\n    verify: { timeout: 1m }\n";
        let earlier = source(&[(ENVIRONMENTS_FILE, environments)]);
        let kept = earlier
            .unchanged_at(
                "def456",
                ["environments/dev/my-package.yaml", "README.md"].into_iter(),
            )
            .expect("no configuration file written");
        assert_eq!(
            (kept.revision.as_str(), &kept.files),
            ("def456", &earlier.files)
        );
        for read_by_the_configuration in [
            TEAMS_FILE,
            "config/anything-new.yaml",
            "infra/dev/events-store.yaml",
            "environments/dev/verify/default.yaml",
            "holds/dev/my-package.yaml",
            "keys/ci.pub",
        ] {
            let changed = [
                "environments/dev/my-package.yaml",
                read_by_the_configuration,
            ];
            assert_eq!(
                earlier.unchanged_at("def456", changed.into_iter()),
                None,
                "{read_by_the_configuration}"
            );
            // A removal counts as a change: the catalog passes the diff's `paths()`.
            let removed = FolderChanges {
                written: Vec::new(),
                removed: vec![read_by_the_configuration.to_owned()],
            };
            assert_eq!(
                earlier.unchanged_at("def456", removed.paths()),
                None,
                "{read_by_the_configuration} removed"
            );
        }
        let unreadable = source(&[(ENVIRONMENTS_FILE, "environments: [")]);
        assert_eq!(
            unreadable.unchanged_at("def456", ["README.md"].into_iter()),
            None,
            "which files it reads is unknown"
        );
    }

    #[test]
    fn a_malformed_hold_file_refuses_the_revision_and_a_good_one_is_served() {
        let hold = "package: users\nenvironment: prod\nkind: manual\nset_by: carol\nset_at: 2026-11-30T12:00:00Z\nreason: incident\n";
        let loaded = LoadedConfig::from_source(
            &source(&[
                (ENVIRONMENTS_FILE, DEFAULT_ENVIRONMENTS_YAML),
                ("holds/prod/users.yaml", hold),
            ]),
            GroupSource::Forge,
        )
        .expect("loads");
        let active = loaded.active_hold("prod", "users").expect("held");
        assert_eq!(active.set_by, "carol");
        for (file, text, says) in [
            ("holds/prod/users.yaml", "package: users\n", "missing field"),
            ("holds/int/users.yaml", hold, "holds/prod/users.yaml"),
            (
                "holds/prod/users.yaml",
                &hold.replace("2026-11-30T12:00:00Z", "yesterday"),
                "RFC 3339",
            ),
            (
                "holds/qa/users.yaml",
                &hold.replace("prod", "qa"),
                "unknown environment",
            ),
        ] {
            let problem = LoadedConfig::from_source(
                &source(&[(ENVIRONMENTS_FILE, DEFAULT_ENVIRONMENTS_YAML), (file, text)]),
                GroupSource::Forge,
            )
            .expect_err("refused");
            assert_eq!(problem.file, file);
            assert!(problem.message.contains(says), "{says}: {problem}");
        }
    }

    #[test]
    fn a_missing_environments_file_is_a_problem_naming_the_file() {
        let problem =
            LoadedConfig::from_source(&source(&[]), GroupSource::TeamsFile).expect_err("refused");
        assert_eq!(problem.file, ENVIRONMENTS_FILE);
        assert_eq!(problem.revision, "abc123");
    }

    #[test]
    fn a_broken_store_refuses_the_whole_revision_with_its_file_and_line() {
        let source = source(&[
            (ENVIRONMENTS_FILE, DEFAULT_ENVIRONMENTS_YAML),
            (
                "environments/int/stores/events-store.yaml",
                "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Store\nmetadata: { name: events-store }\nspec:\n  tpye: kafka-topic\n",
            ),
        ]);
        let problem =
            LoadedConfig::from_source(&source, GroupSource::TeamsFile).expect_err("refused");
        assert_eq!(problem.file, "environments/int/stores/events-store.yaml");
        assert!(problem.line.is_some(), "{problem}");
    }
}
