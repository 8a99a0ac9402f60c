//! What the layer's handle and its tasks share: the link state, what this process wants
//! from Redis (subscriptions, presence entries), and the counters.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use tokio::sync::{watch, Notify};

use super::config::RedisConfig;
use super::keys::Keys;
use super::presence::entry;
use crate::groups::RemoteSink;

pub(super) struct Shared {
    pub(super) config: RedisConfig,
    pub(super) keys: Keys,
    /// This layer's id in every send it publishes: how it skips its own sends when they
    /// come back (several layers may live in one process, so not the NodeId).
    pub(super) sender: u64,
    up: AtomicBool,
    /// The same as `up`, for those who wait for a change.
    pub(super) link: watch::Sender<bool>,
    down_since: Mutex<Option<Instant>>,
    pub(super) stopped: AtomicBool,
    /// Set by the control task once it has said goodbye and stopped.
    pub(super) finished: watch::Sender<bool>,
    pub(super) sink: OnceLock<RemoteSink>,
    /// Wakes the control task: a subscription or presence change, a lost link, a stop.
    pub(super) wake: Notify,
    pub(super) wanted: Mutex<Wanted>,
    /// The last `Wanted::generation` the control task has put in Redis.
    pub(super) synced: watch::Sender<u64>,
    pub(super) counters: Counters,
    /// When the last "queue full" warning was logged (ms since `born`), so a flood of
    /// refusals makes one line per interval, not one per send.
    last_full_warning: AtomicU64,
    born: Instant,
}

/// At most one "queue full" warning per this many milliseconds.
const FULL_WARNING_EVERY_MS: u64 = 10_000;

/// What this process wants Redis to hold for it. Bounded by the local members: one
/// entry per group with a local member, one per local (group, member).
#[derive(Default)]
pub(super) struct Wanted {
    pub(super) groups: HashSet<String>,
    /// Groups subscribed to or unsubscribed from since the last flush: a flush looks
    /// at these only, not at every group.
    pub(super) toggled: HashSet<String>,
    /// group → local member id → display name.
    pub(super) members: HashMap<String, HashMap<u128, Option<String>>>,
    /// (group, member id) joined since the last flush.
    pub(super) joins: HashSet<(String, u128)>,
    /// (group, presence entry) left since the last flush.
    pub(super) leaves: HashSet<(String, String)>,
    /// Bumped by every change, so a caller can wait until its change is in Redis.
    pub(super) generation: u64,
}

/// Most pending removals kept while Redis cannot take them (an outage with churn). A
/// removal not kept costs nothing but time: the entry is no longer refreshed, so it
/// expires within the presence TTL anyway.
const MAX_LEAVES: usize = 65_536;

impl Wanted {
    /// Queues the removal of a presence entry (see [`MAX_LEAVES`]).
    pub(super) fn leave(&mut self, group: &str, entry: String) {
        if self.leaves.len() < MAX_LEAVES {
            self.leaves.insert((group.to_owned(), entry));
        }
    }

    /// Every local member's presence entry, by group.
    pub(super) fn entries(&self) -> Vec<(String, Vec<String>)> {
        self.members
            .iter()
            .map(|(group, members)| {
                let entries = members
                    .iter()
                    .map(|(id, name)| entry(*id, name.as_deref()))
                    .collect();
                (group.clone(), entries)
            })
            .collect()
    }
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) published: AtomicU64,
    pub(super) refused_unavailable: AtomicU64,
    pub(super) refused_full: AtomicU64,
    pub(super) refused_too_large: AtomicU64,
    pub(super) lost_in_flight: AtomicU64,
    pub(super) received: AtomicU64,
    pub(super) malformed: AtomicU64,
    pub(super) outages: AtomicU64,
    pub(super) reconnects: AtomicU64,
}

impl Counters {
    pub(super) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl Shared {
    pub(super) fn new(config: RedisConfig) -> Self {
        Shared {
            keys: Keys::new(&config.prefix),
            config,
            sender: random_u64(),
            up: AtomicBool::new(false),
            link: watch::Sender::new(false),
            down_since: Mutex::new(Some(Instant::now())),
            stopped: AtomicBool::new(false),
            finished: watch::Sender::new(false),
            sink: OnceLock::new(),
            wake: Notify::new(),
            wanted: Mutex::new(Wanted::default()),
            synced: watch::Sender::new(0),
            counters: Counters::default(),
            last_full_warning: AtomicU64::new(0),
            born: Instant::now(),
        }
    }

    pub(super) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// The link failed: sends to other processes are refused from now on, and the
    /// control task starts reconnecting. Logged once per outage.
    pub(super) fn mark_down(&self, why: &dyn std::fmt::Display) {
        if self.up.swap(false, Ordering::AcqRel) {
            self.link.send_replace(false);
            *lock(&self.down_since) = Some(Instant::now());
            Counters::add(&self.counters.outages, 1);
            tracing::warn!(
                "redis group layer: connection lost ({why}); sends to other processes are \
                 dropped until it is back, local delivery goes on"
            );
            self.wake.notify_one();
        }
    }

    /// The link works again; returns how long it was down (`None` on the first
    /// connection).
    pub(super) fn mark_up(&self) -> Option<std::time::Duration> {
        let since = lock(&self.down_since).take();
        self.up.store(true, Ordering::Release);
        self.link.send_replace(true);
        let first = self.counters.outages.load(Ordering::Relaxed) == 0;
        if first {
            None
        } else {
            Counters::add(&self.counters.reconnects, 1);
            since.map(|t| t.elapsed())
        }
    }

    /// A send was refused because the publisher's queue is full: logged at most once
    /// per interval, with the running count.
    pub(super) fn refused_full(&self) {
        let total = self.counters.refused_full.fetch_add(1, Ordering::Relaxed) + 1;
        let now = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_full_warning.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= FULL_WARNING_EVERY_MS;
        if due
            && self
                .last_full_warning
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                "redis group layer: publish queue full ({} sends); sends to other processes \
                 are being dropped ({total} so far)",
                self.config.queue_capacity
            );
        }
    }

    pub(super) fn wanted(&self) -> MutexGuard<'_, Wanted> {
        lock(&self.wanted)
    }

    /// Records a change to what Redis should hold and wakes the control task.
    pub(super) fn changed(&self, mut wanted: MutexGuard<'_, Wanted>) {
        wanted.generation += 1;
        drop(wanted);
        self.wake.notify_one();
    }
}

/// A poisoned lock only means a panic elsewhere; the data (sets of names) stays usable.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A random id without a dependency: std's per-process random hash keys, mixed with
/// the time and a counter so two layers in one process differ.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNT.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}
