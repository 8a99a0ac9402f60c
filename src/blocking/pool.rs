//! The public pool: its size, and the views that run on it.

use std::sync::OnceLock;
use std::time::Duration;

use crate::blocking::handler::{blocking_handler_view, Handler};
use crate::blocking::socket::WebSocket;
use crate::blocking::view::blocking_view;
use crate::blocking::workers::Workers;
use crate::request::Request;
use crate::response::IntoResponse;
use crate::view::View;

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
    workers: Workers,
}

impl Pool {
    /// A pool of `size` workers (at least 1).
    pub fn new(size: usize) -> Self {
        Pool {
            workers: Workers::new(size),
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
    #[must_use]
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.workers.set_max_wait(wait);
        self
    }

    /// The number of workers.
    pub fn size(&self) -> usize {
        self.workers.size()
    }

    /// How many workers are free now.
    pub fn available(&self) -> usize {
        self.workers.available()
    }

    pub(crate) fn workers(&self) -> &Workers {
        &self.workers
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
        blocking_view(self.workers.clone(), view)
    }

    /// A WebSocket-only view serving one blocking [`Handler`] type, built per
    /// connection by `factory`, on this pool.
    pub fn handler_view<H, F>(&self, factory: F) -> View
    where
        H: Handler,
        F: Fn() -> H + Send + Sync + 'static,
    {
        blocking_handler_view(self.workers.clone(), factory)
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.size())
            .field("available", &self.available())
            .field("max_wait", &self.workers.max_wait())
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
