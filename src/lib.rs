//! # wsview
//!
//! Per-view WebSocket support for hyper apps, in the style of Django's
//! django-websocket: a view wrapped in [`accept_websocket`] serves both plain HTTP and
//! WebSocket requests, one wrapped in [`require_websocket`] serves WebSocket only, and
//! [`WebSocketMiddleware`] performs the RFC 6455 handshake and hands the view a
//! [`WebSocket`] with `wait`, `read`, `send`, `count_messages`, `has_messages`, `close`
//! and iteration.
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use wsview::{accept_websocket, require_websocket, App, Request, Response};
//!
//! async fn echo_once(mut req: Request) -> Response {
//!     let ws = req.websocket().expect("require_websocket: always a websocket");
//!     if let Some(msg) = ws.wait().await {
//!         let _ = ws.send(msg).await;
//!     }
//!     Response::empty() // returning closes the connection (1000)
//! }
//!
//! async fn lower_case(mut req: Request) -> Response {
//!     match req.websocket() {
//!         None => Response::text(req.query("message").unwrap_or_default().to_lowercase()),
//!         Some(ws) => {
//!             while let Some(msg) = ws.next().await {
//!                 let lower = msg.as_text().unwrap_or_default().to_lowercase();
//!                 if ws.send(lower).await.is_err() {
//!                     break;
//!                 }
//!             }
//!             Response::empty()
//!         }
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     App::new()
//!         .route("/echo", require_websocket(echo_once))
//!         .route("/lower", accept_websocket(lower_case))
//!         .serve("127.0.0.1:8000")
//!         .await
//! }
//! ```
//!
//! ## The path of a request
//!
//! A request runs through the middleware chain ([`Middleware`];
//! [`WebSocketMiddleware`] first unless placed explicitly), the router (404 for an
//! unknown path), the view's policy (400 for a WebSocket request to a plain view unless
//! [`Settings::websocket_accept_all`], 400 for a plain request to a
//! [`require_websocket`] view), then the view.
//!
//! A WebSocket is accepted lazily: the 101 goes out when the view first uses it. A view
//! that returns before that refuses the upgrade with whatever it returned (401, 403,
//! 429…). Returning afterwards closes the connection with 1000; a panicking view closes
//! it with 1011 and the server goes on serving.
//!
//! See the guide in `docs/` for settings, limits and the cancel-safety of each method.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api_socket;
mod app;
pub mod blocking;
mod connection;
pub mod engine;
mod error;
mod handler;
pub mod handshake;
mod message;
mod middleware;
mod request;
mod response;
mod router;
mod server;
mod settings;
mod view;
mod websocket;

pub use api_socket::{
    api_socket, ApiContext, ApiMessage, ApiSocket, MessageError, MessageErrorKind, VirtualRequest,
};
pub use app::{App, AppService, BuildError};
pub use error::Error;
pub use handler::{
    handler_view, CloseReason, Handler, HandlerContext, HandlerError, Namespaces, Opened,
};
pub use message::{CloseCause, CloseCode, Message, Utf8Bytes};
pub use middleware::{Middleware, Next, WebSocketMiddleware};
pub use request::{Request, RequestBuilder};
pub use response::{IntoResponse, Response};
pub use router::RouteError;
pub use server::{shutdown_signal, Server};
pub use settings::Settings;
pub use view::{accept_websocket, require_websocket, BoxFuture, IntoView, View, ViewFn};
pub use websocket::{TrySendError, WebSocket, WebSocketSender};

/// The `http` crate's types used in this API (status codes, headers, methods).
pub use http;

// The guide pages' examples compile and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/guide.md")]
struct GuideDoc;

#[cfg(doctest)]
#[doc = include_str!("../docs/migration-django-websocket.md")]
struct MigrationDoc;
