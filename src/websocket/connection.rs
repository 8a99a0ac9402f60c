//! The connection state machine: everything one WebSocket connection knows, shared by
//! the view's [`WebSocket`](crate::WebSocket), its senders, the connection task and the
//! tracker, behind one lock. Its fields are private: the other files ask it to act
//! (read, send, close, end), so its invariants hold in this file alone.

use std::collections::VecDeque;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use tokio::sync::mpsc;

use crate::body::Body;
use crate::error::Error;
use crate::id::ConnectionId;
use crate::message::{CloseCause, CloseCode, Message};
use crate::response::Response;
use crate::settings::Settings;
use crate::websocket::handover::{switching_head, DirectIo, Handover, Outcome};
use crate::websocket::push::PushQueue;
use crate::websocket::wire::{Deflate, Incoming, ReadError, Wire, WireConfig};

/// What other tasks queue through a [`WebSocketSender`](crate::WebSocketSender).
pub(crate) enum Outgoing {
    Message(Message),
    Close(CloseCode, String),
}

/// State shared by the view's `WebSocket`, the connection task and the server.
pub(crate) struct Shared {
    /// The counter part of the connection's id (the node part is the process's).
    id: u64,
    inner: Mutex<Inner>,
}

/// A callback run once when the connection ends.
pub(crate) type EndHook = Box<dyn FnOnce(ConnectionId) + Send>;

/// The lock on a connection's state. Dropping it releases the lock, then runs the
/// `on_end` callbacks if the connection ended while it was held.
pub(crate) struct Locked<'a> {
    shared: &'a Shared,
    inner: Option<MutexGuard<'a, Inner>>,
}

impl Deref for Locked<'_> {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        // Some until drop.
        self.inner.as_deref().unwrap_or_else(|| unreachable!())
    }
}

impl DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        self.inner.as_deref_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        if !self.inner.as_ref().is_some_and(|inner| inner.end_due) {
            return; // the common case: the guard unlocks as it drops
        }
        let due = match self.inner.as_mut() {
            Some(inner) if inner.end_due => {
                inner.end_due = false;
                inner
                    .end_hooks
                    .take()
                    .map(|hooks| *hooks)
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        };
        self.inner = None; // unlock first
        for hook in due {
            self.shared.run_end_hook(hook);
        }
    }
}

enum Phase {
    /// The view has not used the socket; the 101 has not been sent.
    Pending(Handover),
    /// The 101 is on its way; hyper hands over the connection next.
    Accepting(hyper::upgrade::OnUpgrade),
    /// Frames flow.
    Open(Box<Wire>),
    /// The engine is gone: closed, failed, or never accepted.
    Ended,
}

/// Where the closing handshake stands: the one place that says whether messages still
/// arrive, whether this side may still send, and whether a close is owed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Closing {
    /// Neither side has closed: frames flow both ways.
    Open,
    /// This side queued its close frame; the peer's reply is still to be read.
    Sent,
    /// The peer's close frame arrived first; the engine has queued the reply. Nothing
    /// more is read or may be sent.
    Received,
    /// Both close frames are exchanged.
    Done,
    /// The peer broke the protocol; nothing more is read. This side closes with `code`
    /// once the view has taken the messages that arrived before the error, so replies
    /// keep their order (unless it had already sent its close: `sent`).
    Failing {
        code: CloseCode,
        detail: String,
        sent: bool,
    },
    /// Reading is over without the peer's close frame: the connection dropped, an error
    /// close went out, or the connection was ended (`sent`: this side queued a close).
    Stopped { sent: bool },
}

impl Closing {
    /// No more messages will arrive.
    fn read_done(&self) -> bool {
        !matches!(self, Closing::Open | Closing::Sent)
    }

    /// This side has queued its close frame.
    fn sent(&self) -> bool {
        match self {
            Closing::Sent | Closing::Done => true,
            Closing::Failing { sent, .. } | Closing::Stopped { sent } => *sent,
            Closing::Open | Closing::Received => false,
        }
    }

    /// The peer's close frame arrived.
    fn received(&self) -> bool {
        matches!(self, Closing::Received | Closing::Done)
    }

    /// Sending is over: this side closed, or the peer did.
    fn send_done(&self) -> bool {
        self.sent() || self.received()
    }

    /// A peer error whose close is still owed.
    fn pending_error(&self) -> Option<(CloseCode, &str)> {
        match self {
            Closing::Failing { code, detail, .. } => Some((*code, detail)),
            _ => None,
        }
    }

