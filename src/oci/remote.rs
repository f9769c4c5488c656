//! A remote OCI registry through `oci-client`: the digest a tag points at, looked up
//! fail-closed (only a definite "manifest unknown" / 404 means the tag is free), and the push
//! of a package artifact that never moves an existing tag, its layer streamed from its file.

use std::time::Duration;

use oci_client::{
    Client, Reference, RegistryOperation,
    client::{ClientConfig, ClientProtocol},
    errors::{OciDistributionError, OciErrorCode},
    manifest::{
        IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    },
    secrets::RegistryAuth,
};

use super::{
    MANIFEST_MEDIA_TYPE,
    address::{AddressError, RegistryAddress, tag_for_version},
    artifact::{Artifact, LayerFile, Manifest},
    blob_io::Progress,
    cosign::{SignatureImage, SignatureLayer, SignatureOutcome, signature_layers, signature_tag},
    credentials::Credentials,
    digest::sha256_digest,
    layout::Publication,
    package_config::PackageConfig,
    upload::layer_chunks,
};

/// Every manifest kind a tag may point at, so the registry answers with what is really there.
const ACCEPTED: &[&str] = &[
    MANIFEST_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
];

/// Why talking to the registry failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("registry {registry} is unreachable ({reason}): check the address and that it is up")]
    Unreachable { registry: String, reason: String },
    #[error(
        "registry {registry} refused {who}: check DK_REGISTRY_USERNAME and DK_REGISTRY_PASSWORD, DK_REGISTRY_TOKEN, or docker login"
    )]
    Denied { registry: String, who: String },
    #[error(
        "{reference} is already published as {existing}; refusing to replace it with {wanted}: publish a new version"
    )]
    TagTaken {
        reference: String,
        existing: String,
        wanted: String,
    },
    #[error("registry {registry} failed: {reason}")]
    Failed { registry: String, reason: String },
    #[error(transparent)]
    Address(#[from] AddressError),
}

/// A DataKit package as a registry holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePackage {
    /// The manifest digest.
    pub digest: String,
    pub config: PackageConfig,
}

/// A registry at an address, with the credentials to use there.
pub struct RemoteRegistry {
    client: Client,
    address: RegistryAddress,
    credentials: Credentials,
}

