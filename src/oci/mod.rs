//! DataKit packages as OCI artifacts, shared by `dk` (which writes them) and `dkd` (which
//! resolves them): the media types, sha256 digests, the manifest `dk build` produces, the
//! OCI image layout of the embedded registry, cosign signatures, registry addresses and
//! credentials, and —
//! with the `registry-client` feature — the client of remote OCI registries.

mod address;
mod artifact;
mod blob_io;
mod cosign;
mod credentials;
mod digest;
mod index;
mod keys;
mod layout;
mod package_config;
#[cfg(feature = "registry-client")]
mod remote;
#[cfg(feature = "registry-client")]
mod upload;

pub use address::{AddressError, RegistryAddress, is_loopback_host, tag_for_version};
pub use artifact::{Artifact, ArtifactError, Descriptor, LayerFile, Manifest};
pub use blob_io::{Hashed, HashingReader, HashingWriter, Progress, no_progress};
pub use cosign::{
    CosignError, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, SignatureImage, SignatureLayer,
    SignatureOutcome, signature_layers, signature_tag, simple_signing_payload,
};
pub use credentials::{Credentials, CredentialsError};
pub use digest::{is_sha256_digest, sha256_digest};
pub use keys::{KeyError, PublicKey, SigningKey};
pub use layout::{BlobWriter, LayoutError, OciLayout, Publication, write_atomically};
pub use package_config::{MAX_CONFIG_BYTES, PackageConfig};
#[cfg(feature = "registry-client")]
pub use remote::{RemoteError, RemotePackage, RemoteRegistry};

/// The media type of the artifact's manifest (an OCI image manifest).
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The media type of an OCI image layout's `index.json`.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// The manifest's `artifactType`: a DataKit package.
pub const ARTIFACT_TYPE: &str = "application/vnd.datakit.package.v1";
/// The config blob: the package's manifest (name, version, description, bindings) as JSON.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.datakit.package.config.v1+json";
/// The one layer: the package directory as a reproducible gzip-compressed tar.
pub const CONTENT_MEDIA_TYPE: &str = "application/vnd.datakit.package.content.v1.tar+gzip";

/// The annotation keys DataKit sets (from the OCI image spec's pre-defined keys).
pub mod annotations {
    /// The package name.
    pub const TITLE: &str = "org.opencontainers.image.title";
    /// The package version, exactly as given to `dk build`.
    pub const VERSION: &str = "org.opencontainers.image.version";
    /// The git commit the package was built from.
    pub const REVISION: &str = "org.opencontainers.image.revision";
    /// The package's source repository (the normalized `origin` URL).
    pub const SOURCE: &str = "org.opencontainers.image.source";
    /// When the source was made (RFC 3339): `SOURCE_DATE_EPOCH` or the commit time.
    pub const CREATED: &str = "org.opencontainers.image.created";
    /// In an OCI layout's `index.json`: the tag (here, the version) of a manifest.
    pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
}
