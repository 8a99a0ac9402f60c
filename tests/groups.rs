//! Groups over real sockets: every operation, the send report and snapshot, each way a
//! connection can end taking it out of its groups, the slow-member policies, and the
//! handle reached from a handler, a blocking view and a background task.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use support::{next_data, send_text, start, within, Client, TestServer};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsview::groups::{
    Envelope, GroupLayer, Groups, LayerError, Presence, Remote, RemoteSink, SendReport, SlowPolicy,
    Target, TrackAll,
};
use wsview::{
    blocking, handler_view, require_websocket, App, BoxFuture, ConnectionId, Handler,
    HandlerContext, HandlerError, Message, Opened, Request, Response, Settings,
};

/// Joins `{room}` and tells the client its id; then reads until the peer closes.
async fn member(mut req: Request) -> Response {
    let groups = req.state::<Groups>().cloned().expect("groups in state");
    let room = req.param("room").unwrap_or_default().to_owned();
    let Some(ws) = req.websocket() else {
        return Response::empty();
    };
    if ws.accept().await.is_err() {
        return Response::empty();
    }
    groups.add(&room, &ws.sender());
    if ws.send(format!("in {}", ws.id().to_u128())).await.is_err() {
        return Response::empty();
    }
    while ws.wait().await.is_some() {}
    Response::empty()
}

/// Joins, acknowledges, and returns (closing with 1000) at the first message.
async fn returns(mut req: Request) -> Response {
    let groups = req.state::<Groups>().cloned().expect("groups in state");
    let room = req.param("room").unwrap_or_default().to_owned();
    let Some(ws) = req.websocket() else {
        return Response::empty();
    };
    if ws.accept().await.is_err() {
        return Response::empty();
    }
    groups.add(&room, &ws.sender());
    let _ = ws.send(format!("in {}", ws.id().to_u128())).await;
    let _ = ws.wait().await;
    Response::empty()
}

/// Joins, acknowledges, and panics at the first message.
async fn panics(mut req: Request) -> Response {
    let groups = req.state::<Groups>().cloned().expect("groups in state");
    let room = req.param("room").unwrap_or_default().to_owned();
    let ws = req.websocket().expect("require_websocket");
    let _ = ws.accept().await;
    groups.add(&room, &ws.sender());
    let _ = ws.send(format!("in {}", ws.id().to_u128())).await;
    let _ = ws.wait().await;
    panic!("a view that panics after joining a group");
}

/// Adds the connection before accepting, then refuses the upgrade: the connection
/// never opens, and must not stay in the group.
async fn refuses(mut req: Request) -> Response {
    let groups = req.state::<Groups>().cloned().expect("groups in state");
    let room = req.param("room").unwrap_or_default().to_owned();
    let ws = req.websocket().expect("require_websocket");
    groups.add(&room, &ws.sender());
    assert_eq!(groups.members(&room), 1);
    Response::text("no").with_status(403)
}

struct Joiner {
    groups: Groups,
}

impl Handler for Joiner {
    async fn on_open(
        &mut self,
        ctx: &mut HandlerContext,
        _first: Message,
    ) -> Result<Opened, HandlerError> {
        // The handle is in the context's state too.
        let from_state = ctx.state::<Groups>().cloned().expect("groups in state");
        from_state.add("handlers", &ctx.sender());
        ctx.send(format!("in {}", ctx.id().to_u128())).await?;
        Ok(Opened::Consumed)
    }

    async fn on_message(
        &mut self,
        _ctx: &mut HandlerContext,
        msg: Message,
    ) -> Result<(), HandlerError> {
        self.groups.send("handlers", msg);
        Ok(())
    }
}

