//! Threaded mode: WebSocket views and handlers written as ordinary blocking code
//! (database drivers, CPU work), run on a bounded pool of threads so they never stall
//! the async workers. django-ws's `--threaded`.
//!
//! - [`view`] (or [`Pool::view`]) serves a synchronous view
//!   `Fn(Request, &mut blocking::WebSocket) -> impl IntoResponse`. The view holds one
//!   worker for the whole life of its connection, like django-ws's thread per
//!   connection.
//! - [`Handler`], registered with
//!   [`Namespaces::add_blocking`](crate::Namespaces::add_blocking) or served with
//!   [`handler_view`], is the synchronous twin of [`crate::Handler`]. Its connection
//!   is watched by the async side; a worker is taken only while a callback runs, so
//!   idle connections hold no thread.
//!
//! # The pool bound
//!
//! A [`Pool`] runs at most `size` jobs at once (default 16 for [`Pool::global`]). The
//! threads come from tokio's blocking pool; the bound is wsview's own semaphore, so a
//! pool's WebSocket code occupies at most `size` of them, whatever tokio's much larger
//! cap (512 by default). When every worker is busy:
//!
//! - a new connection to a blocking view waits for a worker *before* it is accepted:
//!   the client's handshake stays pending (no thread, no task spinning), and the view
//!   can still refuse it with a response once it runs. [`Pool::max_wait`] bounds that
//!   wait: past it the handshake is refused with 503.
//! - a blocking handler's next callback waits for a worker; its connection's incoming
//!   messages queue meanwhile (up to
//!   [`Settings::max_queued_messages`](crate::Settings::max_queued_messages), then the
//!   peer is slowed down).
//!
//! Async views and handlers never use the pool.
//!
//! ```no_run
//! use std::time::Duration;
//! use wsview::{blocking, App, Request, Response};
//!
//! fn slow_echo(_req: Request, ws: &mut blocking::WebSocket) -> Response {
//!     while let Some(msg) = ws.wait() {
//!         std::thread::sleep(Duration::from_millis(100)); // blocking work is fine here
//!         if ws.send(msg).is_err() {
//!             break;
//!         }
//!     }
//!     Response::empty()
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! App::new()
//!     .route("/blocking", blocking::Pool::new(8).view(slow_echo))
//!     .serve("127.0.0.1:8000")
//!     .await
//! # }
//! ```

//! # How blocking code talks to the connection
//!
//! The connection stays with the async side: the view running on the connection's
//! task owns the [`crate::WebSocket`], and a blocking [`WebSocket`] or [`Context`] is a
//! proxy. Each blocking call sends one operation over a bounded channel and blocks on
//! its reply; the async side runs the operation on the connection's own task (so its
//! wake-ups are the connection's) and answers. A call costs a channel round trip to
//! the connection's task and back.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::HeaderMap;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinError, JoinHandle};

use crate::error::Error;
use crate::handler::{self, CloseReason, HandlerContext, HandlerError, Opened};
use crate::message::{CloseCause, CloseCode, Message};
use crate::request::Request;
use crate::response::{IntoResponse, Response};
use crate::view::{require_websocket, View};
use crate::websocket::WebSocketSender;

/// The size of [`Pool::global`].
pub const DEFAULT_WORKERS: usize = 16;

/// A bound on how many blocking views and handler callbacks run at once. Cloning
/// shares the bound.
///
/// ```
/// let pool = wsview::blocking::Pool::new(4).max_wait(std::time::Duration::from_secs(2));
/// assert_eq!(pool.size(), 4);
/// assert_eq!(pool.available(), 4);
/// ```
#[derive(Clone)]
pub struct Pool {
    permits: Arc<Semaphore>,
    size: usize,
    max_wait: Option<Duration>,
}

impl Pool {
    /// A pool of `size` workers (at least 1).
    pub fn new(size: usize) -> Self {
        let size = size.clamp(1, Semaphore::MAX_PERMITS);
        Pool {
            permits: Arc::new(Semaphore::new(size)),
            size,
            max_wait: None,
        }
    }

    /// The process-wide pool of [`DEFAULT_WORKERS`] workers that [`view`],
    /// [`handler_view`] and [`Namespaces`](crate::Namespaces) use unless given another.
    pub fn global() -> Pool {
        static GLOBAL: OnceLock<Pool> = OnceLock::new();
        GLOBAL.get_or_init(|| Pool::new(DEFAULT_WORKERS)).clone()
    }

