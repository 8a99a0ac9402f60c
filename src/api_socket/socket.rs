//! The view: every text message on a WebSocket answered as a request to the app.

use std::sync::Arc;

use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use http::header::HeaderName;

use crate::api_socket::context::{ApiContext, DEFAULT_TOKEN_SCHEME};
use crate::api_socket::error::{MessageError, MessageErrorKind};
use crate::api_socket::run::handle_message;
use crate::message::Message;
use crate::request::Request;
use crate::response::Response;
use crate::service::AppLink;
use crate::view::{require_websocket, IntoView, View};
use crate::websocket::sender::WebSocketSender;

/// How many requests one connection runs at once unless configured.
const DEFAULT_MAX_IN_FLIGHT: usize = 16;

/// A view that answers every text message on a WebSocket as an HTTP request to the app
/// (see the [module docs](mod@crate::api_socket) and `docs/rest-over-websocket.md`). Make one with
/// [`api_socket`] and mount it with [`App::route`](crate::App::route); it is a
/// [`require_websocket`] view, so a plain HTTP request to it gets 400.
///
/// Requests on one connection run concurrently, up to
/// [`max_in_flight`](Self::max_in_flight) at a time; replies go out as each request
/// finishes, so **they can come back in another order than the requests were sent**:
/// match them by `id`. While the limit is reached the view stops taking messages, so
/// they queue in the connection (up to
/// [`Settings::max_queued_messages`](crate::Settings::max_queued_messages)) and then the
/// server stops reading the socket: a client that floods it is slowed, not buffered.
///
/// ```no_run
/// use wsview::{api_socket, http::HeaderValue, App};
///
/// let app = App::new().route(
///     "/ws/api",
///     api_socket()
///         .max_in_flight(32)
///         .token_scheme("Bearer")
///         .defaults(|handshake, ctx| {
///             // django-websocket-request's `factory_defaults`: runs once per connection.
///             if let Some(addr) = handshake.remote_addr() {
///                 if let Ok(v) = HeaderValue::from_str(&addr.ip().to_string()) {
///                     ctx.headers_mut().insert("x-forwarded-for", v);
///                 }
///             }
///         }),
/// );
/// # drop(app);
/// ```
#[derive(Clone)]
#[must_use = "a view does nothing until it is routed"]
pub struct ApiSocket {
    max_in_flight: usize,
    token_scheme: String,
    defaults: Option<Arc<DefaultsHook>>,
}

type DefaultsHook = dyn Fn(&Request, &mut ApiContext) + Send + Sync + 'static;

/// The view that runs HTTP requests sent as JSON messages over a WebSocket; mount it at
/// a path such as `/ws/api`. See [`ApiSocket`].
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// wsview::App::new()
///     .route("/ws/api", wsview::api_socket())
///     .serve("127.0.0.1:8000")
///     .await
/// # }
/// ```
pub fn api_socket() -> ApiSocket {
    ApiSocket {
        max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        token_scheme: DEFAULT_TOKEN_SCHEME.to_owned(),
        defaults: None,
    }
}

impl Default for ApiSocket {
    fn default() -> Self {
        api_socket()
    }
}

impl std::fmt::Debug for ApiSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiSocket")
            .field("max_in_flight", &self.max_in_flight)
            .field("token_scheme", &self.token_scheme)
            .field("defaults", &self.defaults.is_some())
            .finish()
    }
}

impl ApiSocket {
    /// How many requests from one connection may run at once (default 16; 0 counts as
    /// 1). With 1, requests run one after another and replies come back in order.
    pub fn max_in_flight(mut self, limit: usize) -> Self {
        self.max_in_flight = limit.max(1);
        self
    }

    /// The `Authorization` scheme a message's `token` is sent with (default `JWT`, as
    /// django-websocket-request; `Bearer` for OAuth-style tokens; empty for the bare
    /// token). A scheme that is not an HTTP token makes [`App::build`](crate::App::build)
    /// fail.
    pub fn token_scheme(mut self, scheme: impl Into<String>) -> Self {
        self.token_scheme = scheme.into();
        self
    }

    /// A hook that adds or overrides request metadata for every request on a connection
    /// (django-websocket-request's `factory_defaults`). It runs once per connection,
    /// with the handshake request and the [`ApiContext`] built from it (peer address,
    /// handshake headers); a message's own `headers` and `token` still override what it
    /// sets, except for `Origin`.
    pub fn defaults<F>(mut self, hook: F) -> Self
    where
        F: Fn(&Request, &mut ApiContext) + Send + Sync + 'static,
    {
        self.defaults = Some(Arc::new(hook));
        self
    }

    /// The context for one connection: handshake metadata, then the hook.
    fn context(&self, handshake: &Request, sender: Option<WebSocketSender>) -> ApiContext {
        let mut ctx = ApiContext::from_request(handshake).with_token_scheme(&self.token_scheme);
        if let Some(sender) = sender {
            ctx = ctx.with_sender(sender);
        }
        if let Some(hook) = &self.defaults {
            hook(handshake, &mut ctx);
        }
        ctx
    }

    /// Serves one connection until the peer closes it.
    async fn serve(&self, mut req: Request) -> Response {
        let Some(app) = req.state::<AppLink>().and_then(AppLink::service) else {
            tracing::error!("api socket: the request carries no app; refusing the upgrade");
            return Response::internal_error();
        };
        let sender = req.websocket().map(|ws| ws.sender());
        let ctx = Arc::new(self.context(&req, sender));
        let Some(ws) = req.websocket() else {
            return Response::bad_request("This view requires a WebSocket request.");
        };
        let mut in_flight = FuturesUnordered::new();
        loop {
            tokio::select! {
                // Finished replies first: each one frees a slot.
                biased;
                Some(reply) = in_flight.next(), if !in_flight.is_empty() => {
                    if ws.send(Message::text(reply)).await.is_err() {
                        break; // closing: nobody to answer
                    }
                }
                msg = ws.wait(), if in_flight.len() < self.max_in_flight => {
                    let Some(msg) = msg else { break }; // the peer closed
                    let (app, ctx) = (app.clone(), ctx.clone());
                    in_flight.push(async move {
                        match std::str::from_utf8(msg.as_bytes()) {
                            Ok(text) => handle_message(&app, text, &ctx).await,
                            Err(_) => MessageError::new(None, MessageErrorKind::Malformed).reply(),
                        }
                    });
                }
            }
        }
        // Requests still running are dropped with the connection, as hyper drops an HTTP
        // request's view when its client goes away.
        Response::empty()
    }
}

impl IntoView for ApiSocket {
    fn into_view(self) -> View {
        if !self.token_scheme.is_empty()
            && HeaderName::from_bytes(self.token_scheme.as_bytes()).is_err()
        {
            return View::invalid(format!(
                "api_socket: token scheme {:?} is not an HTTP token",
                self.token_scheme
            ));
        }
        let socket = Arc::new(self);
        require_websocket(move |req: Request| {
            let socket = socket.clone();
            async move { socket.serve(req).await }
        })
    }
}
