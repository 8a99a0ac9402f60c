//! The messages a view sends and receives, and how a connection ended.

use bytes::Bytes;

use crate::utf8::Utf8Bytes;

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
    /// The peer sent nothing, not even a pong, within
    /// [`Settings::pong_timeout`](crate::Settings::pong_timeout) of a keepalive ping: the
    /// connection was closed with 1011 and dropped.
    Unresponsive,
}

/// A close code (RFC 6455 §7.4): the named codes, and the ranges for the rest. Converts
/// from and to `u16`.
///
/// ```
/// use wsview::CloseCode;
/// assert_eq!(CloseCode::from(1008), CloseCode::Policy);
/// assert_eq!(u16::from(CloseCode::Library(4001)), 4001);
/// assert_eq!(CloseCode::from(4001), CloseCode::Library(4001));
/// assert!(!CloseCode::Status.is_allowed()); // 1005 is only ever reported, never sent
/// assert_eq!(CloseCode::Normal.to_string(), "1000");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseCode {
    /// 1000: the purpose of the connection was fulfilled.
    Normal,
    /// 1001: going away (server shutdown, a browser leaving the page).
    Away,
    /// 1002: a protocol error.
    Protocol,
    /// 1003: a kind of data the endpoint cannot accept.
    Unsupported,
    /// 1005: no code was given (reported, never sent).
    Status,
    /// 1006: the connection dropped without a close frame (reported, never sent).
    Abnormal,
    /// 1007: data inconsistent with its type (text that is not UTF-8).
    Invalid,
    /// 1008: a message that violates the endpoint's policy.
    Policy,
    /// 1009: a message too big to process.
    Size,
    /// 1010: the client expected an extension the server did not negotiate.
    Extension,
    /// 1011: the server met an unexpected condition.
    Error,
    /// 1012: the server is restarting.
    Restart,
    /// 1013: try again later.
    Again,
    /// 1014: a gateway or proxy got an invalid response from the server it serves.
    BadGateway,
    /// 1015: the TLS handshake failed (reported, never sent).
    Tls,
    /// 1016–2999 and unassigned codes below 1016: reserved for the protocol.
    Reserved(u16),
    /// 3000–3999: registered with IANA, for libraries and frameworks.
    Iana(u16),
    /// 4000–4999: private use, for applications.
    Library(u16),
    /// Below 1000 or above 4999: not a valid close code.
    Bad(u16),
}

impl CloseCode {
    /// Whether the code may be sent in a close frame: not 1005, 1006, 1015, a
    /// reserved code or one out of range.
    pub fn is_allowed(self) -> bool {
        !matches!(
            self,
            CloseCode::Bad(_)
                | CloseCode::Reserved(_)
                | CloseCode::Status
                | CloseCode::Abnormal
                | CloseCode::Tls
        )
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        match code {
            CloseCode::Normal => 1000,
            CloseCode::Away => 1001,
            CloseCode::Protocol => 1002,
            CloseCode::Unsupported => 1003,
            CloseCode::Status => 1005,
            CloseCode::Abnormal => 1006,
            CloseCode::Invalid => 1007,
            CloseCode::Policy => 1008,
            CloseCode::Size => 1009,
            CloseCode::Extension => 1010,
            CloseCode::Error => 1011,
            CloseCode::Restart => 1012,
            CloseCode::Again => 1013,
            CloseCode::BadGateway => 1014,
            CloseCode::Tls => 1015,
            CloseCode::Reserved(code)
            | CloseCode::Iana(code)
            | CloseCode::Library(code)
            | CloseCode::Bad(code) => code,
        }
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> CloseCode {
        match code {
            1000 => CloseCode::Normal,
            1001 => CloseCode::Away,
            1002 => CloseCode::Protocol,
            1003 => CloseCode::Unsupported,
            1005 => CloseCode::Status,
            1006 => CloseCode::Abnormal,
            1007 => CloseCode::Invalid,
            1008 => CloseCode::Policy,
            1009 => CloseCode::Size,
            1010 => CloseCode::Extension,
            1011 => CloseCode::Error,
            1012 => CloseCode::Restart,
            1013 => CloseCode::Again,
            1014 => CloseCode::BadGateway,
            1015 => CloseCode::Tls,
            1016..=2999 => CloseCode::Reserved(code),
            3000..=3999 => CloseCode::Iana(code),
            4000..=4999 => CloseCode::Library(code),
            _ => CloseCode::Bad(code),
        }
    }
}

impl std::fmt::Display for CloseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", u16::from(*self))
    }
}
