//! The `Registry` port: which digest and store bindings a published package version
//! resolves to, and the cosign signatures of a digest. Implemented in `registry/` (the embedded OCI layout, any OCI registry).

use std::collections::BTreeMap;

pub use datakit::oci::SignatureLayer;

/// A package version as the registry holds it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedArtifact {
    /// Where to pull it from, e.g. `ghcr.io/acme/my-package:v1.0.0` or
    /// `oci:/home/me/.datakit/registry/my-package:v1.0.0`.
    pub reference: String,
    /// The manifest digest, `sha256:…`.
    pub digest: String,
    /// The package's store bindings from the artifact's config: binding key → store name,
    /// with `spec.store` under the key `store`.
    pub bindings: BTreeMap<String, String>,
}

/// What resolving a package version can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The version (or the whole package) is not in the registry.
    #[error("{package}:{version} is not published in {registry}: run dk build && dk publish")]
    NotFound {
        package: String,
        version: String,
        registry: String,
    },
    /// The version is tagged, but a blob of it is gone: as good as not published.
    #[error(
        "{package}:{version} is tagged in {registry}, but its blob {digest} is missing: publish it again (dk publish) to restore the blob"
    )]
    BlobMissing {
        package: String,
        version: String,
        digest: String,
        registry: String,
    },
    /// The registry refused dkd's credentials.
    #[error("{0}")]
    Denied(String),
    /// The registry cannot be reached or read right now; nothing can be said about the tag.
    #[error("{0}")]
    Unavailable(String),
}

/// Read access to published packages.
#[async_trait::async_trait]
pub trait Registry: Send + Sync + 'static {
    /// A short description for logs and messages, e.g. the registry address.
    fn describe(&self) -> String;

    /// The digest and artifact reference a version of a package resolves to now, with the
    /// store bindings its artifact declares.
    async fn resolve(
        &self,
        package: &str,
        version: &str,
    ) -> Result<ResolvedArtifact, RegistryError>;

    /// What each `(package, version)` of `versions` resolves to now, in their order:
    /// [`Registry::resolve`] of each in turn, unless the registry can do better (the
    /// embedded one reads them all in one blocking task, a remote one keeps a few lookups
    /// in flight). Takes the versions, so that a registry reading them on another thread
    /// need not copy them.
    async fn resolve_all(
        &self,
        versions: Vec<(String, String)>,
    ) -> Vec<Result<ResolvedArtifact, RegistryError>> {
        let mut resolved = Vec::with_capacity(versions.len());
        for (package, version) in &versions {
            resolved.push(self.resolve(package, version).await);
        }
        resolved
    }

    /// The cosign signatures stored for `digest` of `package` (its `sha256-<hex>.sig` tag),
    /// unverified; none when there are none.
    async fn signatures(
        &self,
        package: &str,
        digest: &str,
    ) -> Result<Vec<SignatureLayer>, RegistryError>;

    /// Whether any version of `package` is published (an invalid name never is): a package
    /// not deployed yet is known once published.
    async fn has_package(&self, package: &str) -> Result<bool, RegistryError>;
}
