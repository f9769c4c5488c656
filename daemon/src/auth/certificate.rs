//! Client certificates (mTLS): a chain that verifies against the configured client CA
//! authenticates its subject — the CN is the user, each OU a group. The TLS handshake only
//! proves that the client holds the certificate's key (`ProofOfKey`); the chain is verified
//! per request (`ClientCa::authenticate`), so an untrusted certificate is answered with
//! UNAUTHENTICATED saying why, instead of a bare TLS alert.

use std::{path::Path, sync::Arc};

use datakit::manifest::{validate_login, validate_name};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme,
    client::danger::HandshakeSignatureValid,
    pki_types::{CertificateDer, UnixTime, pem::PemObject},
    server::{
        WebPkiClientVerifier,
        danger::{ClientCertVerified, ClientCertVerifier},
    },
};

use super::{AuthMethod, Principal, Validity};

/// DER of the attribute types dkd reads: commonName (2.5.4.3), organizationalUnitName
/// (2.5.4.11).
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const ORGANIZATIONAL_UNIT: &[u8] = &[0x55, 0x04, 0x0b];

/// Why the client CA cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ClientCaError {
    #[error("cannot read the client CA {path}: {reason}")]
    Read { path: String, reason: String },
}

/// Why a client certificate does not authenticate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateRejection {
    #[error("client certificate: not trusted ({0}): use one signed by this dkd's client CA")]
    Untrusted(String),
    #[error("client certificate: its subject cannot be read: {0}")]
    Unreadable(String),
    #[error("client certificate: its subject needs exactly one CN, the user name (it has {0})")]
    CommonNames(usize),
    #[error("client certificate: {0}")]
    InvalidName(String),
}

/// The client CA of the listener.
#[derive(Debug, Clone)]
pub struct ClientCa {
    verifier: Arc<dyn ClientCertVerifier>,
}

