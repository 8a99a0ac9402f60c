//! The context: what every request carried over one connection inherits.

use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::request::Request;
use crate::websocket::sender::WebSocketSender;

/// The `Authorization` scheme a `token` is sent with unless configured
/// (django-websocket-request's hard-coded `JWT`).
pub(super) const DEFAULT_TOKEN_SCHEME: &str = "JWT";

/// The metadata every request carried over one connection inherits: the peer's address,
/// the end-to-end headers of the WebSocket handshake (cookies, origin, user agent…), and
/// the scheme a message's `token` is sent with. [`ApiSocket`](crate::ApiSocket) builds one per connection;
/// build your own to run messages from another transport through
/// [`api_socket::handle_message`](crate::api_socket::handle_message).
///
/// ```
/// use wsview::ApiContext;
/// let ctx = ApiContext::new()
///     .with_remote_addr("10.0.0.7:5000".parse().unwrap())
///     .with_header("cookie", "session=abc")
///     .with_token_scheme("Bearer");
/// assert_eq!(ctx.headers()["cookie"], "session=abc");
/// assert_eq!(ctx.token_scheme(), "Bearer");
/// ```
#[derive(Debug, Clone)]
pub struct ApiContext {
    remote_addr: Option<SocketAddr>,
    secure: bool,
    headers: HeaderMap,
    token_scheme: Arc<str>,
    sender: Option<WebSocketSender>,
}

impl Default for ApiContext {
    fn default() -> Self {
        ApiContext::new()
    }
}

impl ApiContext {
    /// No peer address, no headers, the `JWT` token scheme.
    pub fn new() -> Self {
        ApiContext {
            remote_addr: None,
            secure: false,
            headers: HeaderMap::new(),
            token_scheme: Arc::from(DEFAULT_TOKEN_SCHEME),
            sender: None,
        }
    }

    /// The context of a connection opened by `handshake`: its peer address and its
    /// headers, less those that describe the handshake rather than the client:
    /// hop-by-hop headers (`Connection` and the headers it names, `Upgrade`,
    /// `Keep-Alive`, `TE`, `Trailer`, `Transfer-Encoding`, `Proxy-*`), every
    /// `Sec-WebSocket-*` header, and `Content-Length` / `Content-Type`.
    pub fn from_request(handshake: &Request) -> Self {
        let named = connection_tokens(handshake.headers());
        let mut headers = HeaderMap::new();
        for (name, value) in handshake.headers() {
            if !is_handshake_only(name) && !named.iter().any(|n| n == name) {
                headers.append(name.clone(), value.clone());
            }
        }
        ApiContext {
            remote_addr: handshake.remote_addr(),
            secure: handshake.is_secure(),
            headers,
            token_scheme: Arc::from(DEFAULT_TOKEN_SCHEME),
            sender: None,
        }
    }

    /// The peer's address, given to every request as [`Request::remote_addr`](crate::Request::remote_addr).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// Sets the peer's address (for example the client's, behind a trusted proxy).
    pub fn set_remote_addr(&mut self, addr: Option<SocketAddr>) {
        self.remote_addr = addr;
    }

    /// The same context with `addr` as the peer's address.
    #[must_use]
    pub fn with_remote_addr(mut self, addr: SocketAddr) -> Self {
        self.remote_addr = Some(addr);
        self
    }

    /// Whether the socket came over TLS, given to every request as
    /// [`Request::is_secure`](crate::Request::is_secure).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// Sets whether requests report arriving over TLS.
    pub fn set_secure(&mut self, secure: bool) {
        self.secure = secure;
    }

    /// The headers every request starts with.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The headers every request starts with, to add, override or remove some.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// The same context with header `name` set to `value` (replacing any value it had).
    /// An invalid name or value is logged and skipped, as in
    /// [`Response::with_header`](crate::Response::with_header).
    #[must_use]
    pub fn with_header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(name), Ok(value)) => {
                self.headers.insert(name, value);
            }
            _ => tracing::warn!("api socket: invalid context header name or value; skipped"),
        }
        self
    }

    /// The connection the requests came over, if they came over a WebSocket: views reach
    /// it through [`VirtualRequest::sender`](crate::VirtualRequest::sender) to push to the client later.
    pub fn sender(&self) -> Option<&WebSocketSender> {
        self.sender.as_ref()
    }

    /// The same context with `sender` as the connection requests came over ([`ApiSocket`](crate::ApiSocket)
    /// sets it; set it for another WebSocket-based transport).
    #[must_use]
    pub fn with_sender(mut self, sender: WebSocketSender) -> Self {
        self.sender = Some(sender);
        self
    }

    /// The scheme a message's `token` is sent with in `Authorization`.
    pub fn token_scheme(&self) -> &str {
        &self.token_scheme
    }

    /// The same context sending tokens as `Authorization: <scheme> <token>` (just the
    /// token when `scheme` is empty). A scheme that is not an HTTP token is logged and
    /// ignored.
    #[must_use]
    pub fn with_token_scheme(mut self, scheme: &str) -> Self {
        if scheme.is_empty() || HeaderName::from_bytes(scheme.as_bytes()).is_ok() {
            self.token_scheme = Arc::from(scheme);
        } else {
            tracing::warn!(%scheme, "ignoring a token scheme that is not an HTTP token");
        }
        self
    }
}

/// Headers of the handshake that do not describe the client: never passed on.
fn is_handshake_only(name: &HeaderName) -> bool {
    is_hop_by_hop(name) || *name == header::CONTENT_LENGTH || *name == header::CONTENT_TYPE
}

/// Hop-by-hop and upgrade headers (RFC 9110 §7.6.1, RFC 6455 §11.3).
pub(super) fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        *name,
        header::CONNECTION
            | header::UPGRADE
            | header::TE
            | header::TRAILER
            | header::TRANSFER_ENCODING
            | header::PROXY_AUTHORIZATION
            | header::PROXY_AUTHENTICATE
    ) || matches!(name.as_str(), "keep-alive" | "proxy-connection")
        || name.as_str().starts_with("sec-websocket-")
}

/// The header names a `Connection` header lists (themselves hop-by-hop).
fn connection_tokens(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect()
}
