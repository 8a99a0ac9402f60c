//! The app builder: routes, middleware, settings and state, checked into a service.

use std::sync::Arc;

use crate::app_state::StateMap;
use crate::router::{RouteError, Router};
use crate::server::{ListenError, Server};
use crate::service::chain::Middleware;
use crate::service::upgrade::WebSocketMiddleware;
use crate::service::AppService;
use crate::settings::Settings;
use crate::view::{IntoView, View};

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
#[must_use = "an app does nothing until it is built, bound or served"]
pub struct App {
    routes: Vec<(String, View)>,
    middleware: Vec<Arc<dyn Middleware>>,
    has_ws_middleware: bool,
    settings: Settings,
    state: StateMap,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::config::TlsConfig>,
}

/// Why an app could not be built: every problem found, each a [`BuildProblem`] (a bad
/// route pattern, two routes for one path, an invalid view).
#[derive(Debug, Clone)]
pub struct BuildError {
    problems: Vec<BuildProblem>,
}

impl BuildError {
    /// The problems, in the order of the routes.
    pub fn problems(&self) -> &[BuildProblem] {
        &self.problems
    }
}

/// One thing wrong with an app's configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum BuildProblem {
    /// A route could not be added.
    Route(RouteError),
    /// A view refused its own configuration (see [`View::invalid`]).
    InvalidView {
        /// The route's pattern.
        pattern: String,
        /// What the view said is wrong.
        reason: String,
    },
}

impl BuildProblem {
    /// The route error, for a [`BuildProblem::Route`].
    pub fn route_error(&self) -> Option<&RouteError> {
        match self {
            BuildProblem::Route(e) => Some(e),
            BuildProblem::InvalidView { .. } => None,
        }
    }
}

impl std::fmt::Display for BuildProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildProblem::Route(e) => e.fmt(f),
            BuildProblem::InvalidView { pattern, reason } => {
                write!(f, "route {pattern:?}: {reason}")
            }
        }
    }
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the app is misconfigured: ")?;
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            problem.fmt(f)?;
        }
        Ok(())
    }
}

impl std::error::Error for BuildError {}

