//! A hold on a package in an environment, `holds/<env>/<package>.yaml` on the base branch:
//! set by hand (`dk hold`, refuses every promotion) or left by a rollback (stops automatic
//! promotion of the versions it names). Releasing keeps the file with who released it.

use serde::{Deserialize, Serialize};

use super::error::ManifestError;
use super::names::validate_name;
use super::version::Version;
use super::yaml;

/// Where holds live in the deployment repository.
pub const HOLDS_DIR: &str = "holds/";

/// The hold file of `package` in `env`: `holds/<env>/<package>.yaml`. Both names must be
/// valid (see [`super::validate_name`]) so the path stays in its folder.
pub fn hold_path(env: &str, package: &str) -> String {
    format!("{HOLDS_DIR}{env}/{package}.yaml")
}

/// Who set a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HoldKind {
    /// `dk hold`: every promotion into the environment is refused; rollbacks are not.
    Manual,
    /// A rollback: automatic promotion leaves the blocked versions alone; a manual
    /// promotion of one is allowed with a warning.
    Rollback,
}

impl HoldKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Rollback => "rollback",
        }
    }
}

/// Who released a hold, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub by: String,
    /// RFC 3339, UTC.
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The versions a rollback hold keeps automation from bringing back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blocks {
    /// The version rolled back from.
    pub version: String,
    /// The rollback target: every version newer than it is blocked too.
    pub newer_than: String,
}

/// One hold file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    pub package: String,
    pub environment: String,
    pub kind: HoldKind,
    pub set_by: String,
    /// RFC 3339, UTC.
    pub set_at: String,
    pub reason: String,
    /// Rollback holds only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Blocks>,
    /// Present once released: the hold no longer applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released: Option<Release>,
}

impl Hold {
    /// Whether the hold still applies.
    pub fn is_active(&self) -> bool {
        self.released.is_none()
    }

    /// Whether a rollback hold names `version`: the rolled-back version, or one newer than
    /// the rollback target. A manual hold blocks every version.
    pub fn blocks_version(&self, version: &Version) -> bool {
        let Some(blocks) = &self.blocks else {
            return self.kind == HoldKind::Manual;
        };
        version.as_str() == blocks.version
            || Version::parse(&blocks.newer_than).is_ok_and(|target| *version > target)
    }

    /// `manual hold by carol since 2026-…: reason`, for messages.
    pub fn summary(&self) -> String {
        format!(
            "{} hold by {} since {}: {}",
            self.kind.as_str(),
            self.set_by,
            self.set_at,
            self.reason
        )
    }

    pub fn to_yaml(&self) -> String {
        yaml::to_yaml(self)
    }
}

/// Parses and validates the hold file at `file`, which must be `holds/<env>/<package>.yaml`
/// naming the same environment and package.
pub fn parse_hold(file: &str, text: &str) -> Result<Hold, ManifestError> {
    let hold: Hold = yaml::parse_yaml(file, text)?;
    validate_name("package", &hold.package)
        .map_err(|e| ManifestError::new(file, "package", e.to_string()))?;
    validate_name("environment", &hold.environment)
        .map_err(|e| ManifestError::new(file, "environment", e.to_string()))?;
    if hold_path(&hold.environment, &hold.package) != file {
        return Err(ManifestError::new(
            file,
            "",
            format!(
                "a hold on {} in {} belongs in {}: move or fix it",
                hold.package,
                hold.environment,
                hold_path(&hold.environment, &hold.package)
            ),
        ));
    }
    match (&hold.kind, &hold.blocks) {
        (HoldKind::Rollback, None) => Err(ManifestError::new(
            file,
            "blocks",
            "a rollback hold names the versions it blocks: add blocks.version and blocks.newer_than",
        )),
        (HoldKind::Manual, Some(_)) => Err(ManifestError::new(
            file,
            "blocks",
            "a manual hold blocks every version: remove blocks",
        )),
        _ => Ok(hold),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollback_hold() -> Hold {
        Hold {
            package: "users".into(),
            environment: "prod".into(),
            kind: HoldKind::Rollback,
            set_by: "carol".into(),
            set_at: "2026-11-30T12:00:00Z".into(),
            reason: "rolled back from 1.3.0 to 1.2.0 by carol".into(),
            blocks: Some(Blocks {
                version: "1.3.0".into(),
                newer_than: "1.2.0".into(),
            }),
            released: None,
        }
    }

    #[test]
    fn a_hold_file_round_trips_and_must_sit_at_its_own_path() {
        let hold = rollback_hold();
        let text = hold.to_yaml();
        assert_eq!(parse_hold("holds/prod/users.yaml", &text), Ok(hold));
        let misplaced = parse_hold("holds/int/users.yaml", &text).expect_err("refused");
        assert!(
            misplaced.message.contains("holds/prod/users.yaml"),
            "{misplaced}"
        );
    }

    #[test]
    fn a_rollback_hold_blocks_the_rolled_back_version_and_newer_ones_only() {
        let hold = rollback_hold();
        let version = |v: &str| Version::parse(v).expect("version");
        assert!(hold.blocks_version(&version("1.3.0")));
        assert!(hold.blocks_version(&version("1.2.1")));
        assert!(!hold.blocks_version(&version("1.2.0")));
        assert!(!hold.blocks_version(&version("1.1.0")));
    }

    #[test]
    fn a_rollback_hold_without_blocked_versions_is_refused() {
        let mut hold = rollback_hold();
        hold.blocks = None;
        let error = parse_hold("holds/prod/users.yaml", &hold.to_yaml()).expect_err("refused");
        assert_eq!(error.field, "blocks");
    }
}
