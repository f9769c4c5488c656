//! The checks a deployment repository's CI runs on a change: the configuration and every
//! manifest of the resulting tree parse and validate. The embedded forge runs them itself
//! (`local_checks.rs` decides how much of the tree to read).

use std::{collections::BTreeMap, time::SystemTime};

use crate::promotion::{
    Check, CheckOutcome, ConfigSource, LoadedConfig, expected_manifest, ports::GroupSource,
    validate_manifest,
};

/// The name the manifests check is reported under.
pub const MANIFESTS_CHECK: &str = "manifests validate";

/// Validates a whole tree (repository path → contents) as of `revision`, as dkd validates
/// a revision of the base branch: the configuration, every Store and every
/// `DeployedPackage`. `groups` is where the forge's reviewer groups come from.
pub fn check_tree(revision: &str, files: &BTreeMap<String, String>, groups: GroupSource) -> Check {
    let source = ConfigSource {
        revision: revision.to_owned(),
        loaded_at: SystemTime::now(),
        files: files.clone(),
    };
    outcome(
        first_problem(&source, files, groups),
        format!("{} manifests valid", files.len()),
    )
}

/// Validates a change that wrote `written` (path → contents) on top of a valid base: its
/// configuration as of its head (`config`, as `read_config_source` reads it) and every
/// file it wrote. A change that rewrites `config/environments.yaml` (where every
/// manifest's namespace comes from) needs [`check_tree`] instead.
pub fn check_written(
    config: &ConfigSource,
    written: &BTreeMap<String, String>,
    groups: GroupSource,
) -> Check {
    outcome(
        first_problem(config, written, groups),
        format!(
            "the configuration and {} changed file(s) valid",
            written.len()
        ),
    )
}

/// A failed check, for `problem`.
pub fn failed(problem: String) -> Check {
    Check {
        name: MANIFESTS_CHECK.into(),
        outcome: CheckOutcome::Failure,
        description: problem,
    }
}

fn outcome(problem: Option<String>, valid: String) -> Check {
    match problem {
        None => Check {
            name: MANIFESTS_CHECK.into(),
            outcome: CheckOutcome::Success,
            description: valid,
        },
        Some(problem) => failed(problem),
    }
}

/// The first problem of the configuration in `source`, else of a manifest in `manifests`.
fn first_problem(
    source: &ConfigSource,
    manifests: &BTreeMap<String, String>,
    groups: GroupSource,
) -> Option<String> {
    let config = match LoadedConfig::from_source(source, groups) {
        Ok(config) => config,
        Err(problem) => return Some(problem.to_string()),
    };
    manifests.iter().find_map(|(path, text)| {
        let expected = expected_manifest(&config, path)?;
        validate_manifest(path, text, expected)
            .err()
            .map(|error| error.to_string())
    })
}

#[cfg(test)]
mod tests {
    use datakit::manifest::{
        DEFAULT_ENVIRONMENTS_YAML, DeployedPackage, ENVIRONMENTS_FILE, TEAMS_FILE,
    };

    use super::*;

    fn deployed(namespace: &str) -> String {
        DeployedPackage {
            name: "my-package".into(),
            namespace: namespace.into(),
            annotations: BTreeMap::new(),
            version: "v1.0.0".into(),
            artifact: "registry.example/my-package:v1.0.0".into(),
            digest: format!("sha256:{}", "a".repeat(64)),
        }
        .to_yaml()
    }

    fn tree(extra: &[(&str, String)]) -> BTreeMap<String, String> {
        let mut files = BTreeMap::from([(
            ENVIRONMENTS_FILE.to_owned(),
            DEFAULT_ENVIRONMENTS_YAML.to_owned(),
        )]);
        files.extend(extra.iter().map(|(p, t)| ((*p).to_owned(), t.clone())));
        files
    }

    #[test]
    fn a_valid_tree_passes() {
        let check = check_tree(
            "r",
            &tree(&[("environments/dev/my-package.yaml", deployed("dev"))]),
            GroupSource::TeamsFile,
        );
        assert_eq!(
            check.outcome,
            CheckOutcome::Success,
            "{}",
            check.description
        );
    }

    #[test]
    fn a_deployed_package_in_the_wrong_namespace_fails_naming_the_file() {
        let check = check_tree(
            "r",
            &tree(&[("environments/prod/my-package.yaml", deployed("dev"))]),
            GroupSource::TeamsFile,
        );
        assert_eq!(check.outcome, CheckOutcome::Failure);
        assert!(
            check
                .description
                .contains("environments/prod/my-package.yaml"),
            "{}",
            check.description
        );
    }

    #[test]
    fn with_the_forges_groups_a_small_teams_file_fails_nothing() {
        let mut files = tree(&[]);
        files.insert(
            TEAMS_FILE.to_owned(),
            "teams:\n  team-leads: [alice]\n".to_owned(),
        );
        let with_file = check_tree("r", &files, GroupSource::TeamsFile);
        assert_eq!(with_file.outcome, CheckOutcome::Failure);
        let with_forge = check_tree("r", &files, GroupSource::Forge);
        assert_eq!(
            with_forge.outcome,
            CheckOutcome::Success,
            "{}",
            with_forge.description
        );
    }

    #[test]
    fn a_broken_manifest_anywhere_fails_the_check() {
        let check = check_tree(
            "r",
            &tree(&[("environments/dev/other.yaml", "kind: Nonsense\n".to_owned())]),
            GroupSource::TeamsFile,
        );
        assert_eq!(check.outcome, CheckOutcome::Failure);
    }
}
