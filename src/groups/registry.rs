//! The registry: who is in which group, and the fan-out.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::time::Instant;

use super::layer::{Envelope, GroupLayer, LayerError, Presence, RemoteSink, Target};
use super::policy::SlowPolicy;
use super::report::{Counters, Remote, SendReport, Snapshot, Stats};
use crate::id::{ConnectionId, NodeId};
use crate::message::{CloseCode, Message};
use crate::websocket::push::Pushed;
use crate::websocket::sender::WebSocketSender;

/// A cloneable handle to a registry of named groups of connections: add a connection
/// to a group, send to every member, broadcast to every connection. Django Channels'
/// `group_add` / `group_discard` / `group_send`, Phoenix's `broadcast_from`.
///
/// Make one at startup and put it in the app's state; views, handlers and blocking
/// views get it back with `state::<Groups>()`, and a background task keeps a clone.
///
/// ```no_run
/// use wsview::groups::Groups;
/// use wsview::{require_websocket, App, Request, Response};
///
/// async fn room(mut req: Request) -> Response {
///     let groups = req.state::<Groups>().cloned().expect("Groups is in the app state");
///     let Some(ws) = req.websocket() else { return Response::empty() };
///     groups.add("lobby", &ws.sender()); // left again when the connection ends
///     while let Some(msg) = ws.wait().await {
///         groups.send("lobby", msg); // to every member, this one included
///     }
///     Response::empty()
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// let groups = Groups::new();
/// let ticker = groups.clone();
/// tokio::spawn(async move {
///     let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
///     loop {
///         every.tick().await;
///         ticker.broadcast("tick"); // from outside any view
///     }
/// });
/// App::new()
///     .state(groups)
///     .route("/room", require_websocket(room))
///     .serve("127.0.0.1:8000")
///     .await
/// # }
/// ```
///
/// A send never waits: for each member it pushes the message onto that connection's
/// bounded send queue (the message's bytes are shared, not copied), and a member whose
/// queue is full is handled by the group's [`SlowPolicy`]. Each send returns a
/// [`SendReport`]; the counts add up in [`snapshot`](Self::snapshot). A connection leaves
/// all its groups by itself when it ends, however it ends. docs/groups.md states the
/// delivery guarantees.
#[derive(Clone)]
pub struct Groups {
    inner: Arc<Registry>,
}

/// Builds a [`Groups`] with an app-wide slow-member policy and a cross-process layer.
///
/// ```
/// use std::time::Duration;
/// use wsview::groups::{Groups, SlowPolicy};
///
/// let groups = Groups::builder()
///     .slow_policy(SlowPolicy::Wait { timeout: Duration::from_millis(200), backlog: 32 })
///     .build();
/// groups.set_policy("tickers", SlowPolicy::Drop); // this group drops instead
/// assert_eq!(groups.policy("tickers"), SlowPolicy::Drop);
/// assert!(matches!(groups.policy("chat"), SlowPolicy::Wait { .. }));
/// ```
#[derive(Default)]
#[must_use = "a builder does nothing until `build`"]
pub struct GroupsBuilder {
    policy: SlowPolicy,
    layer: Option<Arc<dyn GroupLayer>>,
}

/// What a membership change did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Membership {
    /// Whether membership changed (false: the connection was already in, or not in).
    pub changed: bool,
    /// The group's local member count after the change.
    pub members: usize,
}

struct Registry {
    state: Mutex<State>,
    /// Bumped at every membership change.
    changed: watch::Sender<u64>,
    policy: SlowPolicy,
    totals: Counters,
    layer: Option<Arc<dyn GroupLayer>>,
    node: NodeId,
    runtime: Option<Handle>,
}

#[derive(Default)]
struct State {
    groups: HashMap<Arc<str>, Arc<Group>>,
    conns: HashMap<ConnectionId, Conn>,
    /// Per-group policies, kept while the group is empty.
    policies: HashMap<Arc<str>, SlowPolicy>,
}

/// A connection known to the registry, until it ends.
struct Conn {
    member: Arc<Member>,
    groups: Vec<Arc<str>>,
}

