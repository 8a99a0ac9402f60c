//! Handler objects: django-ws's `WebSocketHandler` with `on_open`, `on_message` and
//! `on_close`, picked per connection from a registry of namespaces.
//!
//! A [`Handler`] is built for every connection (so its fields are per-connection
//! state) and driven by the library: it gets the first message in
//! [`on_open`](Handler::on_open), every message after that in
//! [`on_message`](Handler::on_message), one at a time and in order, and
//! [`on_close`](Handler::on_close) exactly once when the connection ends, whatever
//! ended it. [`Namespaces`] maps names to handler factories and routes
//! `/socket/{namespace}` to them; [`handler_view`] serves one handler at one route.
//!
//! See `docs/handlers.md` for the guide and the mapping from django-ws.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;

use futures_util::{FutureExt, StreamExt};
use http::HeaderMap;

use crate::app::App;
use crate::blocking;
use crate::error::Error;
use crate::message::{CloseCause, CloseCode, Message};
use crate::request::Request;
use crate::response::Response;
use crate::view::{require_websocket, BoxFuture, View};
use crate::websocket::{WebSocket, WebSocketSender};

/// Handles the WebSockets of one endpoint, one handler value per connection
/// (django-ws's `WebSocketHandler`).
///
/// Implement the methods with plain `async fn`; the futures must be `Send` (hold no
/// `Rc` or `std::sync::MutexGuard` across an `.await`), which the compiler checks at
/// the `impl`. Only [`on_message`](Self::on_message) is required.
///
/// ```no_run
/// use wsview::{App, Handler, HandlerContext, HandlerError, Message, Namespaces};
///
/// #[derive(Default)]
/// struct Shout;
///
/// impl Handler for Shout {
///     async fn on_message(
///         &mut self,
///         ctx: &mut HandlerContext,
///         message: Message,
///     ) -> Result<(), HandlerError> {
///         let loud = message.as_text().unwrap_or_default().to_uppercase();
///         ctx.send(loud).await?; // an error ends the connection, see below
///         Ok(())
///     }
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// let handlers = Namespaces::new().add("default", Shout::default);
/// handlers.mount(App::new(), "/socket").serve("127.0.0.1:8000").await
/// # }
/// ```
///
/// # The life of a connection
///
/// 1. The connection is accepted and the handler waits for the first message. A
///    connection that closes before sending one never opens: no method is called
///    (as in django-ws, where such a connection never reached Django).
/// 2. [`on_open`](Self::on_open) gets the first message. If it returns
///    [`Opened::PassOn`] (the default) the same message then goes to `on_message`;
///    [`Opened::Consumed`] keeps it from there.
/// 3. [`on_message`](Self::on_message) gets every later message, one call at a time,
///    in the order they arrived. The next call starts only when the previous one has
///    returned. While a call runs, the connection still answers pings and collects
///    incoming messages (up to
///    [`Settings::max_queued_messages`](crate::Settings::max_queued_messages), then the
///    peer is slowed down).
/// 4. [`on_close`](Self::on_close) runs exactly once for every connection that
///    opened, with the reason: the peer closed, the network dropped, the server shut
///    down, this side closed, or a method returned an error or panicked. It runs after
///    the method in progress has returned, never concurrently with it.
///
/// An error from `on_open` or `on_message` (or a panic) closes the connection with
/// 1011 and is handed to `on_close` as [`CloseReason::HandlerError`]
/// ([`CloseReason::Panic`]). Except: when a send failed because the connection had
/// already closed (a [`wsview::Error::Closed`](crate::Error::Closed) propagated with
/// `?`), `on_close` is told how it closed ([`CloseReason::Closed`]): that is why the
/// handler stopped.
///
/// Once this side has closed (with [`HandlerContext::close`], a sender's `close`, a
/// handler error, or server shutdown), no further messages are delivered. Messages
/// the peer sent before its own close frame are all delivered first.
///
/// A method that never returns holds its connection open; at server shutdown the
/// connection is dropped after
/// [`Settings::close_timeout`](crate::Settings::close_timeout) without `on_close`. For
/// long-running work (pushing every second), spawn a task with
/// [`HandlerContext::sender`] and return.
pub trait Handler: Send + 'static {
    /// The connection's first message. Return [`Opened::PassOn`] to have it also
    /// handed to [`on_message`](Self::on_message), [`Opened::Consumed`] if not. The
    /// default does nothing and passes it on.
    fn on_open(
        &mut self,
        ctx: &mut HandlerContext,
        first_message: Message,
    ) -> impl Future<Output = Result<Opened, HandlerError>> + Send {
        let _ = (ctx, first_message);
        async { Ok(Opened::PassOn) }
    }

    /// One message. Messages of one connection come one at a time, in order.
    fn on_message(
        &mut self,
        ctx: &mut HandlerContext,
        message: Message,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// The connection ended (or is ending): runs exactly once for every connection
    /// that opened. Sending no longer works here; use it to release what the handler
    /// holds (stop a task it spawned, leave a room). The default does nothing.
    fn on_close(
        &mut self,
        ctx: &mut HandlerContext,
        reason: CloseReason,
    ) -> impl Future<Output = ()> + Send {
        let _ = (ctx, reason);
        async {}
    }
}

