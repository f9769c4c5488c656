//! `dk sign`'s work: resolve a published version to its pinned digest and add a cosign
//! signature of that digest where cosign keeps it (`sha256-<hex>.sig` in the package's
//! repository), in the embedded registry or a remote one.

use std::path::Path;

use datakit::oci::{
    Credentials, OciLayout, RemoteRegistry, SignatureLayer, SignatureOutcome, SigningKey,
    signature_tag,
};

use super::publish::{Destination, layout_error, remote_error};
use crate::error::{CliError, Failure};

/// What `dk sign` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The digest the signature covers.
    pub digest: String,
    /// Where the signatures of that digest are, e.g. `r/ns/pkg:sha256-….sig`.
    pub signatures: String,
    /// The registry, as shown to people.
    pub registry: String,
    pub outcome: SignatureOutcome,
}

/// Reads the private key at `path`.
pub fn read_key(path: &Path) -> Result<SigningKey, CliError> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        CliError::new(
            Failure::InvalidInput,
            format!("cannot read the key {}: {error}", path.display()),
        )
    })?;
    SigningKey::from_pem(&text).map_err(|error| {
        CliError::new(
            Failure::InvalidInput,
            format!("{}: {error}", path.display()),
        )
    })
}

/// Signs the digest `package:version` resolves to in `destination` with `key`.
pub async fn sign(
    destination: &Destination,
    package: &str,
    version: &str,
    key: &SigningKey,
) -> Result<Signed, CliError> {
    let public = key.public_key();
    let not_published = |registry: &str| {
        CliError::new(
            Failure::NotFound,
            format!(
                "{package}:{version} is not published in {registry}: run dk build && dk publish first"
            ),
        )
    };
    match destination {
        Destination::Embedded(root) => {
            let registry = format!("the embedded registry {}", root.display());
            let layout = OciLayout::new(root.join(package));
            let (descriptor, _) = layout
                .read_package(version)
                .map_err(layout_error)?
                .ok_or_else(|| not_published(&registry))?;
            let digest = descriptor.digest;
            // An OCI layout has no repository name; cosign's payload parser needs a valid one
            // (see `simple_signing_payload`), and the package name is one.
            let layer = SignatureLayer::sign(key, package, &digest).map_err(signing_error)?;
            let outcome = layout
                .add_signature(&digest, &layer, |found| found.signs(&digest, &public))
                .map_err(layout_error)?;
            Ok(Signed {
                signatures: layout.reference(&signature_tag(&digest).map_err(signing_error)?),
                digest,
                registry,
                outcome,
            })
        }
        Destination::Remote(address) => {
            let credentials = Credentials::lookup(address.host())
                .map_err(|error| CliError::new(Failure::InvalidInput, error.to_string()))?;
            let remote = RemoteRegistry::new(address.clone(), credentials).map_err(remote_error)?;
            let registry = address.to_string();
            let found = remote
                .fetch_package(package, version)
                .await
                .map_err(remote_error)?
                .ok_or_else(|| not_published(&registry))?;
            let digest = found.digest;
            let repository = remote.repository_reference(package);
            let layer = SignatureLayer::sign(key, &repository, &digest).map_err(signing_error)?;
            let outcome = remote
                .add_signature(package, &digest, &layer, |found| {
                    found.signs(&digest, &public)
                })
                .await
                .map_err(remote_error)?;
            Ok(Signed {
                signatures: format!(
                    "{repository}:{}",
                    signature_tag(&digest).map_err(signing_error)?
                ),
                digest,
                registry,
                outcome,
            })
        }
    }
}

fn signing_error(error: datakit::oci::CosignError) -> CliError {
    CliError::new(Failure::Other, error.to_string())
}