/// One connection as the fan-out sees it; shared by every group it is in.
struct Member {
    id: ConnectionId,
    sender: WebSocketSender,
    /// Set while messages wait in `backlog`: later ones queue behind them.
    backlogged: AtomicBool,
    backlog: Mutex<Backlog>,
}

#[derive(Default)]
struct Backlog {
    active: bool,
    queue: VecDeque<Waiting>,
}

struct Waiting {
    message: Message,
    deadline: Instant,
    /// The group's counts (none for a broadcast: the totals only).
    counters: Option<Arc<Counters>>,
}

struct Group {
    members: Mutex<Members>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Members {
    list: Vec<Entry>,
    index: HashMap<ConnectionId, usize>,
    policy: SlowPolicy,
}

struct Entry {
    member: Arc<Member>,
    name: Option<Arc<str>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while locked leaves no invariant worth refusing service for.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Default for Groups {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Groups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = lock(&self.inner.state);
        f.debug_struct("Groups")
            .field("groups", &state.groups.len())
            .field("connections", &state.conns.len())
            .field("policy", &self.inner.policy)
            .field("layer", &self.inner.layer.is_some())
            .finish()
    }
}

impl std::fmt::Debug for GroupsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupsBuilder")
            .field("policy", &self.policy)
            .field("layer", &self.layer.is_some())
            .finish()
    }
}

impl GroupsBuilder {
    /// The policy of every group that has none of its own (default [`SlowPolicy::Drop`]).
    pub fn slow_policy(mut self, policy: SlowPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Carries sends to and from other processes (see [`GroupLayer`]).
    pub fn layer(mut self, layer: impl GroupLayer) -> Self {
        self.layer = Some(Arc::new(layer));
        self
    }

    /// The registry. Starts the layer, if any.
    pub fn build(self) -> Groups {
        let inner = Arc::new(Registry {
            state: Mutex::new(State::default()),
            changed: watch::Sender::new(0),
            policy: self.policy,
            totals: Counters::default(),
            layer: self.layer,
            node: NodeId::local(),
            runtime: Handle::try_current().ok(),
        });
        if let Some(layer) = &inner.layer {
            let weak = Arc::downgrade(&inner);
            layer.start(RemoteSink::from_fn(move |envelope: Envelope| {
                if let Some(registry) = weak.upgrade() {
                    registry.deliver_remote(envelope);
                }
            }));
        }
        Groups { inner }
    }
}

impl Groups {
    /// An in-memory registry with the default policy ([`SlowPolicy::Drop`]).
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A registry with a chosen policy or layer.
    pub fn builder() -> GroupsBuilder {
        GroupsBuilder::default()
    }

    /// Adds the connection to `group` (creating the group). A connection leaves every
    /// group by itself when it ends. Adding it twice changes nothing.
    pub fn add(&self, group: &str, sender: &WebSocketSender) -> Membership {
        self.inner.add(group, sender, None)
    }

    /// [`add`](Self::add) with a display name, reported by [`presence`](Self::presence).
    pub fn add_named(&self, group: &str, sender: &WebSocketSender, name: &str) -> Membership {
        self.inner.add(group, sender, Some(name))
    }

    /// Makes the connection known to [`broadcast`](Self::broadcast) without adding it to
    /// a group (adding does this too). Forgotten when the connection ends. The
    /// [`TrackAll`](super::TrackAll) middleware does it for every connection.
    pub fn track(&self, sender: &WebSocketSender) {
        self.inner.track(sender);
    }

    /// Takes the connection out of `group`; the group goes away with its last member.
    pub fn discard(&self, group: &str, id: ConnectionId) -> Membership {
        self.inner.discard(group, id)
    }

    /// Takes the connection out of every group; returns how many it left. It stays
    /// known to [`broadcast`](Self::broadcast) until it ends.
    pub fn discard_all(&self, id: ConnectionId) -> usize {
        self.inner.leave_all(id, false)
    }

    /// Sends `msg` to every member of `group` (here and, with a layer, in other
    /// processes). Never waits.
    pub fn send(&self, group: &str, msg: impl Into<Message>) -> SendReport {
        self.inner
            .publish(Target::Group(group.to_owned()), None, msg.into())
    }

