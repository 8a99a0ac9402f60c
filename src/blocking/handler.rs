//! Blocking handlers: the synchronous twin of [`crate::Handler`], driven by the same
//! lifecycle driver, with each callback run on a pool worker.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::blocking::bridge::{serve_until, Bridge, Op};
use crate::blocking::socket::WebSocket;
use crate::blocking::workers::Workers;
use crate::error::Error;
use crate::handler::context::{request_accessors, HandlerContext};
use crate::handler::driver::{drive, settle, Lifecycle, Stop};
use crate::handler::reason::{CloseReason, HandlerError};
use crate::handler::traits::Opened;
use crate::id::ConnectionId;
use crate::message::{CloseCode, Message};
use crate::panic::panic_text;
use crate::request::Request;
use crate::response::Response;
use crate::view::{require_websocket, View};
use crate::websocket::sender::WebSocketSender;
use crate::websocket::socket::WebSocket as AsyncWebSocket;

/// The synchronous twin of [`crate::Handler`], for handlers that call blocking code.
/// Each callback runs on a [`Pool`](crate::blocking::Pool) worker; the semantics (first message, order,
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

/// A blocking handler's view of its connection: what [`HandlerContext`](crate::HandlerContext) offers, with
/// blocking `send`, `flush` and `close`.
pub struct Context {
    request: Request,
    namespace: String,
    /// The connection, as blocking code uses it: the context's sends are its sends.
    ws: WebSocket,
}

impl Context {
    /// This connection's id (see [`ConnectionId`]).
    pub fn id(&self) -> ConnectionId {
        self.ws.id()
    }

    request_accessors!();

    /// The subprotocol agreed with the client.
    pub fn protocol(&self) -> Option<&str> {
        self.ws.protocol()
    }

    /// Sends a message, blocking only while the write buffer is full.
    pub fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        self.ws.send(message)
    }

    /// Blocks until everything sent so far is written.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.ws.flush()
    }

    /// Closes the connection; see [`HandlerContext::close`](crate::HandlerContext::close).
    pub fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        self.ws.close(code, reason)
    }

    /// Whether the connection is closing or closed.
    pub fn is_closed(&self) -> bool {
        self.ws.is_closed()
    }

    /// A cloneable handle for sending from other threads or tasks, for pushing
    /// without waiting for input; `None` once the connection has ended.
    pub fn sender(&self) -> Option<WebSocketSender> {
        self.ws.sender()
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("blocking::Context")
            .field("id", &self.ws.id())
            .field("namespace", &self.namespace)
            .field("path", &self.request.path())
            .field("remote_addr", &self.request.remote_addr())
            .finish_non_exhaustive()
    }
}

/// A blocking handler on one connection: the async side keeps the connection, a worker
/// runs each callback with the handler and its context, moved there and back.
struct BlockingRun<H> {
    workers: Workers,
    ws: AsyncWebSocket,
    ops: mpsc::Receiver<Op>,
    namespace: String,
    held: Option<(H, Context)>,
}

impl<H: Handler> BlockingRun<H> {
    /// Runs `call` on a worker with the handler and its context, serving the operations
    /// it asks for meanwhile. `None` if they were lost (the runtime is shutting down).
    async fn on_pool<T: Send + 'static>(
        &mut self,
        call: impl FnOnce(&mut H, &mut Context) -> T + Send + 'static,
    ) -> Option<std::thread::Result<T>> {
        let (mut handler, mut ctx) = self.held.take()?;
        let permit = self.workers.acquire().await?;
        let job = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let result =
                std::panic::catch_unwind(AssertUnwindSafe(|| call(&mut handler, &mut ctx)));
            (handler, ctx, result)
        });
        let (handler, ctx, result) = serve_until(&mut self.ws, &mut self.ops, job).await.ok()?;
        self.held = Some((handler, ctx));
        Some(result)
    }
}

impl<H: Handler> Lifecycle for BlockingRun<H> {
    fn websocket(&mut self) -> &mut AsyncWebSocket {
        &mut self.ws
    }

    fn namespace(&self) -> &str {
        &self.namespace
    }

    async fn open(&mut self, first: Message) -> Result<Opened, Stop> {
        match self.on_pool(move |h, c| h.on_open(c, first)).await {
            None => Err(Stop::Lost),
            Some(result) => settle(result),
        }
    }

    async fn message(&mut self, message: Message) -> Result<(), Stop> {
        match self.on_pool(move |h, c| h.on_message(c, message)).await {
            None => Err(Stop::Lost),
            Some(result) => settle(result),
        }
    }

    async fn close(&mut self, reason: CloseReason) {
        if let Some(Err(panic)) = self.on_pool(move |h, c| h.on_close(c, reason)).await {
            tracing::error!(panic = %panic_text(&panic), "blocking handler's on_close panicked");
        }
    }
}

/// Drives a blocking handler over one connection: the async side waits for messages,
/// a worker runs each callback.
pub(crate) async fn run_blocking<H: Handler>(handler: H, ctx: HandlerContext, workers: Workers) {
    let (ws, request, namespace) = ctx.into_parts();
    let (bridge, ops) = Bridge::new();
    let context = Context {
        request,
        namespace: namespace.clone(),
        ws: WebSocket::new(bridge, ws.id(), ws.protocol().map(str::to_owned)),
    };
    drive(BlockingRun {
        workers,
        ws,
        ops,
        namespace,
        held: Some((handler, context)),
    })
    .await;
}

/// The view [`Pool::handler_view`](crate::blocking::Pool::handler_view) makes.
pub(crate) fn blocking_handler_view<H, F>(workers: Workers, factory: F) -> View
where
    H: Handler,
    F: Fn() -> H + Send + Sync + 'static,
{
    let factory = Arc::new(factory);
    require_websocket(move |mut req: Request| {
        let workers = workers.clone();
        let factory = factory.clone();
        async move {
            let Some(ws) = req.take_websocket() else {
                return Response::bad_request("This view requires a WebSocket request.");
            };
            let ctx = HandlerContext::new(ws, req, "default".to_owned());
            run_blocking(factory(), ctx, workers).await;
            Response::empty()
        }
    })
}
