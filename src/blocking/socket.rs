//! The WebSocket blocking code uses.

use crate::blocking::bridge::{Bridge, Op};
use crate::error::Error;
use crate::id::ConnectionId;
use crate::message::{CloseCause, CloseCode, Message};
use crate::websocket::sender::WebSocketSender;

/// A WebSocket for blocking code: the methods of [`crate::WebSocket`], blocking the
/// calling thread instead of returning futures. A [blocking view](crate::blocking::Pool::view) gets one
/// on a pool thread. Use it from that thread (or another plain thread), never from
/// async code: blocking an async worker is what this module exists to avoid, and
/// tokio refuses it with a panic.
///
/// Iterating yields messages until the peer closes, like django-websocket's
/// `for message in request.websocket:`. The iterator borrows the socket, so a loop
/// that also replies is written `while let Some(msg) = ws.wait() { … ws.send(…) … }`;
/// iterate for reading only (`ws.by_ref().take(3).collect::<Vec<_>>()`), or reply
/// through [`sender`](Self::sender).
///
/// ```no_run
/// use wsview::{blocking, Request, Response};
///
/// fn echo(_req: Request, ws: &mut blocking::WebSocket) -> Response {
///     while let Some(msg) = ws.wait() {
///         if ws.send(msg).is_err() {
///             break;
///         }
///     }
///     Response::empty() // returning closes the connection with 1000
/// }
/// # let _ = blocking::view(echo);
/// ```
pub struct WebSocket {
    bridge: Bridge,
    id: ConnectionId,
    protocol: Option<String>,
}

impl WebSocket {
    pub(crate) fn new(bridge: Bridge, id: ConnectionId, protocol: Option<String>) -> Self {
        WebSocket {
            bridge,
            id,
            protocol,
        }
    }

    /// This connection's id (see [`ConnectionId`]).
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// Sends the 101 and waits until the connection is a WebSocket; every other
    /// method does this on first use. See [`crate::WebSocket::accept`].
    pub fn accept(&mut self) -> Result<(), Error> {
        self.bridge
            .call(Op::Accept)
            .unwrap_or(Err(Error::not_accepted()))
    }

    /// The next message, blocking until it comes; `None` once the peer closed or the
    /// connection died.
    pub fn wait(&mut self) -> Option<Message> {
        self.bridge.call(Op::Wait).flatten()
    }

    /// A message already received, without blocking on the network; `None` if there
    /// is none.
    pub fn read(&mut self) -> Option<Message> {
        self.bridge.now(|ws| ws.read()).flatten()
    }

    /// How many received messages are waiting to be taken.
    pub fn count_messages(&self) -> usize {
        self.bridge.now(|ws| ws.count_messages()).unwrap_or(0)
    }

    /// Whether [`read`](Self::read) would return a message.
    pub fn has_messages(&self) -> bool {
        self.bridge.now(|ws| ws.has_messages()).unwrap_or(false)
    }

    /// Queues a message; the connection's task writes it at once. Blocks while the
    /// write buffer is full (a slow peer slows the sender). Fails with
    /// an error that [`is_closed`](Error::is_closed) once the connection is closing.
    pub fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        self.bridge.result(|reply| Op::Send(message, reply))
    }

    /// Blocks until everything queued so far has been written.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.bridge.result(Op::Flush)
    }

    /// Starts the closing handshake with `code` and `reason`; see
    /// [`crate::WebSocket::close`].
    pub fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        let (code, reason) = (code.into(), reason.to_owned());
        self.bridge.result(|reply| Op::Close(code, reason, reply))
    }

    /// Whether the connection is closing or closed.
    pub fn is_closed(&self) -> bool {
        self.bridge.now(|ws| ws.is_closed()).unwrap_or(true)
    }

    /// How the connection ended, once it has.
    pub fn close_cause(&self) -> Option<CloseCause> {
        match self.bridge.now(|ws| ws.close_cause()) {
            Some(cause) => cause,
            None => Some(CloseCause::ConnectionLost),
        }
    }

    /// The subprotocol agreed with the client.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// A handle for sending from other threads or tasks; see [`WebSocketSender`]
    /// (from a thread, use its `try_send`, or `Handle::block_on(sender.send(…))`).
    /// `None` once the connection has ended.
    pub fn sender(&self) -> Option<WebSocketSender> {
        self.bridge.now(|ws| ws.sender())
    }
}

impl Iterator for WebSocket {
    type Item = Message;

    fn next(&mut self) -> Option<Message> {
        self.wait()
    }
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("blocking::WebSocket")
            .field("id", &self.id)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}