impl std::fmt::Debug for RemoteRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteRegistry")
            .field("address", &self.address)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl RemoteRegistry {
    pub fn new(address: RegistryAddress, credentials: Credentials) -> Result<Self, RemoteError> {
        // reqwest is built without a TLS provider of its own.
        crate::install_crypto_provider();
        Ok(Self {
            client: client_for(&address, false)?,
            address,
            credentials,
        })
    }

    pub fn address(&self) -> &RegistryAddress {
        &self.address
    }

    /// `host/namespace/package:tag` of a version.
    pub fn reference(&self, package: &str, version: &str) -> Result<String, RemoteError> {
        Ok(self.address.reference(package, &tag_for_version(version)?))
    }

    fn oci_reference(&self, package: &str, version: &str) -> Result<Reference, RemoteError> {
        Ok(Reference::with_tag(
            self.address.host().to_owned(),
            self.address.repository(package),
            tag_for_version(version)?,
        ))
    }

    fn auth(&self) -> RegistryAuth {
        match &self.credentials {
            Credentials::Anonymous => RegistryAuth::Anonymous,
            Credentials::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            Credentials::Bearer { token } => RegistryAuth::Bearer(token.clone()),
        }
    }

    /// The manifest `reference` points at, with its digest; `None` only when the registry
    /// says for certain that there is no such manifest. Any other failure is an error.
    async fn manifest(
        &self,
        reference: &Reference,
    ) -> Result<Option<(Vec<u8>, String)>, RemoteError> {
        match self
            .client
            .pull_manifest_raw(reference, &self.auth(), ACCEPTED)
            .await
        {
            Ok((bytes, digest)) => Ok(Some((bytes.to_vec(), digest))),
            Err(error) if is_not_found(&error) => Ok(None),
            Err(error) => Err(self.classify(error)),
        }
    }

    /// The digest `package:version` points at now; `None` only when the registry says for
    /// certain that there is no such manifest. Any other failure is an error.
    pub async fn digest_of(
        &self,
        package: &str,
        version: &str,
    ) -> Result<Option<String>, RemoteError> {
        let reference = self.oci_reference(package, version)?;
        Ok(self.manifest(&reference).await?.map(|(_, digest)| digest))
    }

    /// The DataKit package `package:version` points at now, with its config; `None` only
    /// when the registry says for certain that there is no such manifest.
    pub async fn fetch_package(
        &self,
        package: &str,
        version: &str,
    ) -> Result<Option<RemotePackage>, RemoteError> {
        let reference = self.oci_reference(package, version)?;
        let Some((bytes, digest)) = self.manifest(&reference).await? else {
            return Ok(None);
        };
        let not_a_package = |reason: String| RemoteError::Failed {
            registry: self.address.to_string(),
            reason: format!(
                "{} is not a usable DataKit package: {reason}",
                reference.whole()
            ),
        };
        let manifest =
            Manifest::parse_package(&bytes).map_err(|error| not_a_package(error.to_string()))?;
        let mut config = Vec::new();
        self.client
            .pull_blob(&reference, manifest.config.digest.as_str(), &mut config)
            .await
            .map_err(|error| self.classify(error))?;
        let config =
            PackageConfig::parse(&config).map_err(|error| not_a_package(error.to_string()))?;
        Ok(Some(RemotePackage { digest, config }))
    }

    /// `host/namespace/package`, the repository a signature's payload names.
    pub fn repository_reference(&self, package: &str) -> String {
        format!(
            "{}/{}",
            self.address.host(),
            self.address.repository(package)
        )
    }

    /// `package`'s `sha256-<hex>.sig` tag, where cosign keeps the signatures of `digest`.
    fn signature_reference(&self, package: &str, digest: &str) -> Result<Reference, RemoteError> {
        let tag = signature_tag(digest).map_err(|error| self.failed(error.to_string()))?;
        Ok(Reference::with_tag(
            self.address.host().to_owned(),
            self.address.repository(package),
            tag,
        ))
    }

    fn failed(&self, reason: String) -> RemoteError {
        RemoteError::Failed {
            registry: self.address.to_string(),
            reason,
        }
    }

    /// The cosign signatures of `digest` in `package`'s repository; none when the registry
    /// says for certain there is no signature tag.
    pub async fn signatures(
        &self,
        package: &str,
        digest: &str,
    ) -> Result<Vec<SignatureLayer>, RemoteError> {
        let reference = self.signature_reference(package, digest)?;
        match self.manifest(&reference).await? {
            Some((manifest, _)) => self.read_signatures(&reference, &manifest).await,
            None => Ok(Vec::new()),
        }
    }

    async fn read_signatures(
        &self,
        reference: &Reference,
        manifest: &[u8],
    ) -> Result<Vec<SignatureLayer>, RemoteError> {
        let unusable = |reason: String| {
            self.failed(format!(
                "the signatures {} are not usable: {reason}",
                reference.whole()
            ))
        };
        let layers = signature_layers(manifest).map_err(|error| unusable(error.to_string()))?;
        let mut signatures = Vec::with_capacity(layers.len());
        for (descriptor, signature) in layers {
            let mut payload = Vec::new();
            self.client
                .pull_blob(reference, descriptor.digest.as_str(), &mut payload)
                .await
                .map_err(|error| self.classify(error))?;
            if sha256_digest(&payload) != descriptor.digest {
                return Err(unusable(format!(
                    "blob {} does not match its digest",
                    descriptor.digest
                )));
            }
            signatures.push(SignatureLayer { payload, signature });
        }
        Ok(signatures)
    }

    /// Appends `layer` to the signatures of `digest` in `package`'s repository, as cosign
    /// does, unless one there already satisfies `already_signed`. (A registry cannot lock a
    /// tag: two signers racing may lose one signature, as with cosign itself.)
    pub async fn add_signature(
        &self,
        package: &str,
        digest: &str,
        layer: &SignatureLayer,
        already_signed: impl Fn(&SignatureLayer) -> bool,
    ) -> Result<SignatureOutcome, RemoteError> {
        let reference = self.signature_reference(package, digest)?;
        let existing = self.manifest(&reference).await?.map(|(bytes, _)| bytes);
        if let Some(manifest) = &existing
            && self
                .read_signatures(&reference, manifest)
                .await?
                .iter()
                .any(&already_signed)
        {
            return Ok(SignatureOutcome::AlreadySigned);
        }
        let image = SignatureImage::appending(existing.as_deref(), layer)
            .map_err(|error| self.failed(error.to_string()))?;
        self.client
            .auth(&reference, &self.auth(), RegistryOperation::Push)
            .await
            .map_err(|error| self.classify(error))?;
        for blob in [&layer.payload, &image.config] {
            let digest = sha256_digest(blob);
            let present = self
                .client
                .blob_exists(&reference, &digest)
                .await
                .map_err(|error| self.classify(error))?;
            if !present {
                self.client
                    .push_blob(&reference, blob.clone(), &digest)
                    .await
                    .map_err(|error| self.classify(error))?;
            }
        }
        self.client
            .push_manifest_raw(
                &reference,
                image.manifest,
                http::HeaderValue::from_static(MANIFEST_MEDIA_TYPE),
            )
            .await
            .map_err(|error| self.classify(error))?;
        Ok(SignatureOutcome::Added)
    }

    /// Whether the registry holds any tag of `package`; `false` only when it says for certain
    /// that there is none (no such repository, or an empty tag list).
    pub async fn has_tags(&self, package: &str) -> Result<bool, RemoteError> {
        // Tags are listed per repository: the reference's tag is not used.
        let reference = Reference::with_tag(
            self.address.host().to_owned(),
            self.address.repository(package),
            "latest".to_owned(),
        );
        match self
            .client
            .list_tags(&reference, &self.auth(), Some(1), None)
            .await
        {
            Ok(listing) => Ok(!listing.tags.is_empty()),
            Err(error) if is_not_found(&error) => Ok(false),
            Err(error) => Err(self.classify(error)),
        }
    }

    /// Publishes `artifact` as `package:version`: blobs first, then the manifest's exact
    /// bytes. A tag that exists already is never moved: the same digest is a no-op, another
    /// digest is refused before anything is pushed. `progress` is told of the layer's bytes
    /// as they are read for the upload.
    pub async fn push(
        &self,
        package: &str,
        version: &str,
        artifact: &Artifact,
        progress: &Progress,
    ) -> Result<Publication, RemoteError> {
        let reference = self.oci_reference(package, version)?;
        let taken = |existing: String| RemoteError::TagTaken {
            reference: reference.whole(),
            existing,
            wanted: artifact.digest().to_owned(),
        };
        match self.digest_of(package, version).await? {
            Some(existing) if existing == artifact.digest() => {
                return Ok(Publication::AlreadyPublished);
            }
            Some(existing) => return Err(taken(existing)),
            None => {}
        }
        self.client
            .auth(&reference, &self.auth(), RegistryOperation::Push)
            .await
            .map_err(|error| self.classify(error))?;
        let config = &artifact.manifest().config;
        if !self.blob_exists(&reference, &config.digest).await? {
            self.client
                .push_blob(&reference, artifact.config().to_vec(), &config.digest)
                .await
                .map_err(|error| self.classify(error))?;
        }
        let layer = artifact.layer();
        if self.blob_exists(&reference, &layer.digest).await? {
            progress(layer.size);
        } else {
            self.push_layer(&reference, layer, progress).await?;
        }
        self.client
            .push_manifest_raw(
                &reference,
                artifact.manifest_bytes().to_vec(),
                http::HeaderValue::from_static(MANIFEST_MEDIA_TYPE),
            )
            .await
            .map_err(|error| self.classify(error))?;
        // Registries cannot refuse to move a tag; at least notice a publisher that raced us.
        match self.digest_of(package, version).await? {
            Some(now) if now == artifact.digest() => Ok(Publication::Published),
            Some(now) => Err(taken(now)),
            None => Err(RemoteError::Failed {
                registry: self.address.to_string(),
                reason: format!("{} is missing right after it was pushed", reference.whole()),
            }),
        }
    }

    /// Uploads the layer from its file in chunks. A registry that breaks the spec on chunked
    /// uploads gets it again as one streamed PUT, as oci-client's `push_blob` would do.
    async fn push_layer(
        &self,
        reference: &Reference,
        layer: &LayerFile,
        progress: &Progress,
    ) -> Result<(), RemoteError> {
        let chunks = layer_chunks(layer.clone(), progress.clone());
        let chunked = self
            .client
            .push_blob_stream(reference, chunks, &layer.digest, Some(layer.size))
            .await;
        match chunked {
            Err(OciDistributionError::SpecViolationError(_)) => {}
            other => return other.map(drop).map_err(|error| self.classify(error)),
        }
        let monolithic = client_for(&self.address, true)?;
        monolithic
            .auth(reference, &self.auth(), RegistryOperation::Push)
            .await
            .map_err(|error| self.classify(error))?;
        let chunks = layer_chunks(layer.clone(), progress.clone());
        monolithic
            .push_blob_stream(reference, chunks, &layer.digest, Some(layer.size))
            .await
            .map(drop)
            .map_err(|error| self.classify(error))
    }

    async fn blob_exists(&self, reference: &Reference, digest: &str) -> Result<bool, RemoteError> {
        self.client
            .blob_exists(reference, digest)
            .await
            .map_err(|error| self.classify(error))
    }

    fn classify(&self, error: OciDistributionError) -> RemoteError {
        let registry = self.address.to_string();
        let denied = || RemoteError::Denied {
            registry: registry.clone(),
            who: self.credentials.describe(),
        };
        let unreachable = |reason: String| RemoteError::Unreachable {
            registry: registry.clone(),
            reason,
        };
        match &error {
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => denied(),
            OciDistributionError::RegistryError { envelope, .. }
                if envelope.errors.iter().any(|e| {
                    matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)
                }) =>
            {
                denied()
            }
            OciDistributionError::ServerError {
                code: 401 | 403, ..
            } => denied(),
            OciDistributionError::ServerError { code, .. } if *code >= 500 || *code == 429 => {
                unreachable(format!("it answered HTTP {code}"))
            }
            OciDistributionError::RegistryError { envelope, .. }
                if envelope
                    .errors
                    .iter()
                    .any(|e| e.code == OciErrorCode::Toomanyrequests) =>
            {
                unreachable("too many requests".to_owned())
            }
            OciDistributionError::RequestError(_) | OciDistributionError::IoError(_) => {
                unreachable(root_cause(&error))
            }
            _ => RemoteError::Failed {
                registry,
                reason: one_line(&error),
            },
        }
    }
}

