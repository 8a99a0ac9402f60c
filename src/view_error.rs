//! ViewError: any error a view meets, as a response, so `?` works on everything.

use std::any::Any;

use http::StatusCode;

use crate::error::Error;
use crate::response::{IntoResponse, Response};

/// An error a view returns: a status and a message. `?` converts any
/// [`std::error::Error`] into one, so a view returning `Result<Response, ViewError>`
/// can use `?` on a database call, `req.json().await`, and the WebSocket's own methods
/// together.
///
/// The status comes from where the error was made:
///
/// | made from | status | body |
/// |---|---|---|
/// | [`ViewError::new`] / [`bad_request`](Self::bad_request) / [`not_found`](Self::not_found) / [`OrStatus::or_status`] | the one given | the message given |
/// | a [`wsview::Error`](crate::Error) | [`Error::status`]: 400 for an upgrade that could not complete or a body that is not the JSON asked for, 413 or 408 for a body too large or too slow, 500 otherwise | the error's text |
/// | any other error, by `?` | 500 | `Internal Server Error` (the error's text is logged, not sent) |
///
/// As for every response, a WebSocket view that has accepted does not send it: the
/// connection closes with 1000 as for any return.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use wsview::prelude::*;
///
/// #[derive(serde::Deserialize)]
/// struct Order {
///     qty: u32,
/// }
///
/// async fn order(mut req: Request) -> Result<Response, ViewError> {
///     let order: Order = req.json().await?; // not an order: 400, the client's fault
///     if order.qty == 0 {
///         return Err(ViewError::bad_request("qty must be positive"));
///     }
///     let total = u32::try_from(order.qty as u64 * 3)?; // would be a 500, logged
///     Ok(Response::text(total.to_string()))
/// }
///
/// let app = App::new().route("/order", order).build()?;
/// let resp = app.handle(Request::builder().uri("/order").body(r#"{"qty": 2}"#).build()).await;
/// assert_eq!((resp.status().as_u16(), resp.body().as_ref()), (200, &b"6"[..]));
/// let resp = app.handle(Request::builder().uri("/order").body("{").build()).await;
/// assert_eq!(resp.status(), 400);
/// let resp = app.handle(Request::builder().uri("/order").body(r#"{"qty": -1}"#).build()).await;
/// assert_eq!(resp.status(), 400);
/// let resp = app.handle(Request::builder().uri("/order").body(r#"{"qty": 0}"#).build()).await;
/// assert_eq!(resp.body().as_ref(), b"qty must be positive");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ViewError {
    status: StatusCode,
    message: String,
    // What `?` converted, for the log; not sent.
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ViewError {
    /// An error answering with `status` and `message` (as text). A number that is not
    /// a status gives 500.
    pub fn new(status: impl TryInto<StatusCode>, message: impl Into<String>) -> Self {
        ViewError {
            status: status
                .try_into()
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message: message.into(),
            source: None,
        }
    }

    /// A 400 saying why.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ViewError::new(StatusCode::BAD_REQUEST, message)
    }

    /// A 404 `Not Found`.
    pub fn not_found() -> Self {
        ViewError::new(StatusCode::NOT_FOUND, "Not Found")
    }

    /// The status it answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message it answers with.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error `?` converted, if it came from one.
    pub fn source(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }
}

impl std::fmt::Display for ViewError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{} ({}): {source}", self.status, self.message),
            None => write!(f, "{}: {}", self.status, self.message),
        }
    }
}

// Not `std::error::Error` itself (as anyhow's error is not), so that this blanket
// conversion does not overlap the reflexive `From<ViewError> for ViewError`.
impl<E: std::error::Error + Send + Sync + 'static> From<E> for ViewError {
    fn from(e: E) -> Self {
        if let Some(e) = (&e as &dyn Any).downcast_ref::<Error>() {
            return ViewError::new(e.status(), e.to_string());
        }
        ViewError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "Internal Server Error".to_owned(),
            source: Some(Box::new(e)),
        }
    }
}

impl IntoResponse for ViewError {
    fn into_response(self) -> Response {
        match &self.source {
            Some(_) => tracing::error!(error = %self, "view failed"),
            None => tracing::debug!(error = %self, "view answered with an error"),
        }
        Response::text(self.message).with_status(self.status)
    }
}

/// Gives an error (or a `None`) the status a view answers with: `.or_status(400)?`.
/// The message is the error's text (`Not Found`-style reason for a `None`).
pub trait OrStatus<T> {
    /// `Ok` as it is; an error becomes a [`ViewError`] with `status`.
    fn or_status(self, status: impl TryInto<StatusCode>) -> Result<T, ViewError>;
}

impl<T, E: std::fmt::Display> OrStatus<T> for Result<T, E> {
    fn or_status(self, status: impl TryInto<StatusCode>) -> Result<T, ViewError> {
        self.map_err(|e| ViewError::new(status, e.to_string()))
    }
}

impl<T> OrStatus<T> for Option<T> {
    fn or_status(self, status: impl TryInto<StatusCode>) -> Result<T, ViewError> {
        self.ok_or_else(|| {
            let status = status
                .try_into()
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let reason = status.canonical_reason().unwrap_or("Error");
            ViewError::new(status, reason)
        })
    }
}
