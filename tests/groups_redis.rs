//! Groups across processes through a real redis-server (feature `redis`): the tests
//! start Debian's redis-server on a free port with no persistence, never a mock.
//!
//! The layer tests drive `RedisLayer`s directly (each with its own connection, as
//! separate processes would have); the server tests run three wsview servers, each
//! with its own registry and Redis connection; the chat tests run the chat example's
//! app twice; the SIGKILL test runs this test binary again as a child process.

#[path = "../examples/chat.rs"]
#[allow(dead_code)]
mod chat;
#[path = "support/redis_server.rs"]
mod redis_server;
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use redis_server::RedisServer;
use support::within;
use tokio::sync::mpsc;
use wsview::groups::redis::{RedisConfig, RedisLayer};
use wsview::groups::{ConnectionId, Envelope, GroupLayer, Groups, NodeId, RemoteSink, Target};
use wsview::{Message, Settings};

/// A short heartbeat and TTL so expiry is observable in a test; ten heartbeats per TTL
/// so a live process's entries survive a busy machine.
const HEARTBEAT: Duration = Duration::from_millis(200);
const TTL: Duration = Duration::from_millis(2000);

fn config(redis: &RedisServer, prefix: &str) -> RedisConfig {
    RedisConfig::new(redis.url())
        .prefix(prefix)
        .heartbeat(HEARTBEAT)
        .presence_ttl(TTL)
        .reconnect_backoff(Duration::from_millis(50), Duration::from_millis(500))
        .command_timeout(Duration::from_millis(500))
}

/// A started layer whose sink forwards what other processes sent into a channel.
async fn layer(config: RedisConfig) -> (RedisLayer, mpsc::UnboundedReceiver<Envelope>) {
    let layer = RedisLayer::new(config).expect("config");
    let (tx, rx) = mpsc::unbounded_channel();
    layer.start(RemoteSink::from_fn(move |e| {
        let _ = tx.send(e);
    }));
    within(layer.connected()).await;
    (layer, rx)
}

