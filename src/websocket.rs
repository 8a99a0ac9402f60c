//! The `WebSocket` object a view receives, and the handle other tasks send with.
//!
//! # How a connection runs
//!
//! A WebSocket request runs its whole middleware chain and view in one task, the
//! connection task ([`crate::connection`]). Each time that task wakes it reads every
//! frame the socket has (answering pings and closes), then polls the view, then writes
//! everything the view queued in one write. So a view's `send` does not write by itself:
//! it queues the frame, and the frames a view sends between two waits leave together.
//! No extra task and no channel sit between the socket and the view.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_core::Stream;
use futures_util::Sink;
use http_body_util::Full;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use crate::connection::{Engine, Outcome};
use crate::error::Error;
use crate::message::{CloseCause, CloseCode, Message};

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
    protocol: Option<String>,
}

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

pub(crate) enum Outgoing {
    Message(Message),
    Close(CloseCode, String),
}

/// State shared by the view's `WebSocket`, the connection task and the server.
pub(crate) struct Shared {
    inner: Mutex<Inner>,
}

pub(crate) enum Phase {
    /// The view has not used the socket; the 101 has not been sent.
    Pending {
        reply: oneshot::Sender<Outcome>,
        on_upgrade: hyper::upgrade::OnUpgrade,
    },
    /// The 101 is on its way; hyper hands over the connection next.
    Accepting(hyper::upgrade::OnUpgrade),
    /// Frames flow.
    Open(Box<Engine>),
    /// The engine is gone: closed, failed, or never accepted.
    Ended,
}

pub(crate) struct Inner {
    pub(crate) phase: Phase,
    /// Received messages the view has not taken yet.
    pub(crate) inbound: Inbound,
    /// No more messages will arrive.
    pub(crate) read_done: bool,
    /// The engine's last read found no complete frame: read again only once the socket
    /// is readable. Besides a wasted call, a read costs tungstenite a zero-fill of its
    /// buffer, which an idle connection then keeps resident.
    pub(crate) read_blocked: bool,
    /// The peer's close frame arrived (tungstenite answers it).
    pub(crate) peer_closed: bool,
    /// This side queued a close frame.
    pub(crate) close_queued: bool,
    /// The peer broke the protocol: close with this once the view has taken the
    /// messages that arrived before the error, so replies keep their order.
    pub(crate) pending_error: Option<(CloseCode, String)>,
    /// The view left the queue full for `close_timeout`: the connection was closed with
    /// 1008 and data still arriving is dropped, so the peer's close is read.
    pub(crate) stalled: bool,
    pub(crate) cause: Option<CloseCause>,
    /// Why the upgrade failed, for `accept`'s error.
    pub(crate) upgrade_error: Option<String>,
    /// The 101 response, built by the middleware, sent on first use (boxed: it is dead
    /// weight in every open connection after that).
    pub(crate) accept_response: Option<Box<hyper::Response<Full<Bytes>>>>,
    /// Something the connection task must act on happened outside its own poll.
    pub(crate) poked: bool,
    /// True while the connection task polls the view: no need to wake it then.
    pub(crate) polling_view: bool,
    pub(crate) task_waker: Option<Waker>,
    /// A `wait` polled from another task than the connection's.
    pub(crate) reader_waker: Option<Waker>,
    /// A `send` or `flush` from another task, waiting for the connection task to write:
    /// the engine keeps one write waker, which the connection task's own flush takes.
    pub(crate) writer_waker: Option<Waker>,
    pub(crate) outgoing: Option<(mpsc::Sender<Outgoing>, mpsc::Receiver<Outgoing>)>,
    pub(crate) shutdown: bool,
    pub(crate) sender_capacity: usize,
}

/// The queue of received messages, bounded by count and by bytes: while it is full the
/// connection stops reading (the bound can be passed by the one message read last).
pub(crate) struct Inbound {
    messages: VecDeque<Message>,
    bytes: usize,
    max_messages: usize,
    max_bytes: usize,
}

impl Inbound {
    fn new(max_messages: usize, max_bytes: usize) -> Self {
        Inbound {
            messages: VecDeque::new(),
            bytes: 0,
            max_messages: max_messages.max(1),
            max_bytes: max_bytes.max(1),
        }
    }

    pub(crate) fn push_back(&mut self, msg: Message) {
        self.bytes += msg.len();
        self.messages.push_back(msg);
    }

    pub(crate) fn pop_front(&mut self) -> Option<Message> {
        let msg = self.messages.pop_front()?;
        self.bytes -= msg.len();
        Some(msg)
    }

    pub(crate) fn clear(&mut self) {
        self.messages.clear();
        self.bytes = 0;
    }

