//! The `WebSocket` object a view receives.
//!
//! # How a connection runs
//!
//! A WebSocket request runs its whole middleware chain and view in one task, the
//! connection task (`websocket/task.rs`). Each time that task wakes it reads every
//! frame the socket has (answering pings and closes), then polls the view, then writes
//! everything the view queued in one write. So a view's `send` does not write by itself:
//! it queues the frame, and the frames a view sends between two waits leave together.
//! No extra task and no channel sit between the socket and the view.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::body::Body;
use crate::engine::negotiate::{negotiate, DeflateConfig};
use crate::error::Error;
use crate::id::ConnectionId;
use crate::message::{CloseCause, CloseCode, Message};
use crate::websocket::connection::{sendable, Shared};
use crate::websocket::sender::WebSocketSender;

/// One WebSocket connection, as a view sees it: django-websocket's `request.websocket`,
/// made async.
///
/// Get it from [`Request::websocket`](crate::Request::websocket) in a view wrapped in
/// [`accept_websocket`](crate::accept_websocket) or
/// [`require_websocket`](crate::require_websocket). The connection is accepted (the 101
/// goes out) the first time the view uses it, or calls [`accept`](Self::accept); a view
/// that returns before that refuses the upgrade with the response it returns. When the
/// view returns, the connection is closed with 1000; if the view panics, with 1011.
///
/// ```no_run
/// use futures_util::StreamExt;
/// use wsview::{require_websocket, App, Request, Response};
///
/// async fn lower(mut req: Request) -> Response {
///     let Some(ws) = req.websocket() else { return Response::bad_request("websocket only") };
///     // django-websocket's `for message in request.websocket:`
///     while let Some(msg) = ws.next().await {
///         if let Some(text) = msg.as_text() {
///             if ws.send(text.to_lowercase()).await.is_err() {
///                 break;
///             }
///         }
///     }
///     Response::empty()
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// App::new().route("/lower", require_websocket(lower)).serve("127.0.0.1:8000").await
/// # }
/// ```
///
/// # Cancel safety
///
/// [`wait`](Self::wait) and the `Stream` implementation are cancel safe: a message is
/// taken from the queue only in the poll that returns it, so dropping the future (in a
/// `select!`, a timeout) loses nothing. [`send`](Self::send) is cancel safe in the same
/// sense: once it returns `Ready` the message is queued and will be written; dropped
/// before that, the message was not queued. [`read`](Self::read),
/// [`count_messages`](Self::count_messages) and [`has_messages`](Self::has_messages)
/// never wait.
pub struct WebSocket {
    shared: Arc<Shared>,
    offered: Vec<String>,
    /// The client's extension offers, until the view's compression setting is applied.
    extensions: Vec<String>,
    protocol: Option<String>,
    compressed: bool,
}

impl WebSocket {
    pub(crate) fn new(
        shared: Arc<Shared>,
        accept_response: http::Response<Body>,
        offered: Vec<String>,
        extensions: Vec<String>,
    ) -> Self {
        shared.lock().set_accept_response(accept_response);
        WebSocket {
            shared,
            offered,
            extensions,
            protocol: None,
            compressed: false,
        }
    }

    pub(crate) fn offered_protocols(&self) -> &[String] {
        &self.offered
    }

    /// Records the negotiated subprotocol and adds it to the 101.
    pub(crate) fn set_protocol(&mut self, protocol: Option<String>) {
        if let Some(p) = &protocol {
            self.shared.lock().set_accept_protocol(p);
        }
        self.protocol = protocol;
    }

    /// Negotiates permessage-deflate with `config` (`None`: off) from the client's
    /// offers, and adds the agreement to the 101. Applied once, before the 101 goes out.
    pub(crate) fn set_compression(&mut self, config: Option<&DeflateConfig>) {
        let offers = std::mem::take(&mut self.extensions);
        let Some(config) = config else {
            return;
        };
        if let Some((params, header)) = negotiate(offers.iter().map(String::as_str), config) {
            self.shared
                .lock()
                .set_accept_deflate(&header, (params, config.clone()));
            self.compressed = true;
        }
    }