fn app(groups: Groups) -> App {
    let for_handlers = groups.clone();
    App::new()
        .settings({
            let mut s = Settings::default();
            s.sender_capacity = 16;
            s
        })
        .state(groups)
        .route("/member/{room}", require_websocket(member))
        .route("/returns/{room}", require_websocket(returns))
        .route("/panics/{room}", require_websocket(panics))
        .route("/refuses/{room}", require_websocket(refuses))
        .route(
            "/handler",
            handler_view(move || Joiner {
                groups: for_handlers.clone(),
            }),
        )
        .route(
            "/blocking/{room}",
            blocking::view(|req: Request, ws: &mut blocking::WebSocket| {
                let groups = req.state::<Groups>().cloned().expect("groups in state");
                let room = req.param("room").unwrap_or_default().to_owned();
                let Some(sender) = ws.sender() else {
                    return Response::empty();
                };
                groups.add(&room, &sender);
                if ws.send(format!("in {}", ws.id().to_u128())).is_err() {
                    return Response::empty();
                }
                while let Some(msg) = ws.wait() {
                    groups.send(&room, msg); // from a blocking thread
                }
                Response::empty()
            }),
        )
}

/// Connects to `path` and returns the client with the id the server reported.
async fn join(srv: &TestServer, path: &str) -> (Client, ConnectionId) {
    let mut ws = srv.connect(path).await;
    let id = expect_in(&mut ws).await;
    (ws, id)
}

async fn expect_in(ws: &mut Client) -> ConnectionId {
    let msg = next_data(ws).await.expect("the join acknowledgement");
    let text = msg.to_text().expect("text").to_owned();
    let n: u128 = text
        .strip_prefix("in ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected {text:?}"));
    ConnectionId::from_u128(n)
}

async fn text(ws: &mut Client) -> String {
    next_data(ws)
        .await
        .expect("a message")
        .into_text()
        .expect("text")
        .as_str()
        .to_owned()
}

/// Waits (on membership events) until `cond` holds.
async fn until(groups: &Groups, cond: impl Fn(&Groups) -> bool) {
    within(async {
        loop {
            let changed = groups.changed();
            if cond(groups) {
                return;
            }
            changed.await;
        }
    })
    .await
}

/// Reads to the server's close frame, then on until the stream ends, which sends the
/// reply (the closing handshake completes instead of timing out). Returns the code.
async fn closed_with(ws: &mut Client) -> Option<u16> {
    within(async {
        let mut code = None;
        while let Some(Ok(msg)) = ws.next().await {
            if let WsMessage::Close(f) = msg {
                code = f.map(|f| u16::from(f.code));
            }
        }
        code
    })
    .await
}

/// Closes from the client side and waits for the server's reply.
async fn hang_up(mut ws: Client) {
    let _ = within(ws.close(None)).await;
    closed_with(&mut ws).await;
}

fn report(reached: usize) -> SendReport {
    SendReport {
        reached,
        ..SendReport::default()
    }
}

