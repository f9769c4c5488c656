//! Certificates made in the tests with rcgen (ring): a CA, server certificates for the
//! loopback listener, client certificates whose subject names a user and groups, peer
//! certificates (server and client at once, for replicas); written as
//! PEM files for dkd's `listen:` and dk's `DK_CA_FILE` / `DK_CLIENT_CERT` / `DK_CLIENT_KEY`.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A certificate authority that signs server and client certificates.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct PemPair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        Self {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    /// Writes the CA certificate to `path` and returns it.
    pub fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.issuer.pem()).expect("write CA");
        path.to_path_buf()
    }

    /// A server certificate for 127.0.0.1 and localhost, with subject CN `cn`, written to
    /// `dir/NAME.crt` and `dir/NAME.key`.
    pub fn server(&self, dir: &Path, name: &str, cn: &str) -> PemPair {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("server params");
        params.distinguished_name.push(DnType::CommonName, cn);
        self.sign(params, dir, name)
    }

    /// A client certificate whose subject is CN=`user`, OU=`group` (rcgen writes one
    /// attribute per type; dkd's reading of several OUs is unit-tested in dkd).
    pub fn client(&self, dir: &Path, name: &str, user: &str, group: &str) -> PemPair {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params.distinguished_name.push(DnType::CommonName, user);
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, group);
        self.sign(params, dir, name)
    }

    /// A certificate for the DNS name `dns` usable both as a server and as a client
    /// certificate (serverAuth and clientAuth), as replicas of one service present to each
    /// other; subject CN `dns`.
    pub fn peer(&self, dir: &Path, name: &str, dns: &str) -> PemPair {
        let mut params = CertificateParams::new(vec![dns.to_owned()]).expect("peer params");
        params.distinguished_name.push(DnType::CommonName, dns);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        self.sign(params, dir, name)
    }

    fn sign(&self, params: CertificateParams, dir: &Path, name: &str) -> PemPair {
        let key = KeyPair::generate().expect("key");
        let certificate = params.signed_by(&key, &self.issuer).expect("sign");
        let pair = PemPair {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
        };
        std::fs::write(&pair.cert, certificate.pem()).expect("write certificate");
        std::fs::write(&pair.key, key.serialize_pem()).expect("write key");
        pair
    }
}
