//! The control task: keeps the link to Redis (first connection, outage detection,
//! reconnect with backoff), makes Redis hold what this process wants (one subscription
//! per group with local members plus the broadcast channel, the presence entries of
//! its members), refreshes presence every heartbeat and answers presence queries.
//!
//! One task does all of it, in order, so a query sees every join made before it and a
//! reconnect resubscribes exactly what is wanted at that moment.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::RedisError;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{timeout, MissedTickBehavior};

use super::presence::{entry, Scripts};
use super::state::Shared;
use crate::groups::{LayerError, Presence};

/// A presence question for the control task.
pub(super) struct Query {
    pub(super) group: String,
    pub(super) reply: oneshot::Sender<Result<Presence, LayerError>>,
}

/// Why one round with Redis failed.
#[derive(Debug)]
enum Failure {
    Redis(RedisError),
    Timeout(Duration),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Redis(e) => write!(f, "{e}"),
            Failure::Timeout(d) => write!(f, "no answer within {d:?}"),
        }
    }
}

impl From<RedisError> for Failure {
    fn from(e: RedisError) -> Self {
        Failure::Redis(e)
    }
}

struct Control {
    shared: Arc<Shared>,
    conn: ConnectionManager,
    scripts: Scripts,
    /// Channels Redis has confirmed for this connection.
    subscribed: HashSet<String>,
}

pub(super) async fn run(
    shared: Arc<Shared>,
    conn: ConnectionManager,
    mut queries: mpsc::Receiver<Query>,
) {
    let config = shared.config.clone();
    let mut ctl = Control {
        shared,
        conn,
        scripts: Scripts::new(),
        subscribed: HashSet::new(),
    };
    let mut heartbeat = tokio::time::interval(config.heartbeat);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let round_limit = config.command_timeout * 4;
    let mut backoff = config.reconnect_min;
    let mut attempts = 0u32;
    loop {
        if ctl.shared.stopped.load(Ordering::Acquire) {
            ctl.goodbye().await;
            ctl.shared.finished.send_replace(true);
            return;
        }
        if !ctl.shared.is_up() {
            match bounded(round_limit, ctl.connect()).await {
                Ok(groups) => {
                    attempts = 0;
                    backoff = config.reconnect_min;
                    match ctl.shared.mark_up() {
                        None => tracing::info!(
                            "redis group layer: connected to {} (prefix {:?})",
                            config.url_for_logs(),
                            config.prefix
                        ),
                        Some(outage) => tracing::info!(
                            "redis group layer: connection back after {:.1} s; \
                             resubscribed to {groups} groups, presence refreshed",
                            outage.as_secs_f64()
                        ),
                    }
                    heartbeat.reset();
                }
                Err(e) => {
                    attempts += 1;
                    // An outage was logged when it began; the first connection's failure
                    // is logged here, once.
                    let outages = ctl.shared.counters.outages.load(Ordering::Relaxed);
                    if attempts == 1 && outages == 0 {
                        tracing::warn!(
                            "redis group layer: cannot reach {} ({e}); retrying with backoff \
                             up to {:?}, groups stay local meanwhile",
                            config.url_for_logs(),
                            config.reconnect_max
                        );
                    } else {
                        tracing::debug!("redis group layer: attempt {attempts} failed: {e}");
                    }
                    answer_unavailable(&mut queries);
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = ctl.shared.wake.notified() => {
                            // Changes while down are picked up after the reconnect; keep
                            // the backoff unless this is a stop.
                            if !ctl.shared.stopped.load(Ordering::Acquire) {
                                tokio::time::sleep(backoff).await;
                            }
                        }
                    }
                    backoff = (backoff * 2).min(config.reconnect_max);
                    continue;
                }
            }
        }
        if let Err(e) = bounded(round_limit, ctl.sync()).await {
            ctl.shared.mark_down(&e);
            continue;
        }
        tokio::select! {
            _ = heartbeat.tick() => {
                if let Err(e) = bounded(round_limit, ctl.refresh_all()).await {
                    ctl.shared.mark_down(&e);
                }
            }
            _ = ctl.shared.wake.notified() => {}
            query = queries.recv() => match query {
                Some(query) => ctl.answer(query).await,
                None => ctl.shared.stopped.store(true, Ordering::Release),
            },
        }
    }
}

/// While Redis is down, queries get an error at once instead of waiting.
fn answer_unavailable(queries: &mut mpsc::Receiver<Query>) {
    while let Ok(q) = queries.try_recv() {
        let _ = q
            .reply
            .send(Err(LayerError::unavailable("redis is not connected")));
    }
}

/// Runs one round with a time bound, so a Redis that stopped answering (SIGSTOP, a
/// dead network) is noticed instead of waited for. Rounds of several commands (a full
/// resubscribe) get a few command timeouts' worth.
async fn bounded<T>(
    limit: Duration,
    round: impl std::future::Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    match timeout(limit, round).await {
        Ok(r) => r,
        Err(_) => Err(Failure::Timeout(limit)),
    }
}

impl Control {
    /// A fresh connection: nothing is subscribed on it, and presence entries may have
    /// expired during the outage, so everything wanted is put back. Returns the number
    /// of groups resubscribed.
    async fn connect(&mut self) -> Result<usize, Failure> {
        redis::cmd("PING").query_async::<()>(&mut self.conn).await?;
        self.subscribed.clear();
        let groups = {
            let mut wanted = self.shared.wanted();
            let all: Vec<String> = wanted.groups.iter().cloned().collect();
            wanted.toggled.extend(all);
            let all: Vec<(String, u128)> = wanted
                .members
                .iter()
                .flat_map(|(g, ids)| ids.keys().map(move |id| (g.clone(), *id)))
                .collect();
            wanted.joins.extend(all);
            wanted.groups.len()
        };
        self.sync().await?;
        Ok(groups)
    }

