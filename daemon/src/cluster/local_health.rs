//! A package's health on the local target, as the sync loop resolves it: Healthy while its
//! pinned digest still resolves in the registry, Degraded when the version resolves to
//! another digest or is gone (not published, or a blob of it missing), Unknown when the
//! registry cannot be read. Versions are looked up in bounded batches, one registry call
//! each.

use crate::promotion::ports::{HealthState, Registry, RegistryError, ResolvedArtifact};

/// A deployed version: (package, version, pinned digest).
pub type Pinned = (String, String, String);

/// How many versions one registry lookup resolves: a first sync of a large folder makes
/// many lookups of a bounded size, not one holding every answer at once.
const REGISTRY_BATCH: usize = 1_000;

/// The health of each pinned version, in order, looked up in the registry
/// `REGISTRY_BATCH` at a time.
pub async fn healths(registry: &dyn Registry, pinned: &[Pinned]) -> Vec<(HealthState, String)> {
    let mut healths = Vec::with_capacity(pinned.len());
    for batch in pinned.chunks(REGISTRY_BATCH) {
        let versions: Vec<(String, String)> = batch
            .iter()
            .map(|(package, version, _)| (package.clone(), version.clone()))
            .collect();
        let found = registry.resolve_all(versions).await;
        healths.extend(
            batch
                .iter()
                .zip(found)
                .map(|((_, version, digest), found)| health(found, version, digest)),
        );
    }
    healths
}

/// A package's health from what its version resolves to now: Healthy at the pinned
/// digest, Degraded at another digest or when it is gone, Unknown when the registry cannot
/// say.
fn health(
    found: Result<ResolvedArtifact, RegistryError>,
    version: &str,
    digest: &str,
) -> (HealthState, String) {
    match found {
        Ok(resolved) if resolved.digest == digest => (HealthState::Healthy, String::new()),
        Ok(resolved) => (
            HealthState::Degraded,
            format!(
                "the registry serves {} for {version}, not the pinned {digest}",
                resolved.digest
            ),
        ),
        Err(error @ (RegistryError::NotFound { .. } | RegistryError::BlobMissing { .. })) => {
            (HealthState::Degraded, error.to_string())
        }
        Err(error) => (HealthState::Unknown, error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::promotion::ports::SignatureLayer;

    /// Publishes version `v1` of every package at a digest named after the package, and
    /// nothing else; records the size of each `resolve_all`.
    #[derive(Default)]
    struct OneVersionEach {
        batches: Mutex<Vec<usize>>,
    }

    #[async_trait::async_trait]
    impl Registry for OneVersionEach {
        fn describe(&self) -> String {
            "one version each".into()
        }
        async fn resolve(
            &self,
            package: &str,
            version: &str,
        ) -> Result<ResolvedArtifact, RegistryError> {
            if version != "v1" {
                return Err(RegistryError::NotFound {
                    package: package.into(),
                    version: version.into(),
                    registry: self.describe(),
                });
            }
            Ok(ResolvedArtifact {
                reference: format!("registry.example/{package}:{version}"),
                digest: format!("sha256:{package}"),
                bindings: Default::default(),
            })
        }
        async fn resolve_all(
            &self,
            versions: Vec<(String, String)>,
        ) -> Vec<Result<ResolvedArtifact, RegistryError>> {
            if let Ok(mut batches) = self.batches.lock() {
                batches.push(versions.len());
            }
            let mut found = Vec::new();
            for (package, version) in &versions {
                found.push(self.resolve(package, version).await);
            }
            found
        }
        async fn signatures(&self, _: &str, _: &str) -> Result<Vec<SignatureLayer>, RegistryError> {
            Ok(Vec::new())
        }
        async fn has_package(&self, _: &str) -> Result<bool, RegistryError> {
            Ok(true)
        }
    }

    #[tokio::test]
    async fn healths_come_in_order_from_bounded_lookups() {
        // Every third pinned version runs another digest, every fifth an unpublished version.
        let pinned: Vec<Pinned> = (0..2_500)
            .map(|n| {
                let package = format!("pkg-{n}");
                let version = if n % 5 == 0 { "v2" } else { "v1" };
                let digest = if n % 3 == 0 {
                    "sha256:other".to_owned()
                } else {
                    format!("sha256:{package}")
                };
                (package, version.to_owned(), digest)
            })
            .collect();
        let registry = OneVersionEach::default();
        let found = healths(&registry, &pinned).await;
        assert_eq!(found.len(), pinned.len());
        for (n, (health, message)) in found.iter().enumerate() {
            let expected = if n % 5 == 0 || n % 3 == 0 {
                HealthState::Degraded
            } else {
                HealthState::Healthy
            };
            assert_eq!(*health, expected, "pkg-{n}: {message}");
            assert_eq!(message.is_empty(), expected == HealthState::Healthy);
        }
        assert!(
            found[3].1.contains("not the pinned sha256:other"),
            "{}",
            found[3].1
        );
        assert!(found[5].1.contains("not published"), "{}", found[5].1);
        let batches = registry
            .batches
            .lock()
            .map(|b| b.clone())
            .unwrap_or_default();
        assert_eq!(batches, [1_000, 1_000, 500]);
        assert!(healths(&registry, &[]).await.is_empty());
        assert_eq!(registry.batches.lock().map(|b| b.len()).ok(), Some(3));
    }
}
