//! The service: the app as hyper and tower see it. It makes the request (its body to be
//! read on demand, within the size limit), runs it through the chain, and for a WebSocket request
//! starts the connection task that runs the chain and the socket from then on.

pub(crate) mod chain;
pub(crate) mod upgrade;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::Poll;

use bytes::Bytes;
use futures_util::FutureExt;
use hyper::body::Incoming;
use tokio::sync::oneshot;

use crate::app_state::StateMap;
use crate::body::Body;
use crate::handshake;
use crate::panic::panic_text;
use crate::request::Request;
use crate::request_body::PendingBody;
use crate::response::Response;
use crate::router::Router;
use crate::service::chain::{Chain, Middleware};
use crate::settings::Settings;
use crate::websocket::connection::Shared;
use crate::websocket::handover::{DirectIo, Handover, Outcome};
use crate::websocket::task::ConnTask;
use crate::websocket::tracker::Tracker;

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
    inner: Arc<Chain>,
    tracker: Arc<Tracker>,
    remote_addr: Option<SocketAddr>,
    secure: bool,
}

/// How a view reaches the app it runs in (through the app's state, so a request holds
/// no handle of its own): weak, since the app's state is inside the app.
#[derive(Clone)]
pub(crate) struct AppLink {
    chain: Weak<Chain>,
    tracker: Arc<Tracker>,
}

impl AppLink {
    /// The service, while the app lives.
    pub(crate) fn service(&self) -> Option<AppService> {
        Some(AppService {
            inner: self.chain.upgrade()?,
            tracker: self.tracker.clone(),
            remote_addr: None,
            secure: false,
        })
    }
}

impl std::fmt::Debug for AppService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppService")
            .field("remote_addr", &self.remote_addr)
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

impl AppService {
    /// The service for a checked app; its state also holds a link to the app itself.
    pub(crate) fn new(
        router: Router,
        middleware: Vec<Arc<dyn Middleware>>,
        settings: Settings,
        mut state: StateMap,
    ) -> AppService {
        let tracker = Arc::new(Tracker::default());
        let inner = Arc::new_cyclic(|chain| {
            state.insert(AppLink {
                chain: chain.clone(),
                tracker: tracker.clone(),
            });
            Chain::new(router, middleware, settings, Arc::new(state))
        });
        AppService {
            inner,
            tracker,
            remote_addr: None,
            secure: false,
        }
    }

    /// The same service, reporting `addr` as [`Request::remote_addr`].
    #[must_use]
    pub fn with_remote_addr(&self, addr: SocketAddr) -> Self {
        AppService {
            remote_addr: Some(addr),
            ..self.clone()
        }
    }

    /// The same service, reporting its requests as arrived over TLS or not
    /// ([`Request::is_secure`]): for your own connection loop that serves TLS.
    #[must_use]
    pub fn with_secure(&self, secure: bool) -> Self {
        AppService {
            secure,
            ..self.clone()
        }
    }

    /// The settings the app was built with.
    pub fn settings(&self) -> &Settings {
        self.inner.settings()
    }

    /// Runs a request that did not come from a socket through the middleware chain,
    /// router and view, and returns the response (a panicking view gives 500).
    pub async fn handle(&self, mut req: Request) -> Response {
        req.attach_state(self.inner.state());
        let fut = Chain::run_from(&self.inner, 0, req);
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
            .shutdown(self.inner.settings().close_timeout)
            .await;
    }

    /// How many WebSocket connections are open.
    pub fn open_websockets(&self) -> usize {
        self.tracker.len()
    }

    /// The request, its body left to read on demand (see [`Request::body`]). A
    /// declared `Content-Length` over the limit is answered 413 here, before any of the
    /// body is read, and before hyper sends `100 Continue` to a client that expects it
    /// (hyper sends that only once the body is first read).
    ///
    /// An upgrade request gets no body: after the 101 the connection's bytes are
    /// WebSocket frames (over HTTP/2 the stream is the upgrade's, and hyper gives the
    /// request an empty body), so nothing may read them as a body, and the view never
    /// waits for one.
    fn to_request<B>(&self, req: http::Request<B>, upgrade: bool) -> Result<Request, Box<Response>>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = req.into_parts();
        let settings = self.inner.settings();
        let limit = settings.max_body_size;
        if body.size_hint().lower() > limit as u64 {
            return Err(Box::new(
                Response::text("Payload Too Large").with_status(413),
            ));
        }
        let body = (!upgrade && !body.is_end_stream())
            .then(|| PendingBody::new(body, limit, settings.body_read_timeout));
        Ok(Request::from_http(
            parts,
            body,
            self.remote_addr,
            self.secure,
        ))
    }
}

