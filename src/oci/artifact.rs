//! A DataKit package artifact: its config and content blobs and the OCI image manifest
//! that ties them together. The manifest's JSON is produced here, compactly and with a
//! fixed field order, so its digest is the sha256 of bytes DataKit controls and is the
//! same wherever the artifact is stored. The content layer, which can be large, stays in a
//! file and is streamed from there; only its digest and size are held.

use std::{collections::BTreeMap, path::PathBuf};

use serde::{Deserialize, Serialize};

use super::{
    ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, CONTENT_MEDIA_TYPE, MANIFEST_MEDIA_TYPE,
    digest::sha256_digest, package_config::MAX_CONFIG_BYTES,
};

/// An OCI content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// The descriptor of `bytes` with `media_type`.
    pub fn of(media_type: &str, bytes: &[u8]) -> Self {
        Self {
            media_type: media_type.to_owned(),
            digest: sha256_digest(bytes),
            size: bytes.len() as u64,
            artifact_type: None,
            annotations: BTreeMap::new(),
        }
    }
}

/// The content layer of an artifact: the file holding its bytes, and their digest and size
/// (hashed when the file was written or read back, never assumed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerFile {
    pub path: PathBuf,
    pub digest: String,
    pub size: u64,
}

/// The OCI image manifest of a package (fields in the order they are written).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    pub media_type: String,
    pub artifact_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Manifest {
    /// Parses the manifest of a DataKit package: its artifact type, one content layer, and
    /// a config blob of sane size.
    pub fn parse_package(bytes: &[u8]) -> Result<Self, ArtifactError> {
        let manifest: Manifest = serde_json::from_slice(bytes)?;
        if manifest.artifact_type != ARTIFACT_TYPE || manifest.layers.len() != 1 {
            return Err(ArtifactError::NotAPackage {
                found: manifest.artifact_type,
            });
        }
        if manifest.config.size > MAX_CONFIG_BYTES {
            return Err(ArtifactError::ConfigTooLarge {
                size: manifest.config.size,
            });
        }
        Ok(manifest)
    }
}

/// Why stored bytes are not a DataKit package artifact.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("the manifest is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the manifest is a {found}, not a DataKit package ({ARTIFACT_TYPE})")]
    NotAPackage { found: String },
    #[error("the artifact holds {found}, not {expected}")]
    WrongPackage { expected: String, found: String },
    #[error("the config blob is {size} bytes, more than a package config can be")]
    ConfigTooLarge { size: u64 },
    #[error("the {what} blob does not match the manifest (expected {expected}, found {found})")]
    Mismatch {
        what: &'static str,
        expected: String,
        found: String,
    },
}

/// A package artifact: manifest and config bytes and the content layer's file, consistent
/// with each other.
#[derive(Clone, PartialEq, Eq)]
pub struct Artifact {
    manifest: Manifest,
    manifest_bytes: Vec<u8>,
    digest: String,
    config: Vec<u8>,
    layer: LayerFile,
}

impl std::fmt::Debug for Artifact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Artifact")
            .field("digest", &self.digest)
            .field("size", &self.size())
            .finish_non_exhaustive()
    }
}

impl Artifact {
    /// Assembles the artifact of a config blob and a content layer with `annotations`.
    pub fn new(
        config: Vec<u8>,
        layer: LayerFile,
        annotations: BTreeMap<String, String>,
    ) -> Result<Self, ArtifactError> {
        let manifest = Manifest {
            schema_version: 2,
            media_type: MANIFEST_MEDIA_TYPE.to_owned(),
            artifact_type: ARTIFACT_TYPE.to_owned(),
            config: Descriptor::of(CONFIG_MEDIA_TYPE, &config),
            layers: vec![Descriptor {
                media_type: CONTENT_MEDIA_TYPE.to_owned(),
                digest: layer.digest.clone(),
                size: layer.size,
                artifact_type: None,
                annotations: BTreeMap::new(),
            }],
            annotations,
        };
        let manifest_bytes = serde_json::to_vec(&manifest)?;
        Ok(Self {
            digest: sha256_digest(&manifest_bytes),
            manifest,
            manifest_bytes,
            config,
            layer,
        })
    }

