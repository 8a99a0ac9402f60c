//! HTTP requests carried over a WebSocket: JSON messages answered by the app's own
//! middleware, router and views, as if they had come over HTTP.
//!
//! This is django-websocket-request done properly: the same message format
//! (`{"method", "url", "data", "token"}`, plus Sails.js' `headers` and an `id` that is
//! echoed in the reply), but every message runs through the **full middleware chain**,
//! replies are matched to requests by `id`, several requests may be in flight on one
//! connection, and nothing a client sends can crash the connection: every bad message
//! gets an error reply.
//!
//! ```no_run
//! use wsview::{api_socket, App, Request, Response};
//!
//! async fn companies(req: Request) -> Response {
//!     // The same view answers `POST /api/companies/` over HTTP and
//!     // `{"method": "POST", "url": "/api/companies/", "data": {…}}` over /ws/api.
//!     let via = if req.is_virtual() { "websocket" } else { "http" };
//!     Response::json(&serde_json::json!({ "method": req.method().as_str(), "via": via }))
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! App::new()
//!     .route("/api/companies/", companies)
//!     .route("/ws/api", api_socket()) // or api_socket().max_in_flight(32).token_scheme("Bearer")
//!     .serve("127.0.0.1:8000")
//!     .await
//! # }
//! ```
//!
//! Any other transport (Server-Sent Events plus POST, a message queue, a test) can run
//! the same messages with [`AppService::handle_message`]. A view can also keep the
//! connection a request came over ([`VirtualRequest::sender`]) and push to it later.
//!
//! # The message
//!
//! | field | | |
//! |---|---|---|
//! | `url` | required | an absolute path, with or without a query string |
//! | `method` | default `GET` | `GET`, `POST`, `PUT`, `PATCH`, `DELETE`, `HEAD` or `OPTIONS`, any case |
//! | `data` | optional object | `GET`, `HEAD`, `DELETE`: query parameters, after the url's own; otherwise the JSON body (`Content-Type: application/json`) |
//! | `token` | optional string | `Authorization: JWT <token>` (scheme configurable) |
//! | `headers` | optional object | request headers; they override the handshake's |
//! | `id` | optional, any JSON | echoed, byte for byte, in the reply |
//!
//! # The reply
//!
//! `{"id": …, "status": 200, "headers": {…}, "body": …}`: the body is embedded as JSON
//! when the response's content type is JSON (`application/json`, `…+json`) and the body
//! is valid JSON; otherwise it is a string, or base64 with `"body_encoding": "base64"`
//! when it is not UTF-8. A header with several values is an array of strings.
//!
//! See `docs/rest-over-websocket.md` for the errors, ordering and a browser client.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};
use serde_json::value::RawValue;

use crate::app::AppService;
use crate::message::Message;
use crate::request::Request;
use crate::response::Response;
use crate::view::{require_websocket, IntoView, View};
use crate::websocket::WebSocketSender;

/// How many requests one connection runs at once unless configured.
const DEFAULT_MAX_IN_FLIGHT: usize = 16;
/// The `Authorization` scheme a `token` is sent with unless configured
/// (django-websocket-request's hard-coded `JWT`).
const DEFAULT_TOKEN_SCHEME: &str = "JWT";

/// The methods a message may name, as the 405 reply's `Allow` header lists them.
const ALLOWED_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS";

// ---------------------------------------------------------------------------------------
// The view
// ---------------------------------------------------------------------------------------

/// A view that answers every text message on a WebSocket as an HTTP request to the app
/// (see the [module docs](self) and `docs/rest-over-websocket.md`). Make one with
/// [`api_socket`] and mount it with [`App::route`](crate::App::route); it is a
/// [`require_websocket`] view, so a plain HTTP request to it gets 400.
///
/// Requests on one connection run concurrently, up to
/// [`max_in_flight`](Self::max_in_flight) at a time; replies go out as each request
/// finishes, so **they can come back in another order than the requests were sent**:
/// match them by `id`. While the limit is reached the view stops taking messages, so
/// they queue in the connection (up to
/// [`Settings::max_queued_messages`](crate::Settings::max_queued_messages)) and then the
/// server stops reading the socket: a client that floods it is slowed, not buffered.
///
/// ```no_run
/// use wsview::{api_socket, http::HeaderValue, App};
///
/// let app = App::new().route(
///     "/ws/api",
///     api_socket()
///         .max_in_flight(32)
///         .token_scheme("Bearer")
///         .defaults(|handshake, ctx| {
///             // django-websocket-request's `factory_defaults`: runs once per connection.
///             if let Some(addr) = handshake.remote_addr() {
///                 if let Ok(v) = HeaderValue::from_str(&addr.ip().to_string()) {
///                     ctx.headers_mut().insert("x-forwarded-for", v);
///                 }
///             }
///         }),
/// );
/// # drop(app);
/// ```
#[derive(Clone)]
pub struct ApiSocket {
    max_in_flight: usize,
    token_scheme: String,
    defaults: Option<Arc<DefaultsHook>>,
}

type DefaultsHook = dyn Fn(&Request, &mut ApiContext) + Send + Sync + 'static;

/// The view that runs HTTP requests sent as JSON messages over a WebSocket; mount it at
/// a path such as `/ws/api`. See [`ApiSocket`].
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// wsview::App::new()
///     .route("/ws/api", wsview::api_socket())
///     .serve("127.0.0.1:8000")
///     .await
/// # }
/// ```
pub fn api_socket() -> ApiSocket {
    ApiSocket {
        max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        token_scheme: DEFAULT_TOKEN_SCHEME.to_owned(),
        defaults: None,
    }
}