type HyperResponse = http::Response<Body>;

/// A WebSocket request's connection task, in the connection's log span.
pub(crate) type WebSocketTask = tracing::instrument::Instrumented<ConnTask>;

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
        if !handshake::is_upgrade_request(req.method(), req.headers(), req.extensions()) {
            let span =
                tracing::debug_span!("request", method = %req.method(), path = %req.uri().path());
            return Box::pin(tracing::Instrument::instrument(
                async move {
                    let resp = match this.to_request(req, false) {
                        Ok(req) => this.handle(req).await,
                        Err(refusal) => *refusal,
                    };
                    Ok(resp.into_http())
                },
                span,
            ));
        }
        // A WebSocket request runs in its own task, which outlives this call: the 101
        // goes out when the view first uses the socket, and the task goes on serving it.
        let on_upgrade = hyper::upgrade::on(&mut req);
        Box::pin(async move {
            let mut request = match this.to_request(req, true) {
                Ok(request) => request,
                Err(refusal) => return Ok(refusal.into_http()),
            };
            // The view may hold the request for the connection's life: detach it from
            // hyper's read buffer, which its header values would otherwise pin.
            request.detach_from_read_buffer();
            let (reply, outcome) = oneshot::channel();
            this.start_websocket(request, Handover::Hyper { reply, on_upgrade })
                .await;
            Ok(match outcome.await {
                Ok(Outcome::Accept(switching)) => switching,
                Ok(Outcome::Done(resp)) => resp.into_http(),
                Err(_) => Response::internal_error().into_http(),
            })
        })
    }

    /// The connection task of a WebSocket request whose head the server read itself
    /// (plain TCP, HTTP/1.1, no body), to run as the connection's own task: the engine
    /// takes the socket when the view accepts; if it answers without accepting, the
    /// task holds the response and the socket once it ends
    /// ([`ConnTask::take_refused`]).
    pub(crate) fn direct_task(&self, parts: http::request::Parts, io: DirectIo) -> WebSocketTask {
        let request = Request::from_http(parts, None, self.remote_addr, self.secure);
        self.websocket_task(request, Handover::Direct(Box::new(io)))
    }

    /// Starts the connection task of a WebSocket request hyper read (polled once here,
    /// spawned if it goes on); it tells the HTTP side what to answer through the
    /// handover's channel.
    async fn start_websocket(&self, request: Request, handover: Handover) {
        let mut task = self.websocket_task(request, handover);
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
    }

    /// The connection task of a WebSocket request, in its log span.
    fn websocket_task(&self, mut request: Request, handover: Handover) -> WebSocketTask {
        let settings = self.inner.settings();
        let shared = Shared::new(handover, settings);
        request.set_upgrade(shared.clone());
        request.attach_state(self.inner.state());
        // Everything the view and the connection log names this connection. A root
        // span, naming the peer itself: as a child of the HTTP connection's span it
        // would keep that one (and its formatted fields) alive in the subscriber for
        // the WebSocket's whole life.
        let span = tracing::info_span!(
            parent: None,
            "websocket",
            id = %shared.id(),
            path = %request.path(),
            peer = tracing::field::Empty,
        );
        if let Some(peer) = self.remote_addr {
            span.record("peer", tracing::field::display(peer));
        }
        let chain = Chain::run_from(&self.inner, 0, request);
        let task = ConnTask::new(chain, shared, settings, self.tracker.clone());
        tracing::Instrument::instrument(task, span)
    }
}

/// The service for a connection whose first request (a WebSocket request the server
/// read itself, and refused) was already answered: hyper reads that request again and
/// gets the response; every later request is the app's.
pub(crate) struct Replay {
    first: std::sync::Mutex<Option<HyperResponse>>,
    service: AppService,
}

impl Replay {
    pub(crate) fn new(first: Response, service: AppService) -> Self {
        Replay {
            first: std::sync::Mutex::new(Some(first.into_http())),
            service,
        }
    }
}

impl hyper::service::Service<hyper::Request<Incoming>> for Replay {
    type Response = HyperResponse;
    type Error = Infallible;
    type Future = ServiceFuture;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        let first = self.first.lock().map(|mut f| f.take()).unwrap_or_default();
        match first {
            Some(resp) => Box::pin(std::future::ready(Ok(resp))),
            None => self.service.serve(req),
        }
    }
}
