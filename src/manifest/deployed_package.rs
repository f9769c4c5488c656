//! `DeployedPackage` manifests: what a promotion writes to `environments/<env>/<pkg>.yaml`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_saphyr::{Location, Spanned};

use super::API_VERSION;
use super::error::ManifestError;
use super::header::{check_header, check_name_matches_file};
use super::names::validate_name;
use super::version::Version;
use super::yaml;

/// Annotation: the id of the promotion that wrote the manifest.
pub const ANNOTATION_PROMOTION_ID: &str = "datakit.infoblox.dev/promotion-id";
/// Annotation: who asked for the promotion.
pub const ANNOTATION_PROMOTED_BY: &str = "datakit.infoblox.dev/promoted-by";
/// Annotation: `"true"` when the promotion is a rollback.
pub const ANNOTATION_ROLLBACK: &str = "datakit.infoblox.dev/rollback";
/// Annotation: the version a rollback replaced.
pub const ANNOTATION_ROLLBACK_FROM: &str = "datakit.infoblox.dev/rollback-from";

const KIND: &str = "DeployedPackage";
const DIGEST_PREFIX: &str = "sha256:";
const DIGEST_HEX_LEN: usize = 64;

/// A package version deployed to one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployedPackage {
    /// The package name, equal to the file name without `.yaml`.
    pub name: String,
    /// The environment's Kubernetes namespace.
    pub namespace: String,
    /// `datakit.infoblox.dev/*` annotations (see the `ANNOTATION_*` constants).
    pub annotations: BTreeMap<String, String>,
    /// The exact version, e.g. `v1.0.0`.
    pub version: String,
    /// The artifact reference, e.g. `ghcr.io/org/my-package:v1.0.0`.
    pub artifact: String,
    /// The artifact digest pinned at promotion time: `sha256:` and 64 lowercase hex digits.
    pub digest: String,
}

#[derive(Serialize)]
struct Document<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'a str,
    kind: &'a str,
    metadata: Metadata<'a>,
    spec: Spec<'a>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    name: &'a str,
    namespace: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Spec<'a> {
    version: &'a str,
    artifact: &'a str,
    digest: &'a str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocument {
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
    namespace: Spanned<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    version: Spanned<String>,
    artifact: Spanned<String>,
    digest: Spanned<String>,
}

impl DeployedPackage {
    /// The manifest as written to the deployment repository.
    pub fn to_yaml(&self) -> String {
        yaml::to_yaml(&Document {
            api_version: API_VERSION,
            kind: KIND,
            metadata: Metadata {
                name: &self.name,
                namespace: &self.namespace,
                annotations: &self.annotations,
            },
            spec: Spec {
                version: &self.version,
                artifact: &self.artifact,
                digest: &self.digest,
            },
        })
    }
}

/// Parses and validates a `DeployedPackage`; `file` is its repository path, whose name must
/// match `metadata.name`.
pub fn parse_deployed_package(file: &str, text: &str) -> Result<DeployedPackage, ManifestError> {
    parse_with_namespace_location(file, text).map(|(deployed, _)| deployed)
}

/// Like [`parse_deployed_package`], for the environment running in `namespace`: a manifest
/// naming another namespace is refused at the line of its `metadata.namespace`.
pub fn parse_deployed_package_in(
    file: &str,
    text: &str,
    namespace: &str,
) -> Result<DeployedPackage, ManifestError> {
    let (deployed, location) = parse_with_namespace_location(file, text)?;
    if deployed.namespace != namespace {
        return Err(ManifestError::new(
            file,
            "metadata.namespace",
            format!(
                "{:?} is not the namespace of this environment: write namespace: {namespace}",
                deployed.namespace
            ),
        )
        .at(location));
    }
    Ok(deployed)
}

fn parse_with_namespace_location(
    file: &str,
    text: &str,
) -> Result<(DeployedPackage, Location), ManifestError> {
    let raw: RawDocument = yaml::parse_yaml(file, text)?;
    check_header(file, &raw.api_version, &raw.kind, KIND)?;
    check_name_matches_file(file, "package", &raw.metadata.name)?;
    let namespace = raw.metadata.namespace;
    validate_name("namespace", &namespace.value).map_err(|error| {
        ManifestError::new(file, "metadata.namespace", error.to_string()).at(namespace.referenced)
    })?;
    let spec = raw.spec;
    Version::parse(&spec.version.value).map_err(|error| {
        ManifestError::new(file, "spec.version", error.to_string()).at(spec.version.referenced)
    })?;
    if spec.artifact.value.is_empty()
        || spec
            .artifact
            .value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ManifestError::new(
            file,
            "spec.artifact",
            format!(
                "invalid artifact {:?}: write an OCI reference such as ghcr.io/org/pkg:v1.0.0",
                spec.artifact.value
            ),
        )
        .at(spec.artifact.referenced));
    }
    if !is_sha256_digest(&spec.digest.value) {
        return Err(ManifestError::new(
            file,
            "spec.digest",
            format!(
                "invalid digest {:?}: write sha256: followed by 64 lowercase hex digits",
                spec.digest.value
            ),
        )
        .at(spec.digest.referenced));
    }
    let deployed = DeployedPackage {
        name: raw.metadata.name.value,
        namespace: namespace.value,
        annotations: raw.metadata.annotations,
        version: spec.version.value,
        artifact: spec.artifact.value,
        digest: spec.digest.value,
    };
    Ok((deployed, namespace.referenced))
}

