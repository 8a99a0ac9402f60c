//! The test client: each request gets its own in-memory connection, served by hyper's
//! real HTTP/1 server connection with the app as its service, exactly as a socket would
//! be.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use crate::app::{App, BuildError};
use crate::handshake::accept_key;
use crate::service::AppService;
use crate::test::error::TestError;
use crate::test::response::TestResponse;
use crate::test::socket::TestWebSocket;

/// How big the in-memory pipe between client and server is, each way.
const PIPE: usize = 64 * 1024;

/// A client for an app, in the same process, with no port: every request and
/// WebSocket runs over a `tokio::io::duplex` stream through hyper's server connection,
/// the app's middleware, router and views, and (for a WebSocket) the real handshake and
/// connection task. Needs a tokio runtime (`#[tokio::test]`).
///
/// Cloning is cheap; clones share the app.
#[derive(Clone, Debug)]
pub struct TestClient {
    service: AppService,
    timeout: Duration,
    next_port: Arc<AtomicU16>,
}

impl TestClient {
    /// Builds `app` and makes a client for it.
    pub fn new(app: App) -> Result<TestClient, BuildError> {
        Ok(TestClient::from_service(app.build()?))
    }

    /// A client for an already built app.
    pub fn from_service(service: AppService) -> TestClient {
        TestClient {
            service,
            timeout: Duration::from_secs(5),
            next_port: Arc::new(AtomicU16::new(40000)),
        }
    }

    /// How long a response or WebSocket receive may take before it fails with
    /// [`TestError::Timeout`] (5 s unless set).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The app's service: count its open WebSockets, close them as a shutdown would.
    pub fn service(&self) -> &AppService {
        &self.service
    }

    /// A `GET` request; add headers, then `.await` it.
    pub fn get(&self, path: &str) -> TestRequest {
        self.request(Method::GET, path)
    }

    /// A `POST` request; add a body, then `.await` it.
    pub fn post(&self, path: &str) -> TestRequest {
        self.request(Method::POST, path)
    }

    /// A request with any method.
    pub fn request(&self, method: Method, path: &str) -> TestRequest {
        let mut req = TestRequest {
            client: self.clone(),
            head: http::Request::new(()),
            body: Bytes::new(),
            problem: None,
        };
        *req.head.method_mut() = method;
        match path.parse() {
            Ok(uri) => *req.head.uri_mut() = uri,
            Err(e) => req.problem = Some(format!("path {path:?}: {e}")),
        }
        req
    }

    /// A WebSocket handshake to `path`; add headers or subprotocols, then `.await` it
    /// for the [`TestWebSocket`], or call [`Connect::refused`] to expect a refusal.
    pub fn connect(&self, path: &str) -> Connect {
        let mut req = self.get(path);
        let key = BASE64.encode(random_key());
        for (name, value) in [
            (header::CONNECTION, "upgrade"),
            (header::UPGRADE, "websocket"),
            (header::SEC_WEBSOCKET_VERSION, "13"),
            (header::SEC_WEBSOCKET_KEY, key.as_str()),
        ] {
            req = req.header(name, value);
        }
        Connect {
            request: req,
            key,
            protocols: Vec::new(),
        }
    }

    /// Opens an in-memory connection served by the app; the address is what the app
    /// sees as [`Request::remote_addr`](crate::Request::remote_addr).
    async fn open(&self) -> Result<SendRequest<Full<Bytes>>, TestError> {
        let (client_io, server_io) = tokio::io::duplex(PIPE);
        let port = self.next_port.fetch_add(1, Ordering::Relaxed);
        let peer = SocketAddr::from(([127, 0, 0, 1], port));
        let service = self.service.with_remote_addr(peer);
        let server = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(server_io), service)
            .with_upgrades()
            .into_future();
        tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::debug!(error = %e, "test connection: server side ended with an error");
            }
        });
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(client_io))
            .await
            .map_err(TestError::connection)?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        Ok(sender)
    }
}

/// A plain HTTP request being made; `.await` it for the [`TestResponse`].
#[derive(Debug)]
#[must_use = "a request does nothing until awaited"]
pub struct TestRequest {
    client: TestClient,
    head: http::Request<()>,
    body: Bytes,
    problem: Option<String>,
}

impl TestRequest {
    /// Adds a header. An invalid name or value fails the request when awaited.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(name), Ok(value)) => {
                self.head.headers_mut().append(name, value);
            }
            _ => {
                self.problem
                    .get_or_insert_with(|| "invalid header name or value".to_owned());
            }
        }
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and its content type.
    pub fn json<T: serde::Serialize + ?Sized>(self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => self
                .header(header::CONTENT_TYPE, "application/json")
                .body(body),
            Err(e) => {
                let mut this = self;
                this.problem.get_or_insert_with(|| e.to_string());
                this
            }
        }
    }

    async fn send(self) -> Result<http::Response<hyper::body::Incoming>, TestError> {
        if let Some(problem) = self.problem {
            return Err(TestError::InvalidRequest(problem));
        }
        let timeout = self.client.timeout;
        let mut sender = self.client.open().await?;
        let (mut parts, ()) = self.head.into_parts();
        parts
            .headers
            .entry(header::HOST)
            .or_insert(HeaderValue::from_static("wsview.test"));
        let req = http::Request::from_parts(parts, Full::new(self.body));
        match tokio::time::timeout(timeout, sender.send_request(req)).await {
            Err(_) => Err(TestError::Timeout(timeout)),
            Ok(result) => result.map_err(TestError::connection),
        }
    }
}

