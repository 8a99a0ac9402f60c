//! The app: routes, middleware and settings, and the hyper service that runs them.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use futures_util::FutureExt;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use tokio::sync::oneshot;

use crate::connection::{ConnTask, Outcome, Tracker};
use crate::handshake;
use crate::middleware::{Middleware, Next, WebSocketMiddleware};
use crate::request::Request;
use crate::response::Response;
use crate::router::{RouteError, Router};
use crate::server::Server;
use crate::settings::Settings;
use crate::view::{BoxFuture, IntoView};
use crate::websocket::Shared;

/// An application: routes to views, a middleware chain, and settings.
///
/// ```no_run
/// use wsview::{accept_websocket, App, Request, Response};
///
/// async fn hello(_req: Request) -> Response {
///     Response::text("hello")
/// }
///
/// #[tokio::main]
/// async fn main() -> std::io::Result<()> {
///     App::new()
///         .route("/", hello)
///         .route("/ws/{room}", accept_websocket(hello))
///         .serve("127.0.0.1:8000") // until Ctrl-C
///         .await
/// }
/// ```
pub struct App {
    routes: Vec<(String, crate::view::View)>,
    middleware: Vec<Arc<dyn Middleware>>,
    has_ws_middleware: bool,
    settings: Settings,
}

/// Why an app could not be built: a bad route pattern, two routes for one path, or an
/// invalid view.
#[derive(Debug, Clone)]
pub struct BuildError {
    problems: Vec<String>,
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the app is misconfigured: {}", self.problems.join("; "))
    }
}

impl std::error::Error for BuildError {}

impl From<BuildError> for std::io::Error {
    fn from(e: BuildError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
    }
}

impl From<RouteError> for String {
    fn from(e: RouteError) -> Self {
        format!("route {:?}: {}", e.pattern, e.reason)
    }
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    /// An app with no routes, no middleware and default [`Settings`].
    pub fn new() -> Self {
        App {
            routes: Vec::new(),
            middleware: Vec::new(),
            has_ws_middleware: false,
            settings: Settings::default(),
        }
    }

    /// Routes `pattern` to `view`. Patterns are paths with `{name}` segments
    /// (`/socket/{namespace}`) and an optional `{*rest}` at the end. Errors (a bad
    /// pattern, a path routed twice) are reported by [`build`](Self::build).
    pub fn route(mut self, pattern: &str, view: impl IntoView) -> Self {
        self.routes.push((pattern.to_owned(), view.into_view()));
        self
    }

    /// Adds a middleware; they run in the order added, around the view.
    pub fn middleware(mut self, middleware: impl Middleware) -> Self {
        let any: &dyn std::any::Any = &middleware;
        if any.is::<WebSocketMiddleware>() {
            self.has_ws_middleware = true;
        }
        self.middleware.push(Arc::new(middleware));
        self
    }

    /// Replaces the settings.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Checks the configuration and makes the service. [`bind`](Self::bind) and
    /// [`serve`](Self::serve) call this; call it yourself to run the app in your own
    /// hyper loop (see [`AppService`]).
    pub fn build(self) -> Result<AppService, BuildError> {
        let mut problems = Vec::new();
        let mut router = Router::default();
        for (pattern, view) in self.routes {
            if let Some(e) = view.error() {
                problems.push(format!("route {pattern:?}: {e}"));
            }
            if let Err(e) = router.insert(&pattern, view) {
                problems.push(e.into());
            }
        }
        if !problems.is_empty() {
            return Err(BuildError { problems });
        }
        let mut middleware = self.middleware;
        if !self.has_ws_middleware {
            middleware.insert(0, Arc::new(WebSocketMiddleware));
        }
        Ok(AppService {
            inner: Arc::new(AppInner {
                router,
                middleware,
                settings: self.settings,
            }),
            tracker: Arc::new(Tracker::default()),
            remote_addr: None,
        })
    }

