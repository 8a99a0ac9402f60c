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

pub(crate) mod bridge;
pub(crate) mod handler;
pub(crate) mod pool;
pub(crate) mod socket;
pub(crate) mod view;
pub(crate) mod workers;

pub use handler::{Context, Handler};
pub use pool::{handler_view, view, Pool, DEFAULT_WORKERS};
pub use socket::WebSocket;