/// An oci-client for `address`; with `monolithic`, blobs go up in one PUT each instead of
/// chunks.
fn client_for(address: &RegistryAddress, monolithic: bool) -> Result<Client, RemoteError> {
    let config = ClientConfig {
        protocol: if address.plain_http() {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        connect_timeout: Some(Duration::from_secs(10)),
        read_timeout: Some(Duration::from_secs(60)),
        user_agent: concat!("datakit/", env!("CARGO_PKG_VERSION")),
        platform_resolver: None,
        use_monolithic_push: monolithic,
        ..ClientConfig::default()
    };
    Client::try_from(config).map_err(|error| RemoteError::Failed {
        registry: address.to_string(),
        reason: one_line(&error),
    })
}

/// Whether the registry said for certain that the manifest (or the whole repository) does
/// not exist.
fn is_not_found(error: &OciDistributionError) -> bool {
    match error {
        OciDistributionError::RegistryError { envelope, .. } => {
            !envelope.errors.is_empty()
                && envelope.errors.iter().all(|e| {
                    matches!(
                        e.code,
                        OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown
                    )
                })
        }
        OciDistributionError::ServerError { code: 404, .. }
        | OciDistributionError::ImageManifestNotFoundError(_) => true,
        _ => false,
    }
}

/// The innermost cause, e.g. "Connection refused (os error 111)".
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    one_line(cause)
}

