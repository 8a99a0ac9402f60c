//! The middleware chain: the [`Middleware`] trait, the built chain that runs a request
//! through every layer to the router and the view, and [`Next`], its cursor.

use std::future::Future;
use std::sync::Arc;

use crate::app_state::StateMap;
use crate::request::Request;
use crate::response::Response;
use crate::router::{RouteNotFound, Router};
use crate::settings::Settings;
use crate::view::BoxFuture;

/// Code that runs around views: it sees the request before the view, may answer it
/// itself (an auth check), and sees the response after.
///
/// Any `Fn(Request, Next) -> impl Future<Output = Response>` is a middleware:
///
/// ```no_run
/// use wsview::{App, Next, Request, Response};
///
/// async fn require_token(req: Request, next: Next) -> Response {
///     if req.header("authorization") != Some("Bearer secret") {
///         return Response::text("no").with_status(401);
///     }
///     next.run(req).await
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// App::new()
///     .middleware(require_token)
///     .route("/", |_req: Request| async { "hello" })
///     .serve("127.0.0.1:8000")
///     .await
/// # }
/// ```
///
/// For a WebSocket request the response a middleware sees after `next.run` is the
/// view's return value once the connection has ended (so timing middleware measures
/// the connection's life); a middleware that answers without calling `next` refuses
/// the upgrade with its response.
///
/// A middleware with state implements the trait; its future owns what it needs (clone an
/// `Arc` of the state into it), because a WebSocket request's future lives as long as
/// the connection:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use wsview::{BoxFuture, Middleware, Next, Request, Response};
///
/// #[derive(Default)]
/// struct CountRequests(Arc<AtomicU64>);
///
/// impl Middleware for CountRequests {
///     fn call(&self, req: Request, next: Next) -> BoxFuture<'static, Response> {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         next.run(req) // no async block needed when nothing runs after the view
///     }
/// }
/// ```
pub trait Middleware: Send + Sync + 'static {
    /// Handles one request; call `next.run(req)` to go on to the rest of the chain.
    fn call(&self, req: Request, next: Next) -> BoxFuture<'static, Response>;
}

impl<F, Fut> Middleware for F
where
    F: Fn(Request, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    fn call(&self, req: Request, next: Next) -> BoxFuture<'static, Response> {
        Box::pin(self(req, next))
    }
}

/// The rest of the middleware chain, ending in the router and the view.
pub struct Next {
    chain: Arc<Chain>,
    index: usize,
}

impl Next {
    /// Runs the rest of the chain.
    pub fn run(self, req: Request) -> BoxFuture<'static, Response> {
        Chain::run_from(&self.chain, self.index, req)
    }

    /// The app's settings.
    pub fn settings(&self) -> &Settings {
        &self.chain.settings
    }
}

impl std::fmt::Debug for Next {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Next").field("index", &self.index).finish()
    }
}

/// The built app: middleware, router, settings and state, as one request runs them.
pub(crate) struct Chain {
    router: Router,
    middleware: Vec<Arc<dyn Middleware>>,
    settings: Settings,
    state: Arc<StateMap>,
}

impl Chain {
    pub(crate) fn new(
        router: Router,
        middleware: Vec<Arc<dyn Middleware>>,
        settings: Settings,
        state: Arc<StateMap>,
    ) -> Chain {
        Chain {
            router,
            middleware,
            settings,
            state,
        }
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    pub(crate) fn state(&self) -> &Arc<StateMap> {
        &self.state
    }

    /// Runs the chain from middleware `index` on. No future of its own: each layer's
    /// future is the middleware's, so a WebSocket connection keeps one box per layer.
    pub(crate) fn run_from(
        chain: &Arc<Chain>,
        index: usize,
        req: Request,
    ) -> BoxFuture<'static, Response> {
        match chain.middleware.get(index) {
            Some(mw) => {
                let next = Next {
                    chain: chain.clone(),
                    index: index + 1,
                };
                mw.call(req, next)
            }
            None => Chain::endpoint(chain, req),
        }
    }

    /// The end of the chain: the router, then the view, the body still unread (the view
    /// reads it if it wants it: [`Request::body`]).
    fn endpoint(chain: &Arc<Chain>, mut req: Request) -> BoxFuture<'static, Response> {
        match chain.router.at(req.path()) {
            Some((view, params)) => {
                req.set_params(params);
                view.call(req, &chain.settings)
            }
            None => Box::pin(std::future::ready(RouteNotFound::response())),
        }
    }
}
