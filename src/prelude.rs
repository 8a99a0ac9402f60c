//! What a view module needs, in one import: `use wsview::prelude::*;`.
//!
//! The app and its views, requests and responses, the WebSocket and its messages,
//! and the `futures` trait the guide's snippets use: [`StreamExt`], for
//! `ws.next().await` (a [`WebSocket`] is a stream of messages).
//!
//! ```
//! use wsview::prelude::*;
//!
//! async fn shout(mut req: Request) -> Result<Response, wsview::Error> {
//!     let Some(ws) = req.websocket() else {
//!         return Ok(Response::text("connect with a WebSocket"));
//!     };
//!     while let Some(msg) = ws.next().await {
//!         ws.send(msg.as_text().unwrap_or_default().to_uppercase()).await?;
//!     }
//!     Ok(Response::empty())
//! }
//! let app = App::new().route("/shout", accept_websocket(shout));
//! # drop(app);
//! ```

pub use futures_util::StreamExt;

pub use crate::app::App;
pub use crate::error::Error;
pub use crate::message::{CloseCode, Message};
pub use crate::request::Request;
pub use crate::response::{IntoResponse, Response};
pub use crate::service::AppService;
pub use crate::settings::Settings;
pub use crate::view::{accept_websocket, require_websocket, View};
pub use crate::view_error::{OrStatus, ViewError};
pub use crate::websocket::sender::WebSocketSender;
pub use crate::websocket::socket::WebSocket;