    pub(crate) fn len(&self) -> usize {
        self.messages.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.messages.len() >= self.max_messages || self.bytes >= self.max_bytes
    }
}

impl Shared {
    pub(crate) fn new(
        reply: oneshot::Sender<Outcome>,
        on_upgrade: hyper::upgrade::OnUpgrade,
        max_queued: usize,
        max_queued_bytes: usize,
        sender_capacity: usize,
    ) -> Arc<Self> {
        Arc::new(Shared {
            inner: Mutex::new(Inner {
                phase: Phase::Pending { reply, on_upgrade },
                inbound: Inbound::new(max_queued, max_queued_bytes),
                read_done: false,
                read_blocked: false,
                peer_closed: false,
                close_queued: false,
                pending_error: None,
                stalled: false,
                cause: None,
                upgrade_error: None,
                accept_response: None,
                poked: false,
                polling_view: false,
                task_waker: None,
                reader_waker: None,
                writer_waker: None,
                outgoing: None,
                shutdown: false,
                sender_capacity: sender_capacity.max(1),
            }),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while locked leaves no half-updated invariant worth refusing service for.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    /// Asks the connection task to run another round.
    fn poke(&mut self) {
        self.poked = true;
        if !self.polling_view {
            if let Some(w) = &self.task_waker {
                w.wake_by_ref();
            }
        }
    }

    /// Sends the 101 if nobody has yet.
    fn start_accept(&mut self) {
        if !matches!(self.phase, Phase::Pending { .. }) {
            return;
        }
        let Phase::Pending { reply, on_upgrade } = std::mem::replace(&mut self.phase, Phase::Ended)
        else {
            return;
        };
        let Some(response) = self.accept_response.take() else {
            self.fail_upgrade("no handshake response was prepared".into());
            return;
        };
        if reply.send(Outcome::Accept(*response)).is_err() {
            self.fail_upgrade("the client went away before the handshake".into());
            return;
        }
        self.phase = Phase::Accepting(on_upgrade);
        self.poke();
    }

    pub(crate) fn fail_upgrade(&mut self, why: String) {
        self.upgrade_error = Some(why);
        self.end();
        self.lose();
    }

    /// No more data can come: the connection dropped (the cause, unless one is known).
    pub(crate) fn lose(&mut self) {
        self.read_done = true;
        self.cause.get_or_insert(CloseCause::ConnectionLost);
    }

    /// The engine is gone (dropping it closes the socket): senders fail from now on and
    /// every waiting `wait`, `send` or `flush` is woken to see it.
    pub(crate) fn end(&mut self) {
        self.phase = Phase::Ended;
        self.read_done = true;
        self.pending_error = None;
        self.close_senders();
        self.after_read();
        self.after_write();
    }

    fn closed_error(&self) -> Error {
        match &self.upgrade_error {
            Some(why) => Error::Upgrade(why.clone()),
            None => Error::Closed(self.cause.clone()),
        }
    }

    /// Queues a close frame on the engine, once. Callers check `read_done` where a
    /// peer's close makes ours pointless; after a peer error ours must still go out.
    pub(crate) fn queue_close(&mut self, code: CloseCode, reason: &str) {
        if self.close_queued {
            return;
        }
        let Phase::Open(engine) = &mut self.phase else {
            return;
        };
        self.close_queued = true;
        self.cause.get_or_insert(CloseCause::Server { code });
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let msg = tokio_tungstenite::tungstenite::Message::Close(Some(frame));
        // A write error surfaces at the next flush, where the task handles it.
        let _ = Pin::new(&mut **engine).start_send(msg);
    }

    /// No more outgoing data can be written: senders fail from now on.
    pub(crate) fn close_senders(&mut self) {
        if let Some((_, rx)) = &mut self.outgoing {
            rx.close();
        }
    }

    pub(crate) fn after_read(&mut self) {
        if let Some(w) = self.reader_waker.take() {
            w.wake();
        }
    }

    /// The connection task wrote everything out (or the connection ended).
    pub(crate) fn after_write(&mut self) {
        if let Some(w) = self.writer_waker.take() {
            w.wake();
        }
    }
}

impl WebSocket {
    pub(crate) fn new(
        shared: Arc<Shared>,
        accept_response: hyper::Response<Full<Bytes>>,
        offered: Vec<String>,
    ) -> Self {
        shared.lock().accept_response = Some(Box::new(accept_response));
        WebSocket {
            shared,
            offered,
            protocol: None,
        }
    }

    pub(crate) fn offered_protocols(&self) -> &[String] {
        &self.offered
    }

    /// Records the negotiated subprotocol and adds it to the 101.
    pub(crate) fn set_protocol(&mut self, protocol: Option<String>) {
        if let Some(p) = &protocol {
            let mut inner = self.shared.lock();
            if let (Some(resp), Ok(value)) = (
                inner.accept_response.as_mut(),
                http::HeaderValue::from_str(p),
            ) {
                resp.headers_mut()
                    .insert(http::header::SEC_WEBSOCKET_PROTOCOL, value);
            }
        }
        self.protocol = protocol;
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
    /// Returns [`Error::Upgrade`] if the client went away first. Calling it again is a
    /// no-op.
    pub async fn accept(&mut self) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut inner = self.shared.lock();
        inner.start_accept();
        match inner.phase {
            Phase::Open(_) => Poll::Ready(Ok(())),
            Phase::Ended => {
                if inner.upgrade_error.is_some() {
                    Poll::Ready(Err(inner.closed_error()))
                } else {
                    Poll::Ready(Ok(()))
                }
            }
            _ => {
                register(&mut inner, cx);
                Poll::Pending
            }
        }
    }

    /// The next message, waiting for it; `None` once the peer closed or the connection
    /// died (then [`close_cause`](Self::close_cause) says which). Messages that arrived
    /// before the close are all returned first. Cancel safe.
    pub async fn wait(&mut self) -> Option<Message> {
        std::future::poll_fn(|cx| self.poll_wait(cx)).await
    }

    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        let mut inner = self.shared.lock();
        let was_full = inner.inbound.is_full();
        if let Some(msg) = inner.inbound.pop_front() {
            if (was_full && !inner.inbound.is_full())
                || (inner.inbound.is_empty() && inner.pending_error.is_some())
            {
                inner.poke(); // room again, or the error close is due now
            }
            return Poll::Ready(Some(msg));
        }
        inner.start_accept();
        if inner.read_done || matches!(inner.phase, Phase::Ended) {
            return Poll::Ready(None);
        }
        register(&mut inner, cx);
        Poll::Pending
    }

    /// A message already received, without waiting; `None` if there is none (django's
    /// `read()`). On a connection not yet accepted this starts the accept and returns
    /// `None`.
    pub fn read(&mut self) -> Option<Message> {
        let mut inner = self.shared.lock();
        let was_full = inner.inbound.is_full();
        let msg = inner.inbound.pop_front();
        if msg.is_some() {
            if (was_full && !inner.inbound.is_full())
                || (inner.inbound.is_empty() && inner.pending_error.is_some())
            {
                inner.poke();
            }
        } else {
            inner.start_accept();
        }
        msg
    }

    /// How many received messages are waiting to be taken. The connection task reads
    /// everything the socket has each time it wakes, so this counts all that arrived
    /// before the view last yielded (up to
    /// [`Settings::max_queued_messages`](crate::Settings::max_queued_messages)).
    pub fn count_messages(&self) -> usize {
        self.shared.lock().inbound.len()
    }

    /// Whether [`read`](Self::read) would return a message.
    pub fn has_messages(&self) -> bool {
        !self.shared.lock().inbound.is_empty()
    }

    /// Queues a text or binary message. It is written when the view next waits, together
    /// with whatever else was queued (see the type's docs); waits only when the write
    /// buffer is full. Fails with [`Error::Closed`] once the connection is closing.
    pub async fn send(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        let mut msg = Some(msg.into());
        std::future::poll_fn(|cx| self.poll_send(cx, &mut msg)).await
    }

    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        msg: &mut Option<Message>,
    ) -> Poll<Result<(), Error>> {
        let mut inner = self.shared.lock();
        inner.start_accept();
        let inner = &mut *inner;
        if inner.close_queued || inner.peer_closed {
            return Poll::Ready(Err(inner.closed_error()));
        }
        match &mut inner.phase {
            Phase::Open(engine) => {
                let mut engine = Pin::new(&mut **engine);
                match engine.as_mut().poll_ready(cx) {
                    Poll::Pending => {
                        register_writer(inner, cx);
                        return Poll::Pending;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::Protocol(e))),
                    Poll::Ready(Ok(())) => {}
                }
                let Some(msg) = msg.take() else {
                    return Poll::Ready(Ok(()));
                };
                let result = engine.start_send(msg.into_tungstenite());
                if !inner.polling_view {
                    inner.poke(); // queued from outside the task: have it flushed
                }
                Poll::Ready(result.map_err(|e| match e {
                    WsError::ConnectionClosed
                    | WsError::AlreadyClosed
                    | WsError::Protocol(ProtocolError::SendAfterClosing) => inner.closed_error(),
                    e => Error::Protocol(e),
                }))
            }
            Phase::Ended => Poll::Ready(Err(inner.closed_error())),
            _ => {
                register(inner, cx);
                Poll::Pending
            }
        }
    }

