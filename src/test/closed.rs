//! How the server closed a test WebSocket.

use crate::message::CloseCode;

/// The server's close frame as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// The close code: 1005 ([`CloseCode::Status`]) when the frame had none, 1006
    /// ([`CloseCode::Abnormal`]) when the connection ended without a close frame.
    pub code: CloseCode,
    /// The reason text.
    pub reason: String,
}

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "close code {} {:?}", self.code, self.reason)
    }
}