#[tokio::test]
async fn every_group_operation() {
    let groups = Groups::new();
    let srv = start(app(groups.clone())).await;
    let (mut a, id_a) = join(&srv, "/member/red").await;
    let (mut b, id_b) = join(&srv, "/member/red").await;
    let (mut c, id_c) = join(&srv, "/member/blue").await;
    assert_ne!(id_a, id_b);
    assert_eq!(groups.members("red"), 2);
    assert_eq!(groups.members("blue"), 1);
    assert_eq!(groups.members("green"), 0);
    assert!(groups.contains("red", id_a) && !groups.contains("blue", id_a));
    assert_eq!(groups.connections(), 3);
    let mut names = groups.group_names();
    names.sort();
    assert_eq!(names, ["blue", "red"]);

    // send: only the group's members, each once.
    assert_eq!(groups.send("red", "to red"), report(2));
    assert_eq!(text(&mut a).await, "to red");
    assert_eq!(text(&mut b).await, "to red");
    // send_except: all members but one.
    assert_eq!(groups.send_except("red", id_a, "not a"), report(1));
    assert_eq!(text(&mut b).await, "not a");
    // broadcast: every known connection; broadcast_except: all but one.
    assert_eq!(groups.broadcast("everyone"), report(3));
    assert_eq!(groups.broadcast_except(id_b, "not b"), report(2));
    for ws in [&mut a, &mut c] {
        assert_eq!(text(ws).await, "everyone");
        assert_eq!(text(ws).await, "not b");
    }
    assert_eq!(text(&mut b).await, "everyone");
    // A send to a group nobody is in reaches nobody.
    assert_eq!(groups.send("green", "void"), report(0));

    // The same connection in a second group, via the background-task handle.
    let sender_for_c = groups.member_ids("blue");
    assert_eq!(sender_for_c, vec![id_c]);
    assert!(
        !groups
            .add_named("red", &srv_sender(&groups, id_a), "x")
            .changed
    );
    assert_eq!(groups.groups_of(id_a), ["red"]);

    // discard: out of that group only; twice is a no-op.
    let d = groups.discard("red", id_a);
    assert!(d.changed);
    assert_eq!(d.members, 1);
    assert!(!groups.discard("red", id_a).changed);
    assert_eq!(groups.send("red", "after discard"), report(1));
    assert_eq!(text(&mut b).await, "after discard");
    // Still known to broadcast until it ends.
    assert_eq!(groups.broadcast("still here"), report(3));
    for ws in [&mut a, &mut b, &mut c] {
        assert_eq!(text(ws).await, "still here");
    }
    // The last member out removes the group.
    assert_eq!(groups.discard_all(id_c), 1);
    assert_eq!(groups.group_names(), ["red"]);

    // The snapshot adds up every report above.
    let snap = groups.snapshot();
    assert_eq!(snap.total.reached, 2 + 1 + 3 + 2 + 1 + 3);
    assert_eq!(snap.total.dropped, 0);
    assert_eq!(snap.total.sends, 7);
    assert_eq!(snap.total.members, 3);
    let red = snap.group("red").expect("red exists");
    assert_eq!((red.members, red.sends, red.reached), (1, 3, 4));
    assert!(snap.group("blue").is_none());
    assert!(snap
        .to_string()
        .contains("wsview_group_reached_total{group=\"red\"} 4"));

    // Nothing else arrived anywhere: the next message each sees is this one.
    groups.broadcast("last");
    for ws in [&mut a, &mut b, &mut c] {
        assert_eq!(text(ws).await, "last");
    }
    for ws in [a, b, c] {
        hang_up(ws).await;
    }
    until(&groups, |g| g.connections() == 0).await;
    srv.stop().await;
}

/// A sender for a connection already in the registry, through a second add: adding the
/// same connection again must not change anything.
fn srv_sender(groups: &Groups, id: ConnectionId) -> wsview::WebSocketSender {
    groups.sender_of(id).expect("known connection")
}

#[tokio::test]
async fn membership_ends_with_the_connection_however_it_ends() {
    let groups = Groups::new();
    let srv = start(app(groups.clone())).await;

    // Peer close.
    let (mut ws, id) = join(&srv, "/member/peer-close").await;
    ws.close(None).await.expect("close");
    until(&groups, |g| g.members("peer-close") == 0).await;
    assert!(!groups.contains("peer-close", id));

    // Network drop: the TCP connection goes away without a close frame.
    let (head, _rest, tcp) = srv
        .raw_head(&support::upgrade_request("/member/drop", ""))
        .await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    until(&groups, |g| g.members("drop") == 1).await;
    drop(tcp);
    until(&groups, |g| g.members("drop") == 0).await;

    // View return.
    let (mut ws, _) = join(&srv, "/returns/view-return").await;
    send_text(&mut ws, "bye").await;
    assert_eq!(closed_with(&mut ws).await, Some(1000));
    until(&groups, |g| g.members("view-return") == 0).await;

    // View panic.
    let (mut ws, _) = join(&srv, "/panics/view-panic").await;
    send_text(&mut ws, "boom").await;
    assert_eq!(closed_with(&mut ws).await, Some(1011));
    until(&groups, |g| g.members("view-panic") == 0).await;

    // Upgrade never completed: the view joined, then refused the upgrade.
    let (status, _) = srv.connect_err("/refuses/refused").await;
    assert_eq!(status, 403);
    until(&groups, |g| g.members("refused") == 0).await;

    // Server shutdown.
    let (mut ws, _) = join(&srv, "/member/shutdown").await;
    let (mut ws2, _) = join(&srv, "/blocking/shutdown").await;
    assert_eq!(groups.members("shutdown"), 2);
    let closing = tokio::spawn(async move {
        let a = closed_with(&mut ws).await;
        let b = closed_with(&mut ws2).await;
        (a, b)
    });
    srv.stop().await;
    assert_eq!(
        within(closing).await.expect("task"),
        (Some(1001), Some(1001))
    );
    until(&groups, |g| g.connections() == 0).await;
    assert!(groups.group_names().is_empty());
}