fn is_sha256_digest(digest: &str) -> bool {
    digest.strip_prefix(DIGEST_PREFIX).is_some_and(|hex| {
        hex.len() == DIGEST_HEX_LEN
            && hex
                .bytes()
                .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::test_support::{err, ok};

    const FILE: &str = "environments/dev/my-package.yaml";

    fn digest() -> String {
        format!("sha256:{}", "ab12".repeat(16))
    }

    fn deployed(annotations: &[(&str, &str)]) -> DeployedPackage {
        DeployedPackage {
            name: "my-package".into(),
            namespace: "dev".into(),
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            version: "v1.0.0".into(),
            artifact: "ghcr.io/org/my-package:v1.0.0".into(),
            digest: digest(),
        }
    }

    #[test]
    fn to_yaml_writes_the_contract_shape() {
        let package = deployed(&[
            (ANNOTATION_PROMOTION_ID, "0042"),
            (ANNOTATION_PROMOTED_BY, "alice"),
            (ANNOTATION_ROLLBACK, "true"),
            (ANNOTATION_ROLLBACK_FROM, "v1.1.0"),
        ]);
        let expected = format!(
            "apiVersion: datakit.infoblox.dev/v1alpha1
kind: DeployedPackage
metadata:
  name: my-package
  namespace: dev
  annotations:
    datakit.infoblox.dev/promoted-by: alice
    datakit.infoblox.dev/promotion-id: \"0042\"
    datakit.infoblox.dev/rollback: \"true\"
    datakit.infoblox.dev/rollback-from: v1.1.0
spec:
  version: v1.0.0
  artifact: ghcr.io/org/my-package:v1.0.0
  digest: {}
",
            digest()
        );
        assert_eq!(package.to_yaml(), expected);
    }

    #[test]
    fn empty_annotations_are_omitted() {
        let text = deployed(&[]).to_yaml();
        assert!(!text.contains("annotations"), "{text}");
    }

    #[test]
    fn written_manifests_parse_back_unchanged() {
        for package in [
            deployed(&[]),
            deployed(&[
                (ANNOTATION_ROLLBACK, "true"),
                (ANNOTATION_PROMOTION_ID, "12"),
            ]),
        ] {
            assert_eq!(
                ok(parse_deployed_package(FILE, &package.to_yaml())),
                package
            );
        }
    }

    #[test]
    fn a_name_that_differs_from_the_file_name_is_refused() {
        let error = err(parse_deployed_package(
            "environments/dev/other.yaml",
            &deployed(&[]).to_yaml(),
        ));
        assert_eq!(
            (error.field.as_str(), error.line),
            ("metadata.name", Some(4))
        );
    }

    #[test]
    fn a_version_that_is_not_exact_is_refused() {
        let text = deployed(&[])
            .to_yaml()
            .replace("version: v1.0.0", "version: latest");
        let error = err(parse_deployed_package(FILE, &text));
        assert_eq!(
            (error.field.as_str(), error.line),
            ("spec.version", Some(7))
        );
        assert!(error.message.contains("is not exact"), "{error}");
    }

    #[test]
    fn a_malformed_digest_is_refused() {
        let upper = format!("sha256:{}", "AB12".repeat(16));
        let short = format!("sha256:{}", "ab12".repeat(15));
        for bad in [upper.as_str(), short.as_str(), "md5:abc", "\"\""] {
            let text = deployed(&[]).to_yaml().replace(&digest(), bad);
            let error = err(parse_deployed_package(FILE, &text));
            assert_eq!(error.field, "spec.digest", "{bad}: {error}");
        }
    }

    #[test]
    fn an_invalid_namespace_or_artifact_is_refused() {
        let text = deployed(&[])
            .to_yaml()
            .replace("namespace: dev", "namespace: Dev_1");
        assert_eq!(
            err(parse_deployed_package(FILE, &text)).field,
            "metadata.namespace"
        );
        let text = deployed(&[])
            .to_yaml()
            .replace("ghcr.io/org/my-package:v1.0.0", "\"a b\"");
        assert_eq!(
            err(parse_deployed_package(FILE, &text)).field,
            "spec.artifact"
        );
    }

    #[test]
    fn a_namespace_other_than_the_environments_is_refused_at_its_line() {
        let text = deployed(&[]).to_yaml();
        assert_eq!(
            ok(parse_deployed_package_in(FILE, &text, "dev")).namespace,
            "dev"
        );
        let error = err(parse_deployed_package_in(FILE, &text, "production"));
        assert_eq!(
            (error.field.as_str(), error.line),
            ("metadata.namespace", Some(5))
        );
        assert!(error.message.contains("namespace: production"), "{error}");
    }

    #[test]
    fn another_kind_is_refused() {
        let text = deployed(&[])
            .to_yaml()
            .replace("kind: DeployedPackage", "kind: Store");
        assert_eq!(err(parse_deployed_package(FILE, &text)).field, "kind");
    }
}
