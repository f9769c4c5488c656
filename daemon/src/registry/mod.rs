//! Registries: where published packages are, and which digest a version resolves to. The
//! `Registry` port and its implementations: the embedded OCI image layout in
//! `DK_HOME/registry/` and any OCI registry through `oci-client`.

mod layout;
mod oci;

use std::{collections::BTreeMap, sync::Arc};

pub use layout::LayoutRegistry;
pub use oci::OciRegistry;

use crate::{
    config::{RegistryConfig, RegistryKind},
    home::DkHome,
};

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
}

/// The registry `dkd.yaml` selects: the embedded layout by default.
pub fn from_config(
    config: &RegistryConfig,
    home: &DkHome,
) -> Result<Arc<dyn Registry>, RegistryError> {
    match config.kind {
        RegistryKind::Embedded => Ok(Arc::new(LayoutRegistry::in_home(home))),
        RegistryKind::Oci => {
            let url = config.url.as_deref().ok_or_else(|| {
                RegistryError::Unavailable(
                    "registry.url is required when registry.type is oci: set it in dkd.yaml"
                        .to_owned(),
                )
            })?;
            Ok(Arc::new(OciRegistry::connect(url, config.plain_http)?))
        }
    }
}