#[tokio::test]
async fn handlers_blocking_views_and_background_tasks_share_the_handle() {
    let groups = Groups::new();
    let srv = start(app(groups.clone())).await;
    // A handler's on_open runs at the connection's first message.
    let mut h1 = srv.connect("/handler").await;
    send_text(&mut h1, "open").await;
    expect_in(&mut h1).await;
    let mut h2 = srv.connect("/handler").await;
    send_text(&mut h2, "open").await;
    expect_in(&mut h2).await;
    send_text(&mut h1, "from a handler").await;
    assert_eq!(text(&mut h1).await, "from a handler");
    assert_eq!(text(&mut h2).await, "from a handler");

    let (mut b1, _) = join(&srv, "/blocking/threads").await;
    let (mut b2, _) = join(&srv, "/blocking/threads").await;
    send_text(&mut b2, "from a blocking view").await;
    assert_eq!(text(&mut b1).await, "from a blocking view");
    assert_eq!(text(&mut b2).await, "from a blocking view");

    // A background task, outside any view.
    let bg = groups.clone();
    let r = tokio::spawn(async move { bg.send("threads", "from a task") })
        .await
        .expect("task");
    assert_eq!(r.reached, 2);
    assert_eq!(text(&mut b1).await, "from a task");
    assert_eq!(text(&mut b2).await, "from a task");
    assert_eq!(r.remote, Remote::None);
    for ws in [h1, h2, b1, b2] {
        hang_up(ws).await;
    }
    srv.stop().await;
}

#[tokio::test]
async fn the_close_policy_of_a_group_closes_a_slow_member_with_1008() {
    // App-wide the default (drop); this group alone closes, set before it exists.
    let groups = Groups::new();
    groups.set_policy("strict", SlowPolicy::Close);
    assert_eq!(groups.policy("strict"), SlowPolicy::Close);
    assert_eq!(groups.policy("lenient"), SlowPolicy::Drop);
    let srv = start(app(groups.clone())).await;
    let (mut fast, _) = join(&srv, "/member/strict").await;
    let (mut slow, slow_id) = join(&srv, "/member/strict").await;
    let payload = "x".repeat(16 * 1024);
    let mut closed = 0;
    let mut sent = 0;
    // The slow client never reads; the fast one reads each message before the next
    // send. Bounded: the slow member's socket buffers fill after a few MiB.
    while closed == 0 {
        assert!(sent < 10_000, "the slow member was never closed");
        let r = groups.send("strict", payload.as_str());
        sent += 1;
        closed += r.closed;
        assert_eq!(r.dropped, 0);
        assert!(r.reached >= 1);
        assert_eq!(text(&mut fast).await.len(), payload.len());
    }
    assert_eq!(closed, 1);
    // The slow client finds its close frame after the data it did get (the frame waits
    // in the server's write buffer until the client reads).
    assert_eq!(closed_with(&mut slow).await, Some(1008));
    until(&groups, |g| !g.contains("strict", slow_id)).await;
    assert_eq!(groups.snapshot().total.closed, 1);
    // The fast member is untouched.
    assert_eq!(groups.send("strict", "still fine"), report(1));
    assert_eq!(text(&mut fast).await, "still fine");
    hang_up(fast).await;
    srv.stop().await;
}

