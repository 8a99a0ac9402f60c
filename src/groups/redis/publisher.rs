//! The publisher task: one PUBLISH per group send, in the order the sends were made.
//! Whatever is queued when it wakes goes out as one pipeline (one write, one round
//! trip), so a burst costs one round trip rather than one per send.

use std::sync::Arc;

use redis::aio::ConnectionManager;
use tokio::sync::mpsc;

use super::state::{Counters, Shared};

/// Most sends in one pipeline.
const BATCH: usize = 256;

/// One send, encoded, with the channel it goes to.
pub(super) struct Outgoing {
    pub(super) channel: String,
    pub(super) payload: Vec<u8>,
}

pub(super) async fn run(
    shared: Arc<Shared>,
    mut conn: ConnectionManager,
    mut queue: mpsc::Receiver<Outgoing>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut batch, BATCH).await > 0 {
        let n = batch.len() as u64;
        if !shared.is_up() {
            // Queued before the outage was noticed: lost (at most once), and counted.
            Counters::add(&shared.counters.lost_in_flight, n);
            batch.clear();
            continue;
        }
        let mut pipe = redis::pipe();
        for out in batch.drain(..) {
            pipe.cmd("PUBLISH")
                .arg(out.channel)
                .arg(out.payload)
                .ignore();
        }
        match pipe.query_async::<()>(&mut conn).await {
            Ok(()) => Counters::add(&shared.counters.published, n),
            Err(e) => {
                // Redis may or may not have published them: counted as lost, never
                // retried, so nothing is delivered twice.
                Counters::add(&shared.counters.lost_in_flight, n);
                shared.mark_down(&e);
            }
        }
    }
}
