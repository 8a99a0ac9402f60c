//! Why a handler's connection ended, and the error a handler method returns.

use crate::message::{CloseCause, CloseCode};

/// Why a handler's connection ended, as [`Handler::on_close`](crate::Handler::on_close) is told.
#[derive(Debug)]
#[non_exhaustive]
pub enum CloseReason {
    /// The connection closed: by the peer ([`CloseCause::Peer`]), by this side — the
    /// handler's `close`, or server shutdown with 1001 ([`CloseCause::Server`]) — on a
    /// protocol error ([`CloseCause::Error`]), or the network dropped
    /// ([`CloseCause::ConnectionLost`]).
    Closed(CloseCause),
    /// `on_open` or `on_message` returned this error; the connection was closed with
    /// 1011.
    HandlerError(HandlerError),
    /// `on_open` or `on_message` panicked with this message; the connection was closed
    /// with 1011.
    Panic(String),
}

impl CloseReason {
    /// How the connection closed, unless the handler failed.
    pub fn cause(&self) -> Option<&CloseCause> {
        match self {
            CloseReason::Closed(cause) => Some(cause),
            _ => None,
        }
    }

    /// Whether the handler failed (an error or a panic).
    pub fn is_handler_failure(&self) -> bool {
        matches!(self, CloseReason::HandlerError(_) | CloseReason::Panic(_))
    }

    /// Whether the server closed the connection because it is shutting down (1001).
    pub fn is_shutdown(&self) -> bool {
        matches!(
            self,
            CloseReason::Closed(CloseCause::Server {
                code: CloseCode::Away
            })
        )
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseReason::Closed(CloseCause::Peer { code, reason }) => match code {
                Some(code) => write!(f, "the peer closed ({}) {reason:?}", u16::from(*code)),
                None => f.write_str("the peer closed"),
            },
            CloseReason::Closed(CloseCause::Server { code }) => {
                write!(f, "this side closed ({})", u16::from(*code))
            }
            CloseReason::Closed(CloseCause::Error { code, detail }) => {
                write!(f, "protocol error ({}): {detail}", u16::from(*code))
            }
            CloseReason::Closed(CloseCause::ConnectionLost) => {
                f.write_str("the connection dropped")
            }
            CloseReason::Closed(CloseCause::Unresponsive) => {
                f.write_str("the peer did not answer the keepalive ping")
            }
            CloseReason::HandlerError(e) => write!(f, "handler error: {e}"),
            CloseReason::Panic(what) => write!(f, "handler panicked: {what}"),
        }
    }
}

/// The error a handler method returns: any `std::error::Error + Send + Sync`, so `?`
/// works on most results, or a message made with [`HandlerError::msg`].
///
/// ```
/// use wsview::HandlerError;
///
/// fn parse(text: &str) -> Result<u32, HandlerError> {
///     let n: u32 = text.parse()?; // ParseIntError converts
///     if n == 0 {
///         return Err(HandlerError::msg("zero is not allowed"));
///     }
///     Ok(n)
/// }
/// assert_eq!(parse("0").unwrap_err().to_string(), "zero is not allowed");
/// assert!(parse("x").unwrap_err().downcast_ref::<std::num::ParseIntError>().is_some());
/// ```
pub struct HandlerError {
    inner: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl HandlerError {
    /// An error with this message.
    pub fn msg(message: impl std::fmt::Display) -> Self {
        HandlerError {
            inner: message.to_string().into(),
        }
    }

    /// Wraps an error.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        HandlerError {
            inner: Box::new(error),
        }
    }

    /// The error inside, if it is an `E`.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.inner.downcast_ref::<E>()
    }

    /// The error inside.
    pub fn get_ref(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.inner
    }

    /// The boxed error inside.
    pub fn into_inner(self) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self.inner
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        HandlerError::new(error)
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.inner, f)
    }
}

impl std::fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.inner, f)
    }
}
