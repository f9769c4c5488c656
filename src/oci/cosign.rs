//! cosign's signature format, as `specs/SIGNATURE_SPEC.md` of sigstore/cosign specifies it:
//! a signature of the image `sha256:<hex>` lives in the same repository under the tag
//! `sha256-<hex>.sig` ("Tag-based Discovery"), as an OCI image manifest whose every layer is
//! one signature: the layer blob is the signed payload, a "simple signing" JSON document of
//! media type `application/vnd.dev.cosign.simplesigning.v1+json` naming the digest, and the
//! layer's annotation `dev.cosignproject.cosign/signature` holds the base64 signature of
//! those exact bytes. Signing again appends a layer (cosign's `mutate.AppendSignatures`).

use serde::{Deserialize, Serialize};

use super::{
    MANIFEST_MEDIA_TYPE,
    artifact::Descriptor,
    digest::{is_sha256_digest, sha256_digest},
    keys::{PublicKey, SigningKey},
};

/// The media type of a simple-signing payload layer (SIGNATURE_SPEC.md, "Simple Signing").
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature (SIGNATURE_SPEC.md, "Signature").
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// `critical.type` of a cosign signature payload.
pub const COSIGN_SIGNATURE_TYPE: &str = "cosign container image signature";
/// The config of the signature manifest: an (empty) OCI image config, as cosign writes one
/// through go-containerregistry's `empty.Image`.
const IMAGE_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";

/// Why a signature or a signature manifest cannot be made or read.
#[derive(Debug, thiserror::Error)]
pub enum CosignError {
    #[error("{0:?} is not a sha256 digest")]
    InvalidDigest(String),
    #[error("the signature manifest is not usable: {0}")]
    Json(#[from] serde_json::Error),
    #[error("signing failed: {0}")]
    Key(#[from] super::keys::KeyError),
}

/// The tag cosign stores the signatures of `digest` under: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &str) -> Result<String, CosignError> {
    if !is_sha256_digest(digest) {
        return Err(CosignError::InvalidDigest(digest.to_owned()));
    }
    Ok(format!("{}.sig", digest.replacen(':', "-", 1)))
}

/// The simple-signing payload (containers/image's "JSON data format", with cosign's
/// `critical.type`). Fields in this order, as cosign's `payload.SimpleContainerImage`
/// marshals them (pkg/signature/payload/payload.go in sigstore/sigstore; a nil `Optional`
/// map is written as `null`).
#[derive(Debug, Serialize, Deserialize)]
struct SimpleSigning {
    critical: Critical,
    #[serde(default)]
    optional: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// The payload cosign signs for `digest` in repository `docker_reference`. SIGNATURE_SPEC.md
/// says the field is ignored, but cosign's `payload.Cosign.UnmarshalJSON` parses
/// `<docker-reference>@<digest>` as an image name, so it must be a valid repository name
/// (`host[:port]/path`, or a bare name), never a file path.
pub fn simple_signing_payload(
    docker_reference: &str,
    digest: &str,
) -> Result<Vec<u8>, CosignError> {
    if !is_sha256_digest(digest) {
        return Err(CosignError::InvalidDigest(digest.to_owned()));
    }
    Ok(serde_json::to_vec(&SimpleSigning {
        critical: Critical {
            identity: Identity {
                docker_reference: docker_reference.to_owned(),
            },
            image: Image {
                docker_manifest_digest: digest.to_owned(),
            },
            kind: COSIGN_SIGNATURE_TYPE.to_owned(),
        },
        optional: None,
    })?)
}

/// One signature: the signed payload bytes and the base64 signature of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLayer {
    pub payload: Vec<u8>,
    pub signature: String,
}

impl SignatureLayer {
    /// Signs the payload for `digest` with `key`.
    pub fn sign(
        key: &SigningKey,
        docker_reference: &str,
        digest: &str,
    ) -> Result<Self, CosignError> {
        let payload = simple_signing_payload(docker_reference, digest)?;
        let signature = key.sign(&payload)?;
        Ok(Self { payload, signature })
    }

    /// Whether this is a cosign signature of `digest` made by `key`: the signature verifies
    /// over the payload bytes, and the payload is a cosign payload naming `digest` (what
    /// cosign's `VerifyImageSignature` checks with a public key).
    pub fn signs(&self, digest: &str, key: &PublicKey) -> bool {
        let Ok(payload) = serde_json::from_slice::<SimpleSigning>(&self.payload) else {
            return false;
        };
        payload.critical.kind == COSIGN_SIGNATURE_TYPE
            && payload.critical.image.docker_manifest_digest == digest
            && key.verifies(&self.payload, &self.signature)
    }

    /// The layer descriptor of this signature in a signature manifest.
    pub fn descriptor(&self) -> Descriptor {
        let mut descriptor = Descriptor::of(SIMPLE_SIGNING_MEDIA_TYPE, &self.payload);
        descriptor
            .annotations
            .insert(SIGNATURE_ANNOTATION.to_owned(), self.signature.clone());
        descriptor
    }
}

/// What adding a signature did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureOutcome {
    /// The signature was added to the digest's signature manifest.
    Added,
    /// The digest already carried a signature by the same key: nothing was written.
    AlreadySigned,
}

