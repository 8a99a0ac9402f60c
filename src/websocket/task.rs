//! The connection task: one task per WebSocket request that polls the view and drives
//! the socket, so pings, closes and other tasks' sends are served even while the view is
//! busy elsewhere, with no task or channel hop on the echo path.
//!
//! Each round: complete the upgrade if due, read every available frame into the queue,
//! poll the view, then write out what the view and other tasks queued, in one write.
//! The connection's state and its I/O steps are in `connection.rs`; this file owns what
//! is the task's: the view's future, and the timers.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use crate::message::{CloseCause, CloseCode};
use crate::panic::panic_text;
use crate::response::Response;
use crate::settings::Settings;
use crate::websocket::connection::Shared;
use crate::websocket::handover::DirectIo;
use crate::websocket::tracker::Tracker;
use crate::websocket::wire::WireConfig;

/// The task that runs one WebSocket request: its middleware chain and view, and its
/// socket once accepted.
pub(crate) struct ConnTask {
    view: Option<Pin<Box<dyn Future<Output = Response> + Send>>>,
    shared: Arc<Shared>,
    config: WireConfig,
    close_timeout: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The close code owed once the view has finished (1000, or 1011 after a panic).
    final_code: Option<CloseCode>,
    /// Armed while the queue is full: a view that takes nothing for `close_timeout`
    /// would otherwise leave the connection deaf (no pings answered, no close seen).
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The keepalive and the unfinished-input deadline.
    watch: Watch,
    tracker: Arc<Tracker>,
    id: usize,
}

/// Watches the peer: a ping after `ping_interval` of silence, the end after
/// `pong_timeout` more, and a bound on a frame or message begun but not finished.
///
/// It costs one timer per connection, armed lazily: a round that reads bytes only
/// notes the time; the timer is re-armed when it fires (or when an input deadline is
/// earlier than the time it is set for), never once per frame. Times are milliseconds
/// on a process-wide clock, to keep this state (in every connection) small.
struct Watch {
    /// `ping_interval`, `pong_timeout`, `message_read_timeout` in ms; `OFF` when unset.
    ping_ms: u32,
    pong_ms: u32,
    input_ms: u32,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The transport's byte count at the last round.
    bytes_read: u64,
    /// When bytes last arrived (or the watch started).
    heard: u64,
    /// When the keepalive ping went out, while no byte has arrived since; `NEVER` if not.
    pinged: u64,
    /// When the unfinished frame or message was first seen; `NEVER` if none.
    input_since: u64,
    /// The connection's message count when it was (see `Inner::input_progress`).
    input_after: u32,
}

const OFF: u32 = u32::MAX;
const NEVER: u64 = u64::MAX;

/// Milliseconds since the process's first watch started.
fn clock_ms() -> u64 {
    u64::try_from(clock_base().elapsed().as_millis()).unwrap_or(NEVER - 1)
}

fn clock_base() -> Instant {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn millis(d: Option<Duration>) -> u32 {
    d.map_or(OFF, |d| u32::try_from(d.as_millis()).unwrap_or(OFF - 1))
}

/// What the watch found due.
enum Verdict {
    Fine,
    Ping,
    Unresponsive,
    InputStalled(Duration),
}

impl Watch {
    fn new(settings: &Settings) -> Self {
        Watch {
            ping_ms: millis(settings.ping_interval.filter(|d| !d.is_zero())),
            pong_ms: millis(settings.pong_timeout),
            input_ms: millis(settings.message_read_timeout),
            timer: None,
            bytes_read: 0,
            heard: clock_ms(),
            pinged: NEVER,
            input_since: NEVER,
            input_after: 0,
        }
    }

    fn is_off(&self) -> bool {
        self.ping_ms == OFF && self.input_ms == OFF
    }

    /// One round's look at the input: `progress` is the connection's byte count and,
    /// while a frame or message is unfinished, the count of messages before it (a new
    /// count is a new message); `paused` is true while reading is paused (a full
    /// queue), which is not the peer's silence.
    fn observe(
        &mut self,
        progress: (u64, Option<u32>),
        paused: bool,
        cx: &mut Context<'_>,
    ) -> Verdict {
        let (bytes_read, unfinished) = progress;
        let heard = bytes_read != self.bytes_read || paused;
        let new_input =
            unfinished.is_some_and(|after| self.input_since == NEVER || after != self.input_after);
        let needs_now = heard || new_input || (self.timer.is_none() && self.ping_ms != OFF);
        if !needs_now && !fired(&mut self.timer, cx) {
            return Verdict::Fine; // the common round: no clock read, no timer touched
        }
        let now = clock_ms();
        if heard {
            self.bytes_read = bytes_read;
            self.heard = now;
            self.pinged = NEVER;
        }
        match unfinished {
            Some(after) if !paused => {
                // From the message's first byte (this round) to its end, whatever
                // frames come between.
                if new_input {
                    self.input_since = now;
                    self.input_after = after;
                }
            }
            _ => self.input_since = NEVER,
        }
        let mut verdict = Verdict::Fine;
        let mut due = NEVER;
        if self.input_since != NEVER && self.input_ms != OFF {
            let at = self.input_since + u64::from(self.input_ms);
            if now >= at {
                return Verdict::InputStalled(Duration::from_millis(self.input_ms.into()));
            }
            due = due.min(at);
        }
        if self.ping_ms != OFF {
            let interval = u64::from(self.ping_ms);
            let (pinged, pong) = (self.pinged, self.pong_ms);
            if pinged != NEVER && pong != OFF {
                let at = pinged + u64::from(pong);
                if now >= at {
                    return Verdict::Unresponsive;
                }
                due = due.min(at);
            } else {
                // Not pinged yet, or no pong timeout (then ping again after each
                // interval of silence).
                let last = if pinged == NEVER { self.heard } else { pinged };
                if now >= last + interval {
                    self.pinged = now;
                    verdict = Verdict::Ping;
                    let wait = if pong == OFF {
                        interval
                    } else {
                        u64::from(pong)
                    };
                    due = due.min(now + wait);
                } else {
                    due = due.min(last + interval);
                }
            }
        }
        if due == NEVER {
            self.timer = None;
        } else {
            let due = clock_base() + Duration::from_millis(due);
            let unchanged = match &mut self.timer {
                Some(timer) if timer.deadline() == due => true,
                // Set for earlier: it fires, and is moved on then.
                Some(timer) if timer.deadline() < due && !timer.is_elapsed() => true,
                Some(timer) => {
                    timer.as_mut().reset(due);
                    false
                }
                None => {
                    self.timer = Some(Box::pin(tokio::time::sleep_until(due)));
                    false
                }
            };
            if unchanged {
                // Its waker was registered when it was armed, by this spawned task
                // (the watch runs only once the connection is open, never in the
                // service's first poll): a look at its state is enough, no poll. This
                // is the round of every message that arrives.
                if self.timer.as_ref().is_some_and(|t| t.is_elapsed()) {
                    cx.waker().wake_by_ref();
                }
                return verdict;
            }
        }
        // Register the waker with the (re-)armed timer.
        if fired(&mut self.timer, cx) {
            cx.waker().wake_by_ref();
        }
        verdict
    }
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
            config: WireConfig::new(settings),
            close_timeout: settings.close_timeout,
            deadline: None,
            final_code: None,
            stall: None,
            watch: Watch::new(settings),
            tracker,
            id,
        }
    }
}

