//! The connection task: one task per WebSocket request that polls the view and drives
//! the socket, so pings, closes and other tasks' sends are served even while the view is
//! busy elsewhere, with no task or channel hop on the echo path.
//!
//! Each round: complete the upgrade if due, read every available frame into the queue,
//! poll the view, then write out what the view and other tasks queued, in one write.

use std::future::Future;
use std::io;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use futures_util::{FutureExt, Sink};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use crate::message::{CloseCause, CloseCode, Message};
use crate::response::Response;
use crate::settings::Settings;
use crate::websocket::{Inner, Outgoing, Phase, Shared};

pub(crate) type Engine = WebSocketStream<Transport>;

/// What the connection task tells the HTTP side: send the 101, or this response.
pub(crate) enum Outcome {
    Accept(hyper::Response<Full<Bytes>>),
    Done(Response),
}

/// The socket under the engine: the server's own TCP stream when hyper gives it back
/// (no dynamic dispatch), any upgraded I/O otherwise.
pub(crate) enum Transport {
    Tcp(TcpStream),
    Other(TokioIo<hyper::upgrade::Upgraded>),
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Other(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Other(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_flush(cx),
            Transport::Other(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Other(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

pub(crate) fn engine_config(settings: &Settings) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(settings.read_buffer_size.max(256))
        .write_buffer_size(settings.write_buffer_size)
        .max_message_size(Some(settings.max_message_size))
        .max_frame_size(Some(settings.max_frame_size))
}

/// The engine, and whether it starts with bytes hyper had already read.
fn make_engine(
    upgraded: hyper::upgrade::Upgraded,
    config: WebSocketConfig,
) -> Option<(Engine, bool)> {
    let (transport, leftover) = match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => (Transport::Tcp(parts.io.into_inner()), parts.read_buf),
        Err(upgraded) => (Transport::Other(TokioIo::new(upgraded)), Bytes::new()),
    };
    // Both constructors finish on their first poll; they are async only by signature.
    if leftover.is_empty() {
        WebSocketStream::from_raw_socket(transport, Role::Server, Some(config))
            .now_or_never()
            .map(|engine| (engine, false))
    } else {
        WebSocketStream::from_partially_read(
            transport,
            leftover.to_vec(),
            Role::Server,
            Some(config),
        )
        .now_or_never()
        .map(|engine| (engine, true))
    }
}

/// Every live connection task, so that shutdown can close them with 1001 and wait. A
/// slab: one pointer per connection, slots reused.
#[derive(Default)]
pub(crate) struct Tracker {
    live: Mutex<Slab>,
    emptied: Notify,
}

#[derive(Default)]
struct Slab {
    slots: Vec<Option<Weak<Shared>>>,
    free: Vec<usize>,
    len: usize,
}

impl Tracker {
    fn register(&self, shared: &Arc<Shared>) -> usize {
        let mut live = self.lock();
        live.len += 1;
        let weak = Some(Arc::downgrade(shared));
        match live.free.pop() {
            Some(id) => {
                live.slots[id] = weak;
                id
            }
            None => {
                live.slots.push(weak);
                live.slots.len() - 1
            }
        }
    }

    fn remove(&self, id: usize) {
        let mut live = self.lock();
        if let Some(slot) = live.slots.get_mut(id) {
            if slot.take().is_some() {
                live.len -= 1;
                live.free.push(id);
            }
        }
        if live.len == 0 {
            self.emptied.notify_waiters();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slab> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many WebSocket connections are live.
    pub(crate) fn len(&self) -> usize {
        self.lock().len
    }

    /// Asks every live connection to close with 1001, then waits until all ended or
    /// `timeout` passed.
    pub(crate) async fn shutdown(&self, timeout: Duration) {
        let emptied = self.emptied.notified();
        tokio::pin!(emptied);
        emptied.as_mut().enable();
        let live: Vec<Arc<Shared>> = self
            .lock()
            .slots
            .iter()
            .flatten()
            .filter_map(Weak::upgrade)
            .collect();
        if live.is_empty() {
            return;
        }
        for shared in &live {
            let mut inner = shared.lock();
            inner.shutdown = true;
            if let Some(w) = &inner.task_waker {
                w.wake_by_ref();
            }
        }
        drop(live);
        if tokio::time::timeout(timeout, emptied).await.is_err() {
            tracing::warn!(
                left = self.len(),
                "websocket connections still open after the close timeout"
            );
        }
    }
}

/// The task that runs one WebSocket request: its middleware chain and view, and its
/// socket once accepted.
pub(crate) struct ConnTask {
    view: Option<Pin<Box<dyn Future<Output = Response> + Send>>>,
    shared: Arc<Shared>,
    config: WebSocketConfig,
    close_timeout: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The close code owed once the view has finished (1000, or 1011 after a panic).
    final_code: Option<CloseCode>,
    /// Armed while the queue is full: a view that takes nothing for `close_timeout`
    /// would otherwise leave the connection deaf (no pings answered, no close seen).
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
    tracker: Arc<Tracker>,
    id: usize,
}

impl ConnTask {
    pub(crate) fn new(
        view: Pin<Box<dyn Future<Output = Response> + Send>>,
        shared: Arc<Shared>,
        settings: &Settings,
        tracker: Arc<Tracker>,
    ) -> Self {
        let id = tracker.register(&shared);
        ConnTask {
            view: Some(view),
            shared,
            config: engine_config(settings),
            close_timeout: settings.close_timeout,
            deadline: None,
            final_code: None,
            stall: None,
            tracker,
            id,
        }
    }

    /// The view returned (`Some`) or panicked (`None`).
    fn view_finished(&mut self, response: Option<Response>) {
        let mut inner = self.shared.lock();
        if let Phase::Pending { .. } = inner.phase {
            let Phase::Pending { reply, .. } = std::mem::replace(&mut inner.phase, Phase::Ended)
            else {
                return;
            };
            // Refused before accepting: the view's response is the answer to the upgrade.
            let response = response.unwrap_or_else(Response::internal_error);
            let _ = reply.send(Outcome::Done(response));
            return;
        }
        drop(inner);
        self.final_code = Some(if response.is_some() {
            CloseCode::Normal
        } else {
            CloseCode::Error
        });
        arm(&mut self.deadline, self.close_timeout);
    }
}

/// Whether an armed timer has gone off (registering the waker when not).
fn fired(timer: &mut Option<Pin<Box<tokio::time::Sleep>>>, cx: &mut Context<'_>) -> bool {
    timer
        .as_mut()
        .is_some_and(|t| t.as_mut().poll(cx).is_ready())
}

/// Bounds the closing handshake: a peer that never answers our close cannot hold the
/// connection, or a view waiting on it, past `close_timeout`.
fn arm(deadline: &mut Option<Pin<Box<tokio::time::Sleep>>>, timeout: Duration) {
    if deadline.is_none() {
        *deadline = Some(Box::pin(tokio::time::sleep(timeout)));
    }
}

impl Drop for ConnTask {
    fn drop(&mut self) {
        self.tracker.remove(self.id);
        let mut inner = self.shared.lock();
        inner.end();
        inner.lose();
    }
}

impl Future for ConnTask {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            let room_was_short;
            {
                let mut inner = this.shared.lock();
                match &inner.task_waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => inner.task_waker = Some(cx.waker().clone()),
                }
                inner.poked = false;
                room_was_short = drive_in(&mut inner, cx, &this.config);
                inner.polling_view = this.view.is_some();
            }
            let mut again = false;
            if let Some(view) = this.view.as_mut() {
                let polled = std::panic::catch_unwind(AssertUnwindSafe(|| view.as_mut().poll(cx)));
                this.shared.lock().polling_view = false;
                match polled {
                    Ok(Poll::Pending) => {}
                    Ok(Poll::Ready(response)) => {
                        this.view = None;
                        this.view_finished(Some(response));
                        again = true;
                    }
                    Err(panic) => {
                        let what = crate::app::panic_text(&panic);
                        tracing::error!(panic = %what, "websocket view panicked; closing with 1011");
                        this.view = None;
                        this.view_finished(None);
                        again = true;
                    }
                }
            }
            let mut inner = this.shared.lock();
            if this.view.is_none() {
                inner.inbound.clear(); // nobody will read them; keep reading to the close
            }
            if inner.inbound.is_empty() {
                if let Some((code, detail)) = inner.pending_error.take() {
                    // A close this side already queued (the view's) is the one sent.
                    if !inner.close_queued {
                        inner.cause = Some(CloseCause::Error { code, detail });
                        inner.queue_close(code, "");
                    }
                }
            }
            let drained = drain_outgoing(&mut inner, cx, this.view.is_none());
            if let Some(code) = this.final_code {
                // What other tasks queued before the view returned goes out first.
                if drained && !inner.peer_closed && !inner.read_done {
                    inner.queue_close(code, "");
                }
            }
            drive_out(&mut inner, cx);
            if inner.inbound.is_full() && !inner.stalled {
                arm(&mut this.stall, this.close_timeout);
                if fired(&mut this.stall, cx) {
                    tracing::debug!(
                        "the view took no message for the close timeout; closing with 1008"
                    );
                    inner.stalled = true;
                    inner.queue_close(CloseCode::Policy, "message queue full");
                    again = true;
                }
            } else if !inner.inbound.is_full() {
                this.stall = None;
            }
            if inner.close_queued {
                arm(&mut this.deadline, this.close_timeout);
            }
            let timed_out = fired(&mut this.deadline, cx);
            if timed_out && !matches!(inner.phase, Phase::Ended) {
                tracing::debug!("closing handshake timed out; dropping the connection");
                inner.end();
                again = true; // let the view see the end
            }
            if this.view.is_none() && (timed_out || matches!(inner.phase, Phase::Ended)) {
                return Poll::Ready(());
            }
            let room_now = room_was_short && !inner.inbound.is_full();
            if !(again || inner.poked || room_now) {
                return Poll::Pending;
            }
        }
    }
}

/// Completes the upgrade when due and reads every available message. Returns true if it
/// stopped because the queue was full.
fn drive_in(inner: &mut Inner, cx: &mut Context<'_>, config: &WebSocketConfig) -> bool {
    if let Phase::Accepting(on_upgrade) = &mut inner.phase {
        match Pin::new(on_upgrade).poll(cx) {
            Poll::Pending => return false,
            Poll::Ready(Err(e)) => {
                inner.fail_upgrade(e.to_string());
                return false;
            }
            Poll::Ready(Ok(upgraded)) => match make_engine(upgraded, *config) {
                Some((engine, buffered)) => {
                    inner.phase = Phase::Open(Box::new(engine));
                    inner.read_blocked = !buffered;
                    inner.after_read(); // an `accept` polled elsewhere
                }
                None => {
                    inner.fail_upgrade("the websocket engine did not start".into());
                    return false;
                }
            },
        }
    }
    if inner.shutdown && !inner.read_done && inner.pending_error.is_none() {
        inner.queue_close(CloseCode::Away, "server shutting down");
    }
    let mut received = false;
    let mut full = false;
    while !inner.read_done {
        if inner.inbound.is_full() && !inner.stalled {
            full = true;
            break;
        }
        let Phase::Open(engine) = &mut inner.phase else {
            break;
        };
        if inner.read_blocked {
            if let Transport::Tcp(tcp) = engine.get_ref() {
                if tcp.poll_read_ready(cx).is_pending() {
                    break;
                }
            }
        }
        use tokio_tungstenite::tungstenite::Message as M;
        let polled = Pin::new(&mut **engine).poll_next(cx);
        inner.read_blocked = polled.is_pending();
        match polled {
            Poll::Pending => break,
            Poll::Ready(Some(Ok(msg))) => match msg {
                M::Text(_) | M::Binary(_) if inner.stalled => {}
                M::Text(t) => {
                    inner.inbound.push_back(Message::Text(t));
                    received = true;
                }
                M::Binary(b) => {
                    inner.inbound.push_back(Message::Binary(b));
                    received = true;
                }
                M::Close(frame) => {
                    // tungstenite has queued the reply; it leaves at the next flush.
                    inner.read_done = true;
                    inner.peer_closed = true;
                    if !inner.close_queued {
                        inner.cause = Some(match frame {
                            Some(f) => CloseCause::Peer {
                                code: Some(f.code),
                                reason: f.reason.as_str().to_owned(),
                            },
                            None => CloseCause::Peer {
                                code: None,
                                reason: String::new(),
                            },
                        });
                    }
                }
                M::Ping(_) | M::Pong(_) | M::Frame(_) => {}
            },
            Poll::Ready(Some(Err(e))) => {
                inner.read_done = true;
                on_read_error(inner, e);
            }
            Poll::Ready(None) => inner.lose(),
        }
    }
    if received || inner.read_done {
        inner.after_read();
    }
    full
}

/// Closes with the code RFC 6455 §7.4.1 gives for the error, when the socket is still
/// usable.
fn on_read_error(inner: &mut Inner, e: WsError) {
    let (code, detail) = match &e {
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => (CloseCode::Size, e.to_string()),
        WsError::Capacity(_) => (CloseCode::Size, e.to_string()),
        WsError::Utf8(_) => (CloseCode::Invalid, e.to_string()),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            inner.cause.get_or_insert(CloseCause::ConnectionLost);
            return;
        }
        WsError::Protocol(_) => (CloseCode::Protocol, e.to_string()),
        _ => {
            inner.cause.get_or_insert(CloseCause::ConnectionLost);
            return;
        }
    };
    tracing::debug!(%detail, "closing websocket on a peer error");
    inner.pending_error = Some((code, detail));
}

/// Moves other tasks' messages into the engine, while it takes them. Once the view has
/// finished (`finishing`), no new message is accepted and what was queued is drained.
/// Returns true when nothing is left queued.
fn drain_outgoing(inner: &mut Inner, cx: &mut Context<'_>, finishing: bool) -> bool {
    let Phase::Open(engine) = &mut inner.phase else {
        return true;
    };
    let Some((_, rx)) = &mut inner.outgoing else {
        return true;
    };
    if finishing || inner.close_queued || inner.peer_closed {
        rx.close();
    }
    let mut engine = Pin::new(&mut **engine);
    let mut failed = false;
    let mut drained = false;
    while !(inner.close_queued || inner.peer_closed) {
        match engine.as_mut().poll_ready(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(_)) => {
                failed = true;
                break;
            }
            Poll::Pending => break,
        }
        match rx.poll_recv(cx) {
            Poll::Ready(Some(Outgoing::Message(m))) => {
                if engine.as_mut().start_send(m.into_tungstenite()).is_err() {
                    failed = true;
                    break;
                }
            }
            Poll::Ready(Some(Outgoing::Close(code, reason))) => {
                let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
                    code,
                    reason: reason.into(),
                };
                inner.close_queued = true;
                inner.cause.get_or_insert(CloseCause::Server { code });
                let close = tokio_tungstenite::tungstenite::Message::Close(Some(frame));
                if engine.as_mut().start_send(close).is_err() {
                    failed = true;
                }
                break;
            }
            Poll::Ready(None) => {
                drained = true;
                break;
            }
            Poll::Pending => {
                drained = !finishing;
                break;
            }
        }
    }
    if failed {
        inner.lose();
    }
    drained || inner.close_queued || inner.peer_closed || failed
}

/// Writes everything out. Ends the engine once reading is over and the last bytes are
/// written.
fn drive_out(inner: &mut Inner, cx: &mut Context<'_>) {
    let Phase::Open(engine) = &mut inner.phase else {
        return;
    };
    let mut engine = Pin::new(&mut **engine);
    let mut failed = false;
    let flushed = match engine.as_mut().poll_flush(cx) {
        Poll::Ready(Ok(())) => true,
        Poll::Ready(Err(_)) => {
            failed = true;
            true
        }
        Poll::Pending => false,
    };
    if failed {
        inner.lose();
    }
    if flushed {
        inner.after_write();
    }
    if inner.read_done && flushed && inner.pending_error.is_none() {
        // Dropping the engine closes the TCP connection: the server closes first
        // (RFC 6455 §7.1.1).
        inner.end();
    }
}