impl Default for ApiSocket {
    fn default() -> Self {
        api_socket()
    }
}

impl std::fmt::Debug for ApiSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiSocket")
            .field("max_in_flight", &self.max_in_flight)
            .field("token_scheme", &self.token_scheme)
            .field("defaults", &self.defaults.is_some())
            .finish()
    }
}

impl ApiSocket {
    /// How many requests from one connection may run at once (default 16; 0 counts as
    /// 1). With 1, requests run one after another and replies come back in order.
    pub fn max_in_flight(mut self, limit: usize) -> Self {
        self.max_in_flight = limit.max(1);
        self
    }

    /// The `Authorization` scheme a message's `token` is sent with (default `JWT`, as
    /// django-websocket-request; `Bearer` for OAuth-style tokens; empty for the bare
    /// token). A scheme that is not an HTTP token makes [`App::build`](crate::App::build)
    /// fail.
    pub fn token_scheme(mut self, scheme: impl Into<String>) -> Self {
        self.token_scheme = scheme.into();
        self
    }

    /// A hook that adds or overrides request metadata for every request on a connection
    /// (django-websocket-request's `factory_defaults`). It runs once per connection,
    /// with the handshake request and the [`ApiContext`] built from it (peer address,
    /// handshake headers); a message's own `headers` and `token` still override what it
    /// sets, except for `Origin`.
    pub fn defaults<F>(mut self, hook: F) -> Self
    where
        F: Fn(&Request, &mut ApiContext) + Send + Sync + 'static,
    {
        self.defaults = Some(Arc::new(hook));
        self
    }

    /// The context for one connection: handshake metadata, then the hook.
    fn context(&self, handshake: &Request, sender: Option<WebSocketSender>) -> ApiContext {
        let mut ctx = ApiContext::from_request(handshake);
        ctx.token_scheme = Arc::from(self.token_scheme.as_str());
        ctx.sender = sender;
        if let Some(hook) = &self.defaults {
            hook(handshake, &mut ctx);
        }
        ctx
    }

    /// Serves one connection until the peer closes it.
    async fn serve(&self, mut req: Request) -> Response {
        let Some(app) = req.p.app.clone() else {
            tracing::error!("api socket: the request carries no app; refusing the upgrade");
            return Response::internal_error();
        };
        let sender = req.websocket().map(|ws| ws.sender());
        let ctx = Arc::new(self.context(&req, sender));
        let Some(ws) = req.websocket() else {
            return Response::bad_request("This view requires a WebSocket request.");
        };
        let mut in_flight = FuturesUnordered::new();
        loop {
            tokio::select! {
                // Finished replies first: each one frees a slot.
                biased;
                Some(reply) = in_flight.next(), if !in_flight.is_empty() => {
                    if ws.send(Message::text(reply)).await.is_err() {
                        break; // closing: nobody to answer
                    }
                }
                msg = ws.wait(), if in_flight.len() < self.max_in_flight => {
                    let Some(msg) = msg else { break }; // the peer closed
                    let (app, ctx) = (app.clone(), ctx.clone());
                    in_flight.push(async move {
                        match std::str::from_utf8(msg.as_bytes()) {
                            Ok(text) => app.handle_message(text, &ctx).await,
                            Err(_) => MessageError::new(None, MessageErrorKind::Malformed).reply(),
                        }
                    });
                }
            }
        }
        // Requests still running are dropped with the connection, as hyper drops an HTTP
        // request's view when its client goes away.
        Response::empty()
    }
}

impl IntoView for ApiSocket {
    fn into_view(self) -> View {
        if !self.token_scheme.is_empty()
            && HeaderName::from_bytes(self.token_scheme.as_bytes()).is_err()
        {
            return View::invalid(format!(
                "api_socket: token scheme {:?} is not an HTTP token",
                self.token_scheme
            ));
        }
        let socket = Arc::new(self);
        require_websocket(move |req: Request| {
            let socket = socket.clone();
            async move { socket.serve(req).await }
        })
    }
}

// ---------------------------------------------------------------------------------------
// The context: what every request on a connection inherits
// ---------------------------------------------------------------------------------------