    /// Builds the app and binds a listener; [`Server::local_addr`] tells the port when
    /// `addr` asked for port 0.
    pub async fn bind(self, addr: impl tokio::net::ToSocketAddrs) -> std::io::Result<Server> {
        let service = self.build()?;
        Server::bind(service, addr).await
    }

    /// Builds, binds and serves until Ctrl-C or SIGTERM, then shuts down gracefully:
    /// open WebSockets are closed with 1001 and given
    /// [`Settings::close_timeout`] to finish.
    pub async fn serve(self, addr: impl tokio::net::ToSocketAddrs) -> std::io::Result<()> {
        self.bind(addr)
            .await?
            .run_until(crate::server::shutdown_signal())
            .await
    }
}

/// The built app.
pub(crate) struct AppInner {
    pub(crate) router: Router,
    pub(crate) middleware: Vec<Arc<dyn Middleware>>,
    pub(crate) settings: Settings,
}

impl AppInner {
    /// Runs the chain from middleware `index` on. No future of its own: each layer's
    /// future is the middleware's, so a WebSocket connection keeps one box per layer.
    pub(crate) fn run_from(
        app: &Arc<AppInner>,
        index: usize,
        req: Request,
    ) -> BoxFuture<'static, Response> {
        match app.middleware.get(index) {
            Some(mw) => {
                let next = Next {
                    app: app.clone(),
                    index: index + 1,
                };
                mw.call(req, next)
            }
            None => app.endpoint(req),
        }
    }

    fn endpoint(&self, mut req: Request) -> BoxFuture<'static, Response> {
        match self.router.at(req.path()) {
            Some((view, params)) => {
                req.p.params = params;
                view.call(req, &self.settings)
            }
            None => Box::pin(std::future::ready(Response::not_found())),
        }
    }
}

/// The app as a hyper service, for running it in your own connection loop. Serve
/// connections with `http1::Builder::serve_connection(io, service).with_upgrades()`,
/// or WebSocket upgrades cannot complete.
///
/// ```no_run
/// use hyper_util::rt::TokioIo;
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let service = wsview::App::new().route("/", |_r: wsview::Request| async { "hi" }).build()?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
/// loop {
///     let (tcp, peer) = listener.accept().await?;
///     let service = service.with_remote_addr(peer);
///     tokio::spawn(async move {
///         let conn = hyper::server::conn::http1::Builder::new()
///             .serve_connection(TokioIo::new(tcp), service)
///             .with_upgrades();
///         let _ = conn.await;
///     });
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct AppService {
    pub(crate) inner: Arc<AppInner>,
    pub(crate) tracker: Arc<Tracker>,
    remote_addr: Option<SocketAddr>,
}

impl std::fmt::Debug for AppService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppService")
            .field("remote_addr", &self.remote_addr)
            .finish_non_exhaustive()
    }
}

impl AppService {
    /// The same service, reporting `addr` as [`Request::remote_addr`].
    pub fn with_remote_addr(&self, addr: SocketAddr) -> Self {
        AppService {
            remote_addr: Some(addr),
            ..self.clone()
        }
    }

    /// The settings the app was built with.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Runs a request that did not come from a socket through the middleware chain,
    /// router and view, and returns the response (a panicking view gives 500).
    pub async fn handle(&self, mut req: Request) -> Response {
        req.p.app.get_or_insert_with(|| self.clone());
        let fut = AppInner::run_from(&self.inner, 0, req);
        AssertUnwindSafe(fut)
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| {
                tracing::error!(panic = %panic_text(&panic), "view panicked; answering 500");
                Response::internal_error()
            })
    }

    /// Asks every open WebSocket to close with 1001 and waits for them (up to
    /// [`Settings::close_timeout`]).
    pub async fn close_websockets(&self) {
        self.tracker
            .shutdown(self.inner.settings.close_timeout)
            .await;
    }

    /// How many WebSocket connections are open.
    pub fn open_websockets(&self) -> usize {
        self.tracker.len()
    }

    async fn to_request<B>(&self, req: http::Request<B>) -> Result<Request, Response>
    where
        B: hyper::body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = req.into_parts();
        let limit = self.inner.settings.max_body_size;
        let body = match Limited::new(body, limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(Response::text("Payload Too Large").with_status(413));
            }
            Err(_) => return Err(Response::bad_request("Could not read the request body.")),
        };
        let mut req = Request::builder().build();
        req.p.method = parts.method;
        req.p.uri = parts.uri;
        req.p.version = parts.version;
        req.p.headers = parts.headers;
        req.p.extensions = parts.extensions;
        req.p.body = body;
        req.p.remote_addr = self.remote_addr;
        Ok(req)
    }
}