    /// How long a new connection to a blocking view may wait for a worker before its
    /// handshake is refused with 503 (`Retry-After: 1`). Default: no limit.
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = Some(wait);
        self
    }

    /// The number of workers.
    pub fn size(&self) -> usize {
        self.size
    }

    /// How many workers are free now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// A WebSocket-only view running `view` on this pool. `view` gets the request
    /// (its WebSocket taken out) and the connection as a [`WebSocket`] whose methods
    /// block. Like an async view, it accepts the connection on first use of the socket
    /// and may refuse it by returning a response before that; returning afterwards
    /// closes the connection with 1000, panicking with 1011.
    pub fn view<F, R>(&self, view: F) -> View
    where
        F: Fn(Request, &mut WebSocket) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        let pool = self.clone();
        let view = Arc::new(view);
        require_websocket(move |mut req: Request| {
            let pool = pool.clone();
            let view = view.clone();
            async move {
                let Some(mut ws) = req.take_websocket() else {
                    return Response::bad_request("This view requires a WebSocket request.");
                };
                let Some(permit) = pool.acquire_for_view().await else {
                    tracing::warn!(
                        workers = pool.size,
                        "refusing a websocket: every blocking worker stayed busy"
                    );
                    return Response::text("Service Unavailable: every worker is busy.")
                        .with_status(503)
                        .with_header("retry-after", "1");
                };
                let (bridge, mut ops) = Bridge::new();
                let protocol = ws.protocol().map(str::to_owned);
                let job = tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    let mut ws = WebSocket { bridge, protocol };
                    view(req, &mut ws).into_response()
                });
                match serve_until(&mut ws, &mut ops, job).await {
                    Ok(response) => response,
                    // The connection task catches it: 500 before accepting, 1011 after.
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(_) => Response::internal_error(),
                }
            }
        })
    }

    /// A WebSocket-only view serving one blocking [`Handler`] type, built per
    /// connection by `factory`, on this pool.
    pub fn handler_view<H, F>(&self, factory: F) -> View
    where
        H: Handler,
        F: Fn() -> H + Send + Sync + 'static,
    {
        let pool = self.clone();
        let factory = Arc::new(factory);
        require_websocket(move |mut req: Request| {
            let pool = pool.clone();
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
                run_handler(factory(), ctx, pool).await;
                Response::empty()
            }
        })
    }

    async fn acquire_for_view(&self) -> Option<OwnedSemaphorePermit> {
        let acquire = self.permits.clone().acquire_owned();
        match self.max_wait {
            Some(wait) => tokio::time::timeout(wait, acquire).await.ok()?.ok(),
            None => acquire.await.ok(),
        }
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.size)
            .field("available", &self.available())
            .field("max_wait", &self.max_wait)
            .finish()
    }
}

/// A blocking view on the [global pool](Pool::global); see [`Pool::view`].
///
/// ```no_run
/// use wsview::{blocking, App, Request, Response};
///
/// let app = App::new().route(
///     "/upper",
///     blocking::view(|_req: Request, ws: &mut blocking::WebSocket| {
///         while let Some(msg) = ws.wait() {
///             let upper = msg.as_text().unwrap_or_default().to_uppercase();
///             if ws.send(upper).is_err() {
///                 break;
///             }
///         }
///         Response::empty()
///     }),
/// );
/// # drop(app);
/// ```
pub fn view<F, R>(view: F) -> View
where
    F: Fn(Request, &mut WebSocket) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    Pool::global().view(view)
}

/// A blocking handler view on the [global pool](Pool::global); see
/// [`Pool::handler_view`].
pub fn handler_view<H, F>(factory: F) -> View
where
    H: Handler,
    F: Fn() -> H + Send + Sync + 'static,
{
    Pool::global().handler_view(factory)
}

/// One operation the blocking side asks of the connection.
enum Op {
    Accept(oneshot::Sender<Result<(), Error>>),
    Wait(oneshot::Sender<Option<Message>>),
    Send(Message, oneshot::Sender<Result<(), Error>>),
    Flush(oneshot::Sender<Result<(), Error>>),
    Close(CloseCode, String, oneshot::Sender<Result<(), Error>>),
    /// Something that does not wait (`read`, `is_closed`, …).
    Now(Box<dyn FnOnce(&mut crate::WebSocket) + Send>),
}

