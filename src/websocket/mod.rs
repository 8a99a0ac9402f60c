//! The WebSocket layer: the view's handle, the senders, and what runs under them.
//!
//! - `socket.rs`: [`WebSocket`], the handle a view uses.
//! - `sender.rs`: [`WebSocketSender`], the handle other tasks send with.
//! - `connection.rs`: the connection's state machine, shared by all of the above.
//! - `push.rs`: the fan-out push queue (groups' way in: no channel, one wake per burst).
//! - `task.rs`: the connection task that polls the view and drives the socket.
//! - `handover.rs`: how the socket reaches the engine (from hyper, or already here).
//! - `wire.rs`: the engine seam, the only file that talks to the protocol engine.
//! - `transport.rs`: the socket under the engine.
//! - `tracker.rs`: every live connection, for shutdown.

pub(crate) mod connection;
pub(crate) mod handover;
pub(crate) mod push;
pub(crate) mod sender;
pub(crate) mod socket;
pub(crate) mod task;
pub(crate) mod tracker;
pub(crate) mod transport;
pub(crate) mod wire;
