//! The seam between [`Groups`](super::Groups) and a cross-process backend.
//!
//! With no layer, a group send reaches the members connected to this process. A
//! [`GroupLayer`] carries sends to the other processes of a deployment (Redis behind
//! the `redis` feature) and hands those that arrive from them to a [`RemoteSink`],
//! which delivers them to this process's members exactly as a local send would.

use std::fmt;
use std::sync::Arc;

use crate::id::{ConnectionId, NodeId};
use crate::message::Message;
use crate::view::BoxFuture;

/// What a group send targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The members of one group.
    Group(String),
    /// Every connection known to the groups registry, in any group or none.
    All,
}

/// One group send as it crosses processes.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// Who receives it.
    pub target: Target,
    /// A connection left out wherever it lives (Phoenix's `broadcast_from`).
    pub except: Option<ConnectionId>,
    /// The message, text or binary, sent as is.
    pub message: Message,
    /// The publishing process; a layer never hands a process its own envelopes back.
    pub origin: NodeId,
}

/// Where a layer hands the envelopes that came from other processes; the registry
/// delivers each to its local members. Cheap to clone.
#[derive(Clone)]
pub struct RemoteSink {
    deliver: Arc<dyn Fn(Envelope) + Send + Sync>,
}

impl RemoteSink {
    /// A sink that calls `f` for each envelope. [`Groups`](super::Groups) makes the one a
    /// layer gets; this constructor is for testing a layer on its own.
    pub fn from_fn(f: impl Fn(Envelope) + Send + Sync + 'static) -> Self {
        RemoteSink {
            deliver: Arc::new(f),
        }
    }

    /// Delivers an envelope from another process to the local members it targets.
    /// Never waits: each member gets a queue push, under the group's slow-member policy.
    pub fn deliver(&self, envelope: Envelope) {
        (self.deliver)(envelope)
    }
}

impl fmt::Debug for RemoteSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RemoteSink")
    }
}

/// A cross-process backend for [`Groups`](super::Groups): none means in-memory only;
/// Redis behind the `redis` feature.
///
/// Every method but [`presence`](Self::presence) is called from inside a send or a
/// membership change, so none may wait: hand the work to the layer's own task through a
/// bounded queue.
pub trait GroupLayer: Send + Sync + 'static {
    /// Called once, when the layer is attached to a registry; envelopes from other
    /// processes go to `sink` from then on.
    fn start(&self, sink: RemoteSink);
    /// This process got its first local member of `group`.
    fn subscribe(&self, group: &str);
    /// This process lost its last local member of `group`.
    fn unsubscribe(&self, group: &str);
    /// Hands one send to the other processes. Never waits, never buffers without bound;
    /// `Err` means it was not handed off, and the registry counts it as dropped (remote).
    fn publish(&self, envelope: &Envelope) -> Result<(), LayerError>;
    /// `id` joined `group` here (with a display name, if given).
    fn presence_join(&self, group: &str, id: ConnectionId, name: Option<&str>);
    /// `id` left `group` here.
    fn presence_leave(&self, group: &str, id: ConnectionId);
    /// Who is in `group` across processes. Entries of a process that died expire within
    /// the bound the layer documents.
    fn presence(&self, group: &str) -> BoxFuture<'static, Result<Presence, LayerError>>;
}

/// Who is in a group across processes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Presence {
    /// How many connections are in the group.
    pub count: usize,
    /// The members and their names, when the layer tracks them.
    pub members: Option<Vec<(ConnectionId, Option<String>)>>,
}

/// Why a layer could not do something. Opaque; ask with the `is_*` predicates.
#[derive(Debug)]
pub struct LayerError {
    kind: Kind,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unavailable,
    Full,
    Closed,
    Other,
}

impl LayerError {
    /// The backend cannot be reached (connection refused, lost, timed out).
    pub fn unavailable(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::new(Kind::Unavailable, Some(source.into()))
    }

    /// The layer's outgoing queue is full: the backend is not keeping up.
    pub fn full() -> Self {
        Self::new(Kind::Full, None)
    }

    /// The layer was stopped.
    pub fn closed() -> Self {
        Self::new(Kind::Closed, None)
    }

    /// Anything else (a reply the layer did not understand, …).
    pub fn other(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::new(Kind::Other, Some(source.into()))
    }

    fn new(kind: Kind, source: Option<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        LayerError { kind, source }
    }

    /// Whether the backend could not be reached.
    pub fn is_unavailable(&self) -> bool {
        self.kind == Kind::Unavailable
    }

    /// Whether the layer's queue was full.
    pub fn is_full(&self) -> bool {
        self.kind == Kind::Full
    }

    /// Whether the layer was stopped.
    pub fn is_closed(&self) -> bool {
        self.kind == Kind::Closed
    }
}

impl fmt::Display for LayerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            Kind::Unavailable => "group layer backend unavailable",
            Kind::Full => "group layer queue full",
            Kind::Closed => "group layer stopped",
            Kind::Other => "group layer error",
        };
        match &self.source {
            Some(source) => write!(f, "{what}: {source}"),
            None => f.write_str(what),
        }
    }
}

impl std::error::Error for LayerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_predicates_and_text() {
        let e = LayerError::unavailable("connection refused");
        assert!(e.is_unavailable() && !e.is_full() && !e.is_closed());
        assert_eq!(
            e.to_string(),
            "group layer backend unavailable: connection refused"
        );
        assert!(std::error::Error::source(&e).is_some());
        assert!(LayerError::full().is_full());
        assert!(LayerError::closed().is_closed());
        assert_eq!(LayerError::closed().to_string(), "group layer stopped");
    }

    #[test]
    fn sink_calls_its_function() {
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = RemoteSink::from_fn(move |e: Envelope| {
            let _ = tx.send(e.target);
        });
        sink.clone().deliver(Envelope {
            target: Target::Group("room".into()),
            except: None,
            message: Message::text("hi"),
            origin: NodeId::local(),
        });
        assert_eq!(rx.try_recv().ok(), Some(Target::Group("room".into())));
    }
}