/// What [`Handler::on_open`] did with the first message.
///
/// django-ws's `on_open` returned `None` to pass the message on and `True`/`False` to
/// keep it; this makes the choice explicit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Opened {
    /// The first message also goes to [`Handler::on_message`] (django-ws's `None`).
    #[default]
    PassOn,
    /// `on_open` handled the first message; `on_message` starts with the second.
    Consumed,
}

/// Why a handler's connection ended, as [`Handler::on_close`] is told.
#[derive(Debug)]
#[non_exhaustive]
pub enum CloseReason {
    /// The connection closed: by the peer ([`CloseCause::Peer`]), by this side — the
    /// handler's `close`, or server shutdown with 1001 ([`CloseCause::Server`]) — on a
    /// protocol error ([`CloseCause::Error`]), or the network dropped
    /// ([`CloseCause::ConnectionLost`]).
    Closed(CloseCause),
    /// `on_open` or `on_message` returned this error; the connection was closed with
    /// 1011.
    HandlerError(HandlerError),
    /// `on_open` or `on_message` panicked with this message; the connection was closed
    /// with 1011.
    Panic(String),
}

impl CloseReason {
    /// How the connection closed, unless the handler failed.
    pub fn cause(&self) -> Option<&CloseCause> {
        match self {
            CloseReason::Closed(cause) => Some(cause),
            _ => None,
        }
    }

    /// Whether the handler failed (an error or a panic).
    pub fn is_handler_failure(&self) -> bool {
        matches!(self, CloseReason::HandlerError(_) | CloseReason::Panic(_))
    }

    /// Whether the server closed the connection because it is shutting down (1001).
    pub fn is_shutdown(&self) -> bool {
        matches!(
            self,
            CloseReason::Closed(CloseCause::Server {
                code: CloseCode::Away
            })
        )
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseReason::Closed(CloseCause::Peer { code, reason }) => match code {
                Some(code) => write!(f, "the peer closed ({}) {reason:?}", u16::from(*code)),
                None => f.write_str("the peer closed"),
            },
            CloseReason::Closed(CloseCause::Server { code }) => {
                write!(f, "this side closed ({})", u16::from(*code))
            }
            CloseReason::Closed(CloseCause::Error { code, detail }) => {
                write!(f, "protocol error ({}): {detail}", u16::from(*code))
            }
            CloseReason::Closed(CloseCause::ConnectionLost) => {
                f.write_str("the connection dropped")
            }
            CloseReason::HandlerError(e) => write!(f, "handler error: {e}"),
            CloseReason::Panic(what) => write!(f, "handler panicked: {what}"),
        }
    }
}

/// The error a handler method returns: any `std::error::Error + Send + Sync`, so `?`
/// works on most results, or a message made with [`HandlerError::msg`].
///
/// ```
/// use wsview::HandlerError;
///
/// fn parse(text: &str) -> Result<u32, HandlerError> {
///     let n: u32 = text.parse()?; // ParseIntError converts
///     if n == 0 {
///         return Err(HandlerError::msg("zero is not allowed"));
///     }
///     Ok(n)
/// }
/// assert_eq!(parse("0").unwrap_err().to_string(), "zero is not allowed");
/// assert!(parse("x").unwrap_err().downcast_ref::<std::num::ParseIntError>().is_some());
/// ```
pub struct HandlerError {
    inner: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl HandlerError {
    /// An error with this message.
    pub fn msg(message: impl std::fmt::Display) -> Self {
        HandlerError {
            inner: message.to_string().into(),
        }
    }

    /// Wraps an error.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        HandlerError {
            inner: Box::new(error),
        }
    }

    /// The error inside, if it is an `E`.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.inner.downcast_ref::<E>()
    }

    /// The error inside.
    pub fn get_ref(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.inner
    }

    /// The boxed error inside.
    pub fn into_inner(self) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self.inner
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        HandlerError::new(error)
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.inner, f)
    }
}

