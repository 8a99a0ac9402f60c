//! Groups and broadcast: server push to many connections at once.
//!
//! A [`Groups`] registry holds named groups of connections. Add a connection (by its
//! [`WebSocketSender`](crate::WebSocketSender)) to a group, send to the group (or to all
//! but one member), broadcast to every connection, count members. A connection leaves
//! all its groups by itself when it ends. A send never waits and reports what it did
//! ([`SendReport`]); a member that is not keeping up is handled by a [`SlowPolicy`];
//! the counts add up in a metric [`Snapshot`]. With a [`GroupLayer`], sends also reach
//! members connected to other processes.
//!
//! The delivery guarantees (at most once, in order per sender, what joins and leaves
//! during a send see) are in docs/groups.md.
//!
//! This module builds on the core (connection ids, senders, app state); the core does
//! not know about it.

mod layer;
mod policy;
#[cfg(feature = "redis")]
pub mod redis;
mod registry;
mod report;
mod track;

pub use crate::id::{ConnectionId, NodeId};
pub use layer::{Envelope, GroupLayer, LayerError, Presence, RemoteSink, Target};
pub use policy::SlowPolicy;
pub use registry::{Groups, GroupsBuilder, Membership};
pub use report::{Remote, SendReport, Snapshot, Stats};
pub use track::TrackAll;
