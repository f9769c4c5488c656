//! An environment's `require_signatures`: the pinned digest must carry a cosign signature
//! by one of the listed public keys. Promotions and rollbacks alike — a rollback target
//! that is not signed by a key the environment accepts now is refused, even if it ran
//! before the requirement existed. Verification runs on the blocking pool.

use datakit::manifest::Environment;

use super::Engine;
use crate::promotion::{LoadedConfig, PromotionError};

impl Engine {
    /// Refuses `digest` of `package` unless one of `environment`'s keys signed it.
    pub(super) async fn check_signatures(
        &self,
        config: &LoadedConfig,
        environment: &Environment,
        package: &str,
        version: &str,
        digest: &str,
    ) -> Result<(), PromotionError> {
        if environment.signature_keys.is_empty() {
            return Ok(());
        }
        let signatures = self.ports.registry.signatures(package, digest).await?;
        let found = signatures.len();
        let keys: Vec<_> = environment
            .signature_keys
            .iter()
            .filter_map(|file| config.signature_keys.get(file).cloned())
            .collect();
        let signed_digest = digest.to_owned();
        let signed = tokio::task::spawn_blocking(move || {
            keys.iter().any(|key| {
                signatures
                    .iter()
                    .any(|signature| signature.signs(&signed_digest, key))
            })
        })
        .await
        .map_err(|error| {
            PromotionError::Unavailable(format!("cannot verify signatures: {error}"))
        })?;
        if signed {
            return Ok(());
        }
        let accepted = environment.signature_keys.join(", ");
        let what = match found {
            0 => "is not signed".to_owned(),
            1 => "has 1 signature, by no key it accepts".to_owned(),
            n => format!("has {n} signatures, by no key it accepts"),
        };
        Err(PromotionError::Refused(format!(
            "{package} {version} ({digest}) {what}: {} requires a signature by {accepted}; sign it with dk sign {package} {version} --key <the private key of one of them>",
            environment.name
        )))
    }
}