    /// This side queued its close frame.
    fn on_close_sent(&mut self) {
        *self = match std::mem::replace(self, Closing::Open) {
            Closing::Open | Closing::Sent => Closing::Sent,
            Closing::Received | Closing::Done => Closing::Done,
            Closing::Failing { code, detail, .. } => Closing::Failing {
                code,
                detail,
                sent: true,
            },
            Closing::Stopped { .. } => Closing::Stopped { sent: true },
        };
    }

    /// The peer's close frame arrived.
    fn on_close_received(&mut self) {
        *self = if self.sent() {
            Closing::Done
        } else {
            Closing::Received
        };
    }

    /// The peer broke the protocol.
    fn on_peer_error(&mut self, code: CloseCode, detail: String) {
        let sent = self.sent();
        *self = Closing::Failing { code, detail, sent };
    }

    /// Reading ended without a close frame; a pending error close stays owed.
    fn on_read_stopped(&mut self) {
        if matches!(self, Closing::Open | Closing::Sent) {
            *self = Closing::Stopped { sent: self.sent() };
        }
    }

    /// The engine is gone: nothing more is read, and no error close is owed.
    fn on_end(&mut self) {
        if !self.received() {
            *self = Closing::Stopped { sent: self.sent() };
        }
    }

    /// Takes the pending error close, if one is owed: `(code, detail, already sent)`.
    fn take_error(&mut self) -> Option<(CloseCode, String, bool)> {
        if !matches!(self, Closing::Failing { .. }) {
            return None;
        }
        match std::mem::replace(self, Closing::Open) {
            Closing::Failing { code, detail, sent } => {
                *self = Closing::Stopped { sent };
                Some((code, detail, sent))
            }
            other => {
                *self = other;
                None
            }
        }
    }
}

pub(crate) struct Inner {
    phase: Phase,
    /// A request the server read itself, answered by the view without accepting: the
    /// response and the socket, for the connection's task to answer over HTTP.
    refused: Option<Box<(Response, Box<DirectIo>)>>,
    /// Received messages the view has not taken yet.
    inbound: Inbound,
    /// Where the closing handshake stands.
    closing: Closing,
    /// The engine's last read found no complete frame: read again only once the socket
    /// is readable, not with a wasted call.
    read_blocked: bool,
    /// Data messages read so far (wrapping): a new count while input is pending means
    /// the pending input is a new message (the task's deadline restarts).
    messages_in: u32,
    /// The view left the queue full for `close_timeout`: the connection was closed with
    /// 1008 and data still arriving is dropped, so the peer's close is read.
    stalled: bool,
    cause: Option<CloseCause>,
    /// Why the upgrade failed, for `accept`'s error.
    upgrade_error: Option<String>,
    /// The 101 response, built by the middleware, sent on first use (boxed: it is dead
    /// weight in every open connection after that).
    accept_response: Option<Box<http::Response<Body>>>,
    /// permessage-deflate, when the handshake negotiated it (boxed: most connections
    /// have none).
    deflate: Option<Box<Deflate>>,
    /// Something the connection task must act on happened outside its own poll.
    poked: bool,
    /// True while the connection task polls the view: no need to wake it then.
    polling_view: bool,
    task_waker: Option<Waker>,
    /// A `wait` polled from another task than the connection's.
    reader_waker: Option<Waker>,
    /// A `send` or `flush` from another task, waiting for the connection task to write:
    /// the engine keeps one write waker, which the connection task's own flush takes.
    writer_waker: Option<Waker>,
    outgoing: Option<(mpsc::Sender<Outgoing>, mpsc::Receiver<Outgoing>)>,
    /// Fan-out pushes (groups), drained after the channel in the same round.
    pushes: Arc<PushQueue>,
    /// A sender holds the push queue: until then nothing can be pushed, and a round
    /// skips the queue's lock.
    pushes_shared: bool,
    shutdown: bool,
    /// A sender's `close_now` before the connection was open: applied once it is
    /// (boxed: rare, and every connection carries the slot).
    close_now: Option<Box<(CloseCode, String)>>,
    /// The `on_end` callbacks; they run once the lock is released (see [`Locked`]).
    /// Boxed: most connections have none, and this slot is in every one (8 bytes
    /// instead of a `Vec`'s 24).
    #[allow(clippy::box_collection)]
    end_hooks: Option<Box<Vec<EndHook>>>,
    /// The connection ended and its `on_end` callbacks are still to run.
    end_due: bool,
    /// The connection has ended (`end_due` was set once); `on_end` runs at once now.
    ended: bool,
    sender_capacity: usize,
}

