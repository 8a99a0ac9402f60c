//! The fan-out push queue: a second way into a connection's outgoing stream, for code
//! that sends one message to many connections and must never wait (groups).
//!
//! Unlike the sender channel, a push is one uncontended lock and a `VecDeque` push of a
//! cloned [`Message`] (a reference-count bump), and it wakes the connection task only
//! if nothing has woken it for pushes since it last drained them: a burst of N messages
//! costs the task one wake-up, and it writes them all in one round. The queue has its
//! own small lock, apart from the connection's, so a push touches little memory.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::message::Message;

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued; the connection task writes it at its next round.
    Queued,
    /// The queue is full: the peer is not keeping up.
    Full,
    /// The connection is closing or gone: pushes fail from now on.
    Closed,
}

pub(crate) struct PushQueue {
    state: Mutex<State>,
}

struct State {
    queue: VecDeque<Message>,
    capacity: usize,
    closed: bool,
    /// The task was woken for pushes and has not drained since.
    woken: bool,
    /// The connection task's waker, from its last drain.
    task: Option<Waker>,
    /// A `poll_push` waiting for room.
    room: Option<Waker>,
}

impl PushQueue {
    pub(crate) fn new(capacity: usize) -> Self {
        PushQueue {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                capacity: capacity.max(1),
                closed: false,
                woken: false,
                task: None,
                room: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while locked leaves no invariant worth refusing service for.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a clone of `msg` without waiting.
    pub(crate) fn push(&self, msg: &Message) -> Pushed {
        self.lock().push(msg)
    }

    /// [`push`](Self::push), or registers `cx` to be woken when there is room.
    pub(crate) fn poll_push(&self, cx: &mut Context<'_>, msg: &Message) -> Poll<Pushed> {
        let mut state = self.lock();
        match state.push(msg) {
            Pushed::Full => {
                state.room = Some(cx.waker().clone());
                Poll::Pending
            }
            done => Poll::Ready(done),
        }
    }

    /// Pushes fail from now on; a waiting push is woken to see it.
    pub(crate) fn close(&self) {
        let room = {
            let mut state = self.lock();
            state.closed = true;
            state.room.take()
        };
        if let Some(w) = room {
            w.wake();
        }
    }

    /// Whether pushes fail (the connection is closing or gone).
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Drops everything queued (a `close_now`, or the connection's end).
    pub(crate) fn clear(&self) {
        let dropped = std::mem::take(&mut self.lock().queue);
        drop(dropped); // outside the lock
    }

    /// The connection task's side, for one round: it records the task's waker, and
    /// pushes wake the task again once this is dropped.
    pub(crate) fn drain(&self, waker: &Waker) -> Drain<'_> {
        let mut state = self.lock();
        if !state.task.as_ref().is_some_and(|w| w.will_wake(waker)) {
            state.task = Some(waker.clone());
        }
        Drain { state }
    }
}

impl State {
    fn push(&mut self, msg: &Message) -> Pushed {
        if self.closed {
            return Pushed::Closed;
        }
        if self.queue.len() >= self.capacity {
            return Pushed::Full;
        }
        self.queue.push_back(msg.clone());
        if !self.woken {
            if let Some(task) = &self.task {
                self.woken = true;
                task.wake_by_ref();
            }
        }
        Pushed::Queued
    }
}

/// The queue, locked for the connection task while it moves messages to the engine.
pub(crate) struct Drain<'a> {
    state: MutexGuard<'a, State>,
}

impl Drain<'_> {
    pub(crate) fn is_empty(&self) -> bool {
        self.state.queue.is_empty()
    }

    pub(crate) fn pop(&mut self) -> Option<Message> {
        self.state.queue.pop_front()
    }
}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        self.state.woken = false;
        if self.state.queue.len() < self.state.capacity {
            if let Some(w) = self.state.room.take() {
                w.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn one_wake_per_burst_bounded_and_closed() {
        let q = PushQueue::new(3);
        let task = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(task.clone());
        drop(q.drain(&waker)); // the task's first round registers it
        let m = Message::text("x");
        assert_eq!(q.push(&m), Pushed::Queued);
        assert_eq!(q.push(&m), Pushed::Queued);
        assert_eq!(q.push(&m), Pushed::Queued);
        assert_eq!(q.push(&m), Pushed::Full);
        assert_eq!(task.0.load(Ordering::SeqCst), 1, "one wake for the burst");
        {
            let mut d = q.drain(&waker);
            assert!(d.pop().is_some());
            assert!(!d.is_empty());
        }
        assert_eq!(q.push(&m), Pushed::Queued);
        assert_eq!(
            task.0.load(Ordering::SeqCst),
            2,
            "woken again after a drain"
        );
        q.clear();
        q.close();
        assert_eq!(q.push(&m), Pushed::Closed);
    }
}