/// Waits (bounded) until `layer` has counted `n` sends as published, and no more.
async fn published(layer: &RedisLayer, n: u64) {
    let deadline = Instant::now() + support::LIMIT;
    while layer.stats().published < n {
        assert!(Instant::now() < deadline, "published {:?}", layer.stats());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(layer.stats().published, n);
}

fn envelope(target: Target, text: &str, except: Option<ConnectionId>) -> Envelope {
    Envelope {
        target,
        except,
        message: Message::text(text),
        origin: NodeId::local(),
    }
}

fn group(name: &str) -> Target {
    Target::Group(name.to_owned())
}

fn id(n: u128) -> ConnectionId {
    ConnectionId::from_u128((7u128 << 64) | n)
}

#[tokio::test]
async fn sends_reach_subscribed_layers_once_in_order_and_never_their_sender() {
    let redis = RedisServer::start();
    let (a, mut a_rx) = layer(config(&redis, "t1")).await;
    let (b, mut b_rx) = layer(config(&redis, "t1")).await;
    let (c, mut c_rx) = layer(config(&redis, "t1")).await;
    // b has a member of "room", c has none.
    b.subscribe("room");
    within(b.synced()).await;
    within(c.synced()).await;

    for i in 0..1000 {
        a.publish(&envelope(group("room"), &format!("m{i}"), None))
            .expect("handed off");
    }
    a.publish(&Envelope {
        target: group("room"),
        except: Some(id(3)),
        message: Message::binary(vec![0u8, 1, 2]),
        origin: NodeId::from_u64(99),
    })
    .expect("handed off");
    let mut origins = std::collections::HashSet::new();
    for i in 0..1000 {
        let e = within(b_rx.recv()).await.expect("delivered");
        origins.insert(e.origin);
        assert_eq!(e.target, group("room"));
        assert_eq!(e.message.as_text(), Some(format!("m{i}").as_str()));
        assert_eq!(e.except, None);
    }
    let last = within(b_rx.recv()).await.expect("delivered");
    assert_eq!(last.message, Message::binary(vec![0u8, 1, 2]));
    assert_eq!(last.except, Some(id(3)), "except crosses processes");
    // The origin is the sending layer's id: one per layer, never this process's
    // NodeId (all three layers live in this process).
    origins.insert(last.origin);
    assert_eq!(origins.len(), 1);
    assert!(!origins.contains(&NodeId::local()));

    // A broadcast reaches every other layer, subscribed to a group or not; a marker
    // sent after everything shows nothing else was queued for c or a.
    a.publish(&envelope(Target::All, "all", None)).unwrap();
    assert_eq!(within(b_rx.recv()).await.unwrap().target, Target::All);
    let e = within(c_rx.recv()).await.unwrap();
    assert_eq!((e.target, e.message.as_text()), (Target::All, Some("all")));
    b.publish(&envelope(Target::All, "marker", None)).unwrap();
    let e = within(a_rx.recv()).await.unwrap();
    assert_eq!(
        e.message.as_text(),
        Some("marker"),
        "a never gets its own sends"
    );
    let e = within(c_rx.recv()).await.unwrap();
    assert_eq!(e.message.as_text(), Some("marker"), "c got no group send");

    // Counted when Redis's reply reaches the publisher task, which may come just after
    // the message reached the others.
    published(&a, 1002).await;
    assert_eq!(b.stats().received, 1002);
    assert_eq!(c.stats().received, 2);
}

#[tokio::test]
async fn unsubscribe_stops_delivery_and_redis_holds_one_channel_per_group() {
    let redis = RedisServer::start();
    let (a, _a_rx) = layer(config(&redis, "t2")).await;
    let (b, mut b_rx) = layer(config(&redis, "t2")).await;
    b.subscribe("x");
    b.subscribe("y");
    within(b.synced()).await;
    let channels = redis.cli(&["PUBSUB", "CHANNELS", "t2:*"]);
    let mut channels: Vec<&str> = channels.lines().collect();
    channels.sort();
    assert_eq!(channels, ["t2:all", "t2:g:x", "t2:g:y"]);

    b.unsubscribe("x");
    within(b.synced()).await;
    assert_eq!(redis.cli(&["PUBSUB", "NUMSUB", "t2:g:x"]), "t2:g:x\n0");
    a.publish(&envelope(group("x"), "to x", None)).unwrap();
    a.publish(&envelope(group("y"), "to y", None)).unwrap();
    let e = within(b_rx.recv()).await.unwrap();
    assert_eq!(
        e.message.as_text(),
        Some("to y"),
        "nothing for x after unsubscribe"
    );
}

#[tokio::test]
async fn prefixes_keep_apps_apart() {
    let redis = RedisServer::start();
    let (a, _a_rx) = layer(config(&redis, "app1")).await;
    let (b, mut b_rx) = layer(config(&redis, "app2")).await;
    let (c, mut c_rx) = layer(config(&redis, "app1")).await;
    b.subscribe("room");
    c.subscribe("room");
    within(b.synced()).await;
    within(c.synced()).await;
    a.publish(&envelope(group("room"), "app1 only", None))
        .unwrap();
    assert_eq!(
        within(c_rx.recv()).await.unwrap().message.as_text(),
        Some("app1 only")
    );
    a.presence_join("room", id(1), None);
    within(a.synced()).await;
    assert_eq!(within(b.presence("room")).await.unwrap().count, 0);
    // b saw nothing of app1: the first thing it gets is a later send from app2.
    let (d, _d_rx) = layer(config(&redis, "app2")).await;
    d.publish(&envelope(group("room"), "app2", None)).unwrap();
    assert_eq!(
        within(b_rx.recv()).await.unwrap().message.as_text(),
        Some("app2")
    );
}

#[tokio::test]
async fn presence_across_layers_with_names_and_a_count_for_large_groups() {
    let redis = RedisServer::start();
    let (a, _a_rx) = layer(config(&redis, "t3").presence_list_limit(3)).await;
    let (b, _b_rx) = layer(config(&redis, "t3").presence_list_limit(3)).await;
    a.presence_join("room", id(1), Some("ada"));
    b.presence_join("room", id(2), None);
    b.presence_join("room", id(3), Some("bob:the builder"));
    within(b.synced()).await;
    // a's own join is not awaited: a query flushes this process's changes first.
    let p = within(a.presence("room")).await.unwrap();
    assert_eq!(p.count, 3);
    let mut members = p.members.expect("small group: listed");
    members.sort();
    assert_eq!(
        members,
        [
            (id(1), Some("ada".to_owned())),
            (id(2), None),
            (id(3), Some("bob:the builder".to_owned()))
        ]
    );

    b.presence_leave("room", id(3));
    let p = within(b.presence("room")).await.unwrap();
    assert_eq!(p.count, 2);

    // Over the list limit: a count only.
    for n in 10..13 {
        a.presence_join("room", id(n), None);
    }
    // Another process's changes count once they are in Redis.
    within(a.synced()).await;
    let p = within(b.presence("room")).await.unwrap();
    assert_eq!((p.count, p.members), (5, None));

    // Entries stay while their layer lives (the heartbeat refreshes them past the TTL)...
    let (refreshed, mut beats) = (Instant::now(), 0);
    while refreshed.elapsed() < TTL + TTL / 2 {
        within(a.synced()).await;
        beats += 1;
        let p = within(b.presence("room")).await.unwrap();
        assert_eq!(p.count, 5, "after {:?}", refreshed.elapsed());
        tokio::time::sleep(HEARTBEAT).await; // spacing the checks over 1.5 TTLs
    }
    assert!(beats > 3);
    // ...and go at once when it is closed cleanly.
    within(a.close()).await;
    let p = within(b.presence("room")).await.unwrap();
    assert_eq!(p.count, 1, "close() waited for the removal: {p:?}");
    assert!(a.publish(&envelope(group("room"), "late", None)).is_err());
}

#[tokio::test]
async fn a_message_over_the_limit_is_refused_with_a_clear_error() {
    let redis = RedisServer::start();
    let (a, _rx) = layer(config(&redis, "t4").max_message_bytes(1000)).await;
    let big = Envelope {
        target: group("room"),
        except: None,
        message: Message::binary(vec![0u8; 1001]),
        origin: NodeId::local(),
    };
    let err = a.publish(&big).unwrap_err();
    assert!(!err.is_unavailable() && !err.is_full());
    assert_eq!(
        err.to_string(),
        "group layer error: message of 1001 bytes is over the redis layer's limit of 1000 bytes"
    );
    let source = std::error::Error::source(&err).expect("a source");
    let too_large = source
        .downcast_ref::<wsview::groups::redis::MessageTooLarge>()
        .expect("typed");
    assert_eq!((too_large.size, too_large.limit), (1001, 1000));
    assert_eq!(a.stats().refused_too_large, 1);
    assert!(a
        .publish(&envelope(group("room"), &"x".repeat(1000), None))
        .is_ok());
}

#[tokio::test]
async fn the_publish_queue_is_bounded() {
    let logs = LogLines::start();
    let redis = RedisServer::start();
    let (a, _rx) = layer(config(&redis, "t5").queue_capacity(4)).await;
    // Sends made without yielding to the publisher task fill its queue: the rest are
    // refused as full, not buffered.
    let results: Vec<bool> = (0..50)
        .map(|i| {
            a.publish(&envelope(group("room"), &format!("{i}"), None))
                .map_err(|e| assert!(e.is_full(), "{e}"))
                .is_ok()
        })
        .collect();
    let accepted = results.iter().filter(|ok| **ok).count();
    assert!((4..50).contains(&accepted), "accepted {accepted}");
    assert_eq!(a.stats().refused_full, (50 - accepted) as u64);
    // One warning for the burst, not one per refused send.
    let lines = logs.lines();
    let full = lines
        .iter()
        .filter(|l| l.contains("publish queue full"))
        .count();
    assert_eq!(full, 1, "{lines:#?}");
}

#[tokio::test]
async fn redis_down_then_back_reconnects_resubscribes_and_restores_presence() {
    let logs = LogLines::start();
    let mut redis = RedisServer::start();
    let (a, _a_rx) = layer(config(&redis, "t6")).await;
    let (b, mut b_rx) = layer(config(&redis, "t6")).await;
    b.subscribe("room");
    b.presence_join("room", id(1), Some("bea"));
    within(b.synced()).await;

    redis.kill();
    within(a.disconnected()).await;
    within(b.disconnected()).await;
    let err = a
        .publish(&envelope(group("room"), "lost", None))
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(within(a.presence("room"))
        .await
        .unwrap_err()
        .is_unavailable());

    let down = Instant::now();
    redis.restart();
    within(a.connected()).await;
    within(b.connected()).await;
    let reconnect = down.elapsed();
    assert!(
        reconnect < Duration::from_secs(3),
        "reconnected after {reconnect:?}"
    );
    // A fresh Redis holds nothing: b resubscribed and put its presence back.
    within(b.synced()).await;
    assert_eq!(
        redis.cli(&["PUBSUB", "NUMSUB", "t6:g:room"]),
        "t6:g:room\n1"
    );
    let p = within(a.presence("room")).await.unwrap();
    assert_eq!(p.members, Some(vec![(id(1), Some("bea".to_owned()))]));
    a.publish(&envelope(group("room"), "after", None)).unwrap();
    assert_eq!(
        within(b_rx.recv()).await.unwrap().message.as_text(),
        Some("after")
    );
    let stats = a.stats();
    assert_eq!((stats.outages, stats.reconnects), (1, 1));
    assert!(stats.refused_unavailable >= 1);
    let text = stats.to_string();
    assert!(text.contains("\nwsview_redis_outages_total 1\n"), "{text}");
    assert!(text.contains("\nwsview_redis_connected 1\n"), "{text}");

    let lines = logs.lines();
    let count = |what: &str| lines.iter().filter(|l| l.contains(what)).count();
    assert_eq!(
        count("WARN redis group layer: connection lost"),
        2,
        "{lines:#?}"
    );
    assert_eq!(
        count("INFO redis group layer: connection back after"),
        2,
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("resubscribed to 1 groups")),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn a_layer_started_before_its_redis_connects_when_it_comes_up() {
    let logs = LogLines::start();
    let mut redis = RedisServer::not_started();
    let a = RedisLayer::new(config(&redis, "t8")).expect("config");
    a.start(RemoteSink::from_fn(|_| {}));
    a.presence_join("room", id(1), Some("early"));
    let err = a.publish(&envelope(group("room"), "x", None)).unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(!a.is_connected());
    // Redis comes up only after the layer has tried and failed (and said so).
    let deadline = Instant::now() + support::LIMIT;
    while !logs.lines().iter().any(|l| l.contains("cannot reach")) {
        assert!(Instant::now() < deadline, "no failed attempt logged");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    redis.restart();
    within(a.connected()).await;
    within(a.synced()).await;
    let p = within(a.presence("room")).await.unwrap();
    assert_eq!(p.members, Some(vec![(id(1), Some("early".to_owned()))]));
    let lines = logs.lines();
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("WARN")).count(),
        1,
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("INFO redis group layer: connected to")),
        "{lines:#?}"
    );
    assert_eq!(a.stats().outages, 0, "not connected yet is not an outage");
}

