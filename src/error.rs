//! The crate's error type.

use http::StatusCode;

use crate::message::CloseCause;
use crate::response::{IntoResponse, Response};

/// What can go wrong when using a [`WebSocket`](crate::WebSocket) or a
/// [`WebSocketSender`](crate::WebSocketSender). Ask it what happened with the `is_*`
/// methods.
///
/// In a view, `?` turns it into a response (see [`IntoResponse`] below), so a view can
/// return `Result<Response, wsview::Error>`:
///
/// ```no_run
/// use wsview::{require_websocket, Request, Response};
///
/// async fn greet(mut req: Request) -> Result<Response, wsview::Error> {
///     let Some(ws) = req.websocket() else { return Ok(Response::empty()) };
///     ws.send("hello").await?; // closed: the view stops here
///     ws.close(4000, "done").await?;
///     Ok(Response::empty())
/// }
/// # let _ = require_websocket(greet);
/// ```
#[derive(Debug)]
pub struct Error {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Closed(Option<CloseCause>),
    Upgrade(String),
    NotAccepted,
    Protocol(Box<dyn std::error::Error + Send + Sync>),
    InvalidCloseCode(u16),
    Body(BodyProblem),
    Json(serde_json::Error),
}

/// Why a request body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyProblem {
    /// Longer than `Settings::max_body_size`: 413.
    TooLarge,
    /// Not all there within `Settings::body_read_timeout`: 408.
    TimedOut,
    /// The connection failed while reading: 400.
    Unreadable,
}

impl Error {
    pub(crate) fn closed(cause: Option<CloseCause>) -> Self {
        Error {
            kind: Kind::Closed(cause),
        }
    }

    pub(crate) fn upgrade(why: impl Into<String>) -> Self {
        Error {
            kind: Kind::Upgrade(why.into()),
        }
    }

    pub(crate) fn not_accepted() -> Self {
        Error {
            kind: Kind::NotAccepted,
        }
    }

    pub(crate) fn protocol(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error {
            kind: Kind::Protocol(Box::new(source)),
        }
    }

    pub(crate) fn body(problem: BodyProblem) -> Self {
        Error {
            kind: Kind::Body(problem),
        }
    }

    pub(crate) fn json(source: serde_json::Error) -> Self {
        Error {
            kind: Kind::Json(source),
        }
    }

    pub(crate) fn bad_close_code(code: u16) -> Self {
        Error {
            kind: Kind::InvalidCloseCode(code),
        }
    }

    /// The connection is closed (or closing); the message was not sent.
    /// [`close_cause`](Self::close_cause) says how it ended, when known.
    pub fn is_closed(&self) -> bool {
        matches!(self.kind, Kind::Closed(_))
    }

    /// How the connection ended, for [`is_closed`](Self::is_closed) errors that know.
    pub fn close_cause(&self) -> Option<&CloseCause> {
        match &self.kind {
            Kind::Closed(cause) => cause.as_ref(),
            _ => None,
        }
    }

    /// The upgrade could not complete: the client went away before the 101 reached it,
    /// or the HTTP connection was not upgradable.
    pub fn is_upgrade(&self) -> bool {
        matches!(self.kind, Kind::Upgrade(_))
    }

    /// The view already returned its response; the WebSocket can no longer be accepted.
    pub fn is_not_accepted(&self) -> bool {
        matches!(self.kind, Kind::NotAccepted)
    }

    /// An I/O or protocol error from the WebSocket engine ([`source`] tells more).
    ///
    /// [`source`]: std::error::Error::source
    pub fn is_protocol(&self) -> bool {
        matches!(self.kind, Kind::Protocol(_))
    }

    /// The request body could not be read: too large (413), too slow (408) or cut off
    /// (400); [`status`](Self::status) tells which.
    pub fn is_body(&self) -> bool {
        matches!(self.kind, Kind::Body(_))
    }

    /// The request body is not the JSON [`Request::json`](crate::Request::json) was
    /// asked for (not JSON, or not of that shape): 400. [`source`] tells what serde
    /// found.
    ///
    /// [`source`]: std::error::Error::source
    pub fn is_json(&self) -> bool {
        matches!(self.kind, Kind::Json(_))
    }

    /// A close code that may not be sent (1005, 1006, 1015, or outside the ranges RFC
    /// 6455 §7.4 allows); [`invalid_close_code`](Self::invalid_close_code) tells which.
    pub fn is_invalid_close_code(&self) -> bool {
        matches!(self.kind, Kind::InvalidCloseCode(_))
    }

    /// The refused code, for [`is_invalid_close_code`](Self::is_invalid_close_code)
    /// errors.
    pub fn invalid_close_code(&self) -> Option<u16> {
        match self.kind {
            Kind::InvalidCloseCode(code) => Some(code),
            _ => None,
        }
    }

    /// The status this error answers a request with, as [`IntoResponse`] does.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            Kind::Upgrade(_) => StatusCode::BAD_REQUEST,
            Kind::Body(BodyProblem::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::Body(BodyProblem::TimedOut) => StatusCode::REQUEST_TIMEOUT,
            Kind::Body(BodyProblem::Unreadable) => StatusCode::BAD_REQUEST,
            Kind::Json(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Closed(Some(cause)) => write!(f, "websocket closed: {cause:?}"),
            Kind::Closed(None) => f.write_str("websocket closed"),
            Kind::Upgrade(why) => write!(f, "websocket upgrade failed: {why}"),
            Kind::NotAccepted => f.write_str("websocket can no longer be accepted"),
            Kind::Protocol(e) => write!(f, "websocket error: {e}"),
            Kind::InvalidCloseCode(code) => write!(f, "close code {code} may not be sent"),
            Kind::Body(BodyProblem::TooLarge) => f.write_str("Payload Too Large"),
            Kind::Body(BodyProblem::TimedOut) => f.write_str("Request Timeout"),
            Kind::Body(BodyProblem::Unreadable) => f.write_str("Could not read the request body."),
            Kind::Json(e) => write!(f, "Invalid JSON body: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Protocol(e) => Some(&**e),
            Kind::Json(e) => Some(e),
            _ => None,
        }
    }
}

/// An error a view returns (with `?`) becomes a response: **400** `text/plain` for an
/// [upgrade](Error::is_upgrade) that could not complete or a body that is not the
/// [JSON](Error::is_json) asked for, **413**, **408** or **400** for a body that could
/// not be [read](Error::is_body), **500** for everything else
/// (a closed connection, an engine error, an invalid close code: the view stopped
/// early), with the error's text as the body. It is logged at debug level.
///
/// For a WebSocket view that has accepted, the response is not sent (the connection
/// closes with 1000 as for any return); middleware still sees its status.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use wsview::{App, Request, Response};
/// async fn view(mut req: Request) -> Result<Response, wsview::Error> {
///     if let Some(ws) = req.websocket() {
///         ws.close(1005, "").await?; // never sendable
///     }
///     Ok(Response::text("plain"))
/// }
/// let app = App::new().route("/", wsview::accept_websocket(view)).build()?;
/// let resp = app.handle(Request::builder().build()).await;
/// assert_eq!(resp.status(), 200);
/// # Ok(()) }
/// ```
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        tracing::debug!(error = %self, "view returned an error");
        Response::text(self.to_string()).with_status(self.status())
    }
}
