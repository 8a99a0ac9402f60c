//! The handle other tasks send to a connection with.

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::error::Error;
use crate::message::{CloseCode, Message};
use crate::websocket::connection::{sendable, truncate_reason, Outgoing};

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
#[derive(Clone, Debug)]
pub struct WebSocketSender {
    tx: mpsc::Sender<Outgoing>,
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
    pub(crate) fn new(tx: mpsc::Sender<Outgoing>) -> Self {
        WebSocketSender { tx }
    }

    /// Queues a message for the connection, waiting while the queue is full. Fails with
    /// [`Error::Closed`] once the connection is gone.
    pub async fn send(&self, msg: impl Into<Message>) -> Result<(), Error> {
        self.tx
            .send(Outgoing::Message(msg.into()))
            .await
            .map_err(|_| Error::Closed(None))
    }

    /// Queues a message without waiting.
    pub fn try_send(&self, msg: impl Into<Message>) -> Result<(), TrySendError> {
        self.tx
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
        self.tx
            .send(Outgoing::Close(code, truncate_reason(reason).to_owned()))
            .await
            .map_err(|_| Error::Closed(None))
    }

    /// Whether the connection is gone (sends will fail).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Whether both handles send to the same connection.
    pub fn same_connection(&self, other: &WebSocketSender) -> bool {
        self.tx.same_channel(&other.tx)
    }
}
