//! The crate's error type.

use crate::message::CloseCause;

/// What can go wrong when using a [`WebSocket`](crate::WebSocket) or a
/// [`WebSocketSender`](crate::WebSocketSender).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The connection is closed (or closing); the message was not sent. The cause says
    /// how it ended, when known.
    Closed(Option<CloseCause>),
    /// The upgrade could not complete: the client went away before the 101 reached it,
    /// or the HTTP connection was not upgradable.
    Upgrade(String),
    /// The view already returned its response; the WebSocket can no longer be accepted.
    NotAccepted,
    /// An I/O or protocol error from the engine.
    Protocol(tokio_tungstenite::tungstenite::Error),
    /// A close code that may not be sent (1005, 1006, 1015, or outside the ranges RFC
    /// 6455 §7.4 allows).
    InvalidCloseCode(u16),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Closed(Some(cause)) => write!(f, "websocket closed: {cause:?}"),
            Error::Closed(None) => f.write_str("websocket closed"),
            Error::Upgrade(why) => write!(f, "websocket upgrade failed: {why}"),
            Error::NotAccepted => f.write_str("websocket can no longer be accepted"),
            Error::Protocol(e) => write!(f, "websocket error: {e}"),
            Error::InvalidCloseCode(code) => write!(f, "close code {code} may not be sent"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Protocol(e) => Some(e),
            _ => None,
        }
    }
}
