//! The WebSocket handshake as a middleware.

use http::header;

use crate::body::Body;

use crate::handshake::{self, HandshakeRejection};
use crate::request::Request;
use crate::response::Response;
use crate::service::chain::{Middleware, Next};
use crate::settings::Settings;
use crate::view::BoxFuture;
use crate::websocket::socket::WebSocket;

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
        let asks = req.has_upgrade() || req.wants_upgrade();
        if asks && !req.is_websocket() {
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
        req.method(),
        req.version(),
        req.headers(),
        handshake::connect_protocol(req.extensions()),
        &handshake::OriginPolicy {
            listed: settings.allowed_origins.as_deref().unwrap_or_default(),
            any: settings.any_origin,
            secure: req.is_secure(),
        },
    )
    .map_err(refusal)?;
    let Some(shared) = req.take_upgrade() else {
        return Err(refusal(HandshakeRejection::NotUpgradable));
    };
    // HTTP/2 (RFC 8441 §5): a 200 opens the stream as the WebSocket; no other header.
    let mut resp = http::Response::new(Body::empty());
    if let Some(accept) = &hs.accept {
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
        match header::HeaderValue::from_str(accept) {
            Ok(v) => {
                h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
            }
            Err(_) => return Err(Box::new(Response::internal_error())),
        }
    }
    req.set_websocket(WebSocket::new(
        shared,
        resp,
        hs.offered_protocols,
        hs.offered_extensions,
    ));
    Ok(())
}

/// The response refusing an upgrade: the rejection's status and text, and the rejection
/// itself for middleware.
fn refusal(e: HandshakeRejection) -> Box<Response> {
    let mut resp = Response::text(e.to_string()).with_status(e.status());
    if e.status() == http::StatusCode::UPGRADE_REQUIRED {
        resp = resp.with_header(header::SEC_WEBSOCKET_VERSION, "13");
    }
    Box::new(resp.with_extension(e))
}
