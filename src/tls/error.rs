//! Why a certificate or key could not be used.

use std::path::{Path, PathBuf};

/// What kind of problem a [`TlsError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsErrorKind {
    /// A file could not be read.
    Io,
    /// The certificate chain is missing or is not valid PEM.
    Certificate,
    /// The private key is missing or is not valid PEM.
    Key,
    /// rustls refused the pair: the key does not belong to the certificate, or is of a
    /// kind the crypto provider does not support.
    Rejected,
    /// `WSVIEW_TLS_CERT` or `WSVIEW_TLS_KEY` is set without the other.
    Environment,
}

/// Why a [`TlsConfig`](crate::TlsConfig) could not be made: the kind of problem, the file
/// it is about (when it came from one), and a message naming both.
///
/// ```
/// let err = wsview::TlsConfig::from_pem_files("missing-cert.pem", "missing-key.pem").unwrap_err();
/// assert_eq!(err.kind(), wsview::TlsErrorKind::Io);
/// assert_eq!(err.path(), Some(std::path::Path::new("missing-cert.pem")));
/// assert!(err.to_string().contains("missing-cert.pem"));
/// ```
#[derive(Debug)]
pub struct TlsError {
    kind: TlsErrorKind,
    path: Option<PathBuf>,
    detail: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl TlsError {
    pub(crate) fn new(kind: TlsErrorKind, path: Option<&Path>, detail: impl Into<String>) -> Self {
        TlsError {
            kind,
            path: path.map(Path::to_path_buf),
            detail: detail.into(),
            source: None,
        }
    }

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// What kind of problem it is.
    pub fn kind(&self) -> TlsErrorKind {
        self.kind
    }

    /// The file the problem is in, when the certificate or key came from a file.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.kind {
            TlsErrorKind::Io => "cannot read",
            TlsErrorKind::Certificate => "bad TLS certificate",
            TlsErrorKind::Key => "bad TLS private key",
            TlsErrorKind::Rejected => "TLS certificate and key refused",
            TlsErrorKind::Environment => "TLS environment",
        };
        match &self.path {
            Some(path) => write!(f, "{what} {}: {}", path.display(), self.detail),
            None => write!(f, "{what}: {}", self.detail),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<TlsError> for std::io::Error {
    fn from(e: TlsError) -> Self {
        // A file that could not be read keeps its reason (not found, permission denied).
        let kind = e
            .source
            .as_deref()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .map_or(std::io::ErrorKind::InvalidInput, std::io::Error::kind);
        std::io::Error::new(kind, e)
    }
}