    /// Sends `msg` to every member of `group` but `except` (typically the sender).
    pub fn send_except(
        &self,
        group: &str,
        except: ConnectionId,
        msg: impl Into<Message>,
    ) -> SendReport {
        self.inner
            .publish(Target::Group(group.to_owned()), Some(except), msg.into())
    }

    /// Sends `msg` to every connection known to the registry: each one in a group or
    /// [`track`](Self::track)ed.
    pub fn broadcast(&self, msg: impl Into<Message>) -> SendReport {
        self.inner.publish(Target::All, None, msg.into())
    }

    /// [`broadcast`](Self::broadcast) to all but `except`.
    pub fn broadcast_except(&self, except: ConnectionId, msg: impl Into<Message>) -> SendReport {
        self.inner.publish(Target::All, Some(except), msg.into())
    }

    /// How many local members `group` has (0 for a group that does not exist).
    pub fn members(&self, group: &str) -> usize {
        let group = lock(&self.inner.state).groups.get(group).cloned();
        group.map_or(0, |g| lock(&g.members).list.len())
    }

    /// The local members of `group`.
    pub fn member_ids(&self, group: &str) -> Vec<ConnectionId> {
        let group = lock(&self.inner.state).groups.get(group).cloned();
        group.map_or_else(Vec::new, |g| {
            lock(&g.members).list.iter().map(|e| e.member.id).collect()
        })
    }

    /// Whether the connection is in `group`.
    pub fn contains(&self, group: &str, id: ConnectionId) -> bool {
        let group = lock(&self.inner.state).groups.get(group).cloned();
        group.is_some_and(|g| lock(&g.members).index.contains_key(&id))
    }

    /// The sender of a connection the registry knows, to send to it alone.
    pub fn sender_of(&self, id: ConnectionId) -> Option<WebSocketSender> {
        let state = lock(&self.inner.state);
        state.conns.get(&id).map(|c| c.member.sender.clone())
    }

    /// The groups the connection is in.
    pub fn groups_of(&self, id: ConnectionId) -> Vec<String> {
        let state = lock(&self.inner.state);
        state.conns.get(&id).map_or_else(Vec::new, |c| {
            c.groups.iter().map(|g| g.to_string()).collect()
        })
    }

    /// The names of the groups that have local members.
    pub fn group_names(&self) -> Vec<String> {
        let state = lock(&self.inner.state);
        state.groups.keys().map(|g| g.to_string()).collect()
    }

    /// How many connections the registry knows (in a group, or tracked).
    pub fn connections(&self) -> usize {
        lock(&self.inner.state).conns.len()
    }

    /// Sets the slow-member policy of one group (kept while the group is empty).
    pub fn set_policy(&self, group: &str, policy: SlowPolicy) {
        let mut state = lock(&self.inner.state);
        let name: Arc<str> = match state.groups.get_key_value(group) {
            Some((name, g)) => {
                lock(&g.members).policy = policy;
                name.clone()
            }
            None => Arc::from(group),
        };
        state.policies.insert(name, policy);
    }

    /// The policy `group` uses.
    pub fn policy(&self, group: &str) -> SlowPolicy {
        let state = lock(&self.inner.state);
        state
            .policies
            .get(group)
            .copied()
            .unwrap_or(self.inner.policy)
    }

    /// Who is in `group`: across processes when a layer is attached (as the layer
    /// reports), else the local members with their names.
    pub async fn presence(&self, group: &str) -> Result<Presence, LayerError> {
        if let Some(layer) = &self.inner.layer {
            return layer.presence(group).await;
        }
        let group = lock(&self.inner.state).groups.get(group).cloned();
        let members: Vec<(ConnectionId, Option<String>)> = group.map_or_else(Vec::new, |g| {
            lock(&g.members)
                .list
                .iter()
                .map(|e| (e.member.id, e.name.as_deref().map(str::to_owned)))
                .collect()
        });
        Ok(Presence {
            count: members.len(),
            members: Some(members),
        })
    }

