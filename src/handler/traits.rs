//! The handler trait: what a per-connection handler implements.

use std::future::Future;

use crate::handler::context::HandlerContext;
use crate::handler::reason::{CloseReason, HandlerError};
use crate::message::Message;

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
/// already closed (a [`wsview::Error`](crate::Error) that [`is_closed`](crate::Error::is_closed), propagated with
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
