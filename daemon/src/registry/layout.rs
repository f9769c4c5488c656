//! The embedded registry: one OCI image layout per package in `DK_HOME/registry/<package>/`,
//! as `dk publish` writes it. Versions are the layouts' `org.opencontainers.image.ref.name`
//! tags; references use the containers/image `oci:` transport syntax. Signatures are where
//! cosign keeps them, under `sha256-<hex>.sig` tags of the same layout.

use std::path::{Path, PathBuf};

use datakit::{
    manifest::validate_name,
    oci::{LayoutError, OciLayout},
};

use crate::home::DkHome;
use crate::promotion::ports::{Registry, RegistryError, ResolvedArtifact, SignatureLayer};

/// The embedded registry's directory under `DK_HOME`.
const REGISTRY_DIR: &str = "registry";

/// The OCI layouts below one directory.
#[derive(Debug, Clone)]
pub struct LayoutRegistry {
    root: PathBuf,
}

impl LayoutRegistry {
    /// The layouts below `root` (made absolute, so references are too).
    pub fn new(root: &Path) -> Self {
        Self {
            root: std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf()),
        }
    }

    /// `DK_HOME/registry/`.
    pub fn in_home(home: &DkHome) -> Self {
        Self::new(&home.root().join(REGISTRY_DIR))
    }

    fn not_found(&self, package: &str, version: &str) -> RegistryError {
        RegistryError::NotFound {
            package: package.to_owned(),
            version: version.to_owned(),
            registry: self.describe(),
        }
    }

    /// [`Registry::resolve`], reading the layout's files on the calling thread.
    fn resolve_now(&self, package: &str, version: &str) -> Result<ResolvedArtifact, RegistryError> {
        // A name that is no package name (say `../x`) cannot have been published.
        if validate_name("package", package).is_err() {
            return Err(self.not_found(package, version));
        }
        let layout = OciLayout::new(self.root.join(package));
        match layout.read_package(version) {
            Ok(Some((descriptor, config))) => {
                config.check(package, version).map_err(|error| {
                    RegistryError::Unavailable(format!("{}: {error}", layout.reference(version)))
                })?;
                Ok(ResolvedArtifact {
                    reference: layout.reference(version),
                    digest: descriptor.digest,
                    bindings: config.store_bindings(),
                })
            }
            Ok(None) => Err(self.not_found(package, version)),
            Err(LayoutError::MissingBlob { digest, .. }) => Err(RegistryError::BlobMissing {
                package: package.to_owned(),
                version: version.to_owned(),
                digest,
                registry: self.describe(),
            }),
            Err(error) => Err(RegistryError::Unavailable(error.to_string())),
        }
    }
}

/// The registry's files could not be read (the blocking task failed).
fn unreadable(error: impl std::fmt::Display) -> RegistryError {
    RegistryError::Unavailable(format!("cannot read the registry: {error}"))
}

#[async_trait::async_trait]
impl Registry for LayoutRegistry {
    fn describe(&self) -> String {
        format!("the embedded registry {}", self.root.display())
    }

    async fn resolve(
        &self,
        package: &str,
        version: &str,
    ) -> Result<ResolvedArtifact, RegistryError> {
        let (registry, package, version) = (self.clone(), package.to_owned(), version.to_owned());
        tokio::task::spawn_blocking(move || registry.resolve_now(&package, &version))
            .await
            .map_err(unreadable)?
    }

    async fn resolve_all(
        &self,
        versions: Vec<(String, String)>,
    ) -> Vec<Result<ResolvedArtifact, RegistryError>> {
        let (registry, count) = (self.clone(), versions.len());
        let looked_up = tokio::task::spawn_blocking(move || {
            versions
                .iter()
                .map(|(package, version)| registry.resolve_now(package, version))
                .collect()
        })
        .await;
        looked_up.unwrap_or_else(|error| {
            let reason = error.to_string();
            (0..count).map(|_| Err(unreadable(&reason))).collect()
        })
    }

    async fn signatures(
        &self,
        package: &str,
        digest: &str,
    ) -> Result<Vec<SignatureLayer>, RegistryError> {
        if validate_name("package", package).is_err() {
            return Ok(Vec::new());
        }
        let layout = OciLayout::new(self.root.join(package));
        let digest = digest.to_owned();
        tokio::task::spawn_blocking(move || layout.signatures(&digest))
            .await
            .map_err(unreadable)?
            .map_err(|error| RegistryError::Unavailable(error.to_string()))
    }

    async fn has_package(&self, package: &str) -> Result<bool, RegistryError> {
        // `dk publish` creates a package's layout, index.json included, with its first tag.
        if validate_name("package", package).is_err() {
            return Ok(false);
        }
        let index = self.root.join(package).join("index.json");
        tokio::fs::try_exists(&index).await.map_err(|error| {
            RegistryError::Unavailable(format!("cannot read {}: {error}", index.display()))
        })
    }
}