    /// Reassembles an artifact from stored bytes and a layer file whose content was hashed,
    /// checking that they belong together.
    pub fn from_parts(
        manifest_bytes: Vec<u8>,
        config: Vec<u8>,
        layer: LayerFile,
    ) -> Result<Self, ArtifactError> {
        let manifest = Manifest::parse_package(&manifest_bytes)?;
        let check = |what, expected: &Descriptor, found: String, size: u64| {
            if found == expected.digest && expected.size == size {
                Ok(())
            } else {
                Err(ArtifactError::Mismatch {
                    what,
                    expected: expected.digest.clone(),
                    found,
                })
            }
        };
        check(
            "config",
            &manifest.config,
            sha256_digest(&config),
            config.len() as u64,
        )?;
        check(
            "content",
            &manifest.layers[0],
            layer.digest.clone(),
            layer.size,
        )?;
        Ok(Self {
            digest: sha256_digest(&manifest_bytes),
            manifest,
            manifest_bytes,
            config,
            layer,
        })
    }

    /// The manifest digest: the artifact's identity.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The manifest as stored and pushed.
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest_bytes
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn config(&self) -> &[u8] {
        &self.config
    }

    /// The content layer's file, digest and size.
    pub fn layer(&self) -> &LayerFile {
        &self.layer
    }

    /// The descriptor of the manifest, as an index lists it.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            artifact_type: Some(ARTIFACT_TYPE.to_owned()),
            ..Descriptor::of(MANIFEST_MEDIA_TYPE, &self.manifest_bytes)
        }
    }

    /// Total bytes of manifest, config and content.
    pub fn size(&self) -> u64 {
        (self.manifest_bytes.len() + self.config.len()) as u64 + self.layer.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layer file that is never opened: only its digest and size count here.
    fn layer(bytes: &[u8]) -> LayerFile {
        LayerFile {
            path: PathBuf::from("/nonexistent/layer"),
            digest: sha256_digest(bytes),
            size: bytes.len() as u64,
        }
    }

    fn sample() -> Artifact {
        let annotations = BTreeMap::from([
            (
                "org.opencontainers.image.version".to_owned(),
                "v1.0.0".to_owned(),
            ),
            ("org.opencontainers.image.title".to_owned(), "p".to_owned()),
        ]);
        Artifact::new(b"{}".to_vec(), layer(b"layer"), annotations).expect("artifact")
    }

    #[test]
    fn the_manifest_is_compact_json_with_a_fixed_field_order() {
        let artifact = sample();
        let text = String::from_utf8(artifact.manifest_bytes().to_vec()).expect("utf-8");
        let expected = format!(
            concat!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","#,
                r#""artifactType":"application/vnd.datakit.package.v1","#,
                r#""config":{{"mediaType":"application/vnd.datakit.package.config.v1+json","digest":"{}","size":2}},"#,
                r#""layers":[{{"mediaType":"application/vnd.datakit.package.content.v1.tar+gzip","digest":"{}","size":5}}],"#,
                r#""annotations":{{"org.opencontainers.image.title":"p","org.opencontainers.image.version":"v1.0.0"}}}}"#
            ),
            sha256_digest(b"{}"),
            sha256_digest(b"layer")
        );
        assert_eq!(text, expected);
        assert_eq!(artifact.digest(), sha256_digest(expected.as_bytes()));
    }

    #[test]
    fn stored_parts_reassemble_into_the_same_artifact() {
        let artifact = sample();
        let again = Artifact::from_parts(
            artifact.manifest_bytes().to_vec(),
            artifact.config().to_vec(),
            artifact.layer().clone(),
        )
        .expect("reassembled");
        assert_eq!(again, artifact);
    }

    #[test]
    fn a_blob_that_does_not_match_its_manifest_is_refused() {
        let artifact = sample();
        let error = Artifact::from_parts(
            artifact.manifest_bytes().to_vec(),
            artifact.config().to_vec(),
            layer(b"tampered"),
        )
        .expect_err("mismatch");
        assert!(matches!(
            error,
            ArtifactError::Mismatch {
                what: "content",
                ..
            }
        ));
    }
}
