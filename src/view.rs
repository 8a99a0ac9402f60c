//! Views, and django-websocket's two decorators.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::engine::negotiate::DeflateConfig;
use crate::handshake::select_protocol;
use crate::request::Request;
use crate::response::{IntoResponse, Response};
use crate::settings::Settings;

/// A boxed future returning a response.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a view runs. Implemented for every `async fn(Request) -> impl IntoResponse` (and
/// closures of that shape); implement it yourself for a view with state.
pub trait ViewFn: Send + Sync + 'static {
    /// Answers one request.
    fn call(&self, req: Request) -> BoxFuture<'static, Response>;
}

impl<F, Fut, R> ViewFn for F
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoResponse + 'static,
{
    fn call(&self, req: Request) -> BoxFuture<'static, Response> {
        // `map`, not an async block: awaiting a captured future would store it twice.
        Box::pin(futures_util::FutureExt::map(
            self(req),
            IntoResponse::into_response,
        ))
    }
}

/// Which requests a view takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    /// Plain HTTP only (WebSocket requests get 400 unless accept-all is on).
    Http,
    /// Both.
    Accept,
    /// WebSocket only: plain HTTP gets 400.
    Require,
}

/// A handler with its WebSocket policy and subprotocols: what a route points to.
///
/// Make one with [`accept_websocket`], [`require_websocket`] or from any handler
/// (plain HTTP); [`App::route`](crate::App::route) takes either.
#[derive(Clone)]
#[must_use = "a view does nothing until it is routed"]
pub struct View {
    handler: Arc<dyn ViewFn>,
    policy: Policy,
    protocols: Arc<[String]>,
    /// permessage-deflate for this view: `None` follows the settings.
    compression: Option<Option<Arc<DeflateConfig>>>,
    error: Option<Arc<str>>,
}

impl View {
    /// A plain HTTP view.
    pub fn new(handler: impl ViewFn) -> Self {
        View {
            handler: Arc::new(handler),
            policy: Policy::Http,
            protocols: Arc::from(Vec::new()),
            compression: None,
            error: None,
        }
    }

    /// A view that cannot be served: [`App::build`](crate::App::build) refuses the app
    /// with `reason`. For view constructors that validate their configuration.
    pub fn invalid(reason: impl Into<String>) -> Self {
        let mut view = View::new(|_req: Request| async { Response::internal_error() });
        view.error = Some(Arc::from(reason.into()));
        view
    }

    /// The subprotocols this view speaks, in its order of preference. The server picks
    /// the first one the client offered that is in this list and returns it in the 101;
    /// [`WebSocket::protocol`](crate::WebSocket::protocol) tells the view which.
    ///
    /// ```
    /// # async fn chat(_req: wsview::Request) -> wsview::Response { wsview::Response::empty() }
    /// let view = wsview::require_websocket(chat).protocols(["chat.v2", "chat.v1"]);
    /// # drop(view);
    /// ```
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// permessage-deflate (RFC 7692) for this view's connections, whatever
    /// [`Settings::compression`] says: `Some(config)` offers to compress with `config`
    /// (the client decides), `None` never compresses.
    ///
    /// ```
    /// # async fn feed(_req: wsview::Request) -> wsview::Response { wsview::Response::empty() }
    /// # async fn game(_req: wsview::Request) -> wsview::Response { wsview::Response::empty() }
    /// use wsview::{require_websocket, DeflateConfig};
    /// // Large JSON documents: compress, keeping the context between messages.
    /// let mut config = DeflateConfig::default();
    /// config.server_context_takeover = true;
    /// let feed = require_websocket(feed).compression(Some(config));
    /// // Small binary frames that do not compress: never.
    /// let game = require_websocket(game).compression(None);
    /// # drop((feed, game));
    /// ```
    pub fn compression(mut self, config: Option<DeflateConfig>) -> Self {
        self.compression = Some(config.map(Arc::new));
        self
    }

    /// Whether WebSocket requests reach this view (without accept-all).
    pub fn accepts_websocket(&self) -> bool {
        self.policy != Policy::Http
    }

    /// Whether plain HTTP requests are refused.
    pub fn requires_websocket(&self) -> bool {
        self.policy == Policy::Require
    }

    pub(crate) fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Applies the policy, then runs the handler.
    pub(crate) fn call(
        &self,
        mut req: Request,
        settings: &Settings,
    ) -> BoxFuture<'static, Response> {
        if let Some(ws) = req.websocket() {
            if self.policy == Policy::Http && !settings.websocket_accept_all {
                return ready(Response::bad_request(
                    "This view does not accept WebSocket requests.",
                ));
            }
            let chosen = select_protocol(ws.offered_protocols(), &self.protocols);
            ws.set_protocol(chosen);
            let compression = match &self.compression {
                Some(own) => own.as_deref(),
                None => settings.compression.as_ref(),
            };
            ws.set_compression(compression);
        } else if self.policy == Policy::Require {
            return ready(Response::bad_request(
                "This view requires a WebSocket request.",
            ));
        }
        self.handler.call(req)
    }
}

fn ready(resp: Response) -> BoxFuture<'static, Response> {
    Box::pin(std::future::ready(resp))
}

impl std::fmt::Debug for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View")
            .field("policy", &self.policy)
            .field("protocols", &self.protocols)
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

/// Anything a route can point to: a [`View`] or a handler (a plain HTTP view).
pub trait IntoView {
    /// The view.
    fn into_view(self) -> View;
}

impl IntoView for View {
    fn into_view(self) -> View {
        self
    }
}

impl<H: ViewFn> IntoView for H {
    fn into_view(self) -> View {
        View::new(self)
    }
}

/// The view serves both plain HTTP and WebSocket requests; it tells them apart with
/// [`Request::is_websocket`] or [`Request::websocket`]. django-websocket's
/// `@accept_websocket`. Applied to a [`require_websocket`] view it keeps requiring.
///
/// ```no_run
/// use wsview::{accept_websocket, App, Request, Response};
///
/// async fn lower_case(mut req: Request) -> Response {
///     match req.websocket() {
///         None => Response::text(req.query("message").unwrap_or_default().to_lowercase()),
///         Some(ws) => {
///             while let Some(msg) = ws.wait().await {
///                 let lower = msg.as_text().unwrap_or_default().to_lowercase();
///                 if ws.send(lower).await.is_err() {
///                     break;
///                 }
///             }
///             Response::empty()
///         }
///     }
/// }
/// # async fn run() -> std::io::Result<()> {
/// App::new().route("/lower", accept_websocket(lower_case)).serve("127.0.0.1:8000").await
/// # }
/// ```
pub fn accept_websocket(view: impl IntoView) -> View {
    let mut view = view.into_view();
    if view.policy == Policy::Http {
        view.policy = Policy::Accept;
    }
    view
}

/// The view serves WebSocket requests only; a plain HTTP request gets 400.
/// django-websocket's `@require_websocket`.
///
/// ```no_run
/// use wsview::{require_websocket, App, Request, Response};
///
/// async fn echo_once(mut req: Request) -> Response {
///     let ws = req.websocket().expect("require_websocket: always a websocket");
///     if let Some(msg) = ws.wait().await {
///         let _ = ws.send(msg).await;
///     }
///     Response::empty() // returning closes the connection (1000)
/// }
/// # async fn run() -> std::io::Result<()> {
/// App::new().route("/echo", require_websocket(echo_once)).serve("127.0.0.1:8000").await
/// # }
/// ```
pub fn require_websocket(view: impl IntoView) -> View {
    let mut view = view.into_view();
    view.policy = Policy::Require;
    view
}