impl std::fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.inner, f)
    }
}

/// A handler's view of its connection: send to it, close it, and what the opening
/// request said (namespace, path parameters, peer address, headers, and anything
/// middleware attached, such as an authenticated user).
///
/// [`send`](Self::send) writes on the connection's own path (no extra task), in order
/// with [`close`](Self::close). [`sender`](Self::sender) gives a cloneable
/// [`WebSocketSender`] for tasks the handler spawns; messages sent through it are
/// ordered among themselves, not with `send`.
///
/// ```no_run
/// use std::time::Duration;
/// use wsview::{Handler, HandlerContext, HandlerError, Message, Opened};
///
/// /// Pushes a tick every second from the first message on, without waiting for input.
/// #[derive(Default)]
/// struct Ticker {
///     task: Option<tokio::task::JoinHandle<()>>,
/// }
///
/// impl Handler for Ticker {
///     async fn on_open(&mut self, ctx: &mut HandlerContext, _first: Message)
///         -> Result<Opened, HandlerError>
///     {
///         let sender = ctx.sender();
///         self.task = Some(tokio::spawn(async move {
///             let mut every = tokio::time::interval(Duration::from_secs(1));
///             for i in 0u64.. {
///                 every.tick().await;
///                 if sender.send(format!("tick {i}")).await.is_err() {
///                     break; // the connection is gone
///                 }
///             }
///         }));
///         Ok(Opened::Consumed)
///     }
///
///     async fn on_message(&mut self, _ctx: &mut HandlerContext, _msg: Message)
///         -> Result<(), HandlerError>
///     {
///         Ok(())
///     }
///
///     async fn on_close(&mut self, _ctx: &mut HandlerContext, _reason: wsview::CloseReason) {
///         if let Some(task) = self.task.take() {
///             task.abort();
///         }
///     }
/// }
/// # let _ = wsview::handler_view(Ticker::default);
/// ```
pub struct HandlerContext {
    pub(crate) ws: WebSocket,
    pub(crate) request: Request,
    pub(crate) namespace: String,
}

impl HandlerContext {
    /// The namespace this connection was routed to (`"default"` for `/socket` and
    /// `/socket/`, and for a [`handler_view`]).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The opening HTTP request (its WebSocket taken out): path, query, headers,
    /// extensions set by middleware.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Path parameter `name` of the route.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.request.param(name)
    }

    /// Every path parameter, in route order.
    pub fn params(&self) -> &[(String, String)] {
        self.request.params()
    }

    /// The peer's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.request.remote_addr()
    }

    /// The opening request's headers.
    pub fn headers(&self) -> &HeaderMap {
        self.request.headers()
    }

    /// The first value of header `name`, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.request.header(name)
    }

    /// The subprotocol agreed with the client, if the view declared any (see
    /// [`View::protocols`]).
    pub fn protocol(&self) -> Option<&str> {
        self.ws.protocol()
    }

    /// Sends a message to this connection. It is written when the handler next
    /// returns or waits, together with whatever else was queued; fails with
    /// [`Error::Closed`] once the connection is closing.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        self.ws.send(message).await
    }

    /// Waits until everything sent so far is written to the socket.
    pub async fn flush(&mut self) -> Result<(), Error> {
        self.ws.flush().await
    }

    /// Closes the connection with `code` and `reason` (after what was sent before).
    /// No further messages reach the handler; [`Handler::on_close`] follows with
    /// [`CloseCause::Server`] once the current method returns.
    pub async fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        self.ws.close(code, reason).await
    }

    /// Whether the connection is closing or closed.
    pub fn is_closed(&self) -> bool {
        self.ws.is_closed()
    }

    /// A cloneable handle that sends to this connection from any task, for a handler
    /// that pushes without waiting for input. Its `send` fails once the connection is
    /// gone, which is how a spawned task knows to stop.
    pub fn sender(&self) -> WebSocketSender {
        self.ws.sender()
    }
}