impl ClientCa {
    /// Reads the CA certificates (PEM) of `path`.
    pub fn load(path: &Path) -> Result<Self, ClientCaError> {
        let failed = |reason: String| ClientCaError::Read {
            path: path.display().to_string(),
            reason,
        };
        let mut roots = RootCertStore::empty();
        for certificate in CertificateDer::pem_file_iter(path).map_err(|e| failed(e.to_string()))? {
            let certificate = certificate.map_err(|e| failed(e.to_string()))?;
            roots
                .add(certificate)
                .map_err(|e| failed(format!("not a CA certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(failed("no PEM certificate in it".to_owned()));
        }
        let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
            .allow_unauthenticated()
            .build()
            .map_err(|e| failed(e.to_string()))?;
        Ok(Self { verifier })
    }

    /// The verifier for the TLS handshake: asks for a certificate signed by this CA, does
    /// not require one (tokens work too), and checks only that the client holds its key.
    pub fn handshake_verifier(&self) -> Arc<dyn ClientCertVerifier> {
        Arc::new(ProofOfKey(self.verifier.clone()))
    }

    /// The principal of a presented `chain` (leaf first), once it verifies at `now`.
    pub fn authenticate(
        &self,
        chain: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<Principal, CertificateRejection> {
        let (leaf, intermediates) = chain
            .split_first()
            .ok_or_else(|| CertificateRejection::Untrusted("none presented".to_owned()))?;
        self.verifier
            .verify_client_cert(leaf, intermediates, now)
            .map_err(|error| CertificateRejection::Untrusted(error.to_string()))?;
        principal_from_certificate(leaf)
    }
}

/// The principal named by `certificate`'s subject: CN → user, OU → groups. Call it only on
/// a verified certificate.
pub fn principal_from_certificate(
    certificate: &CertificateDer<'_>,
) -> Result<Principal, CertificateRejection> {
    let parsed = webpki::EndEntityCert::try_from(certificate)
        .map_err(|e| CertificateRejection::Unreadable(e.to_string()))?;
    let attributes = subject_attributes(parsed.subject()).ok_or_else(|| {
        CertificateRejection::Unreadable("not a DER name of string attributes".to_owned())
    })?;
    let values = |oid: &[u8]| -> Vec<String> {
        attributes
            .iter()
            .filter(|(kind, _)| *kind == oid)
            .map(|(_, value)| value.clone())
            .collect()
    };
    let [name] = <[String; 1]>::try_from(values(COMMON_NAME))
        .map_err(|names| CertificateRejection::CommonNames(names.len()))?;
    validate_login(&name).map_err(|e| CertificateRejection::InvalidName(format!("CN: {e}")))?;
    let groups = values(ORGANIZATIONAL_UNIT);
    for group in &groups {
        validate_name("group", group)
            .map_err(|e| CertificateRejection::InvalidName(format!("OU: {e}")))?;
    }
    Ok(Principal {
        name,
        groups,
        method: AuthMethod::ClientCertificate,
        validity: Validity::default(),
    })
}

/// The (type OID, value) pairs of a DER `Name`'s contents (RDNSequence without its outer
/// SEQUENCE header), or `None` when it is not one or a value is not a text string.
fn subject_attributes(mut name: &[u8]) -> Option<Vec<(&[u8], String)>> {
    let mut attributes = Vec::new();
    while !name.is_empty() {
        let (set, rest) = element(name, 0x31)?;
        name = rest;
        let mut set = set;
        while !set.is_empty() {
            let (pair, rest) = element(set, 0x30)?;
            set = rest;
            let (oid, value) = element(pair, 0x06)?;
            let (&tag, _) = value.split_first()?;
            // UTF8String, PrintableString, IA5String: all UTF-8 compatible.
            if ![0x0c, 0x13, 0x16].contains(&tag) {
                if oid == COMMON_NAME || oid == ORGANIZATIONAL_UNIT {
                    return None;
                }
                continue;
            }
            let (text, trailing) = element(value, tag)?;
            if !trailing.is_empty() {
                return None;
            }
            attributes.push((oid, String::from_utf8(text.to_vec()).ok()?));
        }
    }
    Some(attributes)
}

/// The contents of the DER element at the start of `input`, which must have `tag`, and
/// what follows it. Definite lengths up to 4 bytes, as in any certificate.
fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, input) = input.split_first()?;
    let (&first, mut input) = input.split_first()?;
    if found != tag {
        return None;
    }
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if !(1..=4).contains(&count) || input.len() < count {
            return None;
        }
        let (bytes, rest) = input.split_at(count);
        input = rest;
        bytes
            .iter()
            .fold(0usize, |length, byte| (length << 8) | usize::from(*byte))
    };
    (length <= input.len()).then(|| input.split_at(length))
}

/// Accepts any client certificate whose key the client proves to hold; the chain itself is
/// verified per request by `ClientCa::authenticate`.
#[derive(Debug)]
struct ProofOfKey(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for ProofOfKey {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_read_as_type_and_text_pairs() {
        // SET { SEQ { OID 2.5.4.3, UTF8String "alice" } } SET { SEQ { OID 2.5.4.11, PrintableString "security" } }
        let name = [
            &[
                0x31, 0x0e, 0x30, 0x0c, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x05,
            ][..],
            b"alice",
            &[
                0x31, 0x11, 0x30, 0x0f, 0x06, 0x03, 0x55, 0x04, 0x0b, 0x13, 0x08,
            ],
            b"security",
        ]
        .concat();
        let attributes = subject_attributes(&name).expect("a name");
        assert_eq!(
            attributes,
            vec![
                (COMMON_NAME, "alice".to_owned()),
                (ORGANIZATIONAL_UNIT, "security".to_owned())
            ]
        );
    }

    fn signed(
        issuer: &rcgen::Issuer<'_, rcgen::KeyPair>,
        cn: &str,
        ou: &str,
    ) -> CertificateDer<'static> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationalUnitName, ou);
        let key = rcgen::KeyPair::generate().expect("key");
        params.signed_by(&key, issuer).expect("sign").der().clone()
    }

    fn ca(name: &str) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().expect("key"))
            .expect("CA")
    }

    #[test]
    fn a_certificate_of_the_client_ca_names_its_cn_and_ou_and_any_other_is_untrusted() {
        datakit::install_crypto_provider();
        let dir = tempfile::tempdir().expect("tempdir");
        let issuer = ca("clients");
        std::fs::write(dir.path().join("ca.pem"), issuer.pem()).expect("write");
        let client_ca = ClientCa::load(&dir.path().join("ca.pem")).expect("loads");

        let principal = client_ca
            .authenticate(&[signed(&issuer, "alice", "security")], UnixTime::now())
            .expect("trusted");
        assert_eq!(
            principal,
            Principal {
                name: "alice".to_owned(),
                groups: vec!["security".to_owned()],
                method: AuthMethod::ClientCertificate,
                validity: Validity::default(),
            }
        );
        let stranger = signed(&ca("strangers"), "alice", "security");
        assert!(matches!(
            client_ca.authenticate(&[stranger], UnixTime::now()),
            Err(CertificateRejection::Untrusted(_))
        ));
        assert!(matches!(
            client_ca.authenticate(&[signed(&issuer, "al ice", "security")], UnixTime::now()),
            Err(CertificateRejection::InvalidName(_))
        ));
        assert!(matches!(
            client_ca.authenticate(&[signed(&issuer, "bob", "Security Team")], UnixTime::now()),
            Err(CertificateRejection::InvalidName(_))
        ));
    }

    #[test]
    fn truncated_or_overlong_elements_are_not_a_name() {
        for bad in [
            &[0x31][..],
            &[0x31, 0x05, 0x30],
            &[0x31, 0x85, 0, 0, 0, 0, 1],
            &[0x31, 0x82, 0xff],
            &[0x30, 0x00],
        ] {
            assert_eq!(subject_attributes(bad), None, "{bad:?}");
        }
        assert_eq!(subject_attributes(&[]), Some(Vec::new()));
    }
}