/// The blocking side's end of the channel to the connection.
struct Bridge {
    ops: mpsc::Sender<Op>,
}

impl Bridge {
    fn new() -> (Bridge, mpsc::Receiver<Op>) {
        // One operation at a time: the caller blocks until it is answered.
        let (ops, rx) = mpsc::channel(1);
        (Bridge { ops }, rx)
    }

    /// Sends an operation and blocks for its answer; `None` once the async side is
    /// gone (the connection ended and its view was dropped).
    fn call<T>(&self, op: impl FnOnce(oneshot::Sender<T>) -> Op) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.ops.blocking_send(op(reply)).ok()?;
        answer.blocking_recv().ok()
    }

    fn now<T: Send + 'static>(
        &self,
        query: impl FnOnce(&mut crate::WebSocket) -> T + Send + 'static,
    ) -> Option<T> {
        self.call(|reply| {
            Op::Now(Box::new(move |ws| {
                let _ = reply.send(query(ws));
            }))
        })
    }

    fn result(
        &self,
        op: impl FnOnce(oneshot::Sender<Result<(), Error>>) -> Op,
    ) -> Result<(), Error> {
        self.call(op).unwrap_or(Err(Error::Closed(None)))
    }
}

/// Runs the blocking side's operations on the connection's task until `job` ends.
async fn serve_until<T>(
    ws: &mut crate::WebSocket,
    ops: &mut mpsc::Receiver<Op>,
    mut job: JoinHandle<T>,
) -> Result<T, JoinError> {
    loop {
        tokio::select! {
            done = &mut job => return done,
            Some(op) = ops.recv() => match op {
                Op::Accept(reply) => {
                    let _ = reply.send(ws.accept().await);
                }
                Op::Wait(reply) => {
                    let _ = reply.send(ws.wait().await);
                }
                Op::Send(message, reply) => {
                    let _ = reply.send(ws.send(message).await);
                }
                Op::Flush(reply) => {
                    let _ = reply.send(ws.flush().await);
                }
                Op::Close(code, reason, reply) => {
                    let _ = reply.send(ws.close(code, &reason).await);
                }
                Op::Now(query) => query(ws),
            },
        }
    }
}

/// A WebSocket for blocking code: the methods of [`crate::WebSocket`], blocking the
/// calling thread instead of returning futures. A [blocking view](Pool::view) gets one
/// on a pool thread. Use it from that thread (or another plain thread), never from
/// async code: blocking an async worker is what this module exists to avoid, and
/// tokio refuses it with a panic.
///
/// Iterating yields messages until the peer closes, like django-websocket's
/// `for message in request.websocket:`. The iterator borrows the socket, so a loop
/// that also replies is written `while let Some(msg) = ws.wait() { … ws.send(…) … }`;
/// iterate for reading only (`ws.by_ref().take(3).collect::<Vec<_>>()`), or reply
/// through [`sender`](Self::sender).
///
/// ```no_run
/// use wsview::{blocking, Request, Response};
///
/// fn echo(_req: Request, ws: &mut blocking::WebSocket) -> Response {
///     while let Some(msg) = ws.wait() {
///         if ws.send(msg).is_err() {
///             break;
///         }
///     }
///     Response::empty() // returning closes the connection with 1000
/// }
/// # let _ = blocking::view(echo);
/// ```
pub struct WebSocket {
    bridge: Bridge,
    protocol: Option<String>,
}

impl WebSocket {
    /// Sends the 101 and waits until the connection is a WebSocket; every other
    /// method does this on first use. See [`crate::WebSocket::accept`].
    pub fn accept(&mut self) -> Result<(), Error> {
        self.bridge
            .call(Op::Accept)
            .unwrap_or(Err(Error::NotAccepted))
    }

    /// The next message, blocking until it comes; `None` once the peer closed or the
    /// connection died.
    pub fn wait(&mut self) -> Option<Message> {
        self.bridge.call(Op::Wait).flatten()
    }

    /// A message already received, without blocking on the network; `None` if there
    /// is none.
    pub fn read(&mut self) -> Option<Message> {
        self.bridge.now(|ws| ws.read()).flatten()
    }

