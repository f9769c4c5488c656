//! The store types `dk store add` and `dk store scaffold` know, with their connection
//! keys, and the `Store` manifest they write. dkd itself accepts any type name (a
//! deployment repository may declare its own); this catalog is what the scaffold checks.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{API_VERSION, names::validate_name, yaml};

/// One store type: what it is and the connection keys it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreType {
    pub name: &'static str,
    /// What it is, for people.
    pub description: &'static str,
    /// Keys every store of this type sets.
    pub required: &'static [&'static str],
    /// Keys it may set.
    pub optional: &'static [&'static str],
}

/// Every store type the scaffold knows, in the order messages list them.
pub const STORE_TYPES: [StoreType; 3] = [
    StoreType {
        name: "kafka-topic",
        description: "a Kafka topic",
        required: &["brokers", "topic"],
        optional: &["partitions", "tls"],
    },
    StoreType {
        name: "postgres-table",
        description: "a PostgreSQL table",
        required: &["host", "table"],
        optional: &["port", "database", "schema", "user"],
    },
    StoreType {
        name: "s3-prefix",
        description: "a prefix in an S3 (or S3-compatible) bucket",
        required: &["bucket", "prefix"],
        optional: &["region", "endpoint"],
    },
];

/// Why a store cannot be scaffolded, in one line naming what is valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreScaffoldError {
    #[error("{0}")]
    Name(#[from] super::NameError),
    #[error("unknown store type {given:?}: use one of {}", type_names())]
    UnknownType { given: String },
    #[error("{store_type} takes no connection key {key:?}: its keys are {}", keys(.valid))]
    UnknownKey {
        store_type: String,
        key: String,
        valid: Vec<&'static str>,
    },
    #[error("{store_type} needs --set {key}=VALUE (required keys: {})", .required.join(", "))]
    MissingKey {
        store_type: String,
        key: String,
        required: Vec<&'static str>,
    },
    #[error("--set {0:?} is not key=value: write e.g. --set topic=user-events")]
    NotKeyValue(String),
    #[error("--set {0} is given twice: give each key once")]
    Repeated(String),
}

fn type_names() -> String {
    STORE_TYPES
        .iter()
        .map(|t| t.name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn keys(valid: &[&str]) -> String {
    valid.join(", ")
}

/// The store type called `name`.
pub fn store_type(name: &str) -> Result<&'static StoreType, StoreScaffoldError> {
    STORE_TYPES
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| StoreScaffoldError::UnknownType {
            given: name.to_owned(),
        })
}

/// Splits `key=value` arguments, refusing malformed and repeated ones.
pub fn parse_settings(settings: &[String]) -> Result<BTreeMap<String, String>, StoreScaffoldError> {
    let mut parsed = BTreeMap::new();
    for setting in settings {
        let (key, value) = setting
            .split_once('=')
            .filter(|(key, _)| !key.is_empty())
            .ok_or_else(|| StoreScaffoldError::NotKeyValue(setting.clone()))?;
        if parsed.insert(key.to_owned(), value.to_owned()).is_some() {
            return Err(StoreScaffoldError::Repeated(key.to_owned()));
        }
    }
    Ok(parsed)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    api_version: &'a str,
    kind: &'a str,
    metadata: Metadata<'a>,
    spec: Spec<'a>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct Spec<'a> {
    #[serde(rename = "type")]
    store_type: &'a str,
    connection: &'a BTreeMap<String, String>,
    #[serde(rename = "secretRef", skip_serializing_if = "Option::is_none")]
    secret_ref: Option<SecretRef<'a>>,
}

#[derive(Serialize)]
struct SecretRef<'a> {
    name: &'a str,
}

/// The `Store` manifest `name` of type `type_name` with `connection`, checked against
/// the type's keys; `secret_ref` names the secret holding its credentials.
pub fn scaffold_store(
    name: &str,
    type_name: &str,
    connection: &BTreeMap<String, String>,
    secret_ref: Option<&str>,
) -> Result<String, StoreScaffoldError> {
    validate_name("store", name)?;
    let store_type = store_type(type_name)?;
    let valid: Vec<&'static str> = store_type
        .required
        .iter()
        .chain(store_type.optional)
        .copied()
        .collect();
    if let Some(key) = connection.keys().find(|key| !valid.contains(&key.as_str())) {
        return Err(StoreScaffoldError::UnknownKey {
            store_type: type_name.to_owned(),
            key: key.clone(),
            valid,
        });
    }
    if let Some(key) = store_type
        .required
        .iter()
        .find(|key| !connection.contains_key(**key))
    {
        return Err(StoreScaffoldError::MissingKey {
            store_type: type_name.to_owned(),
            key: (*key).to_owned(),
            required: store_type.required.to_vec(),
        });
    }
    if let Some(secret) = secret_ref {
        validate_name("secret", secret)?;
    }
    Ok(yaml::to_yaml(&Document {
        api_version: API_VERSION,
        kind: "Store",
        metadata: Metadata { name },
        spec: Spec {
            store_type: type_name,
            connection,
            secret_ref: secret_ref.map(|name| SecretRef { name }),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse_store;

    fn settings(pairs: &[&str]) -> BTreeMap<String, String> {
        parse_settings(&pairs.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>())
            .expect("settings")
    }

    #[test]
    fn every_type_scaffolds_a_store_that_parses_with_its_required_keys() {
        for store_type in STORE_TYPES {
            let connection: BTreeMap<String, String> = store_type
                .required
                .iter()
                .map(|key| {
                    (
                        (*key).to_owned(),
                        format!("{key}-value: with # odd \"text\""),
                    )
                })
                .collect();
            let text = scaffold_store("events", store_type.name, &connection, Some("events-creds"))
                .expect("scaffold");
            let store = parse_store("environments/dev/stores/events.yaml", &text).expect(&text);
            assert_eq!(store.store_type, store_type.name);
            assert_eq!(store.connection, connection);
            assert_eq!(store.secret_ref.as_deref(), Some("events-creds"));
        }
    }

    #[test]
    fn an_unknown_type_names_the_valid_ones() {
        let error = scaffold_store("events", "redis", &BTreeMap::new(), None).expect_err("type");
        assert_eq!(
            error.to_string(),
            "unknown store type \"redis\": use one of kafka-topic, postgres-table, s3-prefix"
        );
    }

    #[test]
    fn an_unknown_or_missing_key_names_the_valid_ones() {
        let error = scaffold_store(
            "events",
            "kafka-topic",
            &settings(&["topic=t", "bucket=b"]),
            None,
        )
        .expect_err("key");
        assert_eq!(
            error.to_string(),
            "kafka-topic takes no connection key \"bucket\": its keys are brokers, topic, partitions, tls"
        );
        let error = scaffold_store("events", "kafka-topic", &settings(&["topic=t"]), None)
            .expect_err("missing");
        assert_eq!(
            error.to_string(),
            "kafka-topic needs --set brokers=VALUE (required keys: brokers, topic)"
        );
    }

    #[test]
    fn malformed_and_repeated_settings_are_refused() {
        assert!(matches!(
            parse_settings(&["topic".to_owned()]),
            Err(StoreScaffoldError::NotKeyValue(_))
        ));
        assert!(matches!(
            parse_settings(&["a=1".to_owned(), "a=2".to_owned()]),
            Err(StoreScaffoldError::Repeated(_))
        ));
    }
}
