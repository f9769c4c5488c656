//! `audit:` of `dkd.yaml`: how large `DK_HOME/audit.log` grows before it rotates, and how
//! many rotated files are kept.

use serde::Deserialize;

use super::ConfigError;
use crate::audit::AuditSettings;

/// `audit:` as written; every key optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Rotate `audit.log` when a line would take it past this many bytes (default 10 MiB).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// How many rotated files (`audit.log.1` …) are kept (default 5).
    #[serde(default = "default_keep")]
    pub keep: u32,
}

fn default_max_bytes() -> u64 {
    10 * 1024 * 1024
}

fn default_keep() -> u32 {
    5
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            max_bytes: default_max_bytes(),
            keep: default_keep(),
        }
    }
}

impl AuditConfig {
    /// The settings, or the key of `file` that is out of range.
    pub fn validate(&self, file: &str) -> Result<AuditSettings, ConfigError> {
        let range = |key, value: u64, min, max| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(ConfigError::OutOfRange {
                    file: file.to_owned(),
                    key,
                    value,
                    min,
                    max,
                })
            }
        };
        range("audit.max_bytes", self.max_bytes, 4096, 1 << 30)?;
        range("audit.keep", u64::from(self.keep), 1, 100)?;
        Ok(AuditSettings {
            max_bytes: self.max_bytes,
            keep: self.keep,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::DaemonConfig;

    #[test]
    fn audit_defaults_to_ten_mebibytes_and_five_files_and_refuses_a_tiny_size() {
        let defaults = DaemonConfig::parse("dkd.yaml", "").expect("defaults");
        let settings = defaults.audit.validate("dkd.yaml").expect("valid");
        assert_eq!((settings.max_bytes, settings.keep), (10 * 1024 * 1024, 5));
        let error =
            DaemonConfig::parse("dkd.yaml", "audit: { max_bytes: 10 }\n").expect_err("refused");
        assert!(error.to_string().contains("audit.max_bytes"), "{error}");
    }
}