    /// Waits until everything queued so far has been written to the socket.
    pub async fn flush(&mut self) -> Result<(), Error> {
        std::future::poll_fn(|cx| {
            let mut inner = self.shared.lock();
            match &mut inner.phase {
                Phase::Open(engine) => {
                    let flushed = Pin::new(&mut **engine).poll_flush(cx);
                    if flushed.is_pending() {
                        register_writer(&mut inner, cx);
                    }
                    flushed.map_err(Error::Protocol)
                }
                Phase::Ended => Poll::Ready(Ok(())),
                _ => {
                    inner.start_accept();
                    register(&mut inner, cx);
                    Poll::Pending
                }
            }
        })
        .await
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
        let mut inner = self.shared.lock();
        if !inner.peer_closed {
            inner.queue_close(code, truncate_reason(reason));
            inner.poke();
        }
        Ok(())
    }

    /// Whether the connection is closing or closed (by either side). A connection not
    /// yet accepted is not closed.
    pub fn is_closed(&self) -> bool {
        let inner = self.shared.lock();
        inner.close_queued
            || inner.read_done
            || (matches!(inner.phase, Phase::Ended) && inner.cause.is_some())
    }

    /// How the connection ended, once it has: the peer's close code and reason, this
    /// side's, a protocol error, or a dropped connection.
    pub fn close_cause(&self) -> Option<CloseCause> {
        let inner = self.shared.lock();
        // A peer error is recorded as the cause only when its close frame is queued,
        // after the view has taken the messages before it; `wait` already returns
        // `None` by then, so report the error it is closing with.
        inner.cause.clone().or_else(|| {
            inner
                .pending_error
                .as_ref()
                .map(|(code, detail)| CloseCause::Error {
                    code: *code,
                    detail: detail.clone(),
                })
        })
    }

