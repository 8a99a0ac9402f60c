//! Why a message could not be run as a request.

use http::header;
use http::StatusCode;
use serde_json::value::RawValue;

use crate::api_socket::reply::encode_reply;
use crate::response::Response;

/// The methods a message may name, as the 405 reply's `Allow` header lists them.
pub(super) const ALLOWED_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS";

/// Why a message could not be run as a request; answered with a reply, never a crash.
#[derive(Debug, Clone)]
pub struct MessageError {
    id: Option<Box<RawValue>>,
    kind: MessageErrorKind,
}

/// What was wrong with a message. The status and body of each are in the errors table of
/// `docs/rest-over-websocket.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageErrorKind {
    /// Not JSON, or JSON but not an object: 400 `Invalid formatted message.`
    Malformed,
    /// No `url`, or `null` or empty: 400 `Missing URL`.
    MissingUrl,
    /// `url` is not an absolute path with an optional query: 400 `Invalid URL`.
    InvalidUrl,
    /// `method` is not one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS: 405.
    UnknownMethod,
    /// A field has the wrong type or an unusable value: 400
    /// `Invalid formatted message: "<field>" must be <expected>.`
    InvalidField {
        /// The field.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// `headers` names more than [`MAX_HEADERS`](crate::api_socket::MAX_HEADERS) values:
    /// 400 `Too many headers.` (hyper holds an HTTP request to the same count).
    TooManyHeaders,
    /// `headers`' names and values come to more than
    /// [`MAX_HEADER_BYTES`](crate::api_socket::MAX_HEADER_BYTES): 400 `Headers too large.`
    HeadersTooLarge,
}

impl MessageError {
    pub(super) fn new(id: Option<Box<RawValue>>, kind: MessageErrorKind) -> Self {
        MessageError { id, kind }
    }

    /// What was wrong.
    pub fn kind(&self) -> MessageErrorKind {
        self.kind
    }

    /// The message's `id` as the JSON text the client sent, if it could be read.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref().map(RawValue::get)
    }

    /// 405 for an unknown method, 400 for everything else.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            MessageErrorKind::UnknownMethod => StatusCode::METHOD_NOT_ALLOWED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The error as a response: its status, a `text/plain` body saying why, and for a
    /// 405 the `Allow` header.
    pub fn to_response(&self) -> Response {
        let resp = Response::text(self.to_string()).with_status(self.status());
        match self.kind {
            MessageErrorKind::UnknownMethod => resp.with_header(header::ALLOW, ALLOWED_METHODS),
            _ => resp,
        }
    }

    /// The JSON reply for this error, echoing the message's `id`.
    pub fn reply(&self) -> String {
        encode_reply(self.id.as_deref(), &self.to_response(), false)
    }
}

impl std::fmt::Display for MessageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            MessageErrorKind::Malformed => f.write_str("Invalid formatted message."),
            MessageErrorKind::MissingUrl => f.write_str("Missing URL"),
            MessageErrorKind::InvalidUrl => f.write_str("Invalid URL"),
            MessageErrorKind::UnknownMethod => f.write_str("Method Not Allowed"),
            MessageErrorKind::TooManyHeaders => f.write_str("Too many headers."),
            MessageErrorKind::HeadersTooLarge => f.write_str("Headers too large."),
            MessageErrorKind::InvalidField { field, expected } => {
                write!(
                    f,
                    "Invalid formatted message: \"{field}\" must be {expected}."
                )
            }
        }
    }
}

impl std::error::Error for MessageError {}
