//! Errors about one environment's fields, named `environments.<name>.<field>`.

use serde_saphyr::Location;

use crate::manifest::error::ManifestError;

/// Builds errors that point at a field of one environment in one file.
pub(super) struct EnvironmentFields<'a> {
    pub(super) file: &'a str,
    pub(super) environment: &'a str,
}

impl EnvironmentFields<'_> {
    /// An error about `environments.<environment>.<field>` written at `location`.
    pub(super) fn error(
        &self,
        field: &str,
        location: Location,
        message: impl Into<String>,
    ) -> ManifestError {
        let path = format!("environments.{}.{field}", self.environment);
        ManifestError::new(self.file, path, message).at(location)
    }
}