impl std::fmt::Debug for HandlerContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerContext")
            .field("namespace", &self.namespace)
            .field("path", &self.request.path())
            .field("remote_addr", &self.request.remote_addr())
            .field("websocket", &self.ws)
            .finish()
    }
}

/// Runs one connection: `(context, blocking pool) -> done`.
type Runner = Arc<dyn Fn(HandlerContext, &blocking::Pool) -> BoxFuture<'static, ()> + Send + Sync>;

/// A registry of handlers by namespace (django-ws's `DEFAULT_WS_HANDLERS`), served at
/// a route with a `{namespace}` parameter. Every entry is a factory: a handler is
/// built per connection.
///
/// ```no_run
/// # use wsview::{Handler, HandlerContext, HandlerError, Message};
/// # #[derive(Default)] struct RandomCounter;
/// # impl Handler for RandomCounter {
/// #     async fn on_message(&mut self, _: &mut HandlerContext, _: Message) -> Result<(), HandlerError> { Ok(()) }
/// # }
/// # #[derive(Default)] struct Shout;
/// # impl Handler for Shout {
/// #     async fn on_message(&mut self, _: &mut HandlerContext, _: Message) -> Result<(), HandlerError> { Ok(()) }
/// # }
/// use wsview::{App, Namespaces};
///
/// # async fn run() -> std::io::Result<()> {
/// let handlers = Namespaces::new()
///     .add("default", RandomCounter::default)
///     .add("shout", Shout::default);
/// // /socket and /socket/ → "default", /socket/shout → Shout, /socket/other → 404
/// handlers.mount(App::new(), "/socket").serve("127.0.0.1:8000").await
/// # }
/// ```
///
/// The registry must have a `"default"` entry: without one (or with a name added
/// twice, or an empty name) the view it makes is invalid and
/// [`App::build`] refuses the app, saying why. A request for a namespace not in the
/// registry is refused with 404 at the handshake, before the connection is accepted.
#[derive(Clone, Default)]
pub struct Namespaces {
    entries: Vec<(String, Runner)>,
    problems: Vec<String>,
    pool: Option<blocking::Pool>,
}

impl Namespaces {
    /// An empty registry.
    pub fn new() -> Self {
        Namespaces::default()
    }

    /// Registers `factory` under `name`; it is called once per connection to that
    /// namespace. A `Default` handler's factory is `MyHandler::default`.
    pub fn add<H, F>(self, name: &str, factory: F) -> Self
    where
        H: Handler,
        F: Fn() -> H + Send + Sync + 'static,
    {
        let run: Runner = Arc::new(move |ctx, _pool| Box::pin(run_handler(factory(), ctx)));
        self.insert(name, run)
    }

    /// Registers a [`blocking::Handler`]: synchronous code whose callbacks run on the
    /// registry's [`blocking::Pool`] (the process-wide one unless
    /// [`blocking_pool`](Self::blocking_pool) set another). An idle connection holds
    /// no thread; a callback holds a worker while it runs.
    pub fn add_blocking<H, F>(self, name: &str, factory: F) -> Self
    where
        H: blocking::Handler,
        F: Fn() -> H + Send + Sync + 'static,
    {
        let run: Runner = Arc::new(move |ctx, pool| {
            Box::pin(blocking::run_handler(factory(), ctx, pool.clone()))
        });
        self.insert(name, run)
    }

    /// The pool that runs this registry's blocking handlers.
    pub fn blocking_pool(mut self, pool: blocking::Pool) -> Self {
        self.pool = Some(pool);
        self
    }

