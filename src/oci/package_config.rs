//! The config blob of a package artifact: the package's `dk.yaml` essentials (name,
//! version, description, store bindings) as JSON, written by `dk build` and read by `dkd`
//! to resolve bindings at promotion time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::artifact::ArtifactError;
use crate::manifest::{API_VERSION, DataPackage, Version};

/// Config blobs larger than this are refused before they are read.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The binding key `spec.store` stands for.
const STORE_BINDING: &str = "store";

/// The package config (fields in the order they are written).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageConfig {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bindings: BTreeMap<String, String>,
}

impl PackageConfig {
    /// The config of `package` built as `version`.
    pub fn new(package: &DataPackage, version: &Version) -> Self {
        Self {
            api_version: API_VERSION.to_owned(),
            kind: "DataPackage".to_owned(),
            name: package.name.clone(),
            version: version.to_string(),
            description: package.description.clone(),
            store: package.store.clone(),
            bindings: package.bindings.clone(),
        }
    }

    /// Compact JSON, the bytes of the config blob.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ArtifactError> {
        Ok(serde_json::to_vec(self)?)
    }

    /// Reads a config blob.
    pub fn parse(bytes: &[u8]) -> Result<Self, ArtifactError> {
        Ok(serde_json::from_slice(bytes)?)
    }

    /// Every binding, key → store name, with `spec.store` under the key `store`.
    pub fn store_bindings(&self) -> BTreeMap<String, String> {
        let mut all = self.bindings.clone();
        if let Some(store) = &self.store {
            all.insert(STORE_BINDING.to_owned(), store.clone());
        }
        all
    }

    /// Checks that this is the config of `package` at `version`.
    pub fn check(&self, package: &str, version: &str) -> Result<(), ArtifactError> {
        if self.name == package && self.version == version {
            Ok(())
        } else {
            Err(ArtifactError::WrongPackage {
                expected: format!("{package}:{version}"),
                found: format!("{}:{}", self.name, self.version),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse_data_package;

    const DK_YAML: &str = "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataPackage\nmetadata: { name: my-package, description: Events }\nspec: { store: events-store, bindings: { output: warehouse } }\n";

    fn config() -> PackageConfig {
        let package = parse_data_package("dk.yaml", DK_YAML).expect("package");
        PackageConfig::new(&package, &Version::parse("v1.0.0").expect("version"))
    }

    #[test]
    fn the_config_is_compact_json_with_name_version_description_and_bindings() {
        let bytes = config().to_bytes().expect("bytes");
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            r#"{"apiVersion":"datakit.infoblox.dev/v1alpha1","kind":"DataPackage","name":"my-package","version":"v1.0.0","description":"Events","store":"events-store","bindings":{"output":"warehouse"}}"#
        );
        assert_eq!(PackageConfig::parse(&bytes).expect("parse"), config());
    }

    #[test]
    fn store_bindings_include_the_main_store_under_store() {
        let bindings = config().store_bindings();
        assert_eq!(
            bindings.into_iter().collect::<Vec<_>>(),
            [
                ("output".to_owned(), "warehouse".to_owned()),
                ("store".to_owned(), "events-store".to_owned())
            ]
        );
    }

    #[test]
    fn a_config_of_another_package_or_version_is_refused() {
        assert!(config().check("my-package", "v1.0.0").is_ok());
        assert!(config().check("other", "v1.0.0").is_err());
        assert!(config().check("my-package", "1.0.0").is_err());
    }
}