impl From<BuildError> for std::io::Error {
    fn from(e: BuildError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field(
                "routes",
                &self
                    .routes
                    .iter()
                    .map(|(p, _)| p.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("middleware", &self.middleware.len())
            .field("settings", &self.settings)
            .field("state", &self.state)
            .finish()
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
            state: StateMap::default(),
            #[cfg(feature = "tls")]
            tls: None,
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

    /// Adds a value every request can read with [`Request::state`](crate::Request::state)
    /// (and handlers with their context's `state`): a database pool, a registry, the
    /// configuration. One value per type; adding a second of the same type replaces the
    /// first. The value is shared, not cloned per request: wrap what must change in a
    /// lock or an atomic.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use wsview::{App, Request};
    ///
    /// #[derive(Clone)]
    /// struct Greeting(Arc<str>);
    ///
    /// async fn hello(req: Request) -> String {
    ///     let greeting = req.state::<Greeting>().expect("added below");
    ///     format!("{}, {}", greeting.0, req.query("name").unwrap_or_default())
    /// }
    ///
    /// let app = App::new()
    ///     .state(Greeting(Arc::from("hello")))
    ///     .route("/", hello)
    ///     .build()?;
    /// let resp = app.handle(Request::builder().uri("/?name=ada").build()).await;
    /// assert_eq!(resp.body().as_ref(), b"hello, ada");
    /// # Ok(()) }
    /// ```
    pub fn state<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(value);
        self
    }

    /// Replaces the settings.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Serves the app over TLS (`https://`, `wss://`) when [`bind`](Self::bind) or
    /// [`serve`](Self::serve) runs it (feature `tls`). Requests then report
    /// [`Request::is_secure`](crate::Request::is_secure).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: crate::tls::config::TlsConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Serves over TLS when the environment names a certificate and key: the PEM files
    /// in `WSVIEW_TLS_CERT` and `WSVIEW_TLS_KEY` (see
    // The type exists only with the feature: a link to it would be broken without.
    #[cfg_attr(
        feature = "tls",
        doc = "[`TlsConfig::from_env`](crate::tls::config::TlsConfig::from_env)); unchanged when neither is"
    )]
    #[cfg_attr(
        not(feature = "tls"),
        doc = "`TlsConfig::from_env`, feature `tls`); unchanged when neither is"
    )]
    /// set. What the examples call, so each serves `https://` and `wss://` when asked.
    /// An error names the bad file or the missing variable; without the `tls` feature,
    /// setting either variable is an error rather than silently serving plain HTTP.
    pub fn tls_from_env(self) -> std::io::Result<Self> {
        #[cfg(feature = "tls")]
        return Ok(match crate::tls::config::TlsConfig::from_env()? {
            Some(tls) => self.tls(tls),
            None => self,
        });
        #[cfg(not(feature = "tls"))]
        {
            for name in ["WSVIEW_TLS_CERT", "WSVIEW_TLS_KEY"] {
                if std::env::var_os(name).is_some_and(|v| !v.is_empty()) {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::Unsupported,
                        format!("{name} is set, but wsview was built without its `tls` feature"),
                    ));
                }
            }
            Ok(self)
        }
    }

    /// Checks the configuration and makes the service. [`bind`](Self::bind) and
    /// [`serve`](Self::serve) call this; call it yourself to run the app in your own
    /// hyper loop (see [`AppService`]).
    pub fn build(self) -> Result<AppService, BuildError> {
        let mut problems = Vec::new();
        let mut router = Router::default();
        for (pattern, view) in self.routes {
            if let Some(reason) = view.error() {
                problems.push(BuildProblem::InvalidView {
                    pattern: pattern.clone(),
                    reason: reason.to_owned(),
                });
            }
            if let Err(e) = router.insert(&pattern, view) {
                problems.push(BuildProblem::Route(e));
            }
        }
        if !problems.is_empty() {
            return Err(BuildError { problems });
        }
        let mut middleware = self.middleware;
        if !self.has_ws_middleware {
            middleware.insert(0, Arc::new(WebSocketMiddleware));
        }
        Ok(AppService::new(
            router,
            middleware,
            self.settings,
            self.state,
        ))
    }

    /// Builds the app and binds a listener; [`Server::local_addr`] tells the port when
    /// `addr` asked for port 0. An error names the address and the cause (`could not
    /// listen on "127.0.0.1:8000": Address already in use`), keeps the cause's
    /// [`kind`](std::io::Error::kind), and is logged.
    pub async fn bind(
        self,
        addr: impl tokio::net::ToSocketAddrs + std::fmt::Debug,
    ) -> std::io::Result<Server> {
        #[cfg(feature = "tls")]
        let tls = self.tls.clone();
        let service = self.build().inspect_err(|e| tracing::error!("{e}"))?;
        let server = Server::bind(service, &addr).await.map_err(|e| {
            let e = ListenError::new(format!("{addr:?}"), e);
            tracing::error!("{e}");
            e.into_io()
        })?;
        #[cfg(feature = "tls")]
        let server = match tls {
            Some(tls) => server.tls(tls),
            None => server,
        };
        Ok(server)
    }

    /// Builds, binds and serves until Ctrl-C or SIGTERM, then shuts down gracefully:
    /// open WebSockets are closed with 1001 and given
    /// [`Settings::close_timeout`] to finish.
    /// Logs (with `tracing`, at info level) the address it serves on, and when it stops.
    pub async fn serve(
        self,
        addr: impl tokio::net::ToSocketAddrs + std::fmt::Debug,
    ) -> std::io::Result<()> {
        self.bind(addr)
            .await?
            .run_until(crate::server::shutdown_signal())
            .await
    }
}
