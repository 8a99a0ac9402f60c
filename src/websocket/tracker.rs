//! Every live connection, so that shutdown can close them with 1001 and wait.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use crate::websocket::connection::Shared;

/// The live connections: a slab, one pointer per connection, slots reused.
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
    pub(crate) fn register(&self, shared: &Arc<Shared>) -> usize {
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

    pub(crate) fn remove(&self, id: usize) {
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
            shared.lock().request_shutdown();
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
