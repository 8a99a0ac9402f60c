//! The one lifecycle driver: the life of a handler's connection (first message,
//! `on_open`, every message in order to `on_message`, `on_close` exactly once), for async
//! and blocking handlers alike. What differs between them, how a callback is run, is
//! behind [`Lifecycle`].

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::task::Poll;

use futures_util::{FutureExt, StreamExt};

use crate::error::Error;
use crate::handler::context::HandlerContext;
use crate::handler::reason::{CloseReason, HandlerError};
use crate::handler::traits::{Handler, Opened};
use crate::message::{CloseCause, CloseCode, Message};
use crate::panic::panic_text;
use crate::websocket::socket::WebSocket;

/// Why a callback did not complete normally.
pub(crate) enum Stop {
    /// It failed (an error or a panic): close with 1011, then `on_close`.
    Failed(CloseReason),
    /// It was lost with the runtime (shutting down): stop without `on_close`.
    Lost,
}

/// How one kind of handler runs its callbacks on one connection.
pub(crate) trait Lifecycle: Send {
    /// The connection.
    fn websocket(&mut self) -> &mut WebSocket;
    /// The namespace, for logs.
    fn namespace(&self) -> &str;
    /// Runs `on_open`.
    fn open(&mut self, first: Message) -> impl Future<Output = Result<Opened, Stop>> + Send;
    /// Runs `on_message`.
    fn message(&mut self, message: Message) -> impl Future<Output = Result<(), Stop>> + Send;
    /// Runs `on_close`, logging a panic.
    fn close(&mut self, reason: CloseReason) -> impl Future<Output = ()> + Send;
}

/// Drives one connection through its handler's life.
pub(crate) async fn drive<L: Lifecycle>(mut run: L) {
    let Some(first) = first_message(run.websocket()).await else {
        return;
    };
    let outcome: Result<(), Stop> = async {
        let opened = run.open(first.clone()).await?;
        if opened == Opened::PassOn && !closed_here(run.websocket()) {
            run.message(first).await?;
        }
        while let Some(message) = next_message(run.websocket()).await {
            run.message(message).await?;
        }
        Ok(())
    }
    .await;
    let outcome = match outcome {
        Ok(()) => Ok(()),
        Err(Stop::Failed(reason)) => Err(reason),
        Err(Stop::Lost) => return,
    };
    let namespace = run.namespace().to_owned();
    let reason = finish(run.websocket(), &namespace, outcome).await;
    run.close(reason).await;
}

/// An async [`Handler`] with its context.
pub(crate) struct AsyncRun<H> {
    handler: H,
    ctx: HandlerContext,
}

impl<H: Handler> AsyncRun<H> {
    pub(crate) fn new(handler: H, ctx: HandlerContext) -> Self {
        AsyncRun { handler, ctx }
    }
}

impl<H: Handler> Lifecycle for AsyncRun<H> {
    fn websocket(&mut self) -> &mut WebSocket {
        self.ctx.websocket_mut()
    }

    fn namespace(&self) -> &str {
        self.ctx.namespace()
    }

    async fn open(&mut self, first: Message) -> Result<Opened, Stop> {
        guard(self.handler.on_open(&mut self.ctx, first)).await
    }

    async fn message(&mut self, message: Message) -> Result<(), Stop> {
        guard(self.handler.on_message(&mut self.ctx, message)).await
    }

    async fn close(&mut self, reason: CloseReason) {
        let closing = AssertUnwindSafe(self.handler.on_close(&mut self.ctx, reason));
        if let Err(panic) = closing.catch_unwind().await {
            tracing::error!(panic = %panic_text(&panic), "handler's on_close panicked");
        }
    }
}

/// Runs a handler method, turning an error or a panic into the close reason.
async fn guard<T>(call: impl Future<Output = Result<T, HandlerError>>) -> Result<T, Stop> {
    settle(AssertUnwindSafe(call).catch_unwind().await)
}

/// A callback's result, or its error or panic as the close reason.
pub(crate) fn settle<T>(result: std::thread::Result<Result<T, HandlerError>>) -> Result<T, Stop> {
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Stop::Failed(CloseReason::HandlerError(e))),
        Err(panic) => Err(Stop::Failed(CloseReason::Panic(panic_text(&panic)))),
    }
}

/// Accepts the connection and waits for its first message; `None` if it never came.
async fn first_message(ws: &mut WebSocket) -> Option<Message> {
    if let Err(e) = ws.accept().await {
        tracing::debug!(error = %e, "handler connection not accepted");
        return None;
    }
    next_message(ws).await
}

/// The next message for the handler: `None` once the peer closed or the connection
/// died (after the messages that arrived before), or as soon as this side has closed.
///
/// The check for this side's close runs on every poll. The connection task polls its
/// view in every round, including the one in which server shutdown queues the 1001,
/// so a handler waiting here learns of shutdown at once, without waiting for the
/// peer's reply.
async fn next_message(ws: &mut WebSocket) -> Option<Message> {
    std::future::poll_fn(|cx| {
        if closed_here(ws) {
            return Poll::Ready(None);
        }
        ws.poll_next_unpin(cx)
    })
    .await
}

/// Whether this side has closed the connection (the handler, a sender, a handler
/// failure or shutdown): then no more messages are delivered.
fn closed_here(ws: &WebSocket) -> bool {
    matches!(ws.close_cause(), Some(CloseCause::Server { .. }))
}

/// Ends a handler's connection: on a handler failure closes with 1011, and says why
/// it ended.
async fn finish(
    ws: &mut WebSocket,
    namespace: &str,
    outcome: Result<(), CloseReason>,
) -> CloseReason {
    let failure = match outcome {
        Ok(()) => {
            return CloseReason::Closed(ws.close_cause().unwrap_or(CloseCause::ConnectionLost))
        }
        Err(failure) => failure,
    };
    // A send that failed because the connection had closed: the close is the reason.
    if let CloseReason::HandlerError(e) = &failure {
        let closed = e.downcast_ref::<Error>().is_some_and(Error::is_closed);
        if let (true, Some(cause)) = (closed, ws.close_cause()) {
            return CloseReason::Closed(cause);
        }
    }
    match &failure {
        CloseReason::HandlerError(e) => {
            tracing::warn!(error = %e, %namespace, "websocket handler failed; closing with 1011");
        }
        CloseReason::Panic(what) => {
            tracing::error!(panic = %what, %namespace, "websocket handler panicked; closing with 1011");
        }
        CloseReason::Closed(_) => {}
    }
    let _ = ws.close(CloseCode::Error, "handler error").await;
    failure
}
