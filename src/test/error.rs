//! What can go wrong in a test: the server refused, closed, stayed silent or answered
//! something else.

use std::time::Duration;

use crate::message::Message;
use crate::test::closed::Closed;
use crate::test::response::TestResponse;

/// Why a test client call failed. Every variant carries what was seen, so a failed
/// `expect` prints it.
#[derive(Debug)]
#[non_exhaustive]
pub enum TestError {
    /// The WebSocket handshake got an HTTP response instead of a 101: the view (or a
    /// middleware, or the handshake check) refused it.
    Refused(Box<TestResponse>),
    /// [`connect(…).refused()`](crate::test::Connect::refused) expected a refusal, but
    /// the server accepted.
    Accepted,
    /// Nothing arrived within the time allowed.
    Timeout(Duration),
    /// The server closed the connection while a message was expected.
    Closed(Closed),
    /// A message arrived while none was expected
    /// ([`expect_nothing`](crate::test::TestWebSocket::expect_nothing),
    /// [`closed`](crate::test::TestWebSocket::closed)), or a binary message where text
    /// was expected.
    Unexpected(Message),
    /// A message or body was not the JSON expected.
    Json(serde_json::Error),
    /// The request could not be made (an invalid header name or value, a bad path).
    InvalidRequest(String),
    /// The in-memory connection failed: an HTTP or WebSocket protocol error, or the
    /// server dropped the connection without a closing handshake.
    Connection(String),
}

impl TestError {
    /// The refusal response, for [`TestError::Refused`].
    pub fn refusal(&self) -> Option<&TestResponse> {
        match self {
            TestError::Refused(resp) => Some(resp),
            _ => None,
        }
    }

    pub(crate) fn connection(e: impl std::fmt::Display) -> Self {
        TestError::Connection(e.to_string())
    }
}

impl std::fmt::Display for TestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TestError::Refused(resp) => write!(
                f,
                "the websocket handshake was refused with {}: {:?}",
                resp.status(),
                resp.text()
            ),
            TestError::Accepted => f.write_str("the websocket handshake was accepted"),
            TestError::Timeout(d) => write!(f, "nothing arrived within {d:?}"),
            TestError::Closed(closed) => write!(f, "the server closed the websocket: {closed}"),
            TestError::Unexpected(msg) => write!(f, "unexpected message: {msg:?}"),
            TestError::Json(e) => write!(f, "not the JSON expected: {e}"),
            TestError::InvalidRequest(why) => write!(f, "invalid test request: {why}"),
            TestError::Connection(why) => write!(f, "test connection failed: {why}"),
        }
    }
}

impl std::error::Error for TestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TestError::Json(e) => Some(e),
            _ => None,
        }
    }
}

impl From<serde_json::Error> for TestError {
    fn from(e: serde_json::Error) -> Self {
        TestError::Json(e)
    }
}
