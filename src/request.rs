//! The HTTP request a view receives.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::HeaderMap;
use http::{Extensions, Method, Uri, Version};

use crate::app_state::StateMap;
use crate::error::{BodyProblem, Error};
use crate::request_body::PendingBody;
use crate::websocket::connection::Shared;
use crate::websocket::socket::WebSocket;

/// An HTTP request and, for a WebSocket request, the [`WebSocket`] to talk over.
///
/// The body is read on demand (django's `request.body`): nothing of it is read until a
/// middleware or the view awaits [`body`](Self::body) or [`json`](Self::json), so one
/// that answers without it (a refused token, a view that needs only the URL) never
/// waits for it. It is read within
/// [`Settings::max_body_size`](crate::Settings::max_body_size) and
/// [`Settings::body_read_timeout`](crate::Settings::body_read_timeout), once: whoever
/// asks next gets it at once.
///
/// ```
/// use wsview::Request;
/// let req = Request::builder().uri("/lower?message=HeLLo%20there").build();
/// assert_eq!(req.path(), "/lower");
/// assert_eq!(req.query("message").as_deref(), Some("HeLLo there"));
/// assert!(!req.is_websocket());
/// ```
///
/// A `Request` is a handle to a boxed head: futures that hold one (a view's, each
/// middleware's, for the life of a WebSocket connection) hold 8 bytes, not the whole
/// request.
pub struct Request {
    p: Box<RequestParts>,
}

/// Where a request's body is: read (or given), still on its connection, or failed to
/// read (kept, so asking again gives the same error, not an empty body).
enum BodyState {
    Read(Bytes),
    Unread(Box<PendingBody>),
    Failed(BodyProblem),
}

/// What a [`Request`] holds.
struct RequestParts {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    extensions: Extensions,
    body: BodyState,
    params: Vec<(String, String)>,
    remote_addr: Option<SocketAddr>,
    /// The request arrived over TLS.
    secure: bool,
    websocket: Option<WebSocket>,
    /// Set by the server on upgrade requests; the middleware turns it into `websocket`.
    upgrade: Option<Arc<Shared>>,
    /// The app's typed state, attached by the app that runs the request.
    state: Option<Arc<StateMap>>,
    /// The request arrived as a message over a socket, not over HTTP.
    is_virtual: bool,
}

impl Request {
    /// A builder, for tests and for requests that do not come from a socket.
    pub fn builder() -> RequestBuilder {
        RequestBuilder {
            req: Request {
                p: Box::new(RequestParts {
                    method: Method::GET,
                    uri: Uri::from_static("/"),
                    version: Version::HTTP_11,
                    headers: HeaderMap::new(),
                    extensions: Extensions::new(),
                    body: BodyState::Read(Bytes::new()),
                    params: Vec::new(),
                    remote_addr: None,
                    secure: false,
                    websocket: None,
                    upgrade: None,
                    state: None,
                    is_virtual: false,
                }),
            },
        }
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.p.method
    }

    /// The URI as received (usually path and query).
    pub fn uri(&self) -> &Uri {
        &self.p.uri
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.p.uri.path()
    }

    /// The raw query string, if any.
    pub fn query_string(&self) -> Option<&str> {
        self.p.uri.query()
    }

    /// The first value of query parameter `name`, percent-decoded (django's
    /// `request.GET[name]`).
    pub fn query(&self, name: &str) -> Option<String> {
        let q = self.p.uri.query()?;
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// Every query parameter, decoded, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.p
            .uri
            .query()
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.p.version
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.p.headers
    }

