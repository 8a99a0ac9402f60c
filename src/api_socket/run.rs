//! Running a message through the app.

use http::Method;

use crate::api_socket::context::ApiContext;
use crate::api_socket::message::ApiMessage;
use crate::api_socket::reply::encode_reply;
use crate::router::RouteNotFound;
use crate::service::AppService;

/// The body of a socket reply to a path no route matches (django-websocket-request's).
pub(super) const NOT_FOUND_BODY: &str = "Resource not found.";

/// Runs one JSON message as an HTTP request, through the full middleware chain, the
/// router and the view, exactly as [`AppService::handle`] runs an HTTP request, and
/// returns the JSON reply `{"id", "status", "headers", "body"}`. Never fails: a bad
/// message gets an error reply (see [`MessageErrorKind`](crate::MessageErrorKind)) without running anything,
/// a panicking view a 500.
///
/// The router's own 404 for an unknown path reads `Resource not found.` here (the
/// body django-websocket-request used) instead of HTTP's `Not Found`; a 404 that a
/// view or middleware writes itself is passed on unchanged.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use wsview::api_socket::handle_message;
/// use wsview::{ApiContext, App, Request};
/// let app = App::new()
///     .route("/hello/{name}", |req: Request| async move {
///         format!("hello {}", req.param("name").unwrap_or("?"))
///     })
///     .build()?;
/// let reply = handle_message(&app, r#"{"id": 1, "url": "/hello/ada"}"#, &ApiContext::new()).await;
/// let reply: serde_json::Value = serde_json::from_str(&reply)?;
/// assert_eq!(reply["id"], 1);
/// assert_eq!(reply["status"], 200);
/// assert_eq!(reply["body"], "hello ada");
/// # Ok(()) }
/// ```
pub async fn handle_message(app: &AppService, text: &str, ctx: &ApiContext) -> String {
    let msg = match ApiMessage::parse(text) {
        Ok(msg) => msg,
        Err(e) => {
            tracing::debug!(error = %e, "api socket: bad message");
            return e.reply();
        }
    };
    let id = msg.raw_id().map(ToOwned::to_owned);
    let head = msg.method() == Method::HEAD;
    let mut resp = app.handle(msg.into_request(ctx)).await;
    if resp.extensions().get::<RouteNotFound>().is_some() {
        resp.set_body(NOT_FOUND_BODY);
    }
    encode_reply(id.as_deref(), &resp, head)
}