fn one_line(error: &dyn std::fmt::Display) -> String {
    error
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use oci_client::errors::{OciEnvelope, OciError};

    use super::*;

    fn envelope(codes: Vec<OciErrorCode>) -> OciDistributionError {
        OciDistributionError::RegistryError {
            envelope: OciEnvelope {
                errors: codes
                    .into_iter()
                    .map(|code| OciError {
                        code,
                        message: String::new(),
                        detail: serde_json::Value::Null,
                    })
                    .collect(),
            },
            url: "http://r/v2/".into(),
        }
    }

    fn registry(credentials: Credentials) -> RemoteRegistry {
        let address = RegistryAddress::parse("127.0.0.1:1/ns", false).expect("address");
        RemoteRegistry::new(address, credentials).expect("client")
    }

    #[test]
    fn only_a_definite_manifest_unknown_or_404_means_the_tag_is_free() {
        assert!(is_not_found(&envelope(vec![OciErrorCode::ManifestUnknown])));
        assert!(is_not_found(&envelope(vec![OciErrorCode::NameUnknown])));
        assert!(is_not_found(&OciDistributionError::ServerError {
            code: 404,
            url: String::new(),
            message: String::new()
        }));
        for other in [
            envelope(vec![]),
            envelope(vec![OciErrorCode::Denied]),
            envelope(vec![
                OciErrorCode::ManifestUnknown,
                OciErrorCode::Toomanyrequests,
            ]),
            OciDistributionError::ServerError {
                code: 500,
                url: String::new(),
                message: String::new(),
            },
            OciDistributionError::UnauthorizedError { url: String::new() },
            OciDistributionError::GenericError(None),
        ] {
            assert!(!is_not_found(&other), "{other:?}");
        }
    }

    #[test]
    fn a_refused_login_names_the_user_and_never_the_password() {
        let remote = registry(Credentials::Basic {
            username: "alice".into(),
            password: "hunter2".into(),
        });
        let error = remote.classify(OciDistributionError::UnauthorizedError { url: String::new() });
        let message = error.to_string();
        assert!(matches!(error, RemoteError::Denied { .. }));
        assert!(message.contains("the login of user alice"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(!format!("{remote:?}").contains("hunter2"));
    }

    #[test]
    fn server_errors_and_rate_limits_mean_unavailable() {
        let remote = registry(Credentials::Anonymous);
        let error = remote.classify(OciDistributionError::ServerError {
            code: 503,
            url: String::new(),
            message: String::new(),
        });
        assert!(matches!(error, RemoteError::Unreachable { .. }), "{error}");
        let error = remote.classify(envelope(vec![OciErrorCode::Toomanyrequests]));
        assert!(matches!(error, RemoteError::Unreachable { .. }), "{error}");
    }
}