#[tokio::test]
async fn a_redis_that_stops_answering_is_noticed_and_nothing_hangs() {
    let redis = RedisServer::start();
    let (a, _a_rx) = layer(config(&redis, "t7")).await;
    let (b, mut b_rx) = layer(config(&redis, "t7")).await;
    b.subscribe("room");
    within(b.synced()).await;

    // SIGSTOP: the connections stay open, no reply ever comes, so only the command
    // timeout (500 ms here) and the heartbeat can tell.
    redis.pause();
    let frozen = Instant::now();
    within(a.disconnected()).await;
    within(b.disconnected()).await;
    let noticed = frozen.elapsed();
    assert!(
        noticed < Duration::from_secs(5),
        "noticed after {noticed:?}"
    );
    assert!(a
        .publish(&envelope(group("room"), "x", None))
        .unwrap_err()
        .is_unavailable());
    assert!(
        within(a.presence("room")).await.is_err(),
        "answers at once, no hang"
    );

    redis.resume();
    within(a.connected()).await;
    within(b.connected()).await;
    within(b.synced()).await;
    a.publish(&envelope(group("room"), "thawed", None)).unwrap();
    let e = within(b_rx.recv()).await.unwrap();
    assert_eq!(e.message.as_text(), Some("thawed"));
    println!("a frozen redis-server was noticed after {noticed:?}");
}

