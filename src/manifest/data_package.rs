//! A package's `dk.yaml` (kind `DataPackage`): its name and the stores it binds to.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::error::ManifestError;
use super::header::{check_header, check_name};
use super::names::validate_name;
use super::ordered_map::OrderedMap;
use super::yaml;

/// The binding key that `spec.store` stands for.
const STORE_BINDING: &str = "store";

/// A data package as declared in its `dk.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPackage {
    /// Its name.
    pub name: String,
    /// What it is, for people.
    pub description: Option<String>,
    /// Its main store (the `store` binding).
    pub store: Option<String>,
    /// Further bindings: key → store name.
    pub bindings: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataPackage {
    #[serde(rename = "apiVersion")]
    api_version: Spanned<String>,
    kind: Spanned<String>,
    metadata: RawMetadata,
    #[serde(default)]
    spec: RawSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetadata {
    name: Spanned<String>,
    description: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    store: Option<Spanned<String>>,
    bindings: Option<OrderedMap<Spanned<String>>>,
}

/// Parses and validates a `dk.yaml` (`file` is used in errors).
pub fn parse_data_package(file: &str, text: &str) -> Result<DataPackage, ManifestError> {
    let raw: RawDataPackage = yaml::parse_yaml(file, text)?;
    check_header(file, &raw.api_version, &raw.kind, "DataPackage")?;
    check_name(file, "package", &raw.metadata.name)?;
    let store = match raw.spec.store {
        Some(store) => {
            check_store_name(file, "spec.store", &store)?;
            Some(store.value)
        }
        None => None,
    };
    let mut bindings = BTreeMap::new();
    for (key, store_name) in raw.spec.bindings.map(|map| map.entries).unwrap_or_default() {
        validate_name("binding", &key.value).map_err(|error| {
            ManifestError::new(file, "spec.bindings", error.to_string()).at(key.referenced)
        })?;
        if key.value == STORE_BINDING {
            return Err(ManifestError::new(
                file,
                "spec.bindings.store",
                "the binding key store is spec.store: move it there or use another key",
            )
            .at(key.referenced));
        }
        check_store_name(file, &format!("spec.bindings.{}", key.value), &store_name)?;
        bindings.insert(key.value, store_name.value);
    }
    let description = raw
        .metadata
        .description
        .filter(|text| !text.trim().is_empty());
    Ok(DataPackage {
        name: raw.metadata.name.value,
        description,
        store,
        bindings,
    })
}

fn check_store_name(file: &str, field: &str, store: &Spanned<String>) -> Result<(), ManifestError> {
    validate_name("store", &store.value)
        .map_err(|error| ManifestError::new(file, field, error.to_string()).at(store.referenced))
}

impl DataPackage {
    /// Every (binding key, store name) pair: `("store", spec.store)` first, then `bindings`
    /// sorted by key.
    pub fn store_bindings(&self) -> Vec<(String, String)> {
        let main = self
            .store
            .iter()
            .map(|store| (STORE_BINDING.to_string(), store.clone()));
        let further = self
            .bindings
            .iter()
            .map(|(key, store)| (key.clone(), store.clone()));
        main.chain(further).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::test_support::{err, ok};

    const DK_YAML: &str = "\
apiVersion: datakit.infoblox.dev/v1alpha1
kind: DataPackage
metadata: { name: my-package, description: User events }
spec:
  store: events-store
  bindings: { output: warehouse, archive: cold-store }
";

    fn with(find: &str, replace: &str) -> String {
        DK_YAML.replace(find, replace)
    }

    #[test]
    fn the_contract_example_parses() {
        let package = ok(parse_data_package("dk.yaml", DK_YAML));
        assert_eq!(package.name, "my-package");
        assert_eq!(package.description.as_deref(), Some("User events"));
        assert_eq!(package.store.as_deref(), Some("events-store"));
        assert_eq!(package.bindings.len(), 2);
    }

    #[test]
    fn store_bindings_put_the_main_store_first_then_sorted_keys() {
        let package = ok(parse_data_package("dk.yaml", DK_YAML));
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(key, store)| (key.to_string(), store.to_string()))
                .collect()
        };
        assert_eq!(
            package.store_bindings(),
            pairs(&[
                ("store", "events-store"),
                ("archive", "cold-store"),
                ("output", "warehouse")
            ])
        );
    }

    #[test]
    fn a_package_without_spec_binds_nothing() {
        let text =
            "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataPackage\nmetadata: { name: p }\n";
        let package = ok(parse_data_package("dk.yaml", text));
        assert!(package.store_bindings().is_empty());
        assert_eq!(package.description, None);
    }

    #[test]
    fn an_invalid_package_name_is_refused_with_its_line() {
        let error = err(parse_data_package(
            "dk.yaml",
            &with("name: my-package", "name: My_Pkg"),
        ));
        assert_eq!(
            (error.field.as_str(), error.line),
            ("metadata.name", Some(3))
        );
        assert!(
            error.message.starts_with("invalid package name \"My_Pkg\""),
            "{error}"
        );
    }

    #[test]
    fn another_kind_is_refused() {
        let error = err(parse_data_package("dk.yaml", &with("DataPackage", "Store")));
        assert_eq!(error.field, "kind");
    }

    #[test]
    fn an_invalid_store_name_is_refused() {
        let error = err(parse_data_package(
            "dk.yaml",
            &with("store: events-store", "store: ../etc"),
        ));
        assert_eq!((error.field.as_str(), error.line), ("spec.store", Some(5)));
    }

    #[test]
    fn an_invalid_binding_key_or_store_is_refused() {
        let error = err(parse_data_package("dk.yaml", &with("output:", "Output:")));
        assert_eq!(
            (error.field.as_str(), error.line),
            ("spec.bindings", Some(6))
        );
        let error = err(parse_data_package(
            "dk.yaml",
            &with("warehouse", "Ware_House"),
        ));
        assert_eq!(error.field, "spec.bindings.output");
    }

    #[test]
    fn a_binding_named_store_is_refused() {
        let error = err(parse_data_package("dk.yaml", &with("output:", "store:")));
        assert_eq!(error.field, "spec.bindings.store");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let error = err(parse_data_package(
            "dk.yaml",
            &with("  store:", "  owner: me\n  store:"),
        ));
        assert!(error.message.contains("unknown field `owner`"), "{error}");
        assert_eq!(error.line, Some(5));
    }
}