/// The signature layers a signature manifest lists: `(payload descriptor, base64
/// signature)`. Layers of other media types, or without a signature, are skipped.
pub fn signature_layers(manifest: &[u8]) -> Result<Vec<(Descriptor, String)>, CosignError> {
    let parsed: SignatureManifest = serde_json::from_slice(manifest)?;
    Ok(parsed
        .layers
        .into_iter()
        .filter(|layer| layer.media_type == SIMPLE_SIGNING_MEDIA_TYPE)
        .filter_map(|layer| {
            let signature = layer.annotations.get(SIGNATURE_ANNOTATION)?.clone();
            Some((layer, signature))
        })
        .collect())
}

/// The OCI image manifest holding signatures.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignatureManifest {
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

/// The go-containerregistry image config of a signature image: no platform, one diff id
/// per (uncompressed) layer.
#[derive(Serialize)]
struct ImageConfig<'a> {
    architecture: &'a str,
    os: &'a str,
    config: serde_json::Map<String, serde_json::Value>,
    rootfs: RootFs,
}

#[derive(Serialize)]
struct RootFs {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: Vec<String>,
}

/// A signature manifest ready to store: its bytes and its config blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureImage {
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
}

impl SignatureImage {
    /// The manifest listing `layers` (existing signatures first, as cosign appends).
    pub fn new(layers: Vec<Descriptor>) -> Result<Self, CosignError> {
        let config = serde_json::to_vec(&ImageConfig {
            architecture: "",
            os: "",
            config: serde_json::Map::new(),
            rootfs: RootFs {
                kind: "layers",
                diff_ids: layers.iter().map(|layer| layer.digest.clone()).collect(),
            },
        })?;
        let manifest = serde_json::to_vec(&SignatureManifest {
            schema_version: 2,
            media_type: Some(MANIFEST_MEDIA_TYPE.to_owned()),
            config: Descriptor::of(IMAGE_CONFIG_MEDIA_TYPE, &config),
            layers,
        })?;
        Ok(Self { manifest, config })
    }

    /// The manifest of `existing` (a signature manifest's bytes, if any) with `layer`
    /// appended; every layer already there is kept as it is.
    pub fn appending(existing: Option<&[u8]>, layer: &SignatureLayer) -> Result<Self, CosignError> {
        let mut layers = match existing {
            Some(bytes) => serde_json::from_slice::<SignatureManifest>(bytes)?.layers,
            None => Vec::new(),
        };
        layers.push(layer.descriptor());
        Self::new(layers)
    }

    /// The manifest's digest.
    pub fn digest(&self) -> String {
        sha256_digest(&self.manifest)
    }

    /// The manifest's descriptor.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::of(MANIFEST_MEDIA_TYPE, &self.manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:87ef60f558bad79beea6425a3b28989f01dd417164150ab3baab98dcbf04def8";

    #[test]
    fn the_signature_tag_is_the_digest_with_a_dash_and_dot_sig() {
        // SIGNATURE_SPEC.md, "Tag-based Discovery": replace ':' with '-', append ".sig".
        assert_eq!(
            signature_tag(DIGEST).expect("tag"),
            "sha256-87ef60f558bad79beea6425a3b28989f01dd417164150ab3baab98dcbf04def8.sig"
        );
        assert!(signature_tag("sha256:../x").is_err());
    }

    #[test]
    fn the_payload_is_cosigns_simple_signing_json_byte_for_byte() {
        let payload = simple_signing_payload("r.example/ns/pkg", DIGEST).expect("payload");
        assert_eq!(
            String::from_utf8(payload).expect("utf-8"),
            concat!(
                r#"{"critical":{"identity":{"docker-reference":"r.example/ns/pkg"},"#,
                r#""image":{"docker-manifest-digest":"sha256:87ef60f558bad79beea6425a3b28989f01dd417164150ab3baab98dcbf04def8"},"#,
                r#""type":"cosign container image signature"},"optional":null}"#
            )
        );
    }

    #[test]
    fn a_signature_manifest_lists_each_signature_as_an_annotated_simple_signing_layer() {
        let first = SignatureLayer {
            payload: b"one".to_vec(),
            signature: "c2ln".into(),
        };
        let second = SignatureLayer {
            payload: b"two".to_vec(),
            signature: "b3RoZXI=".into(),
        };
        let image =
            SignatureImage::new(vec![first.descriptor(), second.descriptor()]).expect("image");
        let layers = signature_layers(&image.manifest).expect("layers");
        assert_eq!(layers.len(), 2);
        assert_eq!(layers[0].0.digest, sha256_digest(b"one"));
        assert_eq!(layers[1].1, "b3RoZXI=");
        let text = String::from_utf8(image.manifest).expect("utf-8");
        assert!(
            text.contains(r#""mediaType":"application/vnd.dev.cosign.simplesigning.v1+json""#)
                && text.contains(r#""annotations":{"dev.cosignproject.cosign/signature":"c2ln"}"#),
            "{text}"
        );
    }

    #[test]
    fn a_payload_naming_another_digest_or_type_signs_nothing() {
        let key = crate::oci::keys::tests::signing_key();
        let other = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        let layer = SignatureLayer::sign(&key, "r/p", DIGEST).expect("signed");
        assert!(layer.signs(DIGEST, &key.public_key()));
        assert!(!layer.signs(other, &key.public_key()));
        let mut not_cosign = layer.clone();
        not_cosign.payload = String::from_utf8(layer.payload.clone())
            .expect("utf-8")
            .replace(COSIGN_SIGNATURE_TYPE, "atomic container signature")
            .into_bytes();
        not_cosign.signature = key.sign(&not_cosign.payload).expect("sign");
        assert!(!not_cosign.signs(DIGEST, &key.public_key()));
    }
}