    /// Waits for the next membership change (a connection added to or taken out of a
    /// group, or forgotten when it ends). To wait for a condition without missing a
    /// change, create the future before checking:
    ///
    /// ```no_run
    /// # async fn f(groups: wsview::groups::Groups) {
    /// loop {
    ///     let changed = groups.changed();
    ///     if groups.members("room") == 0 {
    ///         break;
    ///     }
    ///     changed.await;
    /// }
    /// # }
    /// ```
    pub fn changed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        // Subscribing now marks the current version seen: any later change wakes it.
        let mut rx = self.inner.changed.subscribe();
        async move {
            let _ = rx.changed().await;
        }
    }

    /// The counts so far, per group and total.
    pub fn snapshot(&self) -> Snapshot {
        let (groups, conns) = {
            let state = lock(&self.inner.state);
            (
                state
                    .groups
                    .iter()
                    .map(|(n, g)| (n.clone(), g.clone()))
                    .collect::<Vec<_>>(),
                state.conns.len(),
            )
        };
        let mut groups: Vec<(String, Stats)> = groups
            .into_iter()
            .map(|(name, g)| {
                let members = lock(&g.members).list.len();
                (name.to_string(), g.counters.stats(members))
            })
            .collect();
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        Snapshot {
            total: self.inner.totals.stats(conns),
            groups,
        }
    }
}

impl Registry {
    /// Registers the connection if new; returns its member. Must be followed (outside
    /// the lock) by `watch` when `new` is true.
    fn known(state: &mut State, sender: &WebSocketSender) -> (Arc<Member>, bool) {
        let id = sender.id();
        if let Some(c) = state.conns.get(&id) {
            return (c.member.clone(), false);
        }
        let member = Arc::new(Member {
            id,
            sender: sender.clone(),
            backlogged: AtomicBool::new(false),
            backlog: Mutex::new(Backlog::default()),
        });
        state.conns.insert(
            id,
            Conn {
                member: member.clone(),
                groups: Vec::new(),
            },
        );
        (member, true)
    }

    /// Leaves everything when the connection ends. Registered after the connection is in
    /// the map, outside every lock: if it has already ended, this runs at once.
    fn watch(self: &Arc<Self>, sender: &WebSocketSender) {
        let weak: Weak<Registry> = Arc::downgrade(self);
        sender.on_end(move |id| {
            if let Some(registry) = weak.upgrade() {
                registry.leave_all(id, true);
            }
        });
    }