/// The log lines ("LEVEL message") of the current test: one global subscriber records
/// every event with its thread, and a test (its runtime is single-threaded, so the
/// layer's tasks run on its thread) reads those of its thread since it started.
/// One global subscriber rather than one per test: tracing caches per call site whether
/// anyone listens, and that cache races when tests on other threads have none.
struct LogLines {
    thread: std::thread::ThreadId,
    from: usize,
}

static RECORDED: std::sync::Mutex<Vec<(std::thread::ThreadId, String)>> =
    std::sync::Mutex::new(Vec::new());

impl LogLines {
    fn start() -> LogLines {
        static INSTALL: std::sync::Once = std::sync::Once::new();
        INSTALL.call_once(|| {
            let _ = tracing::subscriber::set_global_default(Recorder);
        });
        LogLines {
            thread: std::thread::current().id(),
            from: RECORDED.lock().unwrap().len(),
        }
    }

    fn lines(&self) -> Vec<String> {
        let all = RECORDED.lock().unwrap();
        all[self.from..]
            .iter()
            .filter(|(t, _)| *t == self.thread)
            .map(|(_, l)| l.clone())
            .collect()
    }
}

struct Recorder;

impl tracing::Subscriber for Recorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let line = format!("{} {}", event.metadata().level(), message.0);
        let thread = std::thread::current().id();
        RECORDED.lock().unwrap().push((thread, line));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// The child half of `a_killed_process_leaves_presence_within_the_ttl`: a process
