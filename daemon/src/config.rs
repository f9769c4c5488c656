//! `DK_HOME/dkd.yaml`: which backends dkd uses. Optional; read once and validated before
//! anything binds, so a typo stops dkd with the key at fault instead of surprising later.

use std::path::Path;

use datakit::manifest::{ManifestError, parse_yaml};
use serde::Deserialize;

/// The whole daemon configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Where the deployment repository lives.
    #[serde(default)]
    pub forge: ForgeConfig,
    /// How often the base branch is examined for configuration changes, in milliseconds.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
}

fn default_poll_interval_ms() -> u64 {
    1000
}

/// The git forge backend.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgeConfig {
    #[serde(rename = "type", default)]
    pub kind: ForgeKind,
}

/// Available forges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForgeKind {
    /// `DK_HOME/deploy.git`, approvals with `dk approve`.
    #[default]
    Embedded,
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Invalid(#[from] ManifestError),
    #[error("{file}: poll_interval_ms: must be between 100 and 60000, not {value}")]
    PollInterval { file: String, value: u64 },
}

impl DaemonConfig {
    /// Loads `path`; a missing file means every default.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let display = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default_config());
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: display,
                    source,
                });
            }
        };
        Self::parse(&display, &text)
    }

    /// Parses and validates the configuration text of `file`.
    pub fn parse(file: &str, text: &str) -> Result<Self, ConfigError> {
        let config: Self = if text.trim().is_empty() {
            Self::default_config()
        } else {
            parse_yaml(file, text)?
        };
        if !(100..=60_000).contains(&config.poll_interval_ms) {
            return Err(ConfigError::PollInterval {
                file: file.to_owned(),
                value: config.poll_interval_ms,
            });
        }
        Ok(config)
    }

    fn default_config() -> Self {
        Self {
            forge: ForgeConfig::default(),
            poll_interval_ms: default_poll_interval_ms(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_means_the_embedded_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = DaemonConfig::load(&dir.path().join("dkd.yaml")).expect("defaults");
        assert_eq!(config.forge.kind, ForgeKind::Embedded);
        assert_eq!(config.poll_interval_ms, 1000);
    }

    #[test]
    fn an_unknown_key_is_refused_naming_it() {
        let error = DaemonConfig::parse("dkd.yaml", "forge:\n  type: embedded\nregistyr: x\n")
            .expect_err("refused");
        assert!(error.to_string().contains("registyr"), "{error}");
    }

    #[test]
    fn an_unknown_forge_is_refused_listing_the_available_ones() {
        let error =
            DaemonConfig::parse("dkd.yaml", "forge: { type: gitlab }\n").expect_err("refused");
        let message = error.to_string();
        assert!(
            message.contains("gitlab") && message.contains("embedded"),
            "{message}"
        );
    }

    #[test]
    fn a_poll_interval_out_of_range_is_refused() {
        let error = DaemonConfig::parse("dkd.yaml", "poll_interval_ms: 5\n").expect_err("refused");
        assert!(error.to_string().contains("poll_interval_ms"), "{error}");
    }
}