#[tokio::test]
async fn the_wait_policy_delivers_late_in_order_within_its_backlog() {
    let groups = Groups::builder()
        .slow_policy(SlowPolicy::Wait {
            timeout: Duration::from_secs(30),
            backlog: 8,
        })
        .build();
    let srv = start(app(groups.clone())).await;
    let (mut slow, _) = join(&srv, "/member/patient").await;
    let payload = "y".repeat(16 * 1024);
    // Send until messages wait, then until the backlog is full and one is dropped.
    let mut n = 0;
    let (mut waited, mut dropped) = (0, 0);
    while dropped == 0 {
        assert!(n < 10_000, "the member never fell behind");
        let r = groups.send("patient", format!("{n:06} {payload}"));
        waited += r.waiting;
        dropped += r.dropped;
        n += 1;
    }
    assert_eq!(waited, 8, "the backlog holds at most 8");
    assert_eq!(dropped, 1);
    // Now read: every message but the dropped last one, in order.
    for i in 0..n - 1 {
        let got = text(&mut slow).await;
        assert_eq!(&got[..6], format!("{i:06}"), "message {i}");
    }
    let snap = groups.snapshot();
    assert_eq!(snap.total.reached, (n - 1) as u64);
    assert_eq!(snap.total.dropped, 1);
    // Caught up: the next send is queued directly again.
    groups.send("patient", "caught up");
    assert_eq!(text(&mut slow).await, "caught up");
    hang_up(slow).await;
    srv.stop().await;
}

/// A cross-registry layer in this process: what one registry publishes, the other
/// delivers (a real implementation of the trait, over a shared list instead of Redis).
#[derive(Clone, Default)]
struct Bus {
    state: Arc<Mutex<BusState>>,
}

#[derive(Default)]
struct BusState {
    sinks: [Option<RemoteSink>; 2],
    subscribed: Vec<(usize, String)>,
    present: Vec<(String, ConnectionId, Option<String>)>,
    refuse: bool,
}

struct Side {
    bus: Bus,
    me: usize,
}

impl Side {
    fn state(&self) -> std::sync::MutexGuard<'_, BusState> {
        self.bus.state.lock().expect("bus lock")
    }
}

impl GroupLayer for Side {
    fn start(&self, sink: RemoteSink) {
        self.state().sinks[self.me] = Some(sink);
    }
    fn subscribe(&self, group: &str) {
        self.state().subscribed.push((self.me, group.to_owned()));
    }
    fn unsubscribe(&self, group: &str) {
        let me = self.me;
        self.state()
            .subscribed
            .retain(|(side, g)| !(*side == me && g == group));
    }
    fn publish(&self, envelope: &Envelope) -> Result<(), LayerError> {
        let (sink, subscribed) = {
            let state = self.state();
            if state.refuse {
                return Err(LayerError::full());
            }
            let other = 1 - self.me;
            let subscribed = match &envelope.target {
                Target::All => true,
                Target::Group(g) => state.subscribed.contains(&(other, g.clone())),
            };
            (state.sinks[other].clone(), subscribed)
        };
        if let (Some(sink), true) = (sink, subscribed) {
            sink.deliver(envelope.clone());
        }
        Ok(())
    }
    fn presence_join(&self, group: &str, id: ConnectionId, name: Option<&str>) {
        self.state()
            .present
            .push((group.to_owned(), id, name.map(str::to_owned)));
    }
    fn presence_leave(&self, group: &str, id: ConnectionId) {
        self.state()
            .present
            .retain(|(g, i, _)| !(g == group && *i == id));
    }
    fn presence(&self, group: &str) -> BoxFuture<'static, Result<Presence, LayerError>> {
        let members: Vec<_> = self
            .state()
            .present
            .iter()
            .filter(|(g, _, _)| g == group)
            .map(|(_, id, name)| (*id, name.clone()))
            .collect();
        Box::pin(async move {
            Ok(Presence {
                count: members.len(),
                members: Some(members),
            })
        })
    }
}

/// Joins `{room}` by name; reads until the peer closes.
async fn named(mut req: Request) -> Response {
    let groups = req.state::<Groups>().cloned().expect("groups in state");
    let room = req.param("room").unwrap_or_default().to_owned();
    let name = req.query("name").unwrap_or_default();
    let Some(ws) = req.websocket() else {
        return Response::empty();
    };
    if ws.accept().await.is_err() {
        return Response::empty();
    }
    groups.add_named(&room, &ws.sender(), &name);
    if ws.send(format!("in {}", ws.id().to_u128())).await.is_err() {
        return Response::empty();
    }
    while ws.wait().await.is_some() {}
    Response::empty()
}