    /// How many received messages are waiting to be taken.
    pub fn count_messages(&self) -> usize {
        self.bridge.now(|ws| ws.count_messages()).unwrap_or(0)
    }

    /// Whether [`read`](Self::read) would return a message.
    pub fn has_messages(&self) -> bool {
        self.bridge.now(|ws| ws.has_messages()).unwrap_or(false)
    }

    /// Queues a message; the connection's task writes it at once. Blocks while the
    /// write buffer is full (a slow peer slows the sender). Fails with
    /// [`Error::Closed`] once the connection is closing.
    pub fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        self.bridge.result(|reply| Op::Send(message, reply))
    }

    /// Blocks until everything queued so far has been written.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.bridge.result(Op::Flush)
    }

    /// Starts the closing handshake with `code` and `reason`; see
    /// [`crate::WebSocket::close`].
    pub fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        let (code, reason) = (code.into(), reason.to_owned());
        self.bridge.result(|reply| Op::Close(code, reason, reply))
    }

    /// Whether the connection is closing or closed.
    pub fn is_closed(&self) -> bool {
        self.bridge.now(|ws| ws.is_closed()).unwrap_or(true)
    }

    /// How the connection ended, once it has.
    pub fn close_cause(&self) -> Option<CloseCause> {
        match self.bridge.now(|ws| ws.close_cause()) {
            Some(cause) => cause,
            None => Some(CloseCause::ConnectionLost),
        }
    }

    /// The subprotocol agreed with the client.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// A handle for sending from other threads or tasks; see [`WebSocketSender`]
    /// (from a thread, use its `try_send`, or `Handle::block_on(sender.send(…))`).
    /// `None` once the connection has ended.
    pub fn sender(&self) -> Option<WebSocketSender> {
        self.bridge.now(|ws| ws.sender())
    }
}

impl Iterator for WebSocket {
    type Item = Message;

    fn next(&mut self) -> Option<Message> {
        self.wait()
    }
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("blocking::WebSocket")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

/// The synchronous twin of [`crate::Handler`], for handlers that call blocking code.
/// Each callback runs on a [`Pool`] worker; the semantics (first message, order,
/// `on_close` exactly once, errors closing with 1011) are those of
/// [`crate::Handler`].
///
/// ```no_run
/// use wsview::{blocking, App, HandlerError, Message, Namespaces};
///
/// #[derive(Default)]
/// struct Lookup;
///
/// impl blocking::Handler for Lookup {
///     fn on_message(&mut self, ctx: &mut blocking::Context, msg: Message)
///         -> Result<(), HandlerError>
///     {
///         // e.g. a synchronous database query
///         let answer = format!("looked up {}", msg.as_text().unwrap_or_default());
///         ctx.send(answer)?;
///         Ok(())
///     }
/// }
///
/// let app = Namespaces::new()
///     .add_blocking("default", Lookup::default)
///     .mount(App::new(), "/socket");
/// # drop(app);
/// ```
pub trait Handler: Send + 'static {
    /// The connection's first message; see [`crate::Handler::on_open`]. The default
    /// passes it on to [`on_message`](Self::on_message).
    fn on_open(
        &mut self,
        ctx: &mut Context,
        first_message: Message,
    ) -> Result<Opened, HandlerError> {
        let _ = (ctx, first_message);
        Ok(Opened::PassOn)
    }

    /// One message; messages of one connection come one at a time, in order.
    fn on_message(&mut self, ctx: &mut Context, message: Message) -> Result<(), HandlerError>;

    /// The connection ended; runs exactly once for every connection that opened.
    fn on_close(&mut self, ctx: &mut Context, reason: CloseReason) {
        let _ = (ctx, reason);
    }
}

/// A blocking handler's view of its connection: what [`HandlerContext`] offers, with
/// blocking `send`, `flush` and `close`.
pub struct Context {
    request: Request,
    namespace: String,
    protocol: Option<String>,
    bridge: Bridge,
}

impl Context {
    /// The namespace this connection was routed to.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The opening HTTP request.
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
    pub fn remote_addr(&self) -> Option<std::net::SocketAddr> {
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

    /// The subprotocol agreed with the client.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Sends a message, blocking only while the write buffer is full.
    pub fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        self.bridge.result(|reply| Op::Send(message, reply))
    }

