//! The handle other tasks send to a connection with.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::error::Error;
use crate::id::ConnectionId;
use crate::message::{CloseCode, Message};
use crate::websocket::connection::{sendable, truncate_reason, Outgoing, Shared};
use crate::websocket::push::{PushQueue, Pushed};

/// A cloneable handle that sends to one connection from any task.
///
/// Messages wait in a bounded queue ([`Settings::sender_capacity`](crate::Settings::sender_capacity))
/// until the connection task writes them; `send` waits when the queue is full, so a slow
/// peer slows its senders instead of growing memory. [`try_send`](Self::try_send) never
/// waits, for fan-out where a slow peer must not hold up the others.
///
/// ```no_run
/// use std::time::Duration;
/// use wsview::{require_websocket, Request, Response};
///
/// async fn ticker(mut req: Request) -> Response {
///     let Some(ws) = req.websocket() else { return Response::empty() };
///     let sender = ws.sender();
///     let ticks = tokio::spawn(async move {
///         for i in 0.. {
///             if sender.send(format!("tick {i}")).await.is_err() {
///                 break; // the connection is gone
///             }
///             tokio::time::sleep(Duration::from_secs(1)).await;
///         }
///     });
///     while ws.wait().await.is_some() {} // until the peer closes
///     ticks.abort();
///     Response::empty()
/// }
/// # let _ = require_websocket(ticker);
/// ```
#[derive(Clone)]
pub struct WebSocketSender {
    /// The channel, made on the first send through any handle: a connection that only
    /// ever gets fan-out pushes never allocates it, and its task never polls it.
    tx: OnceLock<mpsc::Sender<Outgoing>>,
    shared: Arc<Shared>,
    /// Held directly: a fan-out push touches only the queue, not the connection.
    pushes: Arc<PushQueue>,
}

impl std::fmt::Debug for WebSocketSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketSender")
            .field("id", &self.shared.id())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// What [`WebSocketSender::try_send`] could not do.
#[derive(Debug)]
pub enum TrySendError {
    /// The queue is full: the peer is not reading fast enough.
    Full(Message),
    /// The connection is closed.
    Closed(Message),
}

impl std::fmt::Display for TrySendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("websocket send queue is full"),
            TrySendError::Closed(_) => f.write_str("websocket closed"),
        }
    }
}

impl std::error::Error for TrySendError {}

impl WebSocketSender {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let pushes = shared.lock().pushes();
        WebSocketSender {
            tx: OnceLock::new(),
            shared,
            pushes,
        }
    }

    fn tx(&self) -> &mpsc::Sender<Outgoing> {
        self.tx.get_or_init(|| self.shared.lock().sender())
    }

    /// The connection this handle sends to.
    pub fn id(&self) -> ConnectionId {
        self.shared.id()
    }

    /// Queues a message for the connection, waiting while the queue is full. Fails with
    /// an error that [`is_closed`](Error::is_closed) once the connection is gone.
    pub async fn send(&self, msg: impl Into<Message>) -> Result<(), Error> {
        self.tx()
            .send(Outgoing::Message(msg.into()))
            .await
            .map_err(|_| Error::closed(None))
    }

    /// Queues a message without waiting.
    pub fn try_send(&self, msg: impl Into<Message>) -> Result<(), TrySendError> {
        self.tx()
            .try_send(Outgoing::Message(msg.into()))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(Outgoing::Message(m)) => TrySendError::Full(m),
                mpsc::error::TrySendError::Closed(Outgoing::Message(m)) => TrySendError::Closed(m),
                // Only messages are passed in above.
                mpsc::error::TrySendError::Full(Outgoing::Close(..))
                | mpsc::error::TrySendError::Closed(Outgoing::Close(..)) => {
                    TrySendError::Closed(Message::Binary(Bytes::new()))
                }
            })
    }

    /// Asks the connection to close with `code` and `reason`, after the messages queued
    /// before it.
    pub async fn close(&self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        let code = sendable(code.into())?;
        self.tx()
            .send(Outgoing::Close(code, truncate_reason(reason).to_owned()))
            .await
            .map_err(|_| Error::closed(None))
    }

    /// Whether sends through this handle fail from now on: the connection is closing
    /// (this side closed it, or its view finished) or gone.
    pub fn is_closed(&self) -> bool {
        // Closed exactly when the channel is (the connection closes both together).
        self.pushes.is_closed()
    }

    /// Closes the connection with `code` and `reason` as soon as its task runs, without
    /// waiting, even when the send queue is full: messages still queued through senders
    /// are discarded (what the view already sent still goes first). For dropping a slow
    /// or misbehaving client from fan-out code that must not wait.
    ///
    /// Returns false, doing nothing, if this side has already closed the connection (or
    /// asked to), the peer has closed it, or it has ended; also for a code that may not
    /// be sent (see [`WebSocket::close`](crate::WebSocket::close)). On a connection not
    /// yet accepted the close goes out as soon as it is.
    ///
    /// ```no_run
    /// # fn demo(sender: wsview::WebSocketSender) {
    /// use wsview::{CloseCode, TrySendError};
    /// if let Err(TrySendError::Full(_)) = sender.try_send("tick") {
    ///     sender.close_now(CloseCode::Policy, "too slow");
    /// }
    /// # }
    /// ```
    pub fn close_now(&self, code: impl Into<CloseCode>, reason: &str) -> bool {
        let Ok(code) = sendable(code.into()) else {
            tracing::warn!("close_now: refusing a close code that may not be sent");
            return false;
        };
        self.shared.lock().close_now(code, reason)
    }

    /// Runs `f` exactly once when the connection ends, whatever ends it: the peer's
    /// close, a dropped network, the view returning or panicking, server shutdown, or an
    /// upgrade that never completed. "Ends" is when the socket is released, which may be
    /// before the view returns. If the connection has already ended, `f` runs at once,
    /// in the caller. It never runs while a lock of the connection is held, so it may
    /// use the connection's handles (their sends fail by then).
    ///
    /// ```no_run
    /// # fn demo(sender: wsview::WebSocketSender, members: std::sync::Arc<std::sync::Mutex<Vec<wsview::ConnectionId>>>) {
    /// members.lock().unwrap().push(sender.id());
    /// let members = members.clone();
    /// sender.on_end(move |id| members.lock().unwrap().retain(|m| *m != id));
    /// # }
    /// ```
    pub fn on_end(&self, f: impl FnOnce(ConnectionId) + Send + 'static) {
        self.shared.on_end(Box::new(f));
    }

    /// Whether the connection has ended (the socket is released; `on_end` callbacks
    /// have run or are running).
    pub fn has_ended(&self) -> bool {
        self.shared.lock().has_ended()
    }

    /// Fan-out's queue push: queues `msg` (a clone, so a reference-count bump) without
    /// waiting and without a channel, waking the connection task only if nothing else
    /// has since its last round. Bounded by
    /// [`Settings::sender_capacity`](crate::Settings::sender_capacity) on its own; the
    /// connection task writes these after what was sent through the channel.
    pub(crate) fn push(&self, msg: &Message) -> Pushed {
        self.pushes.push(msg)
    }

    /// [`push`](Self::push), waiting while the push queue is full (the message waits in
    /// the future, not in the queue). Cancel safe: dropped before `Queued`, nothing was
    /// queued.
    pub(crate) async fn push_wait(&self, msg: &Message) -> Pushed {
        std::future::poll_fn(|cx| self.pushes.poll_push(cx, msg)).await
    }

    /// Whether both handles send to the same connection.
    pub fn same_connection(&self, other: &WebSocketSender) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}