    /// A handle other tasks can send through; see [`WebSocketSender`]. Taking one does
    /// not accept the connection: messages sent before the view accepts wait for it,
    /// and are dropped if the view refuses the upgrade instead.
    pub fn sender(&self) -> WebSocketSender {
        let mut inner = self.shared.lock();
        let capacity = inner.sender_capacity;
        let tx = match &inner.outgoing {
            Some((tx, _)) => tx.clone(),
            None => {
                let (tx, mut rx) = mpsc::channel(capacity);
                if matches!(inner.phase, Phase::Ended) || inner.close_queued || inner.peer_closed {
                    rx.close();
                }
                inner.outgoing = Some((tx.clone(), rx));
                inner.poke(); // the task must start polling the queue
                tx
            }
        };
        WebSocketSender { tx }
    }
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("protocol", &self.protocol)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Whether `cx` belongs to the connection task, which needs no waker registered: it
/// runs again whenever anything happens, and flushes every round.
fn polled_by_connection_task(inner: &Inner, cx: &Context<'_>) -> bool {
    inner
        .task_waker
        .as_ref()
        .is_some_and(|w| w.will_wake(cx.waker()))
}

/// Registers a future waiting for a message from another task.
fn register(inner: &mut Inner, cx: &mut Context<'_>) {
    if !polled_by_connection_task(inner, cx) {
        inner.reader_waker = Some(cx.waker().clone());
    }
}

/// Registers a write from another task: it waits on the connection task (the engine
/// keeps one write waker, which the connection task's own flush takes), which wakes it
/// once it has flushed.
fn register_writer(inner: &mut Inner, cx: &mut Context<'_>) {
    if !polled_by_connection_task(inner, cx) {
        inner.writer_waker = Some(cx.waker().clone());
        inner.poke();
    }
}

/// Refuses the codes RFC 6455 reserves for reporting (1005, 1006, 1015) and those
/// outside the allowed ranges: a peer would fail the connection on them.
fn sendable(code: CloseCode) -> Result<CloseCode, Error> {
    if code.is_allowed() {
        Ok(code)
    } else {
        Err(Error::InvalidCloseCode(code.into()))
    }
}

fn truncate_reason(reason: &str) -> &str {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// Iterates over messages until the peer closes, like django-websocket's
/// `for message in request.websocket`.
impl Stream for WebSocket {
    type Item = Message;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.get_mut().poll_wait(cx)
    }
}

impl WebSocketSender {
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

#[cfg(test)]
mod tests {
    use super::truncate_reason;

    #[test]
    fn reason_cut_at_char_boundary() {
        let long = "é".repeat(100);
        let cut = truncate_reason(&long);
        assert!(cut.len() <= 123);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(truncate_reason("short"), "short");
    }
}
