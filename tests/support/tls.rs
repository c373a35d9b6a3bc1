//! Certificates for loopback TLS tests: a CA of the test's own and server certificates it signs,
//! written as PEM files Azurite can serve.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};

pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
}

pub fn ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A server certificate for `names` signed by `ca`, written as PEM files into `dir`.
pub fn server_cert(dir: &Path, stem: &str, ca: &Ca, names: Vec<SanType>) -> (PathBuf, PathBuf) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = names;
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    let cert_path = dir.join(format!("{stem}.pem"));
    let key_path = dir.join(format!("{stem}-key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

pub fn ip_127() -> SanType {
    SanType::IpAddress("127.0.0.1".parse().unwrap())
}

/// A fresh temporary directory and a CA of the test's own, trusted for this process through
/// `SSL_CERT_FILE` (as on a real machine). The trust store is process-wide: call this once, first,
/// from the only test of its binary.
pub fn trusted_ca(stem: &str) -> (PathBuf, Ca) {
    let dir = std::env::temp_dir().join(format!("{stem}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let trusted = ca(&format!("snippets-mcp {stem} CA"));
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &trusted.pem).unwrap();
    // SAFETY: called before the test starts other threads that read the environment.
    unsafe { std::env::set_var("SSL_CERT_FILE", &ca_file) };
    (dir, trusted)
}
