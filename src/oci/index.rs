//! An OCI image layout's `index.json`: which manifest each tag
//! (`org.opencontainers.image.ref.name`) points at. Entries and fields written by other
//! tools are kept as they are when DataKit adds a tag.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{INDEX_MEDIA_TYPE, annotations::REF_NAME, artifact::Descriptor};

/// The parsed `index.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Index {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<Value>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

/// Why an `index.json` cannot be used.
#[derive(Debug, thiserror::Error)]
pub(super) enum IndexError {
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("tag {tag} points at {first} and at {second}")]
    Ambiguous {
        tag: String,
        first: String,
        second: String,
    },
}

impl Index {
    /// An index with no manifests.
    pub(super) fn empty() -> Self {
        Self {
            schema_version: 2,
            media_type: Some(INDEX_MEDIA_TYPE.to_owned()),
            manifests: Vec::new(),
            rest: Map::new(),
        }
    }

    pub(super) fn parse(bytes: &[u8]) -> Result<Self, IndexError> {
        Ok(serde_json::from_slice(bytes)?)
    }

    pub(super) fn to_bytes(&self) -> Result<Vec<u8>, IndexError> {
        Ok(serde_json::to_vec(self)?)
    }

    /// The manifest `tag` points at; a tag pointing at two manifests is an error.
    pub(super) fn find(&self, tag: &str) -> Result<Option<Descriptor>, IndexError> {
        let mut found: Option<Descriptor> = None;
        for entry in &self.manifests {
            let tagged = entry
                .get("annotations")
                .and_then(|annotations| annotations.get(REF_NAME))
                .and_then(Value::as_str)
                == Some(tag);
            if !tagged {
                continue;
            }
            let descriptor: Descriptor = serde_json::from_value(entry.clone())?;
            match &found {
                Some(first) if first.digest != descriptor.digest => {
                    return Err(IndexError::Ambiguous {
                        tag: tag.to_owned(),
                        first: first.digest.clone(),
                        second: descriptor.digest,
                    });
                }
                Some(_) => {}
                None => found = Some(descriptor),
            }
        }
        Ok(found)
    }

    /// Points `tag` at `descriptor`, dropping whatever it pointed at (signature tags move
    /// as signatures are added; package tags never do).
    pub(super) fn retag(&mut self, tag: &str, descriptor: Descriptor) -> Result<(), IndexError> {
        self.manifests.retain(|entry| {
            entry
                .get("annotations")
                .and_then(|annotations| annotations.get(REF_NAME))
                .and_then(Value::as_str)
                != Some(tag)
        });
        self.add(tag, descriptor)
    }

    /// Adds `descriptor` under `tag` (the caller has checked the tag is free).
    pub(super) fn add(&mut self, tag: &str, mut descriptor: Descriptor) -> Result<(), IndexError> {
        descriptor
            .annotations
            .insert(REF_NAME.to_owned(), tag.to_owned());
        self.manifests.push(serde_json::to_value(descriptor)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(digest: &str) -> Descriptor {
        Descriptor {
            media_type: "m".into(),
            digest: digest.into(),
            size: 1,
            artifact_type: None,
            annotations: Default::default(),
        }
    }

    #[test]
    fn a_tag_is_found_by_its_ref_name_annotation() {
        let mut index = Index::empty();
        index.add("v1.0.0", descriptor("sha256:a")).expect("add");
        index.add("v2.0.0", descriptor("sha256:b")).expect("add");
        let again = Index::parse(&index.to_bytes().expect("bytes")).expect("parse");
        let found = again.find("v2.0.0").expect("find").expect("tagged");
        assert_eq!(found.digest, "sha256:b");
        assert!(again.find("v3.0.0").expect("find").is_none());
    }

    #[test]
    fn entries_and_fields_of_other_tools_survive_a_rewrite() {
        let text = r#"{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:c","size":3,"platform":{"os":"linux"}}],"annotations":{"k":"v"}}"#;
        let mut index = Index::parse(text.as_bytes()).expect("parse");
        index.add("v1.0.0", descriptor("sha256:a")).expect("add");
        let rewritten = String::from_utf8(index.to_bytes().expect("bytes")).expect("utf-8");
        assert!(
            rewritten.contains(r#""platform":{"os":"linux"}"#),
            "{rewritten}"
        );
        assert!(
            rewritten.contains(r#""annotations":{"k":"v"}"#),
            "{rewritten}"
        );
    }

    #[test]
    fn a_tag_pointing_at_two_manifests_is_an_error_not_a_guess() {
        let mut index = Index::empty();
        index.add("v1.0.0", descriptor("sha256:a")).expect("add");
        index.add("v1.0.0", descriptor("sha256:b")).expect("add");
        assert!(matches!(
            index.find("v1.0.0"),
            Err(IndexError::Ambiguous { .. })
        ));
    }
}
