//! `Store` manifests (`environments/<env>/stores/<store>.yaml`): per-environment
//! infrastructure a package binds to. Secrets are referenced, never inlined.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::error::ManifestError;
use super::header::{check_header, check_name_matches_file};
use super::names::validate_name;
use super::ordered_map::OrderedMap;
use super::yaml;

/// A store of one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    /// Its name, equal to its file name without `.yaml`.
    pub name: String,
    /// Its type, e.g. `kafka-topic`, `postgres-table`, `s3-prefix`.
    pub store_type: String,
    /// How to reach it; numbers and booleans are kept as written.
    pub connection: BTreeMap<String, String>,
    /// The name of the secret that holds its credentials.
    pub secret_ref: Option<String>,
}

/// Parts of a connection key that mean the value is a credential. Keys are compared
/// lowercased with '-' and '_' removed, so `api_key`, `api-key` and `apiKey` all match.
const SECRET_KEY_PARTS: [&str; 6] = [
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "privatekey",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    #[serde(rename = "apiVersion")]
    api_version: Spanned<String>,
    kind: Spanned<String>,
    metadata: RawMetadata,
    spec: RawSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetadata {
    name: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    #[serde(rename = "type")]
    store_type: Spanned<String>,
    connection: Option<OrderedMap<String>>,
    #[serde(rename = "secretRef")]
    secret_ref: Option<RawSecretRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecretRef {
    name: Spanned<String>,
}

/// Parses and validates a `Store` manifest; `file` is its repository path, whose name
/// must match `metadata.name`.
pub fn parse_store(file: &str, text: &str) -> Result<Store, ManifestError> {
    let raw: RawStore = yaml::parse_yaml(file, text)?;
    check_header(file, &raw.api_version, &raw.kind, "Store")?;
    check_name_matches_file(file, "store", &raw.metadata.name)?;
    let store_type = raw.spec.store_type;
    validate_name("store type", &store_type.value).map_err(|error| {
        ManifestError::new(file, "spec.type", error.to_string()).at(store_type.referenced)
    })?;
    let mut connection = BTreeMap::new();
    for (key, value) in raw
        .spec
        .connection
        .map(|map| map.entries)
        .unwrap_or_default()
    {
        check_connection_key(file, &key)?;
        connection.insert(key.value, value);
    }
    let secret_ref = match raw.spec.secret_ref {
        Some(secret) => {
            validate_name("secret", &secret.name.value).map_err(|error| {
                ManifestError::new(file, "spec.secretRef.name", error.to_string())
                    .at(secret.name.referenced)
            })?;
            Some(secret.name.value)
        }
        None => None,
    };
    Ok(Store {
        name: raw.metadata.name.value,
        store_type: store_type.value,
        connection,
        secret_ref,
    })
}

fn check_connection_key(file: &str, key: &Spanned<String>) -> Result<(), ManifestError> {
    let field = format!("spec.connection.{}", key.value);
    if key.value.is_empty() || key.value.chars().any(char::is_control) {
        return Err(ManifestError::new(
            file,
            "spec.connection",
            format!("invalid connection key {:?}: use a plain name", key.value),
        )
        .at(key.referenced));
    }
    if looks_like_secret(&key.value) {
        return Err(ManifestError::new(
            file,
            field,
            format!(
                "connection.{} looks like a secret: store it in a secret and reference it with spec.secretRef",
                key.value
            ),
        )
        .at(key.referenced));
    }
    Ok(())
}

fn looks_like_secret(key: &str) -> bool {
    let squashed: String = key
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_KEY_PARTS.iter().any(|part| squashed.contains(part))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::test_support::{err, ok};

    const FILE: &str = "environments/dev/stores/events-store.yaml";

    const EVENTS_STORE: &str = "\
apiVersion: datakit.infoblox.dev/v1alpha1
kind: Store
metadata: { name: events-store }
spec:
  type: kafka-topic
  connection: { brokers: dev-kafka:9092, topic: user-events-dev, partitions: 12, tls: true }
  secretRef: { name: events-store-creds }
";

    fn with(find: &str, replace: &str) -> String {
        EVENTS_STORE.replace(find, replace)
    }

    #[test]
    fn the_contract_example_parses_with_scalars_kept_as_text() {
        let store = ok(parse_store(FILE, EVENTS_STORE));
        assert_eq!(store.name, "events-store");
        assert_eq!(store.store_type, "kafka-topic");
        assert_eq!(store.connection["brokers"], "dev-kafka:9092");
        assert_eq!(store.connection["partitions"], "12");
        assert_eq!(store.connection["tls"], "true");
        assert_eq!(store.secret_ref.as_deref(), Some("events-store-creds"));
    }

    #[test]
    fn connection_and_secret_ref_are_optional() {
        let text = "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Store\nmetadata: { name: events-store }\nspec: { type: s3-prefix }\n";
        let store = ok(parse_store(FILE, text));
        assert!(store.connection.is_empty());
        assert_eq!(store.secret_ref, None);
    }

    #[test]
    fn another_api_version_is_refused() {
        let error = err(parse_store(FILE, &with("v1alpha1", "v2")));
        assert_eq!((error.field.as_str(), error.line), ("apiVersion", Some(1)));
    }

    #[test]
    fn another_kind_is_refused() {
        let error = err(parse_store(FILE, &with("kind: Store", "kind: DataPackage")));
        assert_eq!((error.field.as_str(), error.line), ("kind", Some(2)));
        assert!(error.message.contains("set kind: Store"), "{error}");
    }

    #[test]
    fn a_name_that_differs_from_the_file_name_is_refused() {
        let error = err(parse_store(
            "environments/dev/stores/other.yaml",
            EVENTS_STORE,
        ));
        assert_eq!(
            (error.field.as_str(), error.line),
            ("metadata.name", Some(3))
        );
        assert!(
            error.message.contains("does not match the file name"),
            "{error}"
        );
    }

    #[test]
    fn an_invalid_name_is_refused() {
        let error = err(parse_store(
            "environments/dev/stores/Events.yaml",
            &with("events-store }", "Events }"),
        ));
        assert!(
            error.message.contains("invalid store name \"Events\""),
            "{error}"
        );
    }

    #[test]
    fn a_missing_or_invalid_type_is_refused() {
        let error = err(parse_store(FILE, &with("  type: kafka-topic\n", "")));
        assert!(error.message.contains("missing field `type`"), "{error}");
        let error = err(parse_store(FILE, &with("kafka-topic", "Kafka_Topic")));
        assert_eq!((error.field.as_str(), error.line), ("spec.type", Some(5)));
    }

    #[test]
    fn an_inlined_secret_is_refused_naming_the_key() {
        let error = err(parse_store(FILE, &with("tls: true", "password: hunter2")));
        assert_eq!(error.line, Some(6));
        assert_eq!(
            error.message,
            "connection.password looks like a secret: store it in a secret and reference it with spec.secretRef"
        );
    }

    #[test]
    fn secret_looking_keys_are_recognized_in_any_spelling() {
        for key in [
            "password",
            "db_password",
            "dbPassword",
            "passwd",
            "clientSecret",
            "token",
            "authToken",
            "apikey",
            "api_key",
            "api-key",
            "apiKey",
            "privateKey",
        ] {
            assert!(looks_like_secret(key), "{key}");
        }
    }

    #[test]
    fn ordinary_connection_keys_are_not_secrets() {
        for key in [
            "brokers",
            "topic",
            "host",
            "port",
            "keyspace",
            "partition_key",
            "bucket",
            "user",
            "region",
        ] {
            assert!(!looks_like_secret(key), "{key}");
        }
    }

    #[test]
    fn an_empty_connection_key_is_refused() {
        let error = err(parse_store(FILE, &with("tls: true", "\"\": x")));
        assert_eq!(
            (error.field.as_str(), error.line),
            ("spec.connection", Some(6))
        );
    }

    #[test]
    fn a_nested_connection_value_is_refused() {
        let error = err(parse_store(
            FILE,
            &with("tls: true", "tls: { enabled: true }"),
        ));
        assert_eq!(error.line, Some(6));
    }

    #[test]
    fn an_invalid_secret_ref_is_refused() {
        let error = err(parse_store(FILE, &with("events-store-creds", "../creds")));
        assert_eq!(
            (error.field.as_str(), error.line),
            ("spec.secretRef.name", Some(7))
        );
    }

    #[test]
    fn unknown_fields_are_refused_with_their_line() {
        let error = err(parse_store(
            FILE,
            &with(
                "  type: kafka-topic\n",
                "  type: kafka-topic\n  owner: me\n",
            ),
        ));
        assert_eq!(error.line, Some(6));
        assert!(error.message.contains("unknown field `owner`"), "{error}");
    }
}
