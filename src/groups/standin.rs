//! Stand-ins for the core's `ConnectionId` and `NodeId` until the core provides them
//! (same names and methods); this file goes away when it does.

use std::fmt;

/// Identity of one WebSocket connection: a per-process random part and a counter.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ConnectionId(u128);

impl ConnectionId {
    /// The id as one number, for wire formats.
    pub fn to_u128(self) -> u128 {
        self.0
    }

    /// The id a [`to_u128`](Self::to_u128) gave.
    pub fn from_u128(v: u128) -> Self {
        ConnectionId(v)
    }

    /// The process that made this id.
    pub fn node(self) -> NodeId {
        NodeId((self.0 >> 64) as u64)
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}-{}", (self.0 >> 64) as u64, self.0 as u64)
    }
}

/// This process's identity.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct NodeId(u64);

impl NodeId {
    /// This process's id.
    pub fn local() -> NodeId {
        NodeId(u64::from(std::process::id()))
    }

    /// The id as a number.
    pub fn to_u64(self) -> u64 {
        self.0
    }

    /// The id a [`to_u64`](Self::to_u64) gave.
    pub fn from_u64(v: u64) -> Self {
        NodeId(v)
    }
}
