//! Identities: of this process ([`NodeId`]) and of each WebSocket connection
//! ([`ConnectionId`]), unique across processes in practice so they can cross a broker.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Identity of one WebSocket connection: this process's [`NodeId`] and a per-process
/// counter, so ids made by different processes differ (in practice: the node part is
/// 64 random bits).
///
/// Its text form is `<node as 16 hex digits>-<counter>`, stable and parseable:
///
/// ```
/// use wsview::{ConnectionId, NodeId};
/// let id = ConnectionId::from_u128((0x5f3a9c01_u128 << 64) | 17);
/// assert_eq!(id.to_string(), "000000005f3a9c01-17");
/// assert_eq!(id.to_string().parse::<ConnectionId>(), Ok(id));
/// assert_eq!(id.node(), NodeId::from_u64(0x5f3a9c01));
/// assert_eq!(ConnectionId::from_u128(id.to_u128()), id);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ConnectionId(u128);

/// This process's identity: the random part of every [`ConnectionId`] it makes.
///
/// ```
/// let node = wsview::NodeId::local();
/// assert_eq!(node, wsview::NodeId::local()); // one per process
/// assert_eq!(wsview::NodeId::from_u64(node.to_u64()), node);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct NodeId(u64);

impl ConnectionId {
    /// The id as one number, for wire formats: the node in the high 64 bits, the
    /// counter in the low 64.
    pub fn to_u128(self) -> u128 {
        self.0
    }

    /// The id [`to_u128`](Self::to_u128) gave.
    pub fn from_u128(v: u128) -> Self {
        ConnectionId(v)
    }

    /// The process that made this id.
    pub fn node(self) -> NodeId {
        NodeId((self.0 >> 64) as u64)
    }

    /// A new id, never given before by this process.
    pub(crate) fn next() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(1);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        ConnectionId((u128::from(NodeId::local().0) << 64) | u128::from(n))
    }
}

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.node(), self.0 as u64)
    }
}

/// The text [`Display`](std::fmt::Display) writes was not what it parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseIdError(());

impl std::fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a connection id (expected <16 hex digits>-<number>)")
    }
}

impl std::error::Error for ParseIdError {}

impl std::str::FromStr for ConnectionId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, ParseIdError> {
        let (node, counter) = s.split_once('-').ok_or(ParseIdError(()))?;
        if node.len() != 16 {
            return Err(ParseIdError(()));
        }
        let node = u64::from_str_radix(node, 16).map_err(|_| ParseIdError(()))?;
        let counter: u64 = counter.parse().map_err(|_| ParseIdError(()))?;
        Ok(ConnectionId((u128::from(node) << 64) | u128::from(counter)))
    }
}

impl NodeId {
    /// This process's id, chosen at random on first use.
    pub fn local() -> NodeId {
        static LOCAL: OnceLock<NodeId> = OnceLock::new();
        *LOCAL.get_or_init(|| {
            // std's hasher keys are random per process; the pid and the time make two
            // processes that somehow drew the same keys differ too.
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
                h.write_u128(t.as_nanos());
            }
            NodeId(h.finish())
        })
    }

    /// The id as a number, for wire formats.
    pub fn to_u64(self) -> u64 {
        self.0
    }

    /// The id [`to_u64`](Self::to_u64) gave.
    pub fn from_u64(v: u64) -> Self {
        NodeId(v)
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_carry_the_node() {
        let a = ConnectionId::next();
        let b = ConnectionId::next();
        assert_ne!(a, b);
        assert_eq!(a.node(), NodeId::local());
        assert_eq!(b.to_string().parse::<ConnectionId>(), Ok(b));
        for bad in ["", "-1", "abc-1", "000000005f3a9c01", "000000005f3a9c01-x"] {
            assert!(bad.parse::<ConnectionId>().is_err(), "{bad}");
        }
    }
}
