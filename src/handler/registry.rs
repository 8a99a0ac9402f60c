//! The registry of handlers by namespace, and the views that serve handlers.

use std::sync::Arc;

use crate::app::App;
use crate::blocking::handler::{run_blocking, Handler as BlockingHandler};
use crate::blocking::pool::Pool;
use crate::handler::context::HandlerContext;
use crate::handler::driver::{drive, AsyncRun};
use crate::handler::traits::Handler;
use crate::request::Request;
use crate::response::Response;
use crate::view::{require_websocket, BoxFuture, View};

/// Runs one connection: `(context, blocking pool) -> done`.
type Runner = Arc<dyn Fn(HandlerContext, &Pool) -> BoxFuture<'static, ()> + Send + Sync>;

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
/// [`App::build`](crate::App::build) refuses the app, saying why. A request for a namespace not in the
/// registry is refused with 404 at the handshake, before the connection is accepted.
#[derive(Clone, Default)]
#[must_use = "a registry does nothing until it is mounted or made a view"]
pub struct Namespaces {
    entries: Vec<(String, Runner)>,
    problems: Vec<String>,
    pool: Option<Pool>,
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
        let run: Runner =
            Arc::new(move |ctx, _pool| Box::pin(drive(AsyncRun::new(factory(), ctx))));
        self.insert(name, run)
    }

    /// Registers a [`blocking::Handler`](crate::blocking::Handler): synchronous code whose
    /// callbacks run on the registry's [`blocking::Pool`](Pool) (the process-wide one unless
    /// [`blocking_pool`](Self::blocking_pool) set another). An idle connection holds
    /// no thread; a callback holds a worker while it runs.
    pub fn add_blocking<H, F>(self, name: &str, factory: F) -> Self
    where
        H: BlockingHandler,
        F: Fn() -> H + Send + Sync + 'static,
    {
        let run: Runner = Arc::new(move |ctx, pool| {
            Box::pin(run_blocking(factory(), ctx, pool.workers().clone()))
        });
        self.insert(name, run)
    }

    /// The pool that runs this registry's blocking handlers.
    pub fn blocking_pool(mut self, pool: Pool) -> Self {
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
        let pool = self.pool.unwrap_or_else(Pool::global);
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
                let ctx = HandlerContext::new(ws, req, namespace);
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
            let ctx = HandlerContext::new(ws, req, "default".to_owned());
            drive(AsyncRun::new(factory(), ctx)).await;
            Response::empty()
        }
    })
}