    /// Makes Redis hold what is wanted now: subscriptions, new presence entries, and
    /// no entries for members that left.
    async fn sync(&mut self) -> Result<(), Failure> {
        let shared = Arc::clone(&self.shared);
        let (subscribe, unsubscribe, joins, leaves, generation) = {
            let mut wanted = shared.wanted();
            let keys = &shared.keys;
            let (mut subscribe, mut unsubscribe) = (Vec::new(), Vec::new());
            let all = keys.broadcast_channel();
            if !self.subscribed.contains(all) {
                subscribe.push(all.to_owned());
            }
            for group in std::mem::take(&mut wanted.toggled) {
                let channel = keys.group_channel(&group);
                match (
                    wanted.groups.contains(&group),
                    self.subscribed.contains(&channel),
                ) {
                    (true, false) => subscribe.push(channel),
                    (false, true) => unsubscribe.push(channel),
                    _ => {}
                }
            }
            let mut joins: HashMap<String, Vec<String>> = HashMap::new();
            for (group, id) in std::mem::take(&mut wanted.joins) {
                // A member that left again before this flush has nothing to add.
                if let Some(name) = wanted.members.get(&group).and_then(|m| m.get(&id)) {
                    let e = entry(id, name.as_deref());
                    joins.entry(group).or_default().push(e);
                }
            }
            let mut leaves: HashMap<String, Vec<String>> = HashMap::new();
            for (group, e) in std::mem::take(&mut wanted.leaves) {
                leaves.entry(group).or_default().push(e);
            }
            (subscribe, unsubscribe, joins, leaves, wanted.generation)
        };
        let result = self.apply(&subscribe, &unsubscribe, &joins, &leaves).await;
        if result.is_err() {
            // Leaves not yet applied are kept for the next round (joins and
            // subscriptions are all redone on reconnect).
            let mut wanted = shared.wanted();
            for (group, entries) in leaves {
                for e in entries {
                    wanted.leave(&group, e);
                }
            }
            return result;
        }
        shared.synced.send_replace(generation);
        Ok(())
    }

    async fn apply(
        &mut self,
        subscribe: &[String],
        unsubscribe: &[String],
        joins: &HashMap<String, Vec<String>>,
        leaves: &HashMap<String, Vec<String>>,
    ) -> Result<(), Failure> {
        if !subscribe.is_empty() {
            self.conn.subscribe(subscribe).await?;
            self.subscribed.extend(subscribe.iter().cloned());
        }
        if !unsubscribe.is_empty() {
            self.conn.unsubscribe(unsubscribe).await?;
            for c in unsubscribe {
                self.subscribed.remove(c);
            }
        }
        let ttl = ttl_ms(&self.shared);
        for (group, entries) in joins {
            let key = self.shared.keys.presence_key(group);
            self.scripts
                .refresh(&mut self.conn, &key, entries, ttl)
                .await?;
        }
        for (group, entries) in leaves {
            let key = self.shared.keys.presence_key(group);
            redis::cmd("ZREM")
                .arg(&key)
                .arg(entries)
                .query_async::<()>(&mut self.conn)
                .await?;
        }
        Ok(())
    }

    /// The heartbeat: every local member's entry gets a new expiry. Doubles as the
    /// check that Redis still answers when there is nothing to refresh.
    async fn refresh_all(&mut self) -> Result<(), Failure> {
        let all = self.shared.wanted().entries();
        if all.is_empty() {
            redis::cmd("PING").query_async::<()>(&mut self.conn).await?;
        }
        let ttl = ttl_ms(&self.shared);
        for (group, entries) in all {
            let key = self.shared.keys.presence_key(&group);
            self.scripts
                .refresh(&mut self.conn, &key, &entries, ttl)
                .await?;
        }
        Ok(())
    }

    async fn answer(&mut self, query: Query) {
        // Joins and leaves made before the query go in first, so the answer includes them.
        let result = match bounded(self.shared.config.command_timeout * 4, self.sync()).await {
            Ok(()) => {
                let key = self.shared.keys.presence_key(&query.group);
                let limit = self.shared.config.presence_list_limit;
                let timeout_after = self.shared.config.command_timeout;
                match timeout(
                    timeout_after,
                    self.scripts.query(&mut self.conn, &key, limit),
                )
                .await
                {
                    Ok(Ok(p)) => Ok(p),
                    Ok(Err(e)) => Err(Failure::Redis(e)),
                    Err(_) => Err(Failure::Timeout(timeout_after)),
                }
            }
            Err(e) => Err(e),
        };
        let reply = match result {
            Ok(p) => Ok(p),
            Err(e) => {
                let text = e.to_string();
                self.shared.mark_down(&e);
                Err(LayerError::unavailable(text))
            }
        };
        let _ = query.reply.send(reply);
    }

    /// The layer was closed or dropped: take this process's members out of presence now rather
    /// than letting them expire (best effort, bounded).
    async fn goodbye(&mut self) {
        if !self.shared.is_up() {
            return;
        }
        let leaves = self.shared.wanted().entries();
        let limit = self.shared.config.command_timeout;
        let conn = &mut self.conn;
        let keys = &self.shared.keys;
        let _ = timeout(limit, async {
            for (group, entries) in leaves {
                redis::cmd("ZREM")
                    .arg(keys.presence_key(&group))
                    .arg(entries)
                    .query_async::<()>(conn)
                    .await?;
            }
            Ok::<(), RedisError>(())
        })
        .await;
    }
}

fn ttl_ms(shared: &Shared) -> u64 {
    u64::try_from(shared.config.presence_ttl.as_millis()).unwrap_or(u64::MAX)
}