    /// The registered names, in the order added.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(name, _)| name.as_str())
    }

    fn insert(mut self, name: &str, run: Runner) -> Self {
        if name.is_empty() {
            self.problems.push(
                "a namespace name must not be empty (the empty namespace is \"default\")".into(),
            );
        } else if self.entries.iter().any(|(n, _)| n == name) {
            self.problems
                .push(format!("namespace {name:?} is registered twice"));
        } else {
            self.entries.push((name.to_owned(), run));
        }
        self
    }

    fn check(&self) -> Result<(), String> {
        let mut problems = self.problems.clone();
        if !self.entries.iter().any(|(n, _)| n == "default") {
            problems.insert(
                0,
                "the namespace registry has no \"default\" handler (it serves /socket and \
                 /socket/, and must exist)"
                    .into(),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// The WebSocket-only view that serves the registry. Route it at a pattern with a
    /// `{namespace}` parameter, and at the bare paths that mean `"default"` (a missing
    /// or empty parameter is `"default"`); [`mount`](Self::mount) does all three.
    /// Chain [`View::protocols`] for subprotocols.
    pub fn view(self) -> View {
        if let Err(problems) = self.check() {
            return View::invalid(problems);
        }
        let pool = self.pool.unwrap_or_else(blocking::Pool::global);
        let entries: Arc<[(String, Runner)]> = self.entries.into();
        require_websocket(move |mut req: Request| {
            let entries = entries.clone();
            let pool = pool.clone();
            async move {
                let namespace = match req.param("namespace") {
                    Some(ns) if !ns.is_empty() => ns.to_owned(),
                    _ => "default".to_owned(),
                };
                let Some((_, run)) = entries.iter().find(|(name, _)| *name == namespace) else {
                    tracing::warn!(namespace = ?namespace, "refusing a connection to an unknown namespace");
                    return Response::not_found();
                };
                let Some(ws) = req.take_websocket() else {
                    return Response::bad_request("This view requires a WebSocket request.");
                };
                let ctx = HandlerContext {
                    ws,
                    request: req,
                    namespace,
                };
                run(ctx, &pool).await;
                Response::empty()
            }
        })
    }

    /// Routes `prefix`, `prefix/` (both `"default"`) and `prefix/{namespace}` to the
    /// registry, like django-ws's `--websocket-url="/socket/(?P<namespace>\w*)"`.
    /// Use the three routes by hand for other shapes.
    ///
    /// ```no_run
    /// # use wsview::{App, Handler, HandlerContext, HandlerError, Message, Namespaces};
    /// # #[derive(Default)] struct Echo;
    /// # impl Handler for Echo {
    /// #     async fn on_message(&mut self, ctx: &mut HandlerContext, m: Message) -> Result<(), HandlerError> {
    /// #         Ok(ctx.send(m).await?)
    /// #     }
    /// # }
    /// let app = Namespaces::new().add("default", Echo::default).mount(App::new(), "/socket");
    /// // the same as:
    /// let view = Namespaces::new().add("default", Echo::default).view();
    /// let app = App::new()
    ///     .route("/socket", view.clone())
    ///     .route("/socket/", view.clone())
    ///     .route("/socket/{namespace}", view);
    /// # drop(app);
    /// ```
    pub fn mount(self, app: App, prefix: &str) -> App {
        let base = prefix.trim_end_matches('/');
        let view = self.view();
        if view.error().is_some() {
            // One route is enough to report the problem once.
            return app.route(&format!("{base}/{{namespace}}"), view);
        }
        let app = if base.is_empty() {
            app.route("/", view.clone())
        } else {
            app.route(base, view.clone())
                .route(&format!("{base}/"), view.clone())
        };
        app.route(&format!("{base}/{{namespace}}"), view)
    }
}

impl std::fmt::Debug for Namespaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespaces")
            .field("names", &self.names().collect::<Vec<_>>())
            .field("problems", &self.problems)
            .finish()
    }
}

/// A WebSocket-only view serving one handler type at one route, with no namespaces
/// ([`HandlerContext::namespace`] is `"default"`). `factory` builds a handler per
/// connection.
///
/// ```no_run
/// # use wsview::{Handler, HandlerContext, HandlerError, Message};
/// # #[derive(Default)] struct Chat;
/// # impl Handler for Chat {
/// #     async fn on_message(&mut self, _: &mut HandlerContext, _: Message) -> Result<(), HandlerError> { Ok(()) }
/// # }
/// let app = wsview::App::new().route("/chat", wsview::handler_view(Chat::default));
/// # drop(app);
/// ```
pub fn handler_view<H, F>(factory: F) -> View
where
    H: Handler,
    F: Fn() -> H + Send + Sync + 'static,
{
    let factory = Arc::new(factory);
    require_websocket(move |mut req: Request| {
        let factory = factory.clone();
        async move {
            let Some(ws) = req.take_websocket() else {
                return Response::bad_request("This view requires a WebSocket request.");
            };
            let ctx = HandlerContext {
                ws,
                request: req,
                namespace: "default".to_owned(),
            };
            run_handler(factory(), ctx).await;
            Response::empty()
        }
    })
}