/// The metadata every request carried over one connection inherits: the peer's address,
/// the end-to-end headers of the WebSocket handshake (cookies, origin, user agent…), and
/// the scheme a message's `token` is sent with. [`ApiSocket`] builds one per connection;
/// build your own to run messages from another transport through
/// [`AppService::handle_message`].
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
            headers,
            token_scheme: Arc::from(DEFAULT_TOKEN_SCHEME),
            sender: None,
        }
    }

    /// The peer's address, given to every request as [`Request::remote_addr`].
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// Sets the peer's address (for example the client's, behind a trusted proxy).
    pub fn set_remote_addr(&mut self, addr: Option<SocketAddr>) {
        self.remote_addr = addr;
    }

    /// The same context with `addr` as the peer's address.
    pub fn with_remote_addr(mut self, addr: SocketAddr) -> Self {
        self.remote_addr = Some(addr);
        self
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
    /// [`Response::with_header`].
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
    /// it through [`VirtualRequest::sender`] to push to the client later.
    pub fn sender(&self) -> Option<&WebSocketSender> {
        self.sender.as_ref()
    }

    /// The same context with `sender` as the connection requests came over ([`ApiSocket`]
    /// sets it; set it for another WebSocket-based transport).
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
fn is_hop_by_hop(name: &HeaderName) -> bool {
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

// ---------------------------------------------------------------------------------------
// Requests carried over a socket
// ---------------------------------------------------------------------------------------

/// Marks a request that arrived as a message over a socket rather than over HTTP: it is
/// in the [extensions](Request::extensions) of every such request, and
/// [`Request::is_virtual`] tells whether it is there. Middleware that must treat the two
/// transports differently (CSRF checks, access logs) look for it.
#[derive(Debug, Clone)]
pub struct VirtualRequest {
    id: Option<Box<RawValue>>,
    sender: Option<WebSocketSender>,
}

impl VirtualRequest {
    /// A handle to the WebSocket the request came over, so a view can push to that client
    /// later, unprompted (django-websocket-request could not): keep it in a subscription
    /// list and [`send`](WebSocketSender::send) events through it. Sends fail once the
    /// connection is gone. `None` when the request came over another transport.
    ///
    /// ```
    /// use wsview::{Request, Response, VirtualRequest, WebSocketSender};
    ///
    /// async fn subscribe(req: Request) -> Response {
    ///     let Some(sender) = req.extensions().get::<VirtualRequest>().and_then(|v| v.sender())
    ///     else {
    ///         return Response::bad_request("subscribe over the socket");
    ///     };
    ///     let sender: WebSocketSender = sender.clone();
    ///     tokio::spawn(async move {
    ///         let _ = sender.send(r#"{"event": "snippet_created", "data": {"id": 7}}"#).await;
    ///     });
    ///     Response::json(&serde_json::json!({ "subscribed": true }))
    /// }
    /// # let _ = subscribe;
    /// ```
    pub fn sender(&self) -> Option<&WebSocketSender> {
        self.sender.as_ref()
    }

    /// The message's `id` as the JSON text the client sent (`7`, `"a1"`, `{"n": 1}`), or
    /// `None` if it sent none. Handy for logs that correlate with the client.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref().map(RawValue::get)
    }
}

// An inherent method kept beside the concept it belongs to.
impl Request {
    /// Whether the request arrived as a message over a socket ([`ApiSocket`],
    /// [`AppService::handle_message`]) rather than over HTTP. A virtual request is never
    /// [`is_websocket`](Self::is_websocket).
    pub fn is_virtual(&self) -> bool {
        self.p.extensions.get::<VirtualRequest>().is_some()
    }
}

/// One message, checked and ready to become a [`Request`].
///
/// ```
/// use wsview::{ApiContext, ApiMessage};
/// let msg = ApiMessage::parse(r#"{"id": 7, "method": "get", "url": "/api/items/", "data": {"page": 2}}"#)
///     .unwrap();
/// assert_eq!(msg.id(), Some("7"));
/// assert_eq!(msg.method(), "GET");
/// let req = msg.into_request(&ApiContext::new());
/// assert_eq!(req.query("page").as_deref(), Some("2"));
/// assert!(req.is_virtual());
///
/// let err = ApiMessage::parse(r#"{"id": 8}"#).unwrap_err();
/// assert_eq!(err.status(), 400);
/// assert_eq!(err.to_string(), "Missing URL");
/// assert_eq!(err.id(), Some("8"));
/// ```
#[derive(Debug, Clone)]
pub struct ApiMessage {
    id: Option<Box<RawValue>>,
    method: Method,
    uri: Uri,
    /// The raw JSON text of `data`, for methods that send it as the body.
    body: Option<String>,
    token: Option<String>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiMessage {
    /// Parses and checks one message. Errors carry the message's `id` when it had one,
    /// so their reply can echo it.
    pub fn parse(text: &str) -> Result<ApiMessage, MessageError> {
        let fields: BTreeMap<String, &RawValue> = serde_json::from_str(text)
            .map_err(|_| MessageError::new(None, MessageErrorKind::Malformed))?;
        let id = fields
            .get("id")
            .map(|raw| (*raw).to_owned())
            .filter(|raw| raw.get() != "null");
        match parse_fields(&fields) {
            Ok(msg) => Ok(ApiMessage { id, ..msg }),
            Err(kind) => Err(MessageError::new(id, kind)),
        }
    }

    /// The message's `id`, as the JSON text the client sent.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref().map(RawValue::get)
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URI: the `url`, with `data` appended to its query for `GET`, `HEAD` and
    /// `DELETE`.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The request body: `data`'s JSON text for methods other than `GET`, `HEAD` and
    /// `DELETE`; empty otherwise.
    pub fn body(&self) -> &str {
        self.body.as_deref().unwrap_or("")
    }

    /// The request, with `ctx`'s peer address and headers. Precedence, lowest first:
    /// the context's headers, the message's `headers` (each replaces every value of its
    /// name; hop-by-hop, `Sec-WebSocket-*`, `Content-Length` and `Origin` are ignored),
    /// then the `token` as `Authorization`. A JSON body gets
    /// `Content-Type: application/json` unless the message named another, and its
    /// `Content-Length`. The request carries a [`VirtualRequest`] extension.
    pub fn into_request(self, ctx: &ApiContext) -> Request {
        let mut headers = ctx.headers.clone();
        let mut replaced: Vec<HeaderName> = Vec::new();
        for (name, value) in self.headers {
            if !replaced.contains(&name) {
                headers.remove(&name);
                replaced.push(name.clone());
            }
            headers.append(name, value);
        }
        if let Some(token) = &self.token {
            let value = if ctx.token_scheme.is_empty() {
                HeaderValue::from_str(token)
            } else {
                HeaderValue::from_str(&format!("{} {token}", ctx.token_scheme))
            };
            match value {
                Ok(v) => {
                    headers.insert(header::AUTHORIZATION, v);
                }
                // The token was checked in `parse`, the scheme when it was set.
                Err(_) => tracing::warn!("api socket: token not usable as a header; dropped"),
            }
        }
        let body = match self.body {
            Some(body) => {
                if !headers.contains_key(header::CONTENT_TYPE) {
                    headers.insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                }
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
                Bytes::from(body)
            }
            None => Bytes::new(),
        };
        let mut req = Request::builder()
            .method(self.method)
            .uri_parsed(self.uri)
            .version(Version::HTTP_11)
            .headers(headers)
            .body(body)
            .build();
        req.p.remote_addr = ctx.remote_addr;
        req.p.extensions.insert(VirtualRequest {
            id: self.id,
            sender: ctx.sender.clone(),
        });
        req
    }
}

/// Checks every field but the id (left `None`), in the order the errors table documents.
fn parse_fields(fields: &BTreeMap<String, &RawValue>) -> Result<ApiMessage, MessageErrorKind> {
    let url = match optional_string(fields.get("url")) {
        Ok(Some(url)) if !url.is_empty() => url,
        Ok(_) => return Err(MessageErrorKind::MissingUrl),
        Err(()) => return Err(invalid("url", "a string")),
    };
    let mut uri = parse_path(&url).ok_or(MessageErrorKind::InvalidUrl)?;
    let method = match optional_string(fields.get("method")) {
        Ok(None) => Method::GET,
        Ok(Some(m)) => parse_method(&m).ok_or(MessageErrorKind::UnknownMethod)?,
        Err(()) => return Err(invalid("method", "a string")),
    };
    let data = match fields.get("data") {
        None => None,
        Some(raw) if raw.get() == "null" => None,
        Some(raw) if raw.get().starts_with('{') => Some(*raw),
        Some(_) => return Err(invalid("data", "an object")),
    };
    let mut body = None;
    if let Some(data) = data {
        if matches!(method, Method::GET | Method::HEAD | Method::DELETE) {
            uri = with_query(&uri, data).ok_or_else(|| invalid("data", "an object"))?;
        } else {
            body = Some(data.get().to_owned());
        }
    }
    let token = match optional_string(fields.get("token")) {
        Ok(t) => t.filter(|t| !t.is_empty()),
        Err(()) => return Err(invalid("token", "a string")),
    };
    if let Some(t) = &token {
        if HeaderValue::from_str(t).is_err() {
            return Err(invalid("token", "printable ASCII"));
        }
    }
    let headers = match fields.get("headers") {
        None => Vec::new(),
        Some(raw) if raw.get() == "null" => Vec::new(),
        Some(raw) => parse_headers(raw).ok_or_else(|| {
            invalid(
                "headers",
                "an object of header names to strings (or arrays of strings)",
            )
        })?,
    };
    Ok(ApiMessage {
        id: None,
        method,
        uri,
        body,
        token,
        headers,
    })
}

fn invalid(field: &'static str, expected: &'static str) -> MessageErrorKind {
    MessageErrorKind::InvalidField { field, expected }
}

/// `Ok(None)` for an absent or null field, `Err` for one that is not a string.
fn optional_string(raw: Option<&&RawValue>) -> Result<Option<String>, ()> {
    match raw {
        None => Ok(None),
        Some(raw) => serde_json::from_str::<Option<String>>(raw.get()).map_err(|_| ()),
    }
}

fn parse_method(m: &str) -> Option<Method> {
    Some(match m.to_ascii_uppercase().as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "PATCH" => Method::PATCH,
        "DELETE" => Method::DELETE,
        "HEAD" => Method::HEAD,
        "OPTIONS" => Method::OPTIONS,
        _ => return None,
    })
}

/// An absolute path with an optional query: `/a/b?c=d`. Not `//host/…`, not a full URL,
/// not a fragment.
fn parse_path(url: &str) -> Option<Uri> {
    if !url.starts_with('/') || url.starts_with("//") || url.contains('#') {
        return None;
    }
    let uri: Uri = url.parse().ok()?;
    (uri.scheme().is_none() && uri.authority().is_none()).then_some(uri)
}

/// `uri` with `data`'s fields appended to its query: strings as they are, numbers and
/// booleans as JSON writes them, `null` as an empty value, arrays as one pair per element,
/// objects as JSON text.
fn with_query(uri: &Uri, data: &RawValue) -> Option<Uri> {
    let pairs: Ordered = serde_json::from_str(data.get()).ok()?;
    if pairs.0.is_empty() {
        return Some(uri.clone());
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in &pairs.0 {
        if value.get().starts_with('[') {
            let items: Vec<&RawValue> = serde_json::from_str(value.get()).ok()?;
            for item in items {
                query.append_pair(key, &query_text(item));
            }
        } else {
            query.append_pair(key, &query_text(value));
        }
    }
    let added = query.finish();
    let joined = match uri.query() {
        Some(q) if !q.is_empty() => format!("{}?{q}&{added}", uri.path()),
        _ => format!("{}?{added}", uri.path()),
    };
    joined.parse().ok()
}

fn query_text(value: &RawValue) -> String {
    let raw = value.get();
    if raw.starts_with('"') {
        serde_json::from_str::<String>(raw).unwrap_or_default()
    } else if raw == "null" {
        String::new()
    } else {
        raw.to_owned()
    }
}

/// The message's `headers`: names to strings, numbers, booleans or arrays of those.
/// Headers a message may not set are dropped.
fn parse_headers(raw: &RawValue) -> Option<Vec<(HeaderName, HeaderValue)>> {
    if !raw.get().starts_with('{') {
        return None;
    }
    let pairs: Ordered = serde_json::from_str(raw.get()).ok()?;
    let mut out = Vec::new();
    for (name, value) in &pairs.0 {
        let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
        let values: Vec<&RawValue> = if value.get().starts_with('[') {
            serde_json::from_str(value.get()).ok()?
        } else {
            vec![*value]
        };
        if is_hop_by_hop(&name) || name == header::CONTENT_LENGTH || name == header::ORIGIN {
            continue;
        }
        for v in values {
            let text = match v.get().as_bytes().first() {
                Some(b'"') => serde_json::from_str::<String>(v.get()).ok()?,
                Some(b'{' | b'[') | None => return None,
                Some(_) if v.get() == "null" => return None,
                Some(_) => v.get().to_owned(), // numbers, booleans
            };
            out.push((name.clone(), HeaderValue::from_str(&text).ok()?));
        }
    }
    Some(out)
}

/// A JSON object's members in the order they were written.
struct Ordered<'a>(Vec<(String, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Ordered<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Ordered<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    out.push(entry);
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

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
}

impl MessageError {
    fn new(id: Option<Box<RawValue>>, kind: MessageErrorKind) -> Self {
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

// ---------------------------------------------------------------------------------------
// Running a message
// ---------------------------------------------------------------------------------------

/// The body of a socket reply to a path no route matches (django-websocket-request's).
const NOT_FOUND_BODY: &str = "Resource not found.";

impl AppService {
    /// Runs one JSON message as an HTTP request, through the full middleware chain, the
    /// router and the view, exactly as [`handle`](Self::handle) runs an HTTP request, and
    /// returns the JSON reply `{"id", "status", "headers", "body"}`. Never fails: a bad
    /// message gets an error reply (see [`MessageErrorKind`]) without running anything,
    /// a panicking view a 500.
    ///
    /// The router's own 404 for an unknown path reads `Resource not found.` here (the
    /// body django-websocket-request used) instead of HTTP's `Not Found`; a 404 that a
    /// view or middleware writes itself is passed on unchanged.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wsview::{ApiContext, App, Request};
    /// let app = App::new()
    ///     .route("/hello/{name}", |req: Request| async move {
    ///         format!("hello {}", req.param("name").unwrap_or("?"))
    ///     })
    ///     .build()?;
    /// let reply = app
    ///     .handle_message(r#"{"id": 1, "url": "/hello/ada"}"#, &ApiContext::new())
    ///     .await;
    /// let reply: serde_json::Value = serde_json::from_str(&reply)?;
    /// assert_eq!(reply["id"], 1);
    /// assert_eq!(reply["status"], 200);
    /// assert_eq!(reply["body"], "hello ada");
    /// # Ok(()) }
    /// ```
    pub async fn handle_message(&self, text: &str, ctx: &ApiContext) -> String {
        let msg = match ApiMessage::parse(text) {
            Ok(msg) => msg,
            Err(e) => {
                tracing::debug!(error = %e, "api socket: bad message");
                return e.reply();
            }
        };
        let id = msg.id.clone();
        let head = msg.method == Method::HEAD;
        let path = msg.uri.path().to_owned();
        let mut resp = self.handle(msg.into_request(ctx)).await;
        if resp.status() == StatusCode::NOT_FOUND
            && resp.body().as_ref() == b"Not Found"
            && self.inner.router.at(&path).is_none()
        {
            resp.set_body(NOT_FOUND_BODY);
        }
        encode_reply(id.as_deref(), &resp, head)
    }
}

/// `{"id": …, "status": …, "headers": {…}, "body": …}`, plus `"body_encoding": "base64"`
/// for a body that is not UTF-8. `head`: the request was HEAD, so no body (as over HTTP).
fn encode_reply(id: Option<&RawValue>, resp: &Response, head: bool) -> String {
    let status = resp.status();
    let no_body = head
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let body: &[u8] = if no_body { b"" } else { resp.body() };

    let mut headers = serde_json::Map::new();
    for name in resp.headers().keys() {
        let mut values: Vec<serde_json::Value> = resp
            .headers()
            .get_all(name)
            .iter()
            .map(|v| serde_json::Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let value = if values.len() == 1 {
            values.remove(0)
        } else {
            serde_json::Value::Array(values)
        };
        headers.insert(name.as_str().to_owned(), value);
    }

    let mut out = String::with_capacity(64 + body.len());
    out.push_str("{\"id\":");
    out.push_str(id.map_or("null", RawValue::get));
    out.push_str(",\"status\":");
    out.push_str(status.as_str());
    out.push_str(",\"headers\":");
    out.push_str(&serde_json::Value::Object(headers).to_string());
    out.push_str(",\"body\":");
    let json_body = is_json(resp.headers())
        .then(|| serde_json::from_slice::<&RawValue>(body).ok())
        .flatten();
    match (json_body, std::str::from_utf8(body)) {
        (Some(raw), _) => out.push_str(raw.get()),
        (None, Ok(text)) => out.push_str(&serde_json::Value::from(text).to_string()),
        (None, Err(_)) => {
            out.push_str(&serde_json::Value::from(BASE64.encode(body)).to_string());
            out.push_str(",\"body_encoding\":\"base64\"");
        }
    }
    out.push('}');
    out
}

/// Whether the content type is `application/json` or `…+json`.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The guide's Rust examples, compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../docs/rest-over-websocket.md")]
struct RestOverWebSocketGuide;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(text: &str) -> Result<ApiMessage, MessageError> {
        ApiMessage::parse(text)
    }

    fn kind(text: &str) -> MessageErrorKind {
        parse(text).expect_err(text).kind()
    }

    fn reply_of(err: &MessageError) -> Value {
        serde_json::from_str(&err.reply()).expect("reply is JSON")
    }

    #[test]
    fn not_json_or_not_an_object() {
        for text in [
            "",
            " ",
            "nope",
            "{",
            "{\"url\": \"/a\"",
            "[]",
            "[{\"url\": \"/a\"}]",
            "null",
            "true",
            "42",
            "\"/a\"",
            "{\"url\": \"/a\"} trailing",
        ] {
            assert_eq!(kind(text), MessageErrorKind::Malformed, "{text:?}");
        }
        let err = parse("[1, 2]").unwrap_err();
        let reply = reply_of(&err);
        assert_eq!(reply["status"], 400);
        assert_eq!(reply["body"], "Invalid formatted message.");
        assert_eq!(reply["id"], Value::Null);
    }

    #[test]
    fn missing_url() {
        for text in [
            r#"{}"#,
            r#"{"url": null}"#,
            r#"{"url": ""}"#,
            r#"{"method": "POST", "data": {}}"#,
        ] {
            assert_eq!(kind(text), MessageErrorKind::MissingUrl, "{text}");
        }
        let err = parse(r#"{"id": "x1", "url": null}"#).unwrap_err();
        assert_eq!(err.to_string(), "Missing URL");
        assert_eq!(reply_of(&err)["id"], "x1");
    }

    #[test]
    fn bad_urls() {
        for url in [
            "api/items/",
            "http://example.com/api/",
            "//example.com/api/",
            "/a b",
            "/a#frag",
            "*",
        ] {
            let text = json!({ "url": url }).to_string();
            assert_eq!(kind(&text), MessageErrorKind::InvalidUrl, "{url}");
        }
        assert!(matches!(
            kind(r#"{"url": 5}"#),
            MessageErrorKind::InvalidField { field: "url", .. }
        ));
        assert!(matches!(
            kind(r#"{"url": ["/a"]}"#),
            MessageErrorKind::InvalidField { field: "url", .. }
        ));
        let ok = parse(r#"{"url": "/caf%C3%A9/?q=1&r=%20"}"#).unwrap();
        assert_eq!(ok.uri().path(), "/caf%C3%A9/");
        assert_eq!(ok.uri().query(), Some("q=1&r=%20"));
    }

    #[test]
    fn methods() {
        for (given, want) in [
            ("get", Method::GET),
            ("Post", Method::POST),
            ("PUT", Method::PUT),
            ("patch", Method::PATCH),
            ("delete", Method::DELETE),
            ("head", Method::HEAD),
            ("oPtIoNs", Method::OPTIONS),
        ] {
            let msg = parse(&json!({ "url": "/", "method": given }).to_string()).unwrap();
            assert_eq!(msg.method(), want);
        }
        assert_eq!(parse(r#"{"url": "/"}"#).unwrap().method(), Method::GET);
        assert_eq!(
            parse(r#"{"url": "/", "method": null}"#).unwrap().method(),
            Method::GET
        );
        for bad in [
            "FETCH", "", "get ", "CONNECT", "TRACE", "G\u{e9}T", "POST\n",
        ] {
            let text = json!({ "url": "/", "method": bad, "id": 3 }).to_string();
            let err = parse(&text).unwrap_err();
            assert_eq!(err.kind(), MessageErrorKind::UnknownMethod, "{bad:?}");
            assert_eq!(err.status(), 405);
            let reply = reply_of(&err);
            assert_eq!(reply["status"], 405);
            assert_eq!(reply["id"], 3);
            assert_eq!(reply["headers"]["allow"], ALLOWED_METHODS);
        }
        assert!(matches!(
            kind(r#"{"url": "/", "method": 1}"#),
            MessageErrorKind::InvalidField {
                field: "method",
                ..
            }
        ));
    }

    #[test]
    fn ids_are_echoed_byte_for_byte() {
        for id in [
            "1",
            "123456789012345678901234567890123456789012345678901234567890",
            "-0.000000000000000000000000000000000001e-400",
            "1e400",
            "\"a\\u00e9\\\"b\"",
            "{\"n\": [1, 2, {\"deep\": null}]}",
            "true",
            "[]",
        ] {
            let err = parse(&format!(r#"{{"id": {id}, "url": 7}}"#)).unwrap_err();
            assert_eq!(err.id(), Some(id));
            assert!(err.reply().starts_with(&format!("{{\"id\":{id},")), "{id}");
            let msg = parse(&format!(r#"{{"id": {id}, "url": "/"}}"#)).unwrap();
            assert_eq!(msg.id(), Some(id));
        }
        assert_eq!(parse(r#"{"id": null, "url": "/"}"#).unwrap().id(), None);
        // An id the size of a message still round-trips.
        let big = format!("\"{}\"", "x".repeat(100_000));
        let msg = parse(&format!(r#"{{"id": {big}, "url": "/"}}"#)).unwrap();
        assert_eq!(msg.id().map(str::len), Some(100_002));
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let text = format!(r#"{{"id": {deep}, "url": "/", "data": {{"a": {deep}}}}}"#);
        // Either accepted or refused, never a stack overflow.
        let _ = ApiMessage::parse(&text);
        assert_eq!(kind(&"[".repeat(100_000)), MessageErrorKind::Malformed);
    }

    #[test]
    fn data_becomes_query_for_get_head_delete() {
        let msg = parse(
            r#"{"url": "/s/?page=1", "data": {"q": "a b&c", "n": 12345678901234567890123, "ok": true,
                "none": null, "tags": ["x", 2], "obj": {"k": 1}}}"#,
        )
        .unwrap();
        let req = msg.into_request(&ApiContext::new());
        assert_eq!(req.path(), "/s/");
        assert_eq!(
            req.query_pairs(),
            vec![
                ("page".into(), "1".into()),
                ("q".into(), "a b&c".into()),
                ("n".into(), "12345678901234567890123".into()),
                ("ok".into(), "true".into()),
                ("none".into(), "".into()),
                ("tags".into(), "x".into()),
                ("tags".into(), "2".into()),
                ("obj".into(), r#"{"k": 1}"#.into()),
            ]
        );
        assert!(req.body().is_empty());
        assert!(req.headers().get("content-type").is_none());
        for method in ["HEAD", "DELETE"] {
            let text = json!({"url": "/x", "method": method, "data": {"a": 1}}).to_string();
            let req = parse(&text).unwrap().into_request(&ApiContext::new());
            assert_eq!(req.query("a").as_deref(), Some("1"), "{method}");
        }
        let empty = parse(r#"{"url": "/x", "data": {}}"#).unwrap();
        assert_eq!(empty.uri(), "/x");
    }

    #[test]
    fn data_becomes_json_body_otherwise() {
        for method in ["POST", "PUT", "PATCH", "OPTIONS"] {
            let text = format!(
                r#"{{"url": "/x", "method": "{method}", "data": {{"big": 1e400, "name": "Acme Inc."}}}}"#
            );
            let req = parse(&text).unwrap().into_request(&ApiContext::new());
            assert_eq!(req.method(), method);
            assert_eq!(
                req.body().as_ref(),
                br#"{"big": 1e400, "name": "Acme Inc."}"#
            );
            assert_eq!(req.headers()["content-type"], "application/json");
            assert_eq!(
                req.headers()["content-length"],
                req.body().len().to_string()
            );
            assert_eq!(req.query_string(), None);
        }
        let none = parse(r#"{"url": "/x", "method": "POST"}"#).unwrap();
        let req = none.into_request(&ApiContext::new());
        assert!(req.body().is_empty());
        assert!(req.headers().get("content-type").is_none());
        let typed = parse(
            r#"{"url": "/x", "method": "PATCH", "data": {}, "headers": {"Content-Type": "application/merge-patch+json"}}"#,
        )
        .unwrap()
        .into_request(&ApiContext::new());
        assert_eq!(
            typed.headers()["content-type"],
            "application/merge-patch+json"
        );
        for bad in ["[]", "\"s\"", "1", "true"] {
            let text = format!(r#"{{"url": "/x", "data": {bad}}}"#);
            assert!(
                matches!(
                    kind(&text),
                    MessageErrorKind::InvalidField { field: "data", .. }
                ),
                "{bad}"
            );
        }
        assert!(parse(r#"{"url": "/x", "data": null}"#).is_ok());
    }

    #[test]
    fn tokens_and_headers() {
        let ctx = ApiContext::new()
            .with_header(header::AUTHORIZATION, HeaderValue::from_static("Basic old"))
            .with_header(header::COOKIE, HeaderValue::from_static("s=1"))
            .with_header(
                header::ORIGIN,
                HeaderValue::from_static("https://good.example"),
            )
            .with_header(header::USER_AGENT, HeaderValue::from_static("ua/1"));
        let msg = parse(
            r#"{"url": "/", "token": "MY_JSON_WEB_TOKEN", "headers": {"User-Agent": "ua/2", "X-Many": ["a", "b"],
               "X-Num": 5, "Origin": "https://evil.example", "Upgrade": "websocket",
               "Connection": "upgrade", "Sec-WebSocket-Key": "k", "Content-Length": "9",
               "Authorization": "Basic new"}}"#,
        )
        .unwrap();
        let req = msg.into_request(&ctx);
        let h = req.headers();
        assert_eq!(h["authorization"], "JWT MY_JSON_WEB_TOKEN");
        assert_eq!(h["cookie"], "s=1");
        assert_eq!(h["user-agent"], "ua/2");
        assert_eq!(h["origin"], "https://good.example");
        assert_eq!(h["x-num"], "5");
        let many: Vec<_> = h.get_all("x-many").iter().collect();
        assert_eq!(many, ["a", "b"]);
        for gone in [
            "upgrade",
            "connection",
            "sec-websocket-key",
            "content-length",
        ] {
            assert!(h.get(gone).is_none(), "{gone}");
        }
        assert!(!req.is_websocket());
        assert!(req.is_virtual());

        let bearer = ApiContext::new().with_token_scheme("Bearer");
        let req = parse(r#"{"url": "/", "token": "t"}"#)
            .unwrap()
            .into_request(&bearer);
        assert_eq!(req.headers()["authorization"], "Bearer t");
        let bare = ApiContext::new().with_token_scheme("");
        let req = parse(r#"{"url": "/", "token": "t"}"#)
            .unwrap()
            .into_request(&bare);
        assert_eq!(req.headers()["authorization"], "t");
        assert_eq!(
            ApiContext::new().with_token_scheme("a b").token_scheme(),
            "JWT"
        );
        let req = parse(r#"{"url": "/", "token": ""}"#)
            .unwrap()
            .into_request(&ctx);
        assert_eq!(req.headers()["authorization"], "Basic old");

        for bad in [
            r#"{"url": "/", "token": 5}"#,
            r#"{"url": "/", "token": "a\nb"}"#,
            r#"{"url": "/", "headers": []}"#,
            r#"{"url": "/", "headers": "x"}"#,
            r#"{"url": "/", "headers": {"bad name": "v"}}"#,
            r#"{"url": "/", "headers": {"x": "line\nbreak"}}"#,
            r#"{"url": "/", "headers": {"x": null}}"#,
            r#"{"url": "/", "headers": {"x": {"y": 1}}}"#,
            r#"{"url": "/", "headers": {"x": [["y"]]}}"#,
        ] {
            let e = kind(bad);
            assert!(
                matches!(e, MessageErrorKind::InvalidField { .. }),
                "{bad}: {e:?}"
            );
        }
    }

    #[test]
    fn handshake_headers_are_filtered() {
        let mut hs = HeaderMap::new();
        for (k, v) in [
            ("host", "h"),
            ("cookie", "s=1"),
            ("origin", "https://o"),
            ("user-agent", "ua"),
            ("upgrade", "websocket"),
            ("connection", "Upgrade, X-Hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("sec-websocket-key", "k"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-extensions", "permessage-deflate"),
            ("sec-websocket-protocol", "p"),
            ("content-length", "0"),
            ("x-forwarded-for", "1.2.3.4"),
        ] {
            hs.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let addr: SocketAddr = "10.1.2.3:4567".parse().unwrap();
        let req = Request::builder().headers(hs).remote_addr(addr).build();
        let ctx = ApiContext::from_request(&req);
        let mut kept: Vec<_> = ctx
            .headers()
            .keys()
            .map(|k| k.as_str().to_owned())
            .collect();
        kept.sort();
        assert_eq!(
            kept,
            ["cookie", "host", "origin", "user-agent", "x-forwarded-for"]
        );
        assert_eq!(ctx.remote_addr(), Some(addr));
        let req = parse(r#"{"url": "/"}"#).unwrap().into_request(&ctx);
        assert_eq!(req.remote_addr(), Some(addr));
    }

    #[test]
    fn reply_encoding() {
        let id = RawValue::from_string("9".into()).unwrap();
        let json_resp = Response::json(&json!({"a": [1, 2]}))
            .with_status(201)
            .with_header("set-cookie", "a=1")
            .with_header("set-cookie", "b=2");
        let reply: Value =
            serde_json::from_str(&encode_reply(Some(&id), &json_resp, false)).unwrap();
        assert_eq!(
            reply,
            json!({"id": 9, "status": 201, "headers": {"content-type": "application/json",
                   "set-cookie": ["a=1", "b=2"]}, "body": {"a": [1, 2]}})
        );
        let problem = Response::bytes("application/problem+json; charset=utf-8", r#"{"t": 1}"#);
        let reply: Value = serde_json::from_str(&encode_reply(None, &problem, false)).unwrap();
        assert_eq!(reply["body"], json!({"t": 1}));
        let lying = Response::bytes("application/json", "not json");
        let reply: Value = serde_json::from_str(&encode_reply(None, &lying, false)).unwrap();
        assert_eq!(reply["body"], "not json");
        let text = Response::text("héllo \"q\"\n");
        let reply: Value = serde_json::from_str(&encode_reply(None, &text, false)).unwrap();
        assert_eq!(reply["body"], "héllo \"q\"\n");
        assert!(reply.get("body_encoding").is_none());
        let binary = Response::bytes("application/octet-stream", vec![0xff, 0, 1]);
        let reply: Value = serde_json::from_str(&encode_reply(None, &binary, false)).unwrap();
        assert_eq!(reply["body"], "/wAB");
        assert_eq!(reply["body_encoding"], "base64");
        let reply: Value = serde_json::from_str(&encode_reply(None, &text, true)).unwrap();
        assert_eq!(reply["body"], "");
        let gone = Response::text("ignored").with_status(204);
        let reply: Value = serde_json::from_str(&encode_reply(None, &gone, false)).unwrap();
        assert_eq!(reply["body"], "");
        assert_eq!(reply["id"], Value::Null);
    }

    #[test]
    fn json_content_types() {
        let ct = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(v));
            is_json(&h)
        };
        assert!(ct("application/json"));
        assert!(ct("Application/JSON; charset=utf-8"));
        assert!(ct("application/vnd.api+json"));
        assert!(!ct("text/json+html"));
        assert!(!ct("text/plain"));
        assert!(!is_json(&HeaderMap::new()));
    }

    #[tokio::test]
    async fn unknown_paths_get_the_original_404_text() {
        let app = crate::App::new()
            .route("/own404", |_r: Request| async {
                Response::text("Not Found").with_status(404)
            })
            .build()
            .unwrap();
        let ctx = ApiContext::new();
        let reply: Value =
            serde_json::from_str(&app.handle_message(r#"{"url": "/nowhere"}"#, &ctx).await)
                .unwrap();
        assert_eq!(reply["status"], 404);
        assert_eq!(reply["body"], NOT_FOUND_BODY);
        let reply: Value =
            serde_json::from_str(&app.handle_message(r#"{"url": "/own404"}"#, &ctx).await).unwrap();
        assert_eq!(reply["body"], "Not Found");
    }

    #[test]
    fn invalid_scheme_fails_the_build() {
        let err = crate::App::new()
            .route("/ws", api_socket().token_scheme("two words"))
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("token scheme"), "{err}");
        assert!(crate::App::new()
            .route("/ws", api_socket().token_scheme("Bearer"))
            .build()
            .is_ok());
    }
}