    fn track(self: &Arc<Self>, sender: &WebSocketSender) {
        let new = Self::known(&mut lock(&self.state), sender).1;
        if new {
            self.bump();
            self.watch(sender);
        }
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn add(
        self: &Arc<Self>,
        group: &str,
        sender: &WebSocketSender,
        name: Option<&str>,
    ) -> Membership {
        let (result, new) = {
            let mut state = lock(&self.state);
            let (member, new) = Self::known(&mut state, sender);
            let id = member.id;
            let (name_key, g) = match state.groups.get_key_value(group) {
                Some((k, g)) => (k.clone(), g.clone()),
                None => {
                    let key: Arc<str> = Arc::from(group);
                    let policy = state.policies.get(group).copied().unwrap_or(self.policy);
                    let g = Arc::new(Group {
                        members: Mutex::new(Members {
                            policy,
                            ..Members::default()
                        }),
                        counters: Arc::new(Counters::default()),
                    });
                    state.groups.insert(key.clone(), g.clone());
                    if let Some(layer) = &self.layer {
                        layer.subscribe(group);
                    }
                    (key, g)
                }
            };
            let mut members = lock(&g.members);
            let changed = !members.index.contains_key(&id);
            if changed {
                let at = members.list.len();
                members.index.insert(id, at);
                members.list.push(Entry {
                    member,
                    name: name.map(Arc::from),
                });
                if let Some(conn) = state.conns.get_mut(&id) {
                    conn.groups.push(name_key);
                }
                if let Some(layer) = &self.layer {
                    layer.presence_join(group, id, name);
                }
            }
            let members = members.list.len();
            (Membership { changed, members }, new)
        };
        if result.changed || new {
            self.bump();
        }
        if new {
            self.watch(sender);
        }
        result
    }

    fn discard(&self, group: &str, id: ConnectionId) -> Membership {
        let mut state = lock(&self.state);
        let changed = match state.conns.get_mut(&id) {
            Some(conn) => {
                let before = conn.groups.len();
                conn.groups.retain(|g| &**g != group);
                conn.groups.len() != before
            }
            None => false,
        };
        let members = if changed {
            let left = self.remove_member(&mut state, group, id);
            self.bump();
            left
        } else {
            state
                .groups
                .get(group)
                .map_or(0, |g| lock(&g.members).list.len())
        };
        Membership { changed, members }
    }

    /// Takes `id` out of `group`'s list; drops the group when it empties. Returns the
    /// members left.
    fn remove_member(&self, state: &mut State, group: &str, id: ConnectionId) -> usize {
        let Some(g) = state.groups.get(group).cloned() else {
            return 0;
        };
        let left = {
            let mut members = lock(&g.members);
            if let Some(at) = members.index.remove(&id) {
                members.list.swap_remove(at);
                if let Some(moved) = members.list.get(at).map(|e| e.member.id) {
                    members.index.insert(moved, at);
                }
                if let Some(layer) = &self.layer {
                    layer.presence_leave(group, id);
                }
            }
            members.list.len()
        };
        if left == 0 {
            state.groups.remove(group);
            if let Some(layer) = &self.layer {
                layer.unsubscribe(group);
            }
        }
        left
    }

    /// Leaves every group; `ended`: the connection is gone, forget it entirely.
    fn leave_all(&self, id: ConnectionId, ended: bool) -> usize {
        let mut state = lock(&self.state);
        let groups = if ended {
            state.conns.remove(&id).map(|c| c.groups)
        } else {
            state
                .conns
                .get_mut(&id)
                .map(|c| std::mem::take(&mut c.groups))
        };
        let forgotten = ended && groups.is_some();
        let groups = groups.unwrap_or_default();
        for g in &groups {
            self.remove_member(&mut state, g, id);
        }
        if forgotten || !groups.is_empty() {
            self.bump();
        }
        groups.len()
    }

    fn publish(
        self: &Arc<Self>,
        target: Target,
        except: Option<ConnectionId>,
        message: Message,
    ) -> SendReport {
        let (mut report, counters) = self.deliver_local(&target, except, &message);
        if let Some(layer) = &self.layer {
            let envelope = Envelope {
                target,
                except,
                message,
                origin: self.node,
            };
            report.remote = match layer.publish(&envelope) {
                Ok(()) => Remote::Published,
                Err(e) => {
                    tracing::debug!(error = %e, "group layer refused a send");
                    Remote::Failed
                }
            };
        }
        self.record(&report, counters.as_deref());
        report
    }

    /// Adds a send's counts to its group's and to the totals.
    fn record(&self, report: &SendReport, group: Option<&Counters>) {
        if let Some(group) = group {
            group.record(report, 1);
        }
        self.totals.record(report, 1);
    }

    /// An envelope from another process (the layer filters out this process's own; no
    /// second check here, so that two registries in one process can share a layer).
    fn deliver_remote(self: &Arc<Self>, envelope: Envelope) {
        let (report, counters) =
            self.deliver_local(&envelope.target, envelope.except, &envelope.message);
        self.record(&report, counters.as_deref());
    }

    /// Pushes the message to every local member targeted. Returns what it did and the
    /// group's counters, for the caller to record once the remote outcome is known too.
    fn deliver_local(
        self: &Arc<Self>,
        target: &Target,
        except: Option<ConnectionId>,
        message: &Message,
    ) -> (SendReport, Option<Arc<Counters>>) {
        let mut report = SendReport::default();
        let mut counters = None;
        match target {
            Target::Group(name) => {
                let group = lock(&self.state).groups.get(name.as_str()).cloned();
                if let Some(group) = group {
                    {
                        let members = lock(&group.members);
                        let policy = members.policy;
                        for e in &members.list {
                            if Some(e.member.id) != except {
                                self.push(
                                    &e.member,
                                    message,
                                    policy,
                                    Some(&group.counters),
                                    &mut report,
                                );
                            }
                        }
                    }
                    counters = Some(group.counters.clone());
                }
            }
            Target::All => {
                let state = lock(&self.state);
                for conn in state.conns.values() {
                    if Some(conn.member.id) != except {
                        self.push(&conn.member, message, self.policy, None, &mut report);
                    }
                }
            }
        }
        (report, counters)
    }

    /// One member, one message: a queue push, or the policy when the queue is full.
    fn push(
        self: &Arc<Self>,
        member: &Arc<Member>,
        message: &Message,
        policy: SlowPolicy,
        counters: Option<&Arc<Counters>>,
        report: &mut SendReport,
    ) {
        if member.backlogged.load(Ordering::Acquire) {
            let mut backlog = lock(&member.backlog);
            if backlog.active {
                let limit = match policy {
                    SlowPolicy::Wait { backlog, .. } => backlog,
                    // A member backlogged through another group: queue behind, bounded.
                    _ => 0,
                };
                let timeout = match policy {
                    SlowPolicy::Wait { timeout, .. } => timeout,
                    _ => std::time::Duration::ZERO,
                };
                if backlog.queue.len() < limit {
                    backlog.queue.push_back(Waiting {
                        message: message.clone(),
                        deadline: Instant::now() + timeout,
                        counters: counters.cloned(),
                    });
                    report.waiting += 1;
                } else {
                    report.dropped += 1;
                }
                return;
            }
        }
        match member.sender.push(message) {
            Pushed::Queued => report.reached += 1,
            Pushed::Closed => report.dropped += 1,
            Pushed::Full => match policy {
                SlowPolicy::Drop => report.dropped += 1,
                SlowPolicy::Close => {
                    if member.sender.close_now(CloseCode::Policy, "too slow") {
                        report.closed += 1;
                    } else {
                        report.dropped += 1;
                    }
                }
                SlowPolicy::Wait { timeout, backlog } => {
                    if backlog == 0
                        || !self.start_backlog(member, message.clone(), timeout, counters)
                    {
                        report.dropped += 1;
                    } else {
                        report.waiting += 1;
                    }
                }
            },
        }
    }

    /// Starts waiting for room on `member` with `message` first. False when no runtime
    /// can run the wait.
    fn start_backlog(
        self: &Arc<Self>,
        member: &Arc<Member>,
        message: Message,
        timeout: std::time::Duration,
        counters: Option<&Arc<Counters>>,
    ) -> bool {
        let Some(runtime) = Handle::try_current().ok().or_else(|| self.runtime.clone()) else {
            return false;
        };
        {
            let mut backlog = lock(&member.backlog);
            backlog.active = true;
            backlog.queue.push_back(Waiting {
                message,
                deadline: Instant::now() + timeout,
                counters: counters.cloned(),
            });
            member.backlogged.store(true, Ordering::Release);
        }
        let member = member.clone();
        let registry = Arc::downgrade(self);
        runtime.spawn(drain_backlog(member, registry));
        true
    }
}

/// Moves a member's backlog into its queue as room appears, each message until its
/// deadline; then lets sends push directly again.
async fn drain_backlog(member: Arc<Member>, registry: Weak<Registry>) {
    loop {
        let next = {
            let mut backlog = lock(&member.backlog);
            match backlog.queue.pop_front() {
                Some(w) => w,
                None => {
                    backlog.active = false;
                    member.backlogged.store(false, Ordering::Release);
                    return;
                }
            }
        };
        let late = |w: &Waiting, reached: bool| {
            if let Some(c) = &w.counters {
                c.late(reached);
            }
            if let Some(r) = registry.upgrade() {
                r.totals.late(reached);
            }
        };
        let pushed = tokio::time::timeout_at(next.deadline, member.sender.push_wait(&next.message));
        match pushed.await {
            Ok(Pushed::Queued) => late(&next, true),
            Ok(Pushed::Full | Pushed::Closed) => {
                // Gone: everything still waiting is lost.
                late(&next, false);
                let rest: Vec<Waiting> = {
                    let mut backlog = lock(&member.backlog);
                    backlog.active = false;
                    member.backlogged.store(false, Ordering::Release);
                    backlog.queue.drain(..).collect()
                };
                for w in &rest {
                    late(w, false);
                }
                return;
            }
            Err(_) => late(&next, false),
        }
    }
}