    /// The headers, to change (for middleware).
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.p.headers
    }

    /// The first value of header `name` if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.p.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The app's value of type `T`, added with [`App::state`](crate::App::state); `None`
    /// if the app has none, or the request was not run by an app.
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.p.state.as_deref()?.get::<T>()
    }

    /// Values middleware attach for views (an authenticated user, a request id).
    pub fn extensions(&self) -> &Extensions {
        &self.p.extensions
    }

    /// Extensions, to change.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.p.extensions
    }

    /// Reads the body, if no one has yet, and returns it. The first call reads it from
    /// the connection, within
    /// [`Settings::max_body_size`](crate::Settings::max_body_size) and
    /// [`Settings::body_read_timeout`](crate::Settings::body_read_timeout); later calls
    /// (a view after a middleware that read it) return it at once, as does a request
    /// that carries its body already (built with [`RequestBuilder::body`], or arrived
    /// over [`api_socket`](mod@crate::api_socket)). A WebSocket request has no body:
    /// empty, at once.
    ///
    /// A body too large or too slow is an error whose response is 413 or 408
    /// ([`Error::is_body`]): return it (`?` in a view).
    ///
    /// ```
    /// use wsview::{IntoResponse, Next, Request, Response};
    ///
    /// async fn log_size(mut req: Request, next: Next) -> Response {
    ///     match req.body().await {
    ///         Ok(body) => tracing::info!(bytes = body.len(), "request body"),
    ///         Err(e) => return e.into_response(),
    ///     }
    ///     next.run(req).await // the view's `body()` returns the same bytes at once
    /// }
    /// # let _ = log_size;
    /// ```
    pub async fn body(&mut self) -> Result<&Bytes, Error> {
        if let BodyState::Unread(_) = self.p.body {
            // Failed until the read completes: a read given up half way lost the body.
            let state =
                std::mem::replace(&mut self.p.body, BodyState::Failed(BodyProblem::Unreadable));
            if let BodyState::Unread(unread) = state {
                self.p.body = match unread.read().await {
                    Ok(bytes) => BodyState::Read(bytes),
                    Err(problem) => BodyState::Failed(problem),
                };
            }
        }
        match &self.p.body {
            BodyState::Read(bytes) => Ok(bytes),
            BodyState::Failed(problem) => Err(Error::body(*problem)),
            BodyState::Unread(_) => Err(Error::body(BodyProblem::Unreadable)),
        }
    }

    /// Reads the body (as [`body`](Self::body) does) and parses it as JSON. A body
    /// that is not JSON of type `T` is an error answered 400 ([`Error::is_json`]);
    /// one too large or too slow, 413 or 408.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wsview::{App, Request, Response};
    ///
    /// async fn add(mut req: Request) -> Result<Response, wsview::Error> {
    ///     let [a, b]: [i64; 2] = req.json().await?;
    ///     Ok(Response::text((a + b).to_string()))
    /// }
    ///
    /// let app = App::new().route("/add", add).build()?;
    /// let resp = app.handle(Request::builder().uri("/add").body("[2, 3]").build()).await;
    /// assert_eq!(resp.body().as_ref(), b"5");
    /// let resp = app.handle(Request::builder().uri("/add").body("[2,").build()).await;
    /// assert_eq!(resp.status(), 400);
    /// # Ok(()) }
    /// ```
    pub async fn json<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, Error> {
        serde_json::from_slice(self.body().await?).map_err(Error::json)
    }

    /// Path parameter `name` from the route (`/socket/{namespace}`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.p
            .params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every path parameter, in route order.
    pub fn params(&self) -> &[(String, String)] {
        &self.p.params
    }

    /// The peer's address, when the request came from a socket.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.p.remote_addr
    }

    /// `https` if the request arrived over TLS (`wss://` for a WebSocket), `http`
    /// otherwise (django's `request.scheme`). It says how the request reached this
    /// server, whatever the client wrote in the URI; behind a proxy that ends TLS it is
    /// `http`.
    ///
    /// ```
    /// let req = wsview::Request::builder().secure(true).build();
    /// assert_eq!(req.scheme(), wsview::http::uri::Scheme::HTTPS);
    /// ```
    pub fn scheme(&self) -> http::uri::Scheme {
        if self.p.secure {
            http::uri::Scheme::HTTPS
        } else {
            http::uri::Scheme::HTTP
        }
    }

    /// Whether the request arrived over TLS (django's `request.is_secure()`).
    pub fn is_secure(&self) -> bool {
        self.p.secure
    }

    /// Whether this is a valid WebSocket request (django-websocket's
    /// `request.is_websocket()`). Set by [`WebSocketMiddleware`](crate::WebSocketMiddleware),
    /// so a middleware placed before it sees `false`.
    pub fn is_websocket(&self) -> bool {
        self.p.websocket.is_some()
    }

    /// Whether the request arrived as a message over a socket
    /// ([`api_socket`](mod@crate::api_socket), which also attaches a
    /// [`VirtualRequest`](crate::VirtualRequest) extension) rather than over HTTP. A
    /// virtual request is never [`is_websocket`](Self::is_websocket).
    pub fn is_virtual(&self) -> bool {
        self.p.is_virtual
    }

    /// Marks a request carried over a socket (see [`is_virtual`](Self::is_virtual)).
    pub(crate) fn mark_virtual(&mut self) {
        self.p.is_virtual = true;
    }

    /// The WebSocket, for a WebSocket request to a view that accepts one; `None` for a
    /// plain HTTP request (django-websocket's `request.websocket`).
    pub fn websocket(&mut self) -> Option<&mut WebSocket> {
        self.p.websocket.as_mut()
    }

    /// Takes the WebSocket out of the request, to keep it after the request is
    /// consumed. The connection still closes when the view returns.
    pub fn take_websocket(&mut self) -> Option<WebSocket> {
        self.p.websocket.take()
    }

    /// The request an HTTP request's head and its body, to be read on demand, make. An
    /// HTTP/2 request carries its host as the URI's authority (`:authority`), not a
    /// `Host` header: it gets the header, so views and the handshake see the host alike
    /// over both versions.
    pub(crate) fn from_http(
        mut parts: http::request::Parts,
        body: Option<PendingBody>,
        remote_addr: Option<SocketAddr>,
        secure: bool,
    ) -> Request {
        if parts.version >= Version::HTTP_2 && !parts.headers.contains_key(http::header::HOST) {
            let host = parts.uri.authority().map(|a| a.as_str().as_bytes());
            if let Some(Ok(value)) = host.map(http::HeaderValue::from_bytes) {
                parts.headers.insert(http::header::HOST, value);
            }
        }
        let mut req = Request::builder().build();
        req.p.secure = secure;
        req.p.method = parts.method;
        req.p.uri = parts.uri;
        req.p.version = parts.version;
        req.p.headers = parts.headers;
        req.p.extensions = parts.extensions;
        if let Some(body) = body {
            req.p.body = BodyState::Unread(Box::new(body));
        }
        req.p.remote_addr = remote_addr;
        req
    }

    /// Sets the path parameters the router found.
    pub(crate) fn set_params(&mut self, params: Vec<(String, String)>) {
        self.p.params = params;
    }

    /// The server saw this request ask for an upgrade and can perform it.
    pub(crate) fn set_upgrade(&mut self, shared: Arc<Shared>) {
        self.p.upgrade = Some(shared);
    }

    /// Whether the server can upgrade this request.
    pub(crate) fn has_upgrade(&self) -> bool {
        self.p.upgrade.is_some()
    }

    /// Takes what the server attached to perform the upgrade.
    pub(crate) fn take_upgrade(&mut self) -> Option<Arc<Shared>> {
        self.p.upgrade.take()
    }

    /// Attaches the validated WebSocket.
    pub(crate) fn set_websocket(&mut self, ws: WebSocket) {
        self.p.websocket = Some(ws);
    }

    /// Attaches the app's state, unless the request already has one.
    pub(crate) fn attach_state(&mut self, state: &Arc<StateMap>) {
        self.p.state.get_or_insert_with(|| state.clone());
    }

    /// Copies the URI and header values into allocations of their own. hyper parses
    /// them as slices of its connection read buffer (8 KiB or more); a request that
    /// outlives the HTTP exchange would keep that whole buffer alive.
    pub(crate) fn detach_from_read_buffer(&mut self) {
        // One allocation for the URI and every header value, sliced.
        let uri = self.p.uri.to_string();
        let size = uri.len() + self.p.headers.values().map(|v| v.len()).sum::<usize>();
        let mut buf = bytes::BytesMut::with_capacity(size);
        buf.extend_from_slice(uri.as_bytes());
        for value in self.p.headers.values() {
            buf.extend_from_slice(value.as_bytes());
        }
        let buf = buf.freeze();
        if let Ok(uri) = Uri::from_maybe_shared(buf.slice(..uri.len())) {
            self.p.uri = uri;
        }
        let mut at = uri.len();
        let mut headers = HeaderMap::with_capacity(self.p.headers.len());
        for (name, value) in self.p.headers.iter() {
            let range = at..at + value.len();
            at = range.end;
            if let Ok(mut copy) = http::HeaderValue::from_maybe_shared(buf.slice(range)) {
                copy.set_sensitive(value.is_sensitive());
                headers.append(name.clone(), copy);
            }
        }
        self.p.headers = headers;
    }

    /// Whether the request asks for a WebSocket upgrade, valid or not.
    pub(crate) fn wants_upgrade(&self) -> bool {
        crate::handshake::is_upgrade_request(&self.p.method, &self.p.headers, &self.p.extensions)
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.p.method)
            .field("uri", &self.p.uri)
            .field("params", &self.p.params)
            .field("websocket", &self.p.websocket.is_some())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Request`] by hand.
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RequestBuilder {
    req: Request,
}

impl RequestBuilder {
    /// Sets the method.
    pub fn method(mut self, method: Method) -> Self {
        self.req.p.method = method;
        self
    }

    /// Sets the URI; one that does not parse is logged and the builder keeps `/`.
    pub fn uri(mut self, uri: &str) -> Self {
        match uri.parse() {
            Ok(u) => self.req.p.uri = u,
            Err(e) => tracing::warn!(%uri, error = %e, "invalid URI for request builder"),
        }
        self
    }

    /// Sets the parsed URI.
    pub fn uri_parsed(mut self, uri: Uri) -> Self {
        self.req.p.uri = uri;
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: http::HeaderName, value: http::HeaderValue) -> Self {
        self.req.p.headers.append(name, value);
        self
    }

    /// Replaces all headers.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        self.req.p.headers = headers;
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.req.p.body = BodyState::Read(body.into());
        self
    }

    /// Sets the peer address.
    pub fn remote_addr(mut self, addr: SocketAddr) -> Self {
        self.req.p.remote_addr = Some(addr);
        self
    }

    /// Marks the request as arrived over TLS (see [`Request::is_secure`]).
    pub fn secure(mut self, secure: bool) -> Self {
        self.req.p.secure = secure;
        self
    }

    /// Sets the HTTP version.
    pub fn version(mut self, version: Version) -> Self {
        self.req.p.version = version;
        self
    }

    /// The request.
    pub fn build(self) -> Request {
        self.req
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::Full;

    use super::Request;
    use crate::request_body::PendingBody;

    fn with_body(body: &'static [u8], limit: usize) -> Request {
        let (parts, ()) = http::Request::new(()).into_parts();
        let pending = PendingBody::new(Full::new(Bytes::from_static(body)), limit, None);
        Request::from_http(parts, Some(pending), None, false)
    }

    #[tokio::test]
    async fn a_body_is_read_once_and_kept() {
        let mut req = with_body(b"{\"a\": 1}", 100);
        assert_eq!(req.body().await.expect("read").as_ref(), b"{\"a\": 1}");
        let v: serde_json::Value = req.json().await.expect("kept, and JSON");
        assert_eq!(v["a"], 1);
        let err = req.json::<Vec<u8>>().await.expect_err("not a list");
        assert!(err.is_json() && err.status() == 400, "{err}");
    }

    #[tokio::test]
    async fn a_failed_read_is_kept_too() {
        let mut req = with_body(b"too long", 3);
        for _ in 0..2 {
            let err = req.body().await.expect_err("over the limit");
            assert!(err.is_body() && err.status() == 413, "{err}");
        }
    }
}
