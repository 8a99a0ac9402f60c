//! An in-process test client (feature `test-util`): test an app's views, plain and
//! WebSocket, with no port and no server, through the same code a socket goes
//! through: hyper's HTTP/1 server connection, the middleware chain, the router, the
//! real handshake and the connection task, over an in-memory `tokio::io::duplex`
//! stream. Like Channels' `WebsocketCommunicator`, warp's `test::ws()` or actix's
//! `TestServer::ws()`, without their limits: the 101 and the frames are real.
//!
//! Enable it for tests only:
//!
//! ```toml
//! [dev-dependencies]
//! wsview = { version = "0.1", features = ["test-util"] }
//! ```
//!
//! ```
//! use std::time::Duration;
//! use wsview::test::TestClient;
//! use wsview::{require_websocket, App, Request, Response};
//!
//! async fn echo(mut req: Request) -> Response {
//!     if req.header("authorization") != Some("Bearer s3cret") {
//!         return Response::text("who are you?").with_status(401); // refuses the upgrade
//!     }
//!     let ws = req.websocket().expect("require_websocket");
//!     while let Some(msg) = ws.wait().await {
//!         if ws.send(msg).await.is_err() {
//!             break;
//!         }
//!     }
//!     Response::empty()
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = TestClient::new(App::new().route("/echo", require_websocket(echo)))?;
//!
//! let refusal = client.connect("/echo").refused().await?;
//! assert_eq!(refusal.status(), 401);
//! assert_eq!(refusal.text(), "who are you?");
//!
//! let mut ws = client
//!     .connect("/echo")
//!     .header("authorization", "Bearer s3cret")
//!     .await?;
//! ws.send_json(&serde_json::json!({"n": 1})).await?;
//! let back: serde_json::Value = ws.recv_json().await?;
//! assert_eq!(back["n"], 1);
//! ws.expect_nothing(Duration::from_millis(20)).await?;
//! assert_eq!(ws.close(1000, "bye").await?.code, wsview::CloseCode::Normal);
//!
//! let plain = client.get("/echo").await?; // a plain request to a WebSocket-only view
//! assert_eq!(plain.status(), 400);
//! # Ok(()) }
//! ```
//!
//! Each request and each WebSocket has its own connection; the app sees it come from
//! `127.0.0.1` with a port of its own. The server side is hyper's connection with
//! wsview's service, not the [`Server`](crate::Server)'s accept loop: TCP options and
//! graceful shutdown of the listener are not exercised (use
//! [`TestClient::service`]'s `close_websockets` for the latter's WebSocket part). The
//! client offers no extension: a connection whose 101 negotiates one
//! (permessage-deflate, when a test adds the header itself) fails with
//! [`TestError::Connection`] instead of misreading compressed frames.

mod client;
mod closed;
mod error;
mod response;
mod socket;

pub use client::{Connect, TestClient, TestRequest};
pub use closed::Closed;
pub use error::TestError;
pub use response::TestResponse;
pub use socket::TestWebSocket;
