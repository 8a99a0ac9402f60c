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
//! ## The guide
//!
//! [`docs::guide`] (adding wsview to a crate, views, errors and `?`, sharing state,
//! testing with [`test`](crate#testing) without a port, logging, settings, the
//! WebSocket API and the cancel safety of each method), [`docs::axum`] (mounting an app
//! in axum), [`docs::migration_django_websocket`], [`docs::handlers`] and
//! [`docs::groups`]. The same pages are in the repository's `docs/` folder.
//!
//! ## Testing
//!
//! The `test-util` feature adds `wsview::test`, an in-process client: requests and
//! WebSockets over an in-memory stream through hyper's real server connection and
//! the real handshake, no port.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    rust_2018_idioms
)]

// The layers, top to bottom: the app builder and the server, the service (chain,
// router, views), requests and responses, the WebSocket layer. Then the features, which
// use the core and are never used by it. See docs/architecture.md.
mod app;
mod conn;
mod first_read;
mod prefixed;
mod server;
mod service;
#[cfg(feature = "tls")]
mod tls;

mod router;
mod view;

mod request;
mod request_body;
mod response;

mod websocket;

// The protocol engine: a sans-IO codec under the WebSocket layer.
pub mod engine;

mod app_state;
mod body;
mod error;
mod handshake;
mod id;
mod message;
mod panic;
mod settings;
mod utf8;
mod view_error;

pub mod prelude;

pub mod docs;

pub mod api_socket;
pub mod blocking;
pub mod groups;
mod handler;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod test;

pub use api_socket::{
    api_socket, ApiContext, ApiMessage, ApiSocket, MessageError, MessageErrorKind, VirtualRequest,
};
pub use app::{App, BuildError, BuildProblem};
pub use body::Body;
pub use engine::negotiate::DeflateConfig;
pub use error::Error;
pub use handler::context::HandlerContext;
pub use handler::reason::{CloseReason, HandlerError};
pub use handler::registry::{handler_view, Namespaces};
pub use handler::traits::{Handler, Opened};
pub use handshake::HandshakeRejection;
pub use id::{ConnectionId, NodeId, ParseIdError};
pub use message::{CloseCause, CloseCode, Message};
pub use request::{Request, RequestBuilder};
pub use response::{IntoResponse, Response};
pub use router::{RouteError, RouteNotFound};
pub use server::{shutdown_signal, Server};
pub use service::chain::{Middleware, Next};
pub use service::upgrade::WebSocketMiddleware;
pub use service::AppService;
pub use settings::{EnvError, Settings};
#[cfg(feature = "tls")]
pub use tls::config::TlsConfig;
#[cfg(feature = "tls")]
pub use tls::error::{TlsError, TlsErrorKind};
pub use utf8::Utf8Bytes;
pub use view::{accept_websocket, require_websocket, BoxFuture, IntoView, View, ViewFn};
pub use view_error::{OrStatus, ViewError};
pub use websocket::sender::{TrySendError, WebSocketSender};
pub use websocket::socket::WebSocket;

/// The `http` crate's types used in this API (status codes, headers, methods).
pub use http;

// The README's and the guide pages' examples compile and run as doc tests (blocks in
// other languages, sh/python/json/js/text, are not Rust and are skipped by rustdoc).
// docs/rest-over-websocket.md is included by the api_socket module.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoc;

#[cfg(doctest)]
#[doc = include_str!("../docs/conformance.md")]
struct ConformanceDoc;

#[cfg(doctest)]
#[doc = include_str!("../docs/performance.md")]
struct PerformanceDoc;

#[cfg(doctest)]
#[doc = include_str!("../docs/architecture.md")]
struct ArchitectureDoc;

#[cfg(doctest)]
#[doc = include_str!("../docs/CONTRACT-CHANGES.md")]
struct ContractChangesDoc;

// Compiled only with the feature it documents (`scripts/test` runs it with `--features redis`).
#[cfg(all(doctest, feature = "redis"))]
#[doc = include_str!("../docs/groups-redis.md")]
struct GroupsRedisDoc;