/// The queue of received messages, bounded by count and by bytes: while it is full the
/// connection stops reading (the bound can be passed by the one message read last).
struct Inbound {
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

    fn push_back(&mut self, msg: Message) {
        self.bytes += msg.len();
        self.messages.push_back(msg);
    }

    fn pop_front(&mut self) -> Option<Message> {
        let msg = self.messages.pop_front()?;
        self.bytes -= msg.len();
        Some(msg)
    }

    fn clear(&mut self) {
        self.messages.clear();
        self.bytes = 0;
    }

    fn len(&self) -> usize {
        self.messages.len()
    }

    fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    fn is_full(&self) -> bool {
        self.messages.len() >= self.max_messages || self.bytes >= self.max_bytes
    }
}

impl Shared {
    pub(crate) fn new(handover: Handover, settings: &Settings) -> Arc<Self> {
        Arc::new(Shared {
            id: ConnectionId::next_counter(),
            inner: Mutex::new(Inner {
                phase: Phase::Pending(handover),
                refused: None,
                inbound: Inbound::new(settings.max_queued_messages, settings.max_queued_bytes),
                closing: Closing::Open,
                read_blocked: false,
                messages_in: 0,
                stalled: false,
                cause: None,
                upgrade_error: None,
                accept_response: None,
                deflate: None,
                poked: false,
                polling_view: false,
                task_waker: None,
                reader_waker: None,
                writer_waker: None,
                outgoing: None,
                pushes: Arc::new(PushQueue::new(settings.sender_capacity)),
                pushes_shared: false,
                shutdown: false,
                close_now: None,
                end_hooks: None,
                end_due: false,
                ended: false,
                sender_capacity: settings.sender_capacity.max(1),
            }),
        })
    }

    pub(crate) fn lock(&self) -> Locked<'_> {
        // A panic while locked leaves no half-updated invariant worth refusing service for.
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Locked {
            shared: self,
            inner: Some(inner),
        }
    }

    pub(crate) fn id(&self) -> ConnectionId {
        ConnectionId::local(self.id)
    }

    /// Runs `hook` once the connection has ended, or now if it has. (Once `ended` is
    /// seen under the lock, the callbacks registered before were taken by the guard
    /// that saw the end, so each runs exactly once.)
    pub(crate) fn on_end(&self, hook: EndHook) {
        let mut inner = self.lock();
        if inner.ended {
            drop(inner);
            self.run_end_hook(hook);
        } else {
            inner.end_hooks.get_or_insert_with(Box::default).push(hook);
        }
    }

    fn run_end_hook(&self, hook: EndHook) {
        // One callback's panic must not keep the others from running.
        let run = std::panic::AssertUnwindSafe(|| hook(self.id()));
        if let Err(panic) = std::panic::catch_unwind(run) {
            tracing::error!(
                panic = %crate::panic::panic_text(&panic),
                "a websocket on_end callback panicked"
            );
        }
    }
}

// What the view's `WebSocket` asks.
impl Inner {
    /// Stores the 101 the middleware prepared.
    pub(crate) fn set_accept_response(&mut self, response: http::Response<Body>) {
        self.accept_response = Some(Box::new(response));
    }

    /// Adds the negotiated permessage-deflate to the 101, and keeps it for the engine.
    pub(crate) fn set_accept_deflate(&mut self, response_header: &str, deflate: Deflate) {
        if let (Some(resp), Ok(value)) = (
            self.accept_response.as_mut(),
            http::HeaderValue::from_str(response_header),
        ) {
            resp.headers_mut()
                .insert(http::header::SEC_WEBSOCKET_EXTENSIONS, value);
            self.deflate = Some(Box::new(deflate));
        }
    }

    /// Adds the negotiated subprotocol to the 101.
    pub(crate) fn set_accept_protocol(&mut self, protocol: &str) {
        if let (Some(resp), Ok(value)) = (
            self.accept_response.as_mut(),
            http::HeaderValue::from_str(protocol),
        ) {
            resp.headers_mut()
                .insert(http::header::SEC_WEBSOCKET_PROTOCOL, value);
        }
    }