/// serving the chat example with the Redis layer, killed with SIGKILL by the parent.
#[tokio::test]
#[ignore = "run as a child process by a_killed_process_leaves_presence_within_the_ttl"]
async fn child_process_serving_chat() {
    let Ok(url) = std::env::var("WSVIEW_TEST_CHILD_REDIS") else {
        return;
    };
    let layer = RedisLayer::new(
        RedisConfig::new(url)
            .prefix("kill")
            .heartbeat(HEARTBEAT)
            .presence_ttl(TTL),
    )
    .expect("config");
    let groups = Groups::builder().layer(layer.clone()).build();
    within(layer.connected()).await;
    let server = support::start(chat::app(Settings::default(), groups)).await;
    println!("ADDR {}", server.addr);
    // Lives until killed; exits on its own after a while so it can never linger.
    tokio::time::sleep(Duration::from_secs(60)).await;
}

#[tokio::test]
async fn a_killed_process_leaves_presence_within_the_ttl() {
    let redis = RedisServer::start();
    let layer = RedisLayer::new(config(&redis, "kill")).expect("config");
    let groups = Groups::builder().layer(layer.clone()).build();
    within(layer.connected()).await;
    let here = support::start(chat::app(Settings::default(), groups)).await;
    let _local = here.connect("/chat/lobby?name=parent").await;

    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_process_serving_chat",
            "--ignored",
            "--nocapture",
        ])
        .env("WSVIEW_TEST_CHILD_REDIS", redis.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run the test binary as a child");
    let stdout = child.stdout.take().expect("piped");
    let addr = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("ADDR ").map(str::to_owned))
    });
    let addr = within(addr).await.unwrap().expect("the child's address");
    // Three members on the child process.
    let mut theirs = Vec::new();
    for n in 0..3 {
        let url = format!("ws://{addr}/chat/lobby?name=child{n}");
        let (mut ws, _) = within(tokio_tungstenite::connect_async(url))
            .await
            .expect("join");
        support::next_data(&mut ws).await.expect("its join");
        theirs.push(ws);
    }
    let members = |body: String| -> u64 {
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        v["members"].as_u64().expect("a count")
    };
    assert_eq!(members(here.get("/rooms/lobby").await.1), 4);

    child.kill().expect("SIGKILL");
    let killed = Instant::now();
    let _ = child.wait();
    // The bound is the TTL: an entry expires TTL after its last refresh, which came
    // before the kill. One heartbeat more for the polling and a busy machine.
    let deadline = killed + TTL + HEARTBEAT;
    loop {
        let count = members(here.get("/rooms/lobby").await.1);
        if count == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "killed process still present {:?} after the kill: {count} members",
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let gone = killed.elapsed();
    let p = within(layer.presence("lobby")).await.unwrap();
    assert_eq!(p.members.map(|m| m.len()), Some(1));
    assert!(gone > TTL / 4, "gone after {gone:?}: expiry, not a cleanup");
    println!("killed process left presence {gone:?} after SIGKILL (ttl {TTL:?})");
}

// ---- Three wsview servers, each with its own registry and Redis connection ----------

mod servers {
    use std::collections::HashMap;
    use std::time::{Duration, Instant};

    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as WsMessage;
    use wsview::groups::redis::RedisLayer;
    use wsview::groups::{Groups, Remote};
    use wsview::{require_websocket, App, Request, Response, Settings};

    use super::redis_server::RedisServer;
    use super::support::{self, next_data, send_text, within, Client, TestServer};

    /// A member of `/room/{room}?name=N`: says `in ID` once it is in the room, then
    /// `all X` sends X to the room, `except X` to the room but itself, `bcast X` to
    /// every connection.
    async fn member(mut req: Request) -> Response {
        let Some(groups) = req.state::<Groups>().cloned() else {
            return Response::internal_error();
        };
        let room = req.param("room").unwrap_or_default().to_owned();
        let name = req.query("name");
        let Some(ws) = req.websocket() else {
            return Response::bad_request("websocket only");
        };
        if ws.accept().await.is_err() {
            return Response::empty();
        }
        let me = ws.id();
        match &name {
            Some(name) => groups.add_named(&room, &ws.sender(), name),
            None => groups.add(&room, &ws.sender()),
        };
        if ws.send(format!("in {}", me.to_u128())).await.is_err() {
            return Response::empty();
        }
        while let Some(msg) = ws.wait().await {
            let text = msg.as_text().unwrap_or_default();
            if let Some(x) = text.strip_prefix("all ") {
                groups.send(&room, x);
            } else if let Some(x) = text.strip_prefix("except ") {
                groups.send_except(&room, me, x);
            } else if let Some(x) = text.strip_prefix("bcast ") {
                groups.broadcast(x);
            }
        }
        Response::empty()
    }

