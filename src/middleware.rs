//! Middleware: code that runs around every view, for HTTP and WebSocket requests alike.

use std::future::Future;
use std::sync::Arc;

use http::header;
use http_body_util::Full;

use crate::app::AppInner;
use crate::handshake;
use crate::request::Request;
use crate::response::Response;
use crate::settings::Settings;
use crate::view::BoxFuture;
use crate::websocket::WebSocket;

/// Code that runs around views: it sees the request before the view, may answer it
/// itself (an auth check), and sees the response after.
///
/// Any `Fn(Request, Next) -> impl Future<Output = Response>` is a middleware:
///
/// ```no_run
/// use wsview::{App, Next, Request, Response};
///
/// async fn require_token(req: Request, next: Next) -> Response {
///     if req.header("authorization") != Some("Bearer secret") {
///         return Response::text("no").with_status(401);
///     }
///     next.run(req).await
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// App::new()
///     .middleware(require_token)
///     .route("/", |_req: Request| async { "hello" })
///     .serve("127.0.0.1:8000")
///     .await
/// # }
/// ```
///
/// For a WebSocket request the response a middleware sees after `next.run` is the
/// view's return value once the connection has ended (so timing middleware measures
/// the connection's life); a middleware that answers without calling `next` refuses
/// the upgrade with its response.
///
/// A middleware with state implements the trait; its future owns what it needs (clone an
/// `Arc` of the state into it), because a WebSocket request's future lives as long as
/// the connection:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use wsview::{BoxFuture, Middleware, Next, Request, Response};
///
/// #[derive(Default)]
/// struct CountRequests(Arc<AtomicU64>);
///
/// impl Middleware for CountRequests {
///     fn call(&self, req: Request, next: Next) -> BoxFuture<'static, Response> {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         next.run(req) // no async block needed when nothing runs after the view
///     }
/// }
/// ```
pub trait Middleware: Send + Sync + 'static {
    /// Handles one request; call `next.run(req)` to go on to the rest of the chain.
    fn call(&self, req: Request, next: Next) -> BoxFuture<'static, Response>;
}

impl<F, Fut> Middleware for F
where
    F: Fn(Request, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    fn call(&self, req: Request, next: Next) -> BoxFuture<'static, Response> {
        Box::pin(self(req, next))
    }
}

/// The rest of the middleware chain, ending in the router and the view.
pub struct Next {
    pub(crate) app: Arc<AppInner>,
    pub(crate) index: usize,
}

impl Next {
    /// Runs the rest of the chain.
    pub fn run(self, req: Request) -> BoxFuture<'static, Response> {
        AppInner::run_from(&self.app, self.index, req)
    }

    /// The app's settings.
    pub fn settings(&self) -> &Settings {
        &self.app.settings
    }
}

impl std::fmt::Debug for Next {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Next").field("index", &self.index).finish()
    }
}

/// Validates WebSocket upgrade requests and prepares the handshake, like
/// django-websocket's `WebSocketMiddleware`: a request whose `Upgrade` header names
/// `websocket` gets [`Request::websocket`] when the handshake is valid, and a 400 (426
/// for a wrong `Sec-WebSocket-Version`, 403 for a refused origin) naming the problem
/// when not. The 101 itself goes out only when the view uses the socket.
///
/// The app puts it first in the chain unless you add it yourself, so the decorators work
/// without it; add it explicitly to choose its place (middleware before it see
/// `is_websocket() == false`).
#[derive(Debug, Clone, Copy, Default)]
pub struct WebSocketMiddleware;

impl WebSocketMiddleware {
    /// The middleware.
    pub fn new() -> Self {
        WebSocketMiddleware
    }
}

impl Middleware for WebSocketMiddleware {
    fn call(&self, mut req: Request, next: Next) -> BoxFuture<'static, Response> {
        // The server attaches `upgrade` only to requests it saw ask for one; check the
        // header for requests that came another way.
        let asks = req.p.upgrade.is_some() || req.wants_upgrade();
        if asks && req.p.websocket.is_none() {
            if let Err(refusal) = prepare(&mut req, next.settings()) {
                return Box::pin(std::future::ready(*refusal));
            }
        }
        next.run(req)
    }
}

/// Validates the upgrade and attaches the WebSocket, or returns the refusal.
fn prepare(req: &mut Request, settings: &Settings) -> Result<(), Box<Response>> {
    let hs = handshake::validate(
        &req.p.method,
        req.p.version,
        &req.p.headers,
        settings.allowed_origins.as_deref(),
    )
    .map_err(|e| {
        let mut resp = Response::text(e.to_string()).with_status(e.status());
        if e.status() == http::StatusCode::UPGRADE_REQUIRED {
            resp = resp.with_header(header::SEC_WEBSOCKET_VERSION, "13");
        }
        Box::new(resp)
    })?;
    let Some(shared) = req.p.upgrade.take() else {
        return Err(Box::new(Response::bad_request(
            "This connection cannot be upgraded to a WebSocket.",
        )));
    };
    let mut resp = hyper::Response::new(Full::default());
    *resp.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(
        header::UPGRADE,
        header::HeaderValue::from_static("websocket"),
    );
    h.insert(
        header::CONNECTION,
        header::HeaderValue::from_static("Upgrade"),
    );
    match header::HeaderValue::from_str(&hs.accept) {
        Ok(v) => {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        Err(_) => return Err(Box::new(Response::internal_error())),
    }
    req.p.websocket = Some(WebSocket::new(shared, resp, hs.offered_protocols));
    Ok(())
}