    pub(crate) fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.start_accept();
        match self.phase {
            Phase::Open(_) => Poll::Ready(Ok(())),
            Phase::Ended => {
                if self.upgrade_error.is_some() {
                    Poll::Ready(Err(self.closed_error()))
                } else {
                    Poll::Ready(Ok(()))
                }
            }
            _ => {
                self.register(cx);
                Poll::Pending
            }
        }
    }

    pub(crate) fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        if let Some(msg) = self.take_message() {
            return Poll::Ready(Some(msg));
        }
        self.start_accept();
        if self.closing.read_done() || matches!(self.phase, Phase::Ended) {
            return Poll::Ready(None);
        }
        self.register(cx);
        Poll::Pending
    }

    /// A message already received; on a connection not yet accepted this starts the
    /// accept.
    pub(crate) fn read(&mut self) -> Option<Message> {
        let msg = self.take_message();
        if msg.is_none() {
            self.start_accept();
        }
        msg
    }

    fn take_message(&mut self) -> Option<Message> {
        let was_full = self.inbound.is_full();
        let msg = self.inbound.pop_front()?;
        if (was_full && !self.inbound.is_full())
            || (self.inbound.is_empty() && self.closing.pending_error().is_some())
        {
            self.poke(); // room again, or the error close is due now
        }
        Some(msg)
    }

    pub(crate) fn count_messages(&self) -> usize {
        self.inbound.len()
    }

    pub(crate) fn has_messages(&self) -> bool {
        !self.inbound.is_empty()
    }

    pub(crate) fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        msg: &mut Option<Message>,
    ) -> Poll<Result<(), Error>> {
        self.start_accept();
        if self.closing.send_done() {
            return Poll::Ready(Err(self.closed_error()));
        }
        match &mut self.phase {
            Phase::Open(wire) => {
                match wire.poll_ready(cx) {
                    Poll::Pending => {
                        self.register_writer(cx);
                        return Poll::Pending;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into_error())),
                    Poll::Ready(Ok(())) => {}
                }
                let Some(msg) = msg.take() else {
                    return Poll::Ready(Ok(()));
                };
                let result = wire.start_send(msg);
                if !self.polling_view {
                    self.poke(); // queued from outside the task: have it flushed
                }
                Poll::Ready(result.map_err(|e| {
                    if e.is_closed() {
                        self.closed_error()
                    } else {
                        e.into_error()
                    }
                }))
            }
            Phase::Ended => Poll::Ready(Err(self.closed_error())),
            _ => {
                self.register(cx);
                Poll::Pending
            }
        }
    }

    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match &mut self.phase {
            Phase::Open(wire) => {
                let flushed = wire.poll_flush(cx);
                if flushed.is_pending() {
                    self.register_writer(cx);
                }
                flushed.map_err(|e| e.into_error())
            }
            Phase::Ended => Poll::Ready(Ok(())),
            _ => {
                self.start_accept();
                self.register(cx);
                Poll::Pending
            }
        }
    }

    /// The view's `close`, once accepted.
    pub(crate) fn close(&mut self, code: CloseCode, reason: &str) {
        if !self.closing.received() {
            self.queue_close(code, truncate_reason(reason));
            self.poke();
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closing.sent()
            || self.closing.read_done()
            || (matches!(self.phase, Phase::Ended) && self.cause.is_some())
    }

    pub(crate) fn close_cause(&self) -> Option<CloseCause> {
        // A peer error is recorded as the cause only when its close frame is queued,
        // after the view has taken the messages before it; `wait` already returns
        // `None` by then, so report the error it is closing with.
        self.cause.clone().or_else(|| {
            self.closing
                .pending_error()
                .map(|(code, detail)| CloseCause::Error {
                    code,
                    detail: detail.to_owned(),
                })
        })
    }

    /// The queue other tasks send through, made on first use.
    pub(crate) fn sender(&mut self) -> mpsc::Sender<Outgoing> {
        let capacity = self.sender_capacity;
        match &self.outgoing {
            Some((tx, _)) => tx.clone(),
            None => {
                let (tx, mut rx) = mpsc::channel(capacity);
                // Made late (on a first send): closed if senders already fail.
                if matches!(self.phase, Phase::Ended)
                    || self.closing.send_done()
                    || self.pushes.is_closed()
                {
                    rx.close();
                }
                self.outgoing = Some((tx.clone(), rx));
                self.poke(); // the task must start polling the queue
                tx
            }
        }
    }

    /// A sender's `close_now`: close with `code` at the task's next round, discarding
    /// what other tasks still have queued. False if this side already closed or the
    /// connection is over.
    pub(crate) fn close_now(&mut self, code: CloseCode, reason: &str) -> bool {
        if self.ended || self.closing.send_done() || self.close_now.is_some() {
            return false;
        }
        self.close_senders();
        if let Some((_, rx)) = &mut self.outgoing {
            while rx.try_recv().is_ok() {} // discarded, as documented
        }
        self.pushes.clear();
        let reason = truncate_reason(reason);
        if matches!(self.phase, Phase::Open(_)) {
            self.queue_close(code, reason);
        } else {
            self.close_now = Some(Box::new((code, reason.to_owned())));
        }
        self.poke();
        true
    }

    /// The fan-out push queue, for a new sender: closed already if senders fail (a
    /// handle taken after the close is closed at once).
    pub(crate) fn pushes(&mut self) -> Arc<PushQueue> {
        if matches!(self.phase, Phase::Ended) || self.closing.send_done() {
            self.close_senders();
        }
        if !self.pushes_shared {
            // The task's next round drains the queue, which records its waker there.
            self.pushes_shared = true;
            self.poke();
        }
        self.pushes.clone()
    }

    /// Whether the connection has ended (its `on_end` callbacks run or are running).
    pub(crate) fn has_ended(&self) -> bool {
        self.ended
    }

    /// Whether `cx` belongs to the connection task, which needs no waker registered: it
    /// runs again whenever anything happens, and flushes every round.
    fn polled_by_connection_task(&self, cx: &Context<'_>) -> bool {
        self.task_waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
    }

    /// Registers a future waiting for a message from another task.
    fn register(&mut self, cx: &mut Context<'_>) {
        if !self.polled_by_connection_task(cx) {
            self.reader_waker = Some(cx.waker().clone());
        }
    }

    /// Registers a write from another task: it waits on the connection task (the engine
    /// keeps one write waker, which the connection task's own flush takes), which wakes
    /// it once it has flushed.
    fn register_writer(&mut self, cx: &mut Context<'_>) {
        if !self.polled_by_connection_task(cx) {
            self.writer_waker = Some(cx.waker().clone());
            self.poke();
        }
    }
}

