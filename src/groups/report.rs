//! What a group send did, and the running counts behind the metric snapshot.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// What one group send did: how many members it reached, dropped and closed.
///
/// `reached + dropped + closed + waiting` is the number of members the send found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Members the message was queued for.
    pub reached: usize,
    /// Members it was not queued for: their queue was full
    /// ([`SlowPolicy::Drop`](super::SlowPolicy::Drop), or a full backlog), or they were
    /// already closing.
    pub dropped: usize,
    /// Members closed with 1008 by this send ([`SlowPolicy::Close`](super::SlowPolicy::Close)).
    pub closed: usize,
    /// Members for which the message waits in a backlog
    /// ([`SlowPolicy::Wait`](super::SlowPolicy::Wait)); each later counts as reached or
    /// dropped in the [`Snapshot`].
    pub waiting: usize,
    /// What happened to the copy for other processes.
    pub remote: Remote,
}

/// What happened to a send's copy for other processes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Remote {
    /// No cross-process layer is attached.
    #[default]
    None,
    /// Handed to the layer.
    Published,
    /// The layer refused it; it reaches no other process.
    Failed,
}

/// Running counts of one group, or of all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Members now (for the total: connections known to the registry).
    pub members: usize,
    /// Sends (a broadcast counts in the total only).
    pub sends: u64,
    /// Deliveries queued (one per member per send, including late ones after waiting).
    pub reached: u64,
    /// Deliveries dropped.
    pub dropped: u64,
    /// Members closed for being too slow.
    pub closed: u64,
    /// Sends the cross-process layer refused.
    pub remote_failed: u64,
}

/// A metric-style view of the registry: per group and total. Its `Display` is the
/// Prometheus text format.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Everything, since the registry was made (including groups that no longer exist).
    pub total: Stats,
    /// Each group that has members now, by name.
    pub groups: Vec<(String, Stats)>,
}

impl Snapshot {
    /// The counts of one group, if it has members.
    pub fn group(&self, name: &str) -> Option<&Stats> {
        self.groups.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        type Row = (&'static str, &'static str, fn(&Stats) -> u64);
        let rows: [Row; 6] = [
            ("wsview_group_members", "gauge", |s| s.members as u64),
            ("wsview_group_sends_total", "counter", |s| s.sends),
            ("wsview_group_reached_total", "counter", |s| s.reached),
            ("wsview_group_dropped_total", "counter", |s| s.dropped),
            ("wsview_group_closed_total", "counter", |s| s.closed),
            ("wsview_group_remote_failed_total", "counter", |s| {
                s.remote_failed
            }),
        ];
        for (name, kind, get) in rows {
            writeln!(f, "# TYPE {name} {kind}")?;
            writeln!(f, "{name} {}", get(&self.total))?;
            for (group, stats) in &self.groups {
                let label = group
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                writeln!(f, "{name}{{group=\"{label}\"}} {}", get(stats))?;
            }
        }
        Ok(())
    }
}

/// The atomic counts behind [`Stats`]; updated once per send, not per member.
#[derive(Default, Debug)]
pub(crate) struct Counters {
    sends: AtomicU64,
    reached: AtomicU64,
    dropped: AtomicU64,
    closed: AtomicU64,
    remote_failed: AtomicU64,
}

impl Counters {
    pub(crate) fn record(&self, r: &SendReport, sends: u64) {
        let add = |c: &AtomicU64, n: usize| {
            if n > 0 {
                c.fetch_add(n as u64, Ordering::Relaxed);
            }
        };
        if sends > 0 {
            self.sends.fetch_add(sends, Ordering::Relaxed);
        }
        add(&self.reached, r.reached);
        add(&self.dropped, r.dropped);
        add(&self.closed, r.closed);
        if r.remote == Remote::Failed {
            self.remote_failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn late(&self, reached: bool) {
        let c = if reached {
            &self.reached
        } else {
            &self.dropped
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self, members: usize) -> Stats {
        Stats {
            members,
            sends: self.sends.load(Ordering::Relaxed),
            reached: self.reached.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            closed: self.closed.load(Ordering::Relaxed),
            remote_failed: self.remote_failed.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_renders_prometheus_text() {
        let c = Counters::default();
        c.record(
            &SendReport {
                reached: 3,
                dropped: 1,
                closed: 0,
                waiting: 0,
                remote: Remote::None,
            },
            1,
        );
        c.late(false);
        let s = Snapshot {
            total: c.stats(4),
            groups: vec![("a\"b".into(), c.stats(4))],
        };
        let text = s.to_string();
        assert!(text.contains("wsview_group_reached_total 3\n"), "{text}");
        assert!(
            text.contains("wsview_group_dropped_total{group=\"a\\\"b\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE wsview_group_members gauge\n"),
            "{text}"
        );
        assert_eq!(s.group("a\"b").map(|g| g.members), Some(4));
    }
}
