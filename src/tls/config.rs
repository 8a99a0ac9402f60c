//! The certificate chain and key a server presents, as a rustls server configuration.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::tls::error::{TlsError, TlsErrorKind};

/// The environment variable naming the certificate chain's PEM file.
const ENV_CERT: &str = "WSVIEW_TLS_CERT";
/// The environment variable naming the private key's PEM file.
const ENV_KEY: &str = "WSVIEW_TLS_KEY";

/// What a server needs to serve `https://` and `wss://`: a certificate chain and its
/// private key (cargo feature `tls`). Give it to [`App::tls`](crate::App::tls); the
/// server then negotiates HTTP/2 or HTTP/1.1 by ALPN (`h2`, `http/1.1`).
///
/// rustls runs with the *ring* crypto provider, chosen here explicitly: no process-wide
/// default provider has to be installed, and none installed by another crate changes
/// what this server does.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use wsview::{App, TlsConfig};
///
/// let tls = TlsConfig::from_pem_files("cert.pem", "key.pem")?;
/// App::new()
///     .route("/", |_r: wsview::Request| async { "hello over TLS" })
///     .tls(tls)
///     .serve("127.0.0.1:8443")
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    server: Arc<rustls::ServerConfig>,
    handshake_timeout: Duration,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Loads the certificate chain (PEM, the server's certificate first, then any
    /// intermediates) and the private key (PEM: PKCS#8, PKCS#1 or SEC1) from files. Errors
    /// name the file and what is wrong with it.
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsConfig, TlsError> {
        let (cert_path, key_path) = (cert_chain.as_ref(), key.as_ref());
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| {
                TlsError::new(TlsErrorKind::Io, Some(path), e.to_string()).with_source(e)
            })
        };
        let certs = read(cert_path)?;
        let key = read(key_path)?;
        load(&certs, Some(cert_path), &key, Some(key_path))
    }

    /// The same, from PEM text in memory.
    ///
    /// ```
    /// let err = wsview::TlsConfig::from_pem(b"not pem", b"not pem").unwrap_err();
    /// assert_eq!(err.kind(), wsview::TlsErrorKind::Certificate);
    /// ```
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<TlsConfig, TlsError> {
        load(cert_chain, None, key, None)
    }

    /// The files named by `WSVIEW_TLS_CERT` and `WSVIEW_TLS_KEY`, if both are set (what
    /// the examples use); `Ok(None)` if neither is; an error if only one is, or a file
    /// is bad.
    pub fn from_env() -> Result<Option<TlsConfig>, TlsError> {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        match (var(ENV_CERT), var(ENV_KEY)) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => TlsConfig::from_pem_files(cert, key).map(Some),
            (Some(_), None) => Err(missing_var(ENV_CERT, ENV_KEY)),
            (None, Some(_)) => Err(missing_var(ENV_KEY, ENV_CERT)),
        }
    }

    /// How long a client has to complete the TLS handshake after connecting; a slower
    /// one is dropped (other connections never wait for it). Default 10 s.
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> TlsConfig {
        self.handshake_timeout = timeout;
        self
    }

    /// The rustls configuration the server accepts with.
    pub(crate) fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server.clone()
    }

    /// See [`handshake_timeout`](Self::handshake_timeout).
    pub(crate) fn timeout(&self) -> Duration {
        self.handshake_timeout
    }
}

fn missing_var(set: &str, missing: &str) -> TlsError {
    TlsError::new(
        TlsErrorKind::Environment,
        None,
        format!("{set} is set but {missing} is not; set both or neither"),
    )
}

/// Parses the PEM and builds the rustls configuration: ring as the provider (given
/// explicitly, so no process-level default is ever needed), rustls' safe protocol
/// versions, ALPN `h2` then `http/1.1`.
fn load(
    certs: &[u8],
    cert_path: Option<&Path>,
    key: &[u8],
    key_path: Option<&Path>,
) -> Result<TlsConfig, TlsError> {
    let chain = CertificateDer::pem_slice_iter(certs)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            TlsError::new(TlsErrorKind::Certificate, cert_path, e.to_string()).with_source(e)
        })?;
    if chain.is_empty() {
        return Err(TlsError::new(
            TlsErrorKind::Certificate,
            cert_path,
            "no certificate found (expected a PEM \"BEGIN CERTIFICATE\" block)",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| {
        let detail = match e {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "no private key found (expected a PEM \"BEGIN PRIVATE KEY\", \"BEGIN RSA \
                 PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\" block)"
                    .to_owned()
            }
            ref other => other.to_string(),
        };
        TlsError::new(TlsErrorKind::Key, key_path, detail).with_source(e)
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let rejected = |e: rustls::Error| {
        let detail = match (cert_path, key_path) {
            (Some(c), Some(k)) => format!("{e} (certificate {}, key {})", c.display(), k.display()),
            _ => e.to_string(),
        };
        TlsError::new(TlsErrorKind::Rejected, None, detail).with_source(e)
    };
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(rejected)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(rejected)?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsConfig {
        server: Arc::new(server),
        handshake_timeout: Duration::from_secs(10),
    })
}