pub(crate) fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

type HyperResponse = hyper::Response<Full<Bytes>>;

type ServiceFuture = Pin<Box<dyn Future<Output = Result<HyperResponse, Infallible>> + Send>>;

impl hyper::service::Service<hyper::Request<Incoming>> for AppService {
    type Response = HyperResponse;
    type Error = Infallible;
    type Future = ServiceFuture;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        self.serve(req)
    }
}

/// The app as a tower `Service`, for any request body (axum's, hyper's, a test's).
/// WebSocket upgrades work when the request came from a hyper server connection served
/// `.with_upgrades()` (hyper puts the upgrade handle in the request's extensions).
///
/// ```
/// use tower_service::Service;
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let mut app = wsview::App::new().route("/", |_r: wsview::Request| async { "hi" }).build()?;
/// let req = http::Request::new(http_body_util::Full::new(bytes::Bytes::new()));
/// let resp = app.call(req).await?;
/// assert_eq!(resp.status(), 200);
/// # Ok(()) }
/// ```
impl<B> tower_service::Service<http::Request<B>> for AppService
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = HyperResponse;
    type Error = Infallible;
    type Future = ServiceFuture;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        self.serve(req)
    }
}

impl AppService {
    fn serve<B>(&self, mut req: http::Request<B>) -> ServiceFuture
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let this = self.clone();
        if !handshake::is_upgrade_request(req.headers()) {
            return Box::pin(async move {
                let resp = match this.to_request(req).await {
                    Ok(req) => this.handle(req).await,
                    Err(refusal) => refusal,
                };
                Ok(resp.into_hyper())
            });
        }
        // A WebSocket request runs in its own task, which outlives this call: the 101
        // goes out when the view first uses the socket, and the task goes on serving it.
        let on_upgrade = hyper::upgrade::on(&mut req);
        Box::pin(async move {
            let mut request = match this.to_request(req).await {
                Ok(request) => request,
                Err(refusal) => return Ok(refusal.into_hyper()),
            };
            // The view may hold the request for the connection's life: detach it from
            // hyper's read buffer, which its header values would otherwise pin.
            request.detach_from_read_buffer();
            let (reply, outcome) = oneshot::channel();
            let settings = &this.inner.settings;
            let shared = Shared::new(
                reply,
                on_upgrade,
                settings.max_queued_messages,
                settings.max_queued_bytes,
                settings.sender_capacity,
            );
            request.p.upgrade = Some(shared.clone());
            request.p.app = Some(this.clone());
            let chain = AppInner::run_from(&this.inner, 0, request);
            let mut task = ConnTask::new(chain, shared, settings, this.tracker.clone());
            // A first poll here lets a view that accepts at once hand over its 101
            // without a task switch. Wakers it registers point at this task: spawning
            // polls the task again at once, which registers its own.
            if let Poll::Ready(()) =
                std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut task).poll(cx))).await
            {
                drop(task);
            } else {
                tokio::spawn(task);
            }
            Ok(match outcome.await {
                Ok(Outcome::Accept(switching)) => switching,
                Ok(Outcome::Done(resp)) => resp.into_hyper(),
                Err(_) => Response::internal_error().into_hyper(),
            })
        })
    }
}
