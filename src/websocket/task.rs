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

use crate::message::CloseCode;
use crate::panic::panic_text;
use crate::response::Response;
use crate::settings::Settings;
use crate::websocket::connection::Shared;
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
            config: WireConfig::new(settings),
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
        let returned = response.is_some();
        if self.shared.lock().refuse(response) {
            return;
        }
        self.final_code = Some(if returned {
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
            if let Some(view) = this.view.as_mut() {
                let polled = std::panic::catch_unwind(AssertUnwindSafe(|| view.as_mut().poll(cx)));
                this.shared.lock().set_polling_view(false);
                match polled {
                    Ok(Poll::Pending) => {}
                    Ok(Poll::Ready(response)) => {
                        this.view = None;
                        this.view_finished(Some(response));
                        again = true;
                    }
                    Err(panic) => {
                        let what = panic_text(&panic);
                        tracing::error!(panic = %what, "websocket view panicked; closing with 1011");
                        this.view = None;
                        this.view_finished(None);
                        again = true;
                    }
                }
            }
            let mut inner = this.shared.lock();
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
