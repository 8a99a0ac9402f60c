//! The HTTP response a view returns.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use http::{Extensions, StatusCode};

use crate::body::Body;

/// An HTTP response: status, headers and a body held in memory.
///
/// ```
/// use wsview::Response;
/// let r = Response::text("hello").with_status(201).with_header("x-trace", "abc");
/// assert_eq!(r.status(), 201);
/// assert_eq!(r.body().as_ref(), b"hello");
/// assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    extensions: Extensions,
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: StatusCode) -> Self {
        Response {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            extensions: Extensions::new(),
        }
    }

    /// An empty 200 response; what a WebSocket view returns when it is done.
    pub fn empty() -> Self {
        Response::new(StatusCode::OK)
    }

    /// A 200 `text/plain; charset=utf-8` response.
    pub fn text(body: impl Into<String>) -> Self {
        Response::with_body("text/plain; charset=utf-8", body.into())
    }

    /// A 200 `text/html; charset=utf-8` response.
    pub fn html(body: impl Into<String>) -> Self {
        Response::with_body("text/html; charset=utf-8", body.into())
    }

    /// A 200 `application/json` response. A value that cannot be serialized (a map with
    /// non-string keys) gives a 500 and is logged.
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Response::with_body("application/json", body),
            Err(e) => {
                tracing::error!(error = %e, "response body could not be serialized to JSON");
                Response::internal_error()
            }
        }
    }

    /// A 200 response with a body of `content_type`.
    pub fn bytes(content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Response::with_body(content_type, body)
    }

    fn with_body(content_type: &'static str, body: impl Into<Bytes>) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        Response {
            status: StatusCode::OK,
            headers,
            body: body.into(),
            extensions: Extensions::new(),
        }
    }

    /// A 400 whose body says why.
    pub fn bad_request(reason: impl Into<String>) -> Self {
        Response::text(reason).with_status(StatusCode::BAD_REQUEST)
    }

    /// A 404 `Not Found`.
    pub fn not_found() -> Self {
        Response::text("Not Found").with_status(StatusCode::NOT_FOUND)
    }

    /// A 500 `Internal Server Error`.
    pub fn internal_error() -> Self {
        Response::text("Internal Server Error").with_status(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// Sets the status. A number outside 100..=999 is logged and becomes 500.
    #[must_use]
    pub fn with_status(mut self, status: impl TryInto<StatusCode>) -> Self {
        self.status = status.try_into().unwrap_or_else(|_| {
            tracing::error!("invalid status code in response; sending 500");
            StatusCode::INTERNAL_SERVER_ERROR
        });
        self
    }

    /// Adds a header (keeping others of the same name). An invalid name or value is
    /// logged and skipped.
    #[must_use]
    pub fn with_header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(name), Ok(value)) => {
                self.headers.append(name, value);
            }
            _ => tracing::error!("invalid header name or value in response; skipped"),
        }
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The status, to change.
    pub fn status_mut(&mut self) -> &mut StatusCode {
        &mut self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The headers, to change.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Replaces the body.
    pub fn set_body(&mut self, body: impl Into<Bytes>) {
        self.body = body.into();
    }

    /// Typed values attached to the response, for middleware: the router marks its
    /// own 404 with [`RouteNotFound`](crate::RouteNotFound), the handshake middleware
    /// its refusals with [`HandshakeRejection`](crate::HandshakeRejection).
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// The extensions, to change.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    /// Attaches a typed value (replacing one of the same type).
    #[must_use]
    pub fn with_extension<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.extensions.insert(value);
        self
    }

    /// Converts into an `http` response, as hyper and tower take it (the extensions
    /// go along).
    pub fn into_http(self) -> http::Response<Body> {
        let mut resp = http::Response::new(Body::new(self.body));
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers;
        *resp.extensions_mut() = self.extensions;
        resp
    }
}

/// Anything a view may return.
///
/// ```
/// use wsview::{IntoResponse, Response};
/// assert_eq!("hi".into_response().status(), 200);
/// assert_eq!((http::StatusCode::CREATED, "made").into_response().status(), 201);
/// assert_eq!(().into_response().body().len(), 0);
/// ```
pub trait IntoResponse {
    /// Makes the response.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response {
        Response::empty()
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        Response::new(self)
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        let mut r = self.1.into_response();
        r.status = self.0;
        r
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(t) => t.into_response(),
            Err(e) => e.into_response(),
        }
    }
}