    pub struct Node {
        pub layer: RedisLayer,
        pub groups: Groups,
        pub server: TestServer,
    }

    pub async fn node(redis: &RedisServer, prefix: &str) -> Node {
        let layer = RedisLayer::new(super::config(redis, prefix)).expect("config");
        let groups = Groups::builder().layer(layer.clone()).build();
        within(layer.connected()).await;
        // Room for a whole test burst in each member's send queue: these tests are
        // about what crosses processes, not the slow-member policy.
        let mut settings = Settings::default();
        settings.sender_capacity = 1024;
        let app = App::new()
            .settings(settings)
            .state(groups.clone())
            .route("/room/{room}", require_websocket(member));
        let server = support::start(app).await;
        Node {
            layer,
            groups,
            server,
        }
    }

    /// Joins `room` on `node`; returns the client once the server says it is in.
    pub async fn join(node: &Node, room: &str, name: &str) -> Client {
        let mut c = node
            .server
            .connect(&format!("/room/{room}?name={name}"))
            .await;
        let hello = next_data(&mut c).await.expect("in");
        assert!(hello.to_text().unwrap().starts_with("in "), "{hello:?}");
        c
    }

    /// Every node's subscriptions and presence are in Redis.
    pub async fn synced(nodes: &[&Node]) {
        for n in nodes {
            within(n.layer.synced()).await;
        }
    }

