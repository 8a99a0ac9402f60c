//! Groups and broadcast: server push to many connections at once.
//!
//! This module builds on the core (connection ids, senders, app state); the core does
//! not know about it.

mod layer;
#[cfg(feature = "redis")]
pub mod redis;
mod standin;

pub use layer::{Envelope, GroupLayer, LayerError, Presence, RemoteSink, Target};
pub use standin::{ConnectionId, NodeId};
