//! The keys of cosign's key-pair signatures: ECDSA over NIST P-256 with SHA-256, the
//! signature ASN.1 DER and base64-encoded (SIGNATURE_SPEC.md, "Signature Schemes"). Private
//! keys are PEM PKCS#8 (`-----BEGIN PRIVATE KEY-----`), public keys PEM PKIX
//! SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`, what `cosign generate-key-pair`
//! writes as cosign.pub). The crypto is ring's, which rustls already builds.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use ring::{
    rand::SystemRandom,
    signature::{
        ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _,
        UnparsedPublicKey,
    },
};

/// The DER prefix of a P-256 SubjectPublicKeyInfo (RFC 5480): SEQUENCE { SEQUENCE {
/// id-ecPublicKey, prime256v1 }, BIT STRING of 66 bytes }; the 65-byte uncompressed point
/// follows. A P-256 key has exactly this encoding, so a prefix check is a full parse.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// The length of an uncompressed P-256 point (0x04, X, Y).
const P256_POINT_LEN: usize = 65;

/// What converting a key takes, for the errors about cosign's own key files.
const CONVERT_HINT: &str = "use an unencrypted PKCS#8 EC P-256 key (-----BEGIN PRIVATE KEY-----), e.g. `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out release.key`; `cosign import-key-pair --key release.key` gives cosign the same key";

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not a PEM file: {0}")]
    Pem(String),
    #[error("this is cosign's encrypted key format, which dk does not decrypt: {CONVERT_HINT}")]
    EncryptedCosignKey,
    #[error("a PEM {found} is not a private key dk can use: {CONVERT_HINT}")]
    WrongPrivateKeyKind { found: String },
    #[error("not an EC P-256 private key ({0}): {CONVERT_HINT}")]
    PrivateKeyRejected(String),
    #[error("a PEM {found} is not a public key: expected -----BEGIN PUBLIC KEY----- (cosign.pub)")]
    WrongPublicKeyKind { found: String },
    #[error("not an EC P-256 public key: only cosign's ECDSA P-256 keys are supported")]
    NotP256,
    #[error("the system random number generator failed")]
    Random,
}

/// A private key that signs.
#[derive(Debug)]
pub struct SigningKey {
    pair: EcdsaKeyPair,
}

impl SigningKey {
    /// Reads a PEM PKCS#8 EC P-256 private key.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let block = pem::parse(text).map_err(|error| KeyError::Pem(error.to_string()))?;
        match block.tag() {
            "PRIVATE KEY" => {}
            "ENCRYPTED SIGSTORE PRIVATE KEY" | "ENCRYPTED COSIGN PRIVATE KEY" => {
                return Err(KeyError::EncryptedCosignKey);
            }
            other => {
                return Err(KeyError::WrongPrivateKeyKind {
                    found: other.to_owned(),
                });
            }
        }
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            block.contents(),
            &SystemRandom::new(),
        )
        .map_err(|rejected| KeyError::PrivateKeyRejected(rejected.to_string()))?;
        Ok(Self { pair })
    }

    /// The base64 DER ECDSA-P256-SHA256 signature of `payload`.
    pub fn sign(&self, payload: &[u8]) -> Result<String, KeyError> {
        let signature = self
            .pair
            .sign(&SystemRandom::new(), payload)
            .map_err(|_| KeyError::Random)?;
        Ok(STANDARD.encode(signature.as_ref()))
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            point: self.pair.public_key().as_ref().to_vec(),
        }
    }
}

/// A public key that verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    point: Vec<u8>,
}