    pub async fn text(c: &mut Client) -> String {
        match next_data(c).await {
            Some(WsMessage::Text(t)) => t.to_string(),
            other => panic!("expected a text message, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn every_member_on_every_server_gets_every_message_once_in_order_per_sender() {
        let redis = RedisServer::start();
        let nodes = [
            node(&redis, "s1").await,
            node(&redis, "s1").await,
            node(&redis, "s1").await,
        ];
        // Two members per server; each reads in its own task while the senders send.
        const PER_SENDER: usize = 200;
        let mut sinks = Vec::new();
        let mut readers = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            for j in 0..2 {
                let (sink, mut stream) = join(n, "room", &format!("m{i}{j}")).await.split();
                sinks.push(sink);
                readers.push(tokio::spawn(async move {
                    let mut got = Vec::new();
                    while got.len() < 3 * PER_SENDER + 1 {
                        match within(stream.next()).await {
                            Some(Ok(WsMessage::Text(t))) => got.push(t.to_string()),
                            Some(Ok(_)) => {}
                            other => panic!("member {i}{j}: stream ended: {other:?}"),
                        }
                    }
                    got
                }));
            }
        }
        synced(&[&nodes[0], &nodes[1], &nodes[2]]).await;
        // One sender per server (members 0, 2, 4), interleaved, then a marker.
        for i in 0..PER_SENDER {
            for s in [0, 2, 4] {
                within(sinks[s].send(WsMessage::text(format!("all {s}:{i}"))))
                    .await
                    .unwrap();
            }
        }
        within(sinks[1].send(WsMessage::text("all end")))
            .await
            .unwrap();
        for (k, reader) in readers.into_iter().enumerate() {
            let got = within(reader).await.expect("reader");
            let mut next: HashMap<usize, usize> = HashMap::new();
            // The marker is the last send of server 0, not of the others: it may come
            // before their last messages, but exactly once.
            assert_eq!(got.iter().filter(|t| *t == "end").count(), 1);
            for t in got.iter().filter(|t| *t != "end") {
                let (s, i) = t.split_once(':').expect("s:i");
                let (s, i): (usize, usize) = (s.parse().unwrap(), i.parse().unwrap());
                let want = next.entry(s).or_default();
                assert_eq!(
                    i, *want,
                    "member {k}: sender {s} out of order, lost or repeated"
                );
                *want += 1;
            }
            assert_eq!(next.values().copied().collect::<Vec<_>>(), [PER_SENDER; 3]);
        }
        // One PUBLISH per send, whatever the number of members; the marker came from
        // server 0. Nobody dropped anything.
        for (i, n) in nodes.iter().enumerate() {
            let marker = u64::from(i == 0);
            super::published(&n.layer, PER_SENDER as u64 + marker).await;
            let s = n.layer.stats();
            assert_eq!(s.received, 2 * PER_SENDER as u64 + 1 - marker, "server {i}");
            assert_eq!(n.groups.snapshot().total.dropped, 0, "server {i}");
        }
    }

    #[tokio::test]
    async fn send_except_and_broadcast_across_servers() {
        let redis = RedisServer::start();
        let (a, b) = (node(&redis, "s2").await, node(&redis, "s2").await);
        let mut a0 = join(&a, "room", "a0").await;
        let mut a1 = join(&a, "room", "a1").await;
        let mut b0 = join(&b, "room", "b0").await;
        let mut b_other = join(&b, "other", "b9").await;
        synced(&[&a, &b]).await;

        send_text(&mut b0, "except not for b0").await;
        assert_eq!(text(&mut a0).await, "not for b0");
        assert_eq!(text(&mut a1).await, "not for b0");
        send_text(&mut a0, "except not for a0").await;
        assert_eq!(text(&mut a1).await, "not for a0");
        assert_eq!(text(&mut b0).await, "not for a0");
        // Each excluded member's next message is the marker: it never got its own.
        send_text(&mut a1, "bcast marker").await;
        for c in [&mut a0, &mut a1, &mut b0, &mut b_other] {
            assert_eq!(text(c).await, "marker");
        }
    }

    #[tokio::test]
    async fn presence_counts_and_names_members_of_every_server() {
        let redis = RedisServer::start();
        let nodes = [
            node(&redis, "s3").await,
            node(&redis, "s3").await,
            node(&redis, "s3").await,
        ];
        let _ada = join(&nodes[0], "room", "ada").await;
        let bob = join(&nodes[1], "room", "bob").await;
        let _cy = join(&nodes[2], "room", "cy").await;
        let _elsewhere = join(&nodes[2], "other", "dan").await;
        synced(&[&nodes[0], &nodes[1], &nodes[2]]).await;
        for n in &nodes {
            let p = within(n.groups.presence("room")).await.expect("presence");
            assert_eq!(p.count, 3);
            let mut names: Vec<String> = p
                .members
                .expect("listed")
                .into_iter()
                .filter_map(|(_, name)| name)
                .collect();
            names.sort();
            assert_eq!(names, ["ada", "bob", "cy"]);
        }
        // bob leaves: gone from presence on every server once its server noticed.
        drop(bob);
        let deadline = Instant::now() + support::LIMIT;
        while nodes[1].groups.members("room") != 0 {
            assert!(Instant::now() < deadline, "server never saw bob leave");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        within(nodes[1].layer.synced()).await;
        for n in &nodes {
            let p = within(n.groups.presence("room")).await.expect("presence");
            assert_eq!(p.count, 2, "{p:?}");
        }
        // Server 1 has no member of "room" left: it unsubscribed, the others did not.
        assert_eq!(
            redis.cli(&["PUBSUB", "NUMSUB", "s3:g:room"]),
            "s3:g:room\n2"
        );
        assert_eq!(
            redis.cli(&["PUBSUB", "NUMSUB", "s3:g:other"]),
            "s3:g:other\n1"
        );
    }

    #[tokio::test]
    async fn redis_outage_local_delivery_goes_on_and_remote_resumes_after() {
        let mut redis = RedisServer::start();
        let (a, b) = (node(&redis, "s4").await, node(&redis, "s4").await);
        let mut a0 = join(&a, "room", "a0").await;
        let mut a1 = join(&a, "room", "a1").await;
        let mut b0 = join(&b, "room", "b0").await;
        synced(&[&a, &b]).await;

        redis.stop();
        within(a.layer.disconnected()).await;
        within(b.layer.disconnected()).await;
        send_text(&mut a0, "all during").await;
        assert_eq!(
            text(&mut a0).await,
            "during",
            "local delivery during the outage"
        );
        assert_eq!(text(&mut a1).await, "during");
        let failed = a.groups.snapshot().total.remote_failed;
        assert!(failed >= 1, "the remote copy is counted as failed");
        assert_eq!(a.groups.send("room", "direct").remote, Remote::Failed);
        assert_eq!(text(&mut a0).await, "direct");
        assert_eq!(text(&mut a1).await, "direct");

        let restarted = Instant::now();
        redis.restart();
        within(a.layer.connected()).await;
        within(b.layer.connected()).await;
        let took = restarted.elapsed();
        assert!(took < Duration::from_secs(3), "reconnect took {took:?}");
        synced(&[&a, &b]).await;
        send_text(&mut a0, "all after").await;
        // b0 never got the outage's messages: "after" is the next thing it sees.
        assert_eq!(text(&mut b0).await, "after");
        assert_eq!(text(&mut a1).await, "after");
        send_text(&mut b0, "all back").await;
        assert_eq!(text(&mut a0).await, "after");
        assert_eq!(text(&mut a0).await, "back");
        println!("reconnected {took:?} after redis-server was restarted");
    }
}

// ---- The chat example on two servers sharing rooms through Redis ---------------------

mod chat_example {
    use serde_json::{json, Value};
    use wsview::groups::redis::RedisLayer;
    use wsview::groups::Groups;
    use wsview::Settings;

    use super::redis_server::RedisServer;
    use super::support::{self, close_code, next_data, send_text, within, Client, TestServer};

    async fn chat_server(redis: &RedisServer) -> (RedisLayer, TestServer) {
        let layer = RedisLayer::new(super::config(redis, "chat")).expect("config");
        let groups = Groups::builder().layer(layer.clone()).build();
        within(layer.connected()).await;
        let server = support::start(super::chat::app(Settings::default(), groups)).await;
        (layer, server)
    }

    async fn event(c: &mut Client) -> Value {
        let m = next_data(c).await.expect("a message");
        serde_json::from_str(m.to_text().expect("text")).expect("json")
    }

    async fn room_members(server: &TestServer, room: &str) -> Value {
        let (status, body) = server.get(&format!("/rooms/{room}")).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("json")
    }

    /// Two real browsers (Debian's headless Chromium through chromedriver), one on each
    /// chat server: each page shows the other's line, both servers count both members.
    #[tokio::test]
    async fn two_chromium_pages_on_two_chat_servers_share_a_room() {
        support::require_browser();
        let redis = RedisServer::start();
        let (_layer1, one) = chat_server(&redis).await;
        let (_layer2, two) = chat_server(&redis).await;
        // Two browsers, each waiting on its own events (20 s bound each).
        let pages = [
            format!("http://{}", one.addr),
            format!("http://{}", two.addr),
        ];
        support::run_script(
            "chat_browser.py",
            pages,
            std::time::Duration::from_secs(120),
        )
        .await;
    }

    #[tokio::test]
    async fn two_chat_processes_share_rooms_lines_and_member_counts() {
        let redis = RedisServer::start();
        let (layer1, one) = chat_server(&redis).await;
        let (layer2, two) = chat_server(&redis).await;

        let mut ada = one.connect("/chat/lobby?name=ada").await;
        assert_eq!(
            event(&mut ada).await,
            json!({"type": "join", "room": "lobby", "name": "ada", "members": 1})
        );
        within(layer1.synced()).await;
        let mut bob = two.connect("/chat/lobby?name=bob").await;
        let bob_joined = json!({"type": "join", "room": "lobby", "name": "bob", "members": 2});
        assert_eq!(event(&mut bob).await, bob_joined);
        assert_eq!(
            event(&mut ada).await,
            bob_joined,
            "a join on the other process"
        );
        within(layer2.synced()).await;

        send_text(&mut bob, "hello from two").await;
        let line =
            json!({"type": "message", "room": "lobby", "from": "bob", "text": "hello from two"});
        assert_eq!(event(&mut ada).await, line);
        assert_eq!(event(&mut bob).await, line);
        send_text(&mut ada, "hi from one").await;
        let line =
            json!({"type": "message", "room": "lobby", "from": "ada", "text": "hi from one"});
        assert_eq!(event(&mut bob).await, line);
        assert_eq!(event(&mut ada).await, line);

        for server in [&one, &two] {
            assert_eq!(
                room_members(server, "lobby").await,
                json!({"room": "lobby", "members": 2})
            );
        }
        assert_eq!(
            room_members(&one, "empty").await,
            json!({"room": "empty", "members": 0})
        );

        // bob leaves: ada, on the other process, sees it with the new count.
        futures_util::SinkExt::close(&mut bob).await.expect("close");
        let _ = close_code(&mut bob).await;
        assert_eq!(
            event(&mut ada).await,
            json!({"type": "leave", "room": "lobby", "name": "bob", "members": 1})
        );
        assert_eq!(
            room_members(&one, "lobby").await,
            json!({"room": "lobby", "members": 1})
        );
    }
}
