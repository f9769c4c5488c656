//! A remote OCI registry (`host[:port]/namespace`) through `oci-client`, with dkd's
//! credentials from `DK_REGISTRY_*` or the Docker config. Fail-closed: only a definite
//! "manifest unknown" counts as not published.

use datakit::oci::{Credentials, RegistryAddress, RemoteError, RemoteRegistry};
use futures::StreamExt;

use crate::promotion::ports::{Registry, RegistryError, ResolvedArtifact, SignatureLayer};

/// Lookups of one `resolve_all` in flight at once. A health re-check or a first sync waits
/// on round trips more than on the registry's work; eight overlap them while holding no more
/// than a few connections to a registry that may be shared and rate-limited.
const LOOKUPS_AT_ONCE: usize = 8;

/// A remote registry and namespace.
#[derive(Debug)]
pub struct OciRegistry {
    remote: RemoteRegistry,
}

impl OciRegistry {
    /// The registry at `url` (`host[:port]/namespace`); plain HTTP when `plain_http` or the
    /// host is loopback.
    /// Credentials come from `DK_REGISTRY_*` or the Docker config of dkd's user.
    pub fn connect(url: &str, plain_http: bool) -> Result<Self, RegistryError> {
        let address = parse(url, plain_http)?;
        let credentials = Credentials::lookup(address.host())
            .map_err(|error| RegistryError::Denied(error.to_string()))?;
        Self::open(address, credentials)
    }

    /// The registry at `url`, logging in with `credentials`.
    pub fn with_credentials(
        url: &str,
        plain_http: bool,
        credentials: Credentials,
    ) -> Result<Self, RegistryError> {
        Self::open(parse(url, plain_http)?, credentials)
    }

    fn open(address: RegistryAddress, credentials: Credentials) -> Result<Self, RegistryError> {
        let remote = RemoteRegistry::new(address, credentials).map_err(unavailable)?;
        Ok(Self { remote })
    }
}

fn parse(url: &str, plain_http: bool) -> Result<RegistryAddress, RegistryError> {
    RegistryAddress::parse(url, plain_http)
        .map_err(|error| RegistryError::Unavailable(format!("registry.url: {error}")))
}

fn unavailable(error: RemoteError) -> RegistryError {
    match error {
        RemoteError::Denied { .. } => RegistryError::Denied(error.to_string()),
        _ => RegistryError::Unavailable(error.to_string()),
    }
}

#[async_trait::async_trait]
impl Registry for OciRegistry {
    fn describe(&self) -> String {
        format!("registry {}", self.remote.address())
    }

    async fn resolve(
        &self,
        package: &str,
        version: &str,
    ) -> Result<ResolvedArtifact, RegistryError> {
        let not_found = || RegistryError::NotFound {
            package: package.to_owned(),
            version: version.to_owned(),
            registry: self.describe(),
        };
        // Neither an invalid name nor a version that cannot be a tag can have been published.
        let reference = match self.remote.reference(package, version) {
            Ok(reference) if datakit::manifest::validate_name("package", package).is_ok() => {
                reference
            }
            _ => return Err(not_found()),
        };
        match self.remote.fetch_package(package, version).await {
            Ok(Some(found)) => {
                found
                    .config
                    .check(package, version)
                    .map_err(|error| RegistryError::Unavailable(format!("{reference}: {error}")))?;
                Ok(ResolvedArtifact {
                    reference,
                    digest: found.digest,
                    bindings: found.config.store_bindings(),
                })
            }
            Ok(None) => Err(not_found()),
            Err(error) => Err(unavailable(error)),
        }
    }

    /// Up to [`LOOKUPS_AT_ONCE`] lookups at a time, answered in the order asked.
    async fn resolve_all(
        &self,
        versions: Vec<(String, String)>,
    ) -> Vec<Result<ResolvedArtifact, RegistryError>> {
        // By index: a closure taking each pair by reference would return a future tied to
        // that argument's lifetime, which the `Send` bound of the trait's boxed future
        // cannot name.
        futures::stream::iter(0..versions.len())
            .map(|at| self.resolve(&versions[at].0, &versions[at].1))
            .buffered(LOOKUPS_AT_ONCE)
            .collect()
            .await
    }

    async fn signatures(
        &self,
        package: &str,
        digest: &str,
    ) -> Result<Vec<SignatureLayer>, RegistryError> {
        if datakit::manifest::validate_name("package", package).is_err() {
            return Ok(Vec::new());
        }
        self.remote
            .signatures(package, digest)
            .await
            .map_err(unavailable)
    }

    async fn has_package(&self, package: &str) -> Result<bool, RegistryError> {
        if datakit::manifest::validate_name("package", package).is_err() {
            return Ok(false);
        }
        self.remote.has_tags(package).await.map_err(unavailable)
    }
}