// What the connection task and the tracker ask.
impl Inner {
    /// Starts a round of the connection task: records its waker, completes the upgrade
    /// when due and reads every available message. Returns true if reading stopped
    /// because the queue was full.
    pub(crate) fn begin_round(&mut self, cx: &mut Context<'_>, config: WireConfig) -> bool {
        match &self.task_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => self.task_waker = Some(cx.waker().clone()),
        }
        self.poked = false;
        self.drive_in(cx, config)
    }

    pub(crate) fn set_polling_view(&mut self, polling: bool) {
        self.polling_view = polling;
    }

    /// The view finished before accepting: its response answers the upgrade. Returns
    /// false if the connection was already accepted (or being accepted).
    pub(crate) fn refuse(&mut self, response: Option<Response>) -> bool {
        if !matches!(self.phase, Phase::Pending(_)) {
            return false;
        }
        let Phase::Pending(handover) = std::mem::replace(&mut self.phase, Phase::Ended) else {
            return false;
        };
        let response = response.unwrap_or_else(Response::internal_error);
        match handover {
            Handover::Hyper { reply, .. } => {
                let _ = reply.send(Outcome::Done(response));
            }
            // The connection's own task answers it over HTTP when it sees this.
            Handover::Direct(io) => self.refused = Some(Box::new((response, io))),
        }
        true
    }

    /// The refused request's response and socket (see [`refuse`](Self::refuse)).
    pub(crate) fn take_refused(&mut self) -> Option<(Response, Box<DirectIo>)> {
        self.refused.take().map(|r| *r)
    }

    /// Ends a round of the connection task, after it polled the view: sends a peer
    /// error's close once its messages were taken, moves other tasks' messages to the
    /// engine, then `final_code`'s close once the view has finished and they are out,
    /// and writes everything.
    pub(crate) fn end_round(
        &mut self,
        cx: &mut Context<'_>,
        view_done: bool,
        final_code: Option<CloseCode>,
    ) {
        if view_done {
            self.inbound.clear(); // nobody will read them; keep reading to the close
        }
        if self.inbound.is_empty() {
            if let Some((code, detail, sent)) = self.closing.take_error() {
                // A close this side already queued (the view's) is the one sent.
                if !sent {
                    self.cause = Some(CloseCause::Error { code, detail });
                    self.queue_close(code, "");
                }
            }
        }
        let drained = self.drain_outgoing(cx, view_done);
        if let Some(code) = final_code {
            // What other tasks queued before the view returned goes out first.
            if drained && !self.closing.read_done() {
                self.queue_close(code, "");
            }
        }
        self.drive_out(cx);
    }

    pub(crate) fn is_queue_full(&self) -> bool {
        self.inbound.is_full()
    }

    pub(crate) fn is_stalled(&self) -> bool {
        self.stalled
    }

    /// The view took nothing from a full queue for the close timeout: close with 1008
    /// and drop data from now on, so the peer's close is read.
    pub(crate) fn stall(&mut self) {
        self.stalled = true;
        self.queue_close(CloseCode::Policy, "message queue full");
    }

    /// For the task's keepalive and input deadline, while frames flow: the bytes read
    /// from the peer so far, and, while the engine holds a frame or message begun and
    /// not complete, the count of messages read before it (so the task tells a new one
    /// from the same one: control frames between fragments do not restart it). `None`
    /// before the connection is open and after it ended.
    pub(crate) fn input_progress(&self) -> Option<(u64, Option<u32>)> {
        match &self.phase {
            Phase::Open(wire) if !self.closing.read_done() => Some((
                wire.bytes_read(),
                wire.input_pending().then_some(self.messages_in),
            )),
            _ => None,
        }
    }

    /// Queues a keepalive ping; it leaves with the round's write.
    pub(crate) fn send_ping(&mut self) {
        if self.closing.send_done() {
            return;
        }
        if let Phase::Open(wire) = &mut self.phase {
            // A write error surfaces at the next flush, where the task handles it.
            let _ = wire.start_ping();
        }
    }

    /// Gives up on the peer: queues a close with `code`, tries once to write it, and
    /// drops the connection (its buffers with it) without waiting for the reply. The
    /// view sees the end, with `cause` unless an earlier cause is known.
    pub(crate) fn abort(
        &mut self,
        cx: &mut Context<'_>,
        code: CloseCode,
        reason: &str,
        cause: CloseCause,
    ) {
        self.cause.get_or_insert(cause);
        self.queue_close(code, reason);
        if let Phase::Open(wire) = &mut self.phase {
            let _ = wire.poll_flush(cx);
        }
        self.end();
    }

    pub(crate) fn close_queued(&self) -> bool {
        self.closing.sent()
    }

    pub(crate) fn is_ended(&self) -> bool {
        matches!(self.phase, Phase::Ended)
    }

    pub(crate) fn poked(&self) -> bool {
        self.poked
    }

    /// Server shutdown: close with 1001 at the task's next round.
    pub(crate) fn request_shutdown(&mut self) {
        self.shutdown = true;
        if let Some(w) = &self.task_waker {
            w.wake_by_ref();
        }
    }

    /// The connection task is gone: the connection ended, and dropped if no cause is
    /// known.
    pub(crate) fn abandon(&mut self) {
        self.end();
        self.lose();
    }

    /// The engine is gone (dropping it closes the socket): senders fail from now on and
    /// every waiting `wait`, `send` or `flush` is woken to see it.
    pub(crate) fn end(&mut self) {
        self.phase = Phase::Ended;
        self.pushes.clear(); // never to be written: free them now
        self.closing.on_end();
        if !self.ended {
            self.ended = true;
            self.end_due = true;
        }
        self.close_senders();
        self.after_read();
        self.after_write();
    }
}