/// Drives an async handler over one connection.
async fn run_handler<H: Handler>(mut handler: H, mut ctx: HandlerContext) {
    let Some(first) = first_message(&mut ctx.ws).await else {
        return;
    };
    let outcome: Result<(), CloseReason> = async {
        let opened = guard(handler.on_open(&mut ctx, first.clone())).await?;
        if opened == Opened::PassOn && !closed_here(&ctx.ws) {
            guard(handler.on_message(&mut ctx, first)).await?;
        }
        while let Some(message) = next_message(&mut ctx.ws).await {
            guard(handler.on_message(&mut ctx, message)).await?;
        }
        Ok(())
    }
    .await;
    let reason = finish(&mut ctx.ws, &ctx.namespace, outcome).await;
    let closing = AssertUnwindSafe(handler.on_close(&mut ctx, reason));
    if let Err(panic) = closing.catch_unwind().await {
        tracing::error!(panic = %crate::app::panic_text(&panic), "handler's on_close panicked");
    }
}

/// Accepts the connection and waits for its first message; `None` if it never came.
pub(crate) async fn first_message(ws: &mut WebSocket) -> Option<Message> {
    if let Err(e) = ws.accept().await {
        tracing::debug!(error = %e, "handler connection not accepted");
        return None;
    }
    next_message(ws).await
}

/// The next message for the handler: `None` once the peer closed or the connection
/// died (after the messages that arrived before), or as soon as this side has closed.
///
/// The check for this side's close runs on every poll. The connection task polls its
/// view in every round, including the one in which server shutdown queues the 1001,
/// so a handler waiting here learns of shutdown at once, without waiting for the
/// peer's reply.
pub(crate) async fn next_message(ws: &mut WebSocket) -> Option<Message> {
    std::future::poll_fn(|cx| {
        if closed_here(ws) {
            return Poll::Ready(None);
        }
        ws.poll_next_unpin(cx)
    })
    .await
}

/// Whether this side has closed the connection (the handler, a sender, a handler
/// failure or shutdown): then no more messages are delivered.
pub(crate) fn closed_here(ws: &WebSocket) -> bool {
    matches!(ws.close_cause(), Some(CloseCause::Server { .. }))
}

/// Runs a handler method, turning an error or a panic into the close reason.
async fn guard<T>(call: impl Future<Output = Result<T, HandlerError>>) -> Result<T, CloseReason> {
    match AssertUnwindSafe(call).catch_unwind().await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(CloseReason::HandlerError(e)),
        Err(panic) => Err(panic_reason(&panic)),
    }
}

pub(crate) fn panic_reason(panic: &Box<dyn std::any::Any + Send>) -> CloseReason {
    CloseReason::Panic(crate::app::panic_text(panic))
}

/// Ends a handler's connection: on a handler failure closes with 1011, and says why
/// it ended.
pub(crate) async fn finish(
    ws: &mut WebSocket,
    namespace: &str,
    outcome: Result<(), CloseReason>,
) -> CloseReason {
    let failure = match outcome {
        Ok(()) => {
            return CloseReason::Closed(ws.close_cause().unwrap_or(CloseCause::ConnectionLost))
        }
        Err(failure) => failure,
    };
    // A send that failed because the connection had closed: the close is the reason.
    if let CloseReason::HandlerError(e) = &failure {
        if let (Some(Error::Closed(_)), Some(cause)) = (e.downcast_ref::<Error>(), ws.close_cause())
        {
            return CloseReason::Closed(cause);
        }
    }
    match &failure {
        CloseReason::HandlerError(e) => {
            tracing::warn!(error = %e, %namespace, "websocket handler failed; closing with 1011");
        }
        CloseReason::Panic(what) => {
            tracing::error!(panic = %what, %namespace, "websocket handler panicked; closing with 1011");
        }
        CloseReason::Closed(_) => {}
    }
    let _ = ws.close(CloseCode::Error, "handler error").await;
    failure
}