impl PublicKey {
    /// Reads a PEM PKIX EC P-256 public key.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let block = pem::parse(text).map_err(|error| KeyError::Pem(error.to_string()))?;
        if block.tag() != "PUBLIC KEY" {
            return Err(KeyError::WrongPublicKeyKind {
                found: block.tag().to_owned(),
            });
        }
        match block.contents().split_at_checked(P256_SPKI_PREFIX.len()) {
            Some((prefix, point))
                if prefix == P256_SPKI_PREFIX
                    && point.len() == P256_POINT_LEN
                    && point.first() == Some(&0x04) =>
            {
                Ok(Self {
                    point: point.to_vec(),
                })
            }
            _ => Err(KeyError::NotP256),
        }
    }

    /// Whether `signature` (base64 DER) is this key's signature of `payload`.
    pub fn verifies(&self, payload: &[u8], signature: &str) -> bool {
        let Ok(der) = STANDARD.decode(signature.trim()) else {
            return false;
        };
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.point)
            .verify(payload, &der)
            .is_ok()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Keys made with Python's `cryptography` (an independent implementation, OpenSSL).
    const RELEASE_KEY: &str = include_str!("../../tests/support/keys/release.key");
    const RELEASE_PUB: &str = include_str!("../../tests/support/keys/release.pub");
    const OTHER_PUB: &str = include_str!("../../tests/support/keys/other.pub");
    /// The simple-signing payload of `cosign.rs`'s byte-for-byte test, signed by Python's
    /// `cryptography` with release.key: `key.sign(payload, ec.ECDSA(hashes.SHA256()))`.
    const PAYLOAD: &[u8] = br#"{"critical":{"identity":{"docker-reference":"r.example/ns/pkg"},"image":{"docker-manifest-digest":"sha256:87ef60f558bad79beea6425a3b28989f01dd417164150ab3baab98dcbf04def8"},"type":"cosign container image signature"},"optional":null}"#;
    const PYTHON_SIGNATURE: &str = "MEQCIAGtaKhEkrvwj57Q2SEg94UU08Jss+PBsxmi5GxvtwZxAiADNWUJU+9xlsTg53KOU1B0yBnEOnFkjrkKDyMkt2a1rQ==";

    pub(crate) fn signing_key() -> SigningKey {
        SigningKey::from_pem(RELEASE_KEY).expect("release.key")
    }

    #[test]
    fn a_signature_made_by_another_implementation_verifies_with_the_pem_public_key() {
        let key = PublicKey::from_pem(RELEASE_PUB).expect("release.pub");
        assert!(key.verifies(PAYLOAD, PYTHON_SIGNATURE));
        let mut tampered = PAYLOAD.to_vec();
        tampered[10] ^= 1;
        assert!(!key.verifies(&tampered, PYTHON_SIGNATURE));
        let other = PublicKey::from_pem(OTHER_PUB).expect("other.pub");
        assert!(!other.verifies(PAYLOAD, PYTHON_SIGNATURE));
    }

    #[test]
    fn a_pkcs8_private_key_signs_what_its_pem_public_key_verifies() {
        let key = signing_key();
        assert_eq!(
            key.public_key(),
            PublicKey::from_pem(RELEASE_PUB).expect("pub")
        );
        let signature = key.sign(PAYLOAD).expect("sign");
        assert!(key.public_key().verifies(PAYLOAD, &signature));
        assert!(!key.public_key().verifies(PAYLOAD, "not base64!"));
    }

    #[test]
    fn cosigns_encrypted_key_is_refused_with_how_to_convert() {
        let encrypted = "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOnt9fQ==\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n";
        let message = SigningKey::from_pem(encrypted)
            .expect_err("refused")
            .to_string();
        assert!(
            message.contains("openssl genpkey") && message.contains("cosign import-key-pair"),
            "{message}"
        );
    }

    #[test]
    fn a_public_key_where_a_private_one_belongs_and_the_reverse_are_named() {
        let error = SigningKey::from_pem(RELEASE_PUB).expect_err("public");
        assert!(error.to_string().contains("PUBLIC KEY"), "{error}");
        let error = PublicKey::from_pem(RELEASE_KEY).expect_err("private");
        assert!(error.to_string().contains("PRIVATE KEY"), "{error}");
        assert!(PublicKey::from_pem("garbage").is_err());
    }
}
