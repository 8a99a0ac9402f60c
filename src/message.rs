//! The messages a view sends and receives, and how a connection ended.

use bytes::Bytes;
pub use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
pub use tokio_tungstenite::tungstenite::Utf8Bytes;

/// A WebSocket data message. Control frames (ping, pong, close) never reach a view: the
/// library answers them.
///
/// Build one from what you have:
///
/// ```
/// use wsview::Message;
/// let a: Message = "hello".into();
/// let b = Message::from(String::from("hello"));
/// let c = Message::from(vec![1u8, 2, 3]);
/// assert_eq!(a, b);
/// assert_eq!(a.as_text(), Some("hello"));
/// assert!(c.is_binary());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message: always valid UTF-8.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Message::Text(text.into())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Message::Binary(data.into())
    }

    /// The text, if this is a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(t) => Some(t.as_str()),
            Message::Binary(_) => None,
        }
    }

    /// The payload's bytes, whatever the kind.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// The payload as [`Bytes`], without copying.
    pub fn into_bytes(self) -> Bytes {
        match self {
            Message::Text(t) => Bytes::from(t),
            Message::Binary(b) => b,
        }
    }

    /// The text as a `String`; `None` for a binary message.
    pub fn into_text(self) -> Option<String> {
        match self {
            Message::Text(t) => Some(t.as_str().to_owned()),
            Message::Binary(_) => None,
        }
    }

    /// Whether this is a text message.
    pub fn is_text(&self) -> bool {
        matches!(self, Message::Text(_))
    }

    /// Whether this is a binary message.
    pub fn is_binary(&self) -> bool {
        matches!(self, Message::Binary(_))
    }

    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::Text(Utf8Bytes::from(s))
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::Text(Utf8Bytes::from(s))
    }
}

impl From<&String> for Message {
    fn from(s: &String) -> Self {
        Message::Text(Utf8Bytes::from(s.as_str()))
    }
}

impl From<Utf8Bytes> for Message {
    fn from(s: Utf8Bytes) -> Self {
        Message::Text(s)
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::Binary(Bytes::from(b))
    }
}

impl From<&[u8]> for Message {
    fn from(b: &[u8]) -> Self {
        Message::Binary(Bytes::copy_from_slice(b))
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Message::Binary(b)
    }
}

impl PartialEq<str> for Message {
    fn eq(&self, other: &str) -> bool {
        self.as_text() == Some(other)
    }
}

impl PartialEq<&str> for Message {
    fn eq(&self, other: &&str) -> bool {
        self.as_text() == Some(*other)
    }
}

/// How a WebSocket connection ended, as [`WebSocket::close_cause`](crate::WebSocket::close_cause)
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseCause {
    /// The peer sent a close frame (with its code and reason, if it gave any).
    Peer {
        /// The peer's close code; `None` when its close frame had no body.
        code: Option<CloseCode>,
        /// The peer's reason text.
        reason: String,
    },
    /// This side closed: the view called `close`, returned, or the server shut down
    /// (1001).
    Server {
        /// The code sent.
        code: CloseCode,
    },
    /// The peer broke the protocol, sent invalid UTF-8 or an oversized message; the
    /// connection was closed with `code`.
    Error {
        /// The code sent (1002, 1007 or 1009).
        code: CloseCode,
        /// What went wrong.
        detail: String,
    },
    /// The TCP connection dropped without a closing handshake.
    ConnectionLost,
}