impl ConnTask {
    /// Once the task has ended: the response and socket of a request the server read
    /// itself and the view answered without accepting.
    pub(crate) fn take_refused(&mut self) -> Option<(Response, Box<DirectIo>)> {
        self.shared.lock().take_refused()
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
        self.shared.lock().abandon();
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
                room_was_short = inner.begin_round(cx, this.config);
                inner.set_polling_view(this.view.is_some());
            }
            let mut again = false;
            let polled = this
                .view
                .as_mut()
                .map(|view| std::panic::catch_unwind(AssertUnwindSafe(|| view.as_mut().poll(cx))));
            let finished = match polled {
                None | Some(Ok(Poll::Pending)) => None,
                Some(Ok(Poll::Ready(response))) => Some(Some(response)),
                Some(Err(panic)) => {
                    let what = panic_text(&panic);
                    tracing::error!(panic = %what, "websocket view panicked; closing with 1011");
                    Some(None)
                }
            };
            if finished.is_some() {
                // Dropped unlocked: what the view held (its socket, senders) may lock.
                this.view = None;
            }
            // One lock for the rest of the round.
            let mut inner = this.shared.lock();
            inner.set_polling_view(false);
            if let Some(response) = finished {
                let returned = response.is_some();
                if !inner.refuse(response) {
                    this.final_code = Some(if returned {
                        CloseCode::Normal
                    } else {
                        CloseCode::Error
                    });
                    arm(&mut this.deadline, this.close_timeout);
                }
                again = true;
            }
            inner.end_round(cx, this.view.is_none(), this.final_code);
            if inner.is_queue_full() && !inner.is_stalled() {
                arm(&mut this.stall, this.close_timeout);
                if fired(&mut this.stall, cx) {
                    tracing::debug!(
                        "the view took no message for the close timeout; closing with 1008"
                    );
                    inner.stall();
                    again = true;
                }
            } else if !inner.is_queue_full() {
                this.stall = None;
            }
            if !this.watch.is_off() {
                if let Some(progress) = inner.input_progress() {
                    let paused = inner.is_queue_full();
                    match this.watch.observe(progress, paused, cx) {
                        Verdict::Fine => {}
                        Verdict::Ping => {
                            inner.send_ping();
                            again = true; // write it out
                        }
                        Verdict::Unresponsive => {
                            tracing::debug!("no answer to the keepalive ping; closing with 1011");
                            inner.abort(
                                cx,
                                CloseCode::Error,
                                "keepalive ping timeout",
                                CloseCause::Unresponsive,
                            );
                            again = true;
                        }
                        Verdict::InputStalled(limit) => {
                            let detail = format!(
                                "a frame or message was not finished within {} ms",
                                limit.as_millis()
                            );
                            tracing::debug!(%detail, "closing with 1008");
                            inner.abort(
                                cx,
                                CloseCode::Policy,
                                "message not finished in time",
                                CloseCause::Error {
                                    code: CloseCode::Policy,
                                    detail,
                                },
                            );
                            again = true;
                        }
                    }
                }
            }
            if inner.close_queued() {
                arm(&mut this.deadline, this.close_timeout);
            }
            let timed_out = fired(&mut this.deadline, cx);
            if timed_out && !inner.is_ended() {
                tracing::debug!("closing handshake timed out; dropping the connection");
                inner.end();
                again = true; // let the view see the end
            }
            if this.view.is_none() && (timed_out || inner.is_ended()) {
                return Poll::Ready(());
            }
            let room_now = room_was_short && !inner.is_queue_full();
            if !(again || inner.poked() || room_now) {
                return Poll::Pending;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// The watch is in every connection task: keep it small (56 bytes on 64-bit).
    #[test]
    fn the_watch_stays_small() {
        assert!(std::mem::size_of::<super::Watch>() <= 64);
    }
}