/// Reads a response's whole body, within the timeout.
async fn read_response(
    resp: http::Response<hyper::body::Incoming>,
    timeout: Duration,
) -> Result<TestResponse, TestError> {
    let (parts, body) = resp.into_parts();
    let body = match tokio::time::timeout(timeout, body.collect()).await {
        Err(_) => return Err(TestError::Timeout(timeout)),
        Ok(collected) => collected.map_err(TestError::connection)?.to_bytes(),
    };
    Ok(TestResponse::new(parts.status, parts.headers, body))
}

type Pending<T> = Pin<Box<dyn Future<Output = Result<T, TestError>> + Send>>;

impl IntoFuture for TestRequest {
    type Output = Result<TestResponse, TestError>;
    type IntoFuture = Pending<TestResponse>;

    fn into_future(self) -> Self::IntoFuture {
        let timeout = self.client.timeout;
        Box::pin(async move { read_response(self.send().await?, timeout).await })
    }
}

/// A WebSocket handshake being made; `.await` it for the [`TestWebSocket`] (or
/// [`TestError::Refused`] with the response that refused it).
#[derive(Debug)]
#[must_use = "a handshake does nothing until awaited"]
pub struct Connect {
    request: TestRequest,
    key: String,
    protocols: Vec<String>,
}

impl Connect {
    /// Adds a header to the handshake request (`Authorization`, `Origin`, …).
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        self.request = self.request.header(name, value);
        self
    }

    /// Offers subprotocols, in the client's order of preference.
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols.extend(protocols.into_iter().map(Into::into));
        self
    }

    /// Expects the server to refuse the handshake, and gives the response it refused
    /// with; fails with [`TestError::Accepted`] if it accepted.
    pub async fn refused(self) -> Result<TestResponse, TestError> {
        match self.await {
            Ok(_) => Err(TestError::Accepted),
            Err(TestError::Refused(resp)) => Ok(*resp),
            Err(e) => Err(e),
        }
    }

    async fn handshake(self) -> Result<TestWebSocket, TestError> {
        let Connect {
            mut request,
            key,
            protocols,
        } = self;
        if !protocols.is_empty() {
            request = request.header(header::SEC_WEBSOCKET_PROTOCOL, protocols.join(", "));
        }
        let timeout = request.client.timeout;
        let mut resp = request.send().await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(TestError::Refused(Box::new(
                read_response(resp, timeout).await?,
            )));
        }
        check_accept(resp.headers(), &key)?;
        if let Some(ext) = resp.headers().get(header::SEC_WEBSOCKET_EXTENSIONS) {
            // Frames would arrive compressed; reading them as plain would mislead a test.
            return Err(TestError::Connection(format!(
                "the server negotiated {ext:?}; the test client speaks no extension \
                 (permessage-deflate is tested with a real client over a socket)"
            )));
        }
        let headers = resp.headers().clone();
        let upgraded = match tokio::time::timeout(timeout, hyper::upgrade::on(&mut resp)).await {
            Err(_) => return Err(TestError::Timeout(timeout)),
            Ok(upgraded) => upgraded.map_err(TestError::connection)?,
        };
        // No size limits on the client: a test sees whatever the server sends.
        let config = WebSocketConfig::default()
            .max_message_size(None)
            .max_frame_size(None);
        let stream =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, Some(config))
                .await;
        Ok(TestWebSocket::new(stream, headers, timeout))
    }
}

impl IntoFuture for Connect {
    type Output = Result<TestWebSocket, TestError>;
    type IntoFuture = Pending<TestWebSocket>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.handshake())
    }
}

/// A 101 must carry the accept value for our key (RFC 6455 §4.1).
fn check_accept(headers: &HeaderMap, key: &str) -> Result<(), TestError> {
    let expected = accept_key(key.as_bytes());
    match headers.get(header::SEC_WEBSOCKET_ACCEPT) {
        Some(got) if got.as_bytes() == expected.as_bytes() => Ok(()),
        got => Err(TestError::Connection(format!(
            "101 with Sec-WebSocket-Accept {got:?}, expected {expected:?}"
        ))),
    }
}

/// Sixteen bytes that differ between handshakes (RFC 6455 asks for a random nonce; a
/// test client needs it unpredictable only in the sense of not being constant).
fn random_key() -> [u8; 16] {
    use std::hash::{BuildHasher, Hasher};
    let state = std::collections::hash_map::RandomState::new();
    let mut out = [0u8; 16];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h = state.build_hasher();
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}