    /// Blocks until everything sent so far is written.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.bridge.result(Op::Flush)
    }

    /// Closes the connection; see [`HandlerContext::close`].
    pub fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        let (code, reason) = (code.into(), reason.to_owned());
        self.bridge.result(|reply| Op::Close(code, reason, reply))
    }

    /// Whether the connection is closing or closed.
    pub fn is_closed(&self) -> bool {
        self.bridge.now(|ws| ws.is_closed()).unwrap_or(true)
    }

    /// A cloneable handle for sending from other threads or tasks, for pushing
    /// without waiting for input; `None` once the connection has ended.
    pub fn sender(&self) -> Option<WebSocketSender> {
        self.bridge.now(|ws| ws.sender())
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("blocking::Context")
            .field("namespace", &self.namespace)
            .field("path", &self.request.path())
            .field("remote_addr", &self.request.remote_addr())
            .finish_non_exhaustive()
    }
}

/// A handler and its context, moved to a worker for each callback and back.
type Held<H> = Option<(H, Context)>;

/// What a blocking handler's driver holds while its connection lives.
struct Driver<'a, H> {
    pool: &'a Pool,
    ws: &'a mut crate::WebSocket,
    ops: &'a mut mpsc::Receiver<Op>,
    held: Held<H>,
}

impl<H: Handler> Driver<'_, H> {
    /// Runs `call` on a pool worker with the handler and its context, serving the
    /// operations it asks for meanwhile. `None` if they were lost (the runtime is
    /// shutting down).
    async fn on_pool<T: Send + 'static>(
        &mut self,
        call: impl FnOnce(&mut H, &mut Context) -> T + Send + 'static,
    ) -> Option<std::thread::Result<T>> {
        let (mut handler, mut ctx) = self.held.take()?;
        let permit = self.pool.permits.clone().acquire_owned().await.ok()?;
        let job = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let result =
                std::panic::catch_unwind(AssertUnwindSafe(|| call(&mut handler, &mut ctx)));
            (handler, ctx, result)
        });
        let (handler, ctx, result) = serve_until(self.ws, self.ops, job).await.ok()?;
        self.held = Some((handler, ctx));
        Some(result)
    }
}

fn settle<T>(result: std::thread::Result<Result<T, HandlerError>>) -> Result<T, CloseReason> {
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(CloseReason::HandlerError(e)),
        Err(panic) => Err(handler::panic_reason(&panic)),
    }
}

/// Drives a blocking handler over one connection: the async side waits for messages,
/// a worker runs each callback.
pub(crate) async fn run_handler<H: Handler>(handler: H, ctx: HandlerContext, pool: Pool) {
    let HandlerContext {
        mut ws,
        request,
        namespace,
    } = ctx;
    let Some(first) = handler::first_message(&mut ws).await else {
        return;
    };
    let (bridge, mut ops) = Bridge::new();
    let context = Context {
        request,
        namespace: namespace.clone(),
        protocol: ws.protocol().map(str::to_owned),
        bridge,
    };
    let mut driver = Driver {
        pool: &pool,
        ws: &mut ws,
        ops: &mut ops,
        held: Some((handler, context)),
    };
    let mut outcome = Ok(());
    let mut pass_on = None;
    let opening = first.clone();
    match driver.on_pool(move |h, c| h.on_open(c, opening)).await {
        None => return,
        Some(result) => match settle(result) {
            Ok(Opened::PassOn) if !handler::closed_here(driver.ws) => pass_on = Some(first),
            Ok(_) => {}
            Err(failure) => outcome = Err(failure),
        },
    }
    while outcome.is_ok() {
        let message = match pass_on.take() {
            Some(message) => message,
            None => match handler::next_message(driver.ws).await {
                Some(message) => message,
                None => break,
            },
        };
        match driver.on_pool(move |h, c| h.on_message(c, message)).await {
            None => return,
            Some(result) => {
                if let Err(failure) = settle(result) {
                    outcome = Err(failure);
                }
            }
        }
    }
    let reason = handler::finish(driver.ws, &namespace, outcome).await;
    if let Some(Err(panic)) = driver.on_pool(move |h, c| h.on_close(c, reason)).await {
        tracing::error!(panic = %crate::app::panic_text(&panic), "blocking handler's on_close panicked");
    }
}
