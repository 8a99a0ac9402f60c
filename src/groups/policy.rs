//! What a group send does for a member that is not keeping up.

use std::time::Duration;

/// What a group send does for a member whose send queue
/// ([`Settings::sender_capacity`](crate::Settings::sender_capacity) messages) is full.
/// Chosen app-wide ([`GroupsBuilder::slow_policy`](super::GroupsBuilder::slow_policy))
/// or per group ([`Groups::set_policy`](super::Groups::set_policy)).
///
/// Whatever the policy, a slow member never delays delivery to the others: a send only
/// ever pushes onto each member's queue, and a full queue is handled for that member
/// alone. Memory stays bounded: the queue, plus at most `backlog` messages under
/// [`Wait`](Self::Wait).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SlowPolicy {
    /// The message is dropped for that member and counted (`dropped`); the member stays
    /// and gets later messages once it has room. Channels' and uWebSockets' default.
    #[default]
    Drop,
    /// The member is closed with 1008 (policy violation) at once, even though its queue is
    /// full, and counted (`closed`); it leaves all its groups. uWebSockets'
    /// `closeOnBackpressureLimit`.
    Close,
    /// The message waits for that member in a backlog of at most `backlog` messages, each
    /// for at most `timeout`; a message that finds the backlog full, or is still waiting
    /// after `timeout`, is dropped and counted. Messages behind a backlog keep their order.
    /// Waiting needs a tokio runtime: the one current at the send, or the one current when
    /// the `Groups` was made; with neither, the message is dropped.
    Wait {
        /// The longest a message waits for room.
        timeout: Duration,
        /// The most messages waiting for one member.
        backlog: usize,
    },
}