#[tokio::test]
async fn a_layer_carries_sends_between_registries() {
    let bus = Bus::default();
    let layered = |me: usize| {
        Groups::builder()
            .layer(Side {
                bus: bus.clone(),
                me,
            })
            .build()
    };
    let (ga, gb) = (layered(0), layered(1));
    let serve = |g: &Groups| {
        App::new()
            .state(g.clone())
            .route("/named/{room}", require_websocket(named))
    };
    let (sa, sb) = (start(serve(&ga)).await, start(serve(&gb)).await);
    let (mut a1, _) = join(&sa, "/named/room?name=a1").await;
    let (mut b1, id_b1) = join(&sb, "/named/room?name=b1").await;
    let (mut b2, _) = join(&sb, "/named/other?name=b2").await;

    // A send on A reaches A's member here and B's through the layer, not B's other room.
    let r = ga.send("room", "across");
    assert_eq!((r.reached, r.remote), (1, Remote::Published));
    assert_eq!(text(&mut a1).await, "across");
    assert_eq!(text(&mut b1).await, "across");
    // `except` holds wherever the member lives.
    ga.send_except("room", id_b1, "not b1");
    assert_eq!(text(&mut a1).await, "not b1");
    // A broadcast from B reaches everyone on both.
    gb.broadcast("all");
    for ws in [&mut a1, &mut b1, &mut b2] {
        assert_eq!(text(ws).await, "all");
    }
    // Remote deliveries count in the receiving registry's snapshot.
    let snap = gb.snapshot();
    assert_eq!(snap.group("room").map(|s| s.reached), Some(1));

    // Presence comes from the layer: both processes' members, with names.
    let p = ga.presence("room").await.expect("presence");
    assert_eq!(p.count, 2);
    let mut names: Vec<_> = p
        .members
        .expect("names")
        .into_iter()
        .filter_map(|(_, n)| n)
        .collect();
    names.sort();
    assert_eq!(names, ["a1", "b1"]);

    // A refused publish reaches no other process and is counted.
    bus.state.lock().expect("bus").refuse = true;
    let r = ga.send("room", "local only");
    assert_eq!((r.reached, r.remote), (1, Remote::Failed));
    assert_eq!(ga.snapshot().total.remote_failed, 1);
    assert_eq!(text(&mut a1).await, "local only");
    bus.state.lock().expect("bus").refuse = false;

    // The last member out of a group unsubscribes its process.
    hang_up(b1).await;
    until(&gb, |g| g.members("room") == 0).await;
    let subscribed = bus.state.lock().expect("bus").subscribed.clone();
    assert!(
        !subscribed.contains(&(1, "room".to_owned())),
        "{subscribed:?}"
    );
    assert!(subscribed.contains(&(0, "room".to_owned())));
    assert_eq!(ga.presence("room").await.expect("presence").count, 1);
    // And sends from A no longer go to B's process for that group.
    ga.send("room", "after");
    assert_eq!(text(&mut a1).await, "after");
    for ws in [a1, b2] {
        hang_up(ws).await;
    }
    sa.stop().await;
    sb.stop().await;
}

/// Echoes until the peer closes; knows nothing of groups.
async fn plain_echo(mut req: Request) -> Response {
    let Some(ws) = req.websocket() else {
        return Response::empty();
    };
    while let Some(msg) = ws.wait().await {
        if ws.send(msg).await.is_err() {
            break;
        }
    }
    Response::empty()
}

#[tokio::test]
async fn track_all_makes_broadcast_reach_every_connection() {
    let groups = Groups::new();
    let srv = start(
        App::new()
            .middleware(TrackAll::new(&groups))
            .route("/echo", require_websocket(plain_echo)),
    )
    .await;
    let mut a = srv.connect("/echo").await;
    let mut b = srv.connect("/echo").await;
    // The echo proves each view runs (and so each connection was tracked).
    for ws in [&mut a, &mut b] {
        send_text(ws, "ping").await;
        assert_eq!(text(ws).await, "ping");
    }
    assert_eq!(groups.connections(), 2);
    assert!(groups.group_names().is_empty());
    assert_eq!(groups.broadcast("to every connection"), report(2));
    for ws in [&mut a, &mut b] {
        assert_eq!(text(ws).await, "to every connection");
    }
    hang_up(a).await;
    hang_up(b).await;
    until(&groups, |g| g.connections() == 0).await;
    srv.stop().await;
}
