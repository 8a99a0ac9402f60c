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
//! the same messages with [`api_socket::handle_message`](crate::api_socket::handle_message). A view can also keep the
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

mod context;
mod error;
mod message;
mod reply;
mod run;
mod socket;
#[cfg(test)]
mod tests;

pub use context::ApiContext;
pub use error::{MessageError, MessageErrorKind};
pub use message::{ApiMessage, VirtualRequest, MAX_HEADERS, MAX_HEADER_BYTES};
pub use run::handle_message;
pub use socket::{api_socket, ApiSocket};

/// The guide's Rust examples, compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../../docs/rest-over-websocket.md")]
struct RestOverWebSocketGuide;
