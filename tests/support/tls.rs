//! Test certificates (made here with rcgen, never checked in) and a TLS client that
//! trusts them.
#![allow(dead_code)] // each test binary uses a different part

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use rcgen::PublicKeyData as _;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A self-signed certificate for `localhost` and 127.0.0.1, written as PEM files in a
/// temporary directory that lives as long as this value.
pub struct TestCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    /// base64(SHA-256(SubjectPublicKeyInfo)): what Chromium's
    /// `--ignore-certificate-errors-spki-list` takes.
    pub spki_sha256: String,
    cert_der: Vec<u8>,
    _dir: tempfile::TempDir,
}

impl TestCert {
    pub fn new() -> TestCert {
        let made = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .expect("make a certificate");
        let dir = tempfile::tempdir().expect("temporary directory");
        let cert_pem = made.cert.pem();
        let key_pem = made.signing_key.serialize_pem();
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        std::fs::write(&cert_path, &cert_pem).expect("write the certificate");
        std::fs::write(&key_path, &key_pem).expect("write the key");
        let spki = made.signing_key.subject_public_key_info();
        let digest = ring::digest::digest(&ring::digest::SHA256, &spki);
        TestCert {
            cert_pem,
            key_pem,
            cert_path,
            key_path,
            spki_sha256: base64::engine::general_purpose::STANDARD.encode(digest.as_ref()),
            cert_der: made.cert.der().to_vec(),
            _dir: dir,
        }
    }

    /// The server's configuration, from the files.
    pub fn config(&self) -> wsview::TlsConfig {
        wsview::TlsConfig::from_pem_files(&self.cert_path, &self.key_path).expect("valid files")
    }

    /// A TLS client connection to `addr` that trusts only this certificate, offering
    /// these ALPN protocols.
    pub async fn connect(
        &self,
        addr: std::net::SocketAddr,
        alpn: &[&[u8]],
    ) -> TlsStream<TcpStream> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.cert_der.clone().into())
            .expect("trust the test certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        connector.connect(name, tcp).await.expect("TLS handshake")
    }
}