    /// Whether permessage-deflate was agreed with the client (see
    /// [`Settings::compression`](crate::Settings::compression)).
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// This connection's id, unique across processes in practice (see
    /// [`ConnectionId`]).
    pub fn id(&self) -> ConnectionId {
        self.shared.id()
    }

    /// The subprotocol agreed with the client: the first one it offered that the view
    /// declared with [`View::protocols`](crate::View::protocols); `None` if none matched.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Sends the 101 and waits until the connection is a WebSocket. Every other method
    /// accepts on first use, so calling this is only needed to accept before doing
    /// anything else (for example before a long computation).
    ///
    /// Returns an error that [`is_upgrade`](Error::is_upgrade) if the client went away first. Calling it again is a
    /// no-op.
    pub async fn accept(&mut self) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.lock().poll_accept(cx)
    }

    /// The next message, waiting for it; `None` once the peer closed or the connection
    /// died (then [`close_cause`](Self::close_cause) says which). Messages that arrived
    /// before the close are all returned first. Cancel safe.
    pub async fn wait(&mut self) -> Option<Message> {
        std::future::poll_fn(|cx| self.poll_wait(cx)).await
    }

    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.shared.lock().poll_wait(cx)
    }

    /// A message already received, without waiting; `None` if there is none (django's
    /// `read()`). On a connection not yet accepted this starts the accept and returns
    /// `None`.
    pub fn read(&mut self) -> Option<Message> {
        self.shared.lock().read()
    }

    /// How many received messages are waiting to be taken. The connection task reads
    /// everything the socket has each time it wakes, so this counts all that arrived
    /// before the view last yielded (up to
    /// [`Settings::max_queued_messages`](crate::Settings::max_queued_messages)).
    pub fn count_messages(&self) -> usize {
        self.shared.lock().count_messages()
    }

    /// Whether [`read`](Self::read) would return a message.
    pub fn has_messages(&self) -> bool {
        self.shared.lock().has_messages()
    }

    /// Queues a text or binary message. It is written when the view next waits, together
    /// with whatever else was queued (see the type's docs); waits only when the write
    /// buffer is full. Fails with an error that [`is_closed`](Error::is_closed) once the connection is closing.
    pub async fn send(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        let mut msg = Some(msg.into());
        std::future::poll_fn(|cx| self.poll_send(cx, &mut msg)).await
    }

    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        msg: &mut Option<Message>,
    ) -> Poll<Result<(), Error>> {
        self.shared.lock().poll_send(cx, msg)
    }

    /// Waits until everything queued so far has been written to the socket.
    pub async fn flush(&mut self) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.shared.lock().poll_flush(cx)).await
    }

    /// Starts the closing handshake with `code` and `reason` (at most 123 bytes; longer
    /// is cut at a character boundary). Messages already received stay readable;
    /// [`wait`](Self::wait) returns `None` after them. Closing twice is a no-op. Returning
    /// from the view closes with 1000 anyway, so call this for another code.
    ///
    /// ```no_run
    /// # async fn v(mut req: wsview::Request) -> wsview::Response {
    /// if let Some(ws) = req.websocket() {
    ///     let _ = ws.close(wsview::CloseCode::Policy, "bad token").await;
    /// }
    /// # wsview::Response::empty() }
    /// ```
    pub async fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        let code = sendable(code.into())?;
        self.accept().await?;
        self.shared.lock().close(code, reason);
        Ok(())
    }

    /// Whether the connection is closing or closed (by either side). A connection not
    /// yet accepted is not closed.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().is_closed()
    }

    /// How the connection ended, once it has: the peer's close code and reason, this
    /// side's, a protocol error, or a dropped connection.
    pub fn close_cause(&self) -> Option<CloseCause> {
        self.shared.lock().close_cause()
    }

    /// A handle other tasks can send through; see [`WebSocketSender`]. Taking one does
    /// not accept the connection: messages sent before the view accepts wait for it,
    /// and are dropped if the view refuses the upgrade instead.
    pub fn sender(&self) -> WebSocketSender {
        WebSocketSender::new(self.shared.clone())
    }
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("id", &self.id())
            .field("protocol", &self.protocol)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Iterates over messages until the peer closes, like django-websocket's
/// `for message in request.websocket`.
impl Stream for WebSocket {
    type Item = Message;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.get_mut().poll_wait(cx)
    }
}
