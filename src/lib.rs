//! DataKit's shared API crate: the generated `datakit.v1` gRPC contract, the manifest
//! model (environments, teams, stores, packages), the package artifacts (`oci`), and the
//! rules for showing outside text (`text`) that `dkd` and `dk` both use.

pub mod files;
pub mod manifest;
pub mod oci;
pub mod text;
pub mod users;

/// The generated `datakit.v1` protobuf messages, client and server.
pub mod proto {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("datakit.v1");

    /// The encoded descriptor set of `proto/`, served through gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/datakit_v1_descriptor.bin"));
}

/// Installs rustls' `ring` provider as the process default. Every binary and test binary
/// calls this first: the workspace builds TLS clients without a provider of their own (no
/// aws-lc C build), and they panic on first use if none is installed. Calling it twice is
/// harmless.
pub fn install_crypto_provider() {
    // An error only means a provider is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