// The machine's own steps.
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
        if !matches!(self.phase, Phase::Pending(_)) {
            return;
        }
        let Phase::Pending(handover) = std::mem::replace(&mut self.phase, Phase::Ended) else {
            return;
        };
        let Some(response) = self.accept_response.take() else {
            if let Handover::Direct(io) = handover {
                // Answered over HTTP like hyper's path would (a 500), not a dropped
                // socket.
                self.refused = Some(Box::new((Response::internal_error(), io)));
            }
            self.fail_upgrade("no handshake response was prepared".into());
            return;
        };
        match handover {
            Handover::Hyper { reply, on_upgrade } => {
                if reply.send(Outcome::Accept(*response)).is_err() {
                    self.fail_upgrade("the client went away before the handshake".into());
                    return;
                }
                self.phase = Phase::Accepting(on_upgrade);
            }
            Handover::Direct(io) => {
                // The socket is here: write the 101 now, so that `accept` returns
                // with it sent (as over hyper) and a client that went away is an
                // upgrade error; what the socket does not take now goes out first
                // at the next flush.
                let head = switching_head(&response);
                let DirectIo {
                    tcp,
                    raw,
                    head_len,
                    config,
                    ..
                } = *io;
                let written = match tcp.try_write(&head) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
                    Err(e) => {
                        tracing::debug!(error = %e, "writing the 101 failed");
                        self.fail_upgrade("the client went away before the handshake".into());
                        return;
                    }
                };
                let leftover = raw.get(head_len..).unwrap_or_default();
                let deflate = self.deflate.take();
                let (wire, buffered) = Wire::start_direct(
                    tcp,
                    leftover,
                    config,
                    head.get(written..).unwrap_or_default(),
                    deflate.as_deref(),
                );
                self.phase = Phase::Open(Box::new(wire));
                self.read_blocked = !buffered;
                self.after_read();
            }
        }
        self.poke();
    }

    fn fail_upgrade(&mut self, why: String) {
        self.upgrade_error = Some(why);
        self.end();
        self.lose();
    }

    /// No more data can come: the connection dropped (the cause, unless one is known).
    fn lose(&mut self) {
        self.closing.on_read_stopped();
        self.cause.get_or_insert(CloseCause::ConnectionLost);
    }

    fn closed_error(&self) -> Error {
        match &self.upgrade_error {
            Some(why) => Error::upgrade(why.clone()),
            None => Error::closed(self.cause.clone()),
        }
    }

    /// Queues a close frame on the engine, once. Callers check whether reading is done
    /// where a peer's close makes ours pointless; after a peer error ours must still go
    /// out.
    fn queue_close(&mut self, code: CloseCode, reason: &str) {
        if self.closing.sent() {
            return;
        }
        let Phase::Open(wire) = &mut self.phase else {
            return;
        };
        // A write error surfaces at the next flush, where the task handles it.
        let _ = wire.start_close(code, reason);
        self.note_close_sent(code);
    }

    /// This side's close frame with `code` is queued on the engine: the closing state and
    /// the cause say so.
    fn note_close_sent(&mut self, code: CloseCode) {
        self.closing.on_close_sent();
        self.cause.get_or_insert(CloseCause::Server { code });
        // Nothing sent after our close frame can be written: fail senders now rather
        // than queue into a channel nobody drains.
        self.close_senders();
    }

    /// No more outgoing data can be written: senders fail from now on.
    fn close_senders(&mut self) {
        self.pushes.close();
        if let Some((_, rx)) = &mut self.outgoing {
            rx.close();
        }
    }

    fn after_read(&mut self) {
        if let Some(w) = self.reader_waker.take() {
            w.wake();
        }
    }

    /// The connection task wrote everything out (or the connection ended).
    fn after_write(&mut self) {
        if let Some(w) = self.writer_waker.take() {
            w.wake();
        }
    }

    /// Completes the upgrade when due and reads every available message. Returns true if
    /// it stopped because the queue was full.
    fn drive_in(&mut self, cx: &mut Context<'_>, config: WireConfig) -> bool {
        if let Phase::Accepting(on_upgrade) = &mut self.phase {
            match std::pin::Pin::new(on_upgrade).poll(cx) {
                Poll::Pending => return false,
                Poll::Ready(Err(e)) => {
                    self.fail_upgrade(e.to_string());
                    return false;
                }
                Poll::Ready(Ok(upgraded)) => {
                    match Wire::start(upgraded, config, self.deflate.take().as_deref()) {
                        Some((wire, buffered)) => {
                            self.phase = Phase::Open(Box::new(wire));
                            self.read_blocked = !buffered;
                            self.after_read(); // an `accept` polled elsewhere
                        }
                        None => {
                            self.fail_upgrade("the websocket engine did not start".into());
                            return false;
                        }
                    }
                }
            }
        }
        if matches!(self.phase, Phase::Open(_)) {
            if let Some(close) = self.close_now.take() {
                let (code, reason) = *close;
                self.queue_close(code, &reason);
            }
        }
        if self.shutdown && !self.closing.read_done() {
            self.queue_close(CloseCode::Away, "server shutting down");
        }
        let mut received = false;
        let mut full = false;
        while !self.closing.read_done() {
            if self.inbound.is_full() && !self.stalled {
                full = true;
                break;
            }
            let Phase::Open(wire) = &mut self.phase else {
                break;
            };
            if self.read_blocked && wire.poll_read_ready(cx).is_pending() {
                break;
            }
            let polled = wire.poll_read(cx);
            self.read_blocked = polled.is_pending();
            if let Poll::Ready(Some(Ok(Incoming::Message(_)))) = &polled {
                self.messages_in = self.messages_in.wrapping_add(1);
            }
            match polled {
                Poll::Pending => break,
                Poll::Ready(Some(Ok(incoming))) => match incoming {
                    Incoming::Message(_) if self.stalled => {}
                    Incoming::Message(msg) => {
                        self.inbound.push_back(msg);
                        received = true;
                    }
                    Incoming::Close(frame) => {
                        // The engine has queued the reply; it leaves at the next flush.
                        let ours_first = self.closing.sent();
                        self.closing.on_close_received();
                        // Only the reply can follow the peer's close.
                        self.close_senders();
                        if !ours_first {
                            self.cause = Some(match frame {
                                Some((code, reason)) => CloseCause::Peer {
                                    code: Some(code),
                                    reason,
                                },
                                None => CloseCause::Peer {
                                    code: None,
                                    reason: String::new(),
                                },
                            });
                        }
                    }
                    // Answered by the engine.
                    Incoming::Control => {}
                },
                Poll::Ready(Some(Err(e))) => self.on_read_error(e),
                Poll::Ready(None) => self.lose(),
            }
        }
        if received || self.closing.read_done() {
            self.after_read();
        }
        full
    }

    /// Closes with the code RFC 6455 §7.4.1 gives for the error, when the socket is
    /// still usable.
    fn on_read_error(&mut self, e: ReadError) {
        match e {
            ReadError::Peer { code, detail } => {
                tracing::debug!(%detail, "closing websocket on a peer error");
                self.closing.on_peer_error(code, detail);
            }
            ReadError::Lost => self.lose(),
        }
    }

    /// Moves other tasks' messages into the engine, while it takes them. Once the view
    /// has finished (`finishing`), no new message is accepted and what was queued is
    /// drained. Returns true when nothing is left queued.
    fn drain_outgoing(&mut self, cx: &mut Context<'_>, finishing: bool) -> bool {
        let open = matches!(self.phase, Phase::Open(_));
        if open && (finishing || self.closing.send_done()) {
            self.close_senders();
        }
        let Phase::Open(wire) = &mut self.phase else {
            return true;
        };
        let mut failed = false;
        let mut close_sent = None;
        // The channel first, then the pushes: a slow member's backlog goes through the
        // channel and must stay ahead of what is pushed after it.
        let mut drained = true;
        if let Some((_, rx)) = &mut self.outgoing {
            drained = false;
            while !self.closing.send_done() {
                match wire.poll_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => {
                        failed = true;
                        break;
                    }
                    Poll::Pending => break,
                }
                match rx.poll_recv(cx) {
                    Poll::Ready(Some(Outgoing::Message(m))) => {
                        if wire.start_send(m).is_err() {
                            failed = true;
                            break;
                        }
                    }
                    Poll::Ready(Some(Outgoing::Close(code, reason))) => {
                        if wire.start_close(code, &reason).is_err() {
                            failed = true;
                        }
                        close_sent = Some(code);
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
        }
        // Pushed messages need no channel: move as many as the engine takes. Locking the
        // queue records the task's waker even when the channel is not done. Before any
        // sender holds the queue it is empty, and its lock is skipped.
        if self.pushes_shared {
            let queue = self.pushes.clone();
            let mut pushes = queue.drain(cx.waker());
            if drained && !failed && close_sent.is_none() {
                while !self.closing.send_done() && !pushes.is_empty() {
                    match wire.poll_ready(cx) {
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(_)) => {
                            failed = true;
                            break;
                        }
                        Poll::Pending => break,
                    }
                    let Some(m) = pushes.pop() else {
                        break;
                    };
                    if wire.start_send(m).is_err() {
                        failed = true;
                        break;
                    }
                }
                drained = pushes.is_empty();
            }
        }
        if let Some(code) = close_sent {
            self.note_close_sent(code);
        }
        if failed {
            self.lose();
        }
        drained || self.closing.send_done() || failed
    }

    /// Writes everything out. Ends the engine once reading is over and the last bytes
    /// are written.
    fn drive_out(&mut self, cx: &mut Context<'_>) {
        let Phase::Open(wire) = &mut self.phase else {
            return;
        };
        let mut failed = false;
        let flushed = match wire.poll_flush(cx) {
            Poll::Ready(Ok(())) => true,
            Poll::Ready(Err(_)) => {
                failed = true;
                true
            }
            Poll::Pending => false,
        };
        if failed {
            self.lose();
        }
        if flushed {
            self.after_write();
        }
        if self.closing.read_done() && flushed && self.closing.pending_error().is_none() {
            // Dropping the engine closes the TCP connection: the server closes first
            // (RFC 6455 §7.1.1).
            self.end();
        }
    }
}

/// Refuses the codes RFC 6455 reserves for reporting (1005, 1006, 1015) and those
/// outside the allowed ranges: a peer would fail the connection on them.
pub(crate) fn sendable(code: CloseCode) -> Result<CloseCode, Error> {
    if code.is_allowed() {
        Ok(code)
    } else {
        Err(Error::bad_close_code(code.into()))
    }
}

/// A close reason cut to the 123 bytes a close frame holds, at a character boundary.
pub(crate) fn truncate_reason(reason: &str) -> &str {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
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
