//! Handler objects and namespaces over real sockets: first-message semantics, order
//! under load, `on_close` exactly once for each way a connection ends, namespace
//! routing and the registry check.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsview::{
    App, CloseCause, CloseCode, CloseReason, Handler, HandlerContext, HandlerError, Message,
    Namespaces, Opened,
};

use support::{close_code, next_data, send_text, within, Client};

/// Records every `on_close`: how many ran, and a description of each reason.
#[derive(Clone)]
struct Closes {
    count: Arc<AtomicUsize>,
    tx: mpsc::UnboundedSender<String>,
}

fn closes() -> (Closes, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let closes = Closes {
        count: Arc::new(AtomicUsize::new(0)),
        tx,
    };
    (closes, rx)
}

impl Closes {
    fn record(&self, reason: &CloseReason) {
        self.count.fetch_add(1, Ordering::SeqCst);
        let what = match reason {
            CloseReason::Closed(CloseCause::Peer { code, .. }) => {
                format!("peer {}", code.map(u16::from).unwrap_or(0))
            }
            CloseReason::Closed(CloseCause::Server { code }) => {
                format!("server {}", u16::from(*code))
            }
            CloseReason::Closed(CloseCause::Error { code, .. }) => {
                format!("error {}", u16::from(*code))
            }
            CloseReason::Closed(CloseCause::ConnectionLost) => "lost".to_owned(),
            CloseReason::HandlerError(e) => format!("handler error: {e}"),
            CloseReason::Panic(what) => format!("panic: {what}"),
            other => format!("other: {other}"),
        };
        let _ = self.tx.send(what);
    }
}

/// Echoes with a prefix, fails on "fail", panics on "panic", closes on "close", and
/// records its close.
struct Probe {
    closes: Closes,
    on_open_consumes: bool,
}

impl Handler for Probe {
    async fn on_open(
        &mut self,
        ctx: &mut HandlerContext,
        first: Message,
    ) -> Result<Opened, HandlerError> {
        ctx.send(format!("open:{}", first.as_text().unwrap_or_default()))
            .await?;
        // django-ws: on_open decides whether the first message also reaches on_message.
        Ok(if self.on_open_consumes || first == "eat" {
            Opened::Consumed
        } else {
            Opened::PassOn
        })
    }

    async fn on_message(
        &mut self,
        ctx: &mut HandlerContext,
        message: Message,
    ) -> Result<(), HandlerError> {
        match message.as_text() {
            Some("fail") => return Err(HandlerError::msg("asked to fail")),
            Some("panic") => panic!("asked to panic"),
            Some("close") => {
                ctx.close(CloseCode::Policy, "bye").await?;
                return Ok(());
            }
            _ => {}
        }
        let reply = format!(
            "{}:{}",
            ctx.namespace(),
            message.as_text().unwrap_or_default()
        );
        ctx.send(reply).await?;
        Ok(())
    }

    async fn on_close(&mut self, _ctx: &mut HandlerContext, reason: CloseReason) {
        self.closes.record(&reason);
    }
}

fn probe_app(closes: &Closes) -> App {
    let c = closes.clone();
    let shout = closes.clone();
    Namespaces::new()
        .add("default", move || Probe {
            closes: c.clone(),
            on_open_consumes: false,
        })
        .add("shout", move || Probe {
            closes: shout.clone(),
            on_open_consumes: true,
        })
        .mount(App::new(), "/socket")
}

async fn expect_text(ws: &mut Client, want: &str) {
    match next_data(ws).await {
        Some(WsMessage::Text(t)) => assert_eq!(t.as_str(), want),
        other => panic!("expected {want:?}, got {other:?}"),
    }
}

/// Reads until the connection ends, so the client completes the closing handshake.
async fn drain(ws: &mut Client) {
    while let Some(Ok(_)) = within(ws.next()).await {}
}

/// Closes from the client side and completes the handshake, so that stopping the
/// server does not wait for a client that is not reading.
async fn bye(mut ws: Client) {
    within(ws.close(None)).await.expect("close");
    drain(&mut ws).await;
}

/// The next close reason, and then checks it was the only one once the server has
/// stopped (so every connection task has finished).
async fn only_close(
    server: support::TestServer,
    closes: &Closes,
    rx: &mut mpsc::UnboundedReceiver<String>,
) -> String {
    let reason = within(rx.recv()).await.expect("on_close ran");
    server.stop().await;
    assert_eq!(closes.count.load(Ordering::SeqCst), 1, "on_close ran once");
    assert!(rx.try_recv().is_err(), "no second on_close");
    reason
}

#[tokio::test]
async fn first_message_passed_on_when_on_open_says_so() {
    let (closes, _rx) = closes();
    let server = support::start(probe_app(&closes)).await;
    let mut ws = server.connect("/socket").await;
    send_text(&mut ws, "hello").await;
    expect_text(&mut ws, "open:hello").await;
    expect_text(&mut ws, "default:hello").await;
    send_text(&mut ws, "second").await;
    expect_text(&mut ws, "default:second").await;
    send_text(&mut ws, "third").await;
    expect_text(&mut ws, "default:third").await;
    bye(ws).await;
    server.stop().await;
}

#[tokio::test]
async fn first_message_consumed_when_on_open_says_so() {
    let (closes, _rx) = closes();
    let server = support::start(probe_app(&closes)).await;
    let mut ws = server.connect("/socket/").await;
    send_text(&mut ws, "eat").await;
    expect_text(&mut ws, "open:eat").await;
    send_text(&mut ws, "next").await;
    // Not "default:eat": the first message stopped at on_open.
    expect_text(&mut ws, "default:next").await;
    bye(ws).await;
    server.stop().await;
}

#[tokio::test]
async fn messages_reach_the_handler_one_at_a_time_in_order() {
    let (closes, _rx) = closes();
    let server = support::start(probe_app(&closes)).await;
    let ws = server.connect("/socket/default").await;
    const N: usize = 1000;
    // Send everything before reading anything: the handler sees a full queue.
    let (mut sink, mut stream) = ws.split();
    let writer = tokio::spawn(async move {
        for i in 0..N {
            sink.send(WsMessage::text(i.to_string()))
                .await
                .expect("send");
        }
        sink
    });
    let mut got = Vec::with_capacity(N + 1);
    while got.len() < N + 1 {
        match within(stream.next()).await {
            Some(Ok(WsMessage::Text(t))) => got.push(t.as_str().to_owned()),
            Some(Ok(_)) => continue,
            other => panic!("connection ended early: {other:?}"),
        }
    }
    let mut want = vec!["open:0".to_owned()];
    want.extend((0..N).map(|i| format!("default:{i}")));
    assert_eq!(got, want);
    let sink = within(writer).await.expect("writer");
    bye(sink.reunite(stream).expect("same stream")).await;
    server.stop().await;
}

#[tokio::test]
async fn on_close_once_when_the_peer_closes() {
    let (closes, mut rx) = closes();
    let server = support::start(probe_app(&closes)).await;
    let mut ws = server.connect("/socket").await;
    send_text(&mut ws, "hi").await;
    expect_text(&mut ws, "open:hi").await;
    expect_text(&mut ws, "default:hi").await;
    let frame = CloseFrame {
        code: WsCloseCode::Normal,
        reason: "done".into(),
    };
    within(ws.close(Some(frame))).await.expect("close");
    drain(&mut ws).await;
    assert_eq!(only_close(server, &closes, &mut rx).await, "peer 1000");
}

#[tokio::test]
async fn on_close_once_when_the_network_drops() {
    let (closes, mut rx) = closes();
    let server = support::start(probe_app(&closes)).await;
    let mut ws = server.connect("/socket").await;
    send_text(&mut ws, "hi").await;
    expect_text(&mut ws, "open:hi").await;
    expect_text(&mut ws, "default:hi").await;
    drop(ws); // the TCP connection closes without a close frame
    assert_eq!(only_close(server, &closes, &mut rx).await, "lost");
}

#[tokio::test]
async fn on_close_once_when_the_server_shuts_down() {
    let (closes, mut rx) = closes();
    let server = support::start(probe_app(&closes)).await;
    let mut ws = server.connect("/socket").await;
    send_text(&mut ws, "hi").await;
    expect_text(&mut ws, "open:hi").await;
    expect_text(&mut ws, "default:hi").await;
    let stopping = tokio::spawn(server.stop());
    assert_eq!(close_code(&mut ws).await, Some(1001));
    drain(&mut ws).await;
    within(stopping).await.expect("server stopped");
    let reason = within(rx.recv()).await.expect("on_close ran");
    assert_eq!(reason, "server 1001");
    assert_eq!(closes.count.load(Ordering::SeqCst), 1);
    assert!(rx.try_recv().is_err(), "no second on_close");
}

#[tokio::test]
async fn on_close_once_when_the_handler_fails() {
    let (closes, mut rx) = closes();
    let server = support::start(probe_app(&closes)).await;
    let mut ws = server.connect("/socket").await;
    send_text(&mut ws, "hi").await;
    expect_text(&mut ws, "open:hi").await;
    expect_text(&mut ws, "default:hi").await;
    send_text(&mut ws, "fail").await;
    assert_eq!(close_code(&mut ws).await, Some(1011));
    drain(&mut ws).await;
    assert_eq!(
        only_close(server, &closes, &mut rx).await,
        "handler error: asked to fail"
    );
}

#[tokio::test]
async fn on_close_once_when_the_handler_panics() {
    let (closes, mut rx) = closes();
    let server = support::start(probe_app(&closes)).await;
    let mut ws = server.connect("/socket").await;
    send_text(&mut ws, "panic").await; // the first message: on_open, then on_message
    expect_text(&mut ws, "open:panic").await;
    assert_eq!(close_code(&mut ws).await, Some(1011));
    drain(&mut ws).await;
    assert_eq!(
        only_close(server, &closes, &mut rx).await,
        "panic: asked to panic"
    );
}

#[tokio::test]
async fn on_close_once_when_the_handler_closes() {
    let (closes, mut rx) = closes();
    let server = support::start(probe_app(&closes)).await;
    let mut ws = server.connect("/socket").await;
    send_text(&mut ws, "hi").await;
    expect_text(&mut ws, "open:hi").await;
    expect_text(&mut ws, "default:hi").await;
    send_text(&mut ws, "close").await;
    assert_eq!(close_code(&mut ws).await, Some(1008));
    drain(&mut ws).await;
    assert_eq!(only_close(server, &closes, &mut rx).await, "server 1008");
}

#[tokio::test]
async fn a_connection_that_sends_nothing_never_opens() {
    let (closes, mut rx) = closes();
    let server = support::start(probe_app(&closes)).await;
    let mut ws = server.connect("/socket").await;
    within(ws.close(None)).await.expect("close");
    drain(&mut ws).await;
    server.stop().await;
    assert_eq!(closes.count.load(Ordering::SeqCst), 0);
    assert!(rx.try_recv().is_err());
}

/// Says which namespace and path parameters it got.
struct WhoAmI;

impl Handler for WhoAmI {
    async fn on_message(
        &mut self,
        ctx: &mut HandlerContext,
        message: Message,
    ) -> Result<(), HandlerError> {
        let param = ctx.param("namespace").unwrap_or("-").to_owned();
        let peer_known = ctx.remote_addr().is_some();
        let reply = format!(
            "{} param={param} peer={peer_known} host={} msg={}",
            ctx.namespace(),
            ctx.header("host").unwrap_or("-"),
            message.as_text().unwrap_or_default()
        );
        ctx.send(reply).await?;
        Ok(())
    }
}

struct Shout;

impl Handler for Shout {
    async fn on_message(
        &mut self,
        ctx: &mut HandlerContext,
        message: Message,
    ) -> Result<(), HandlerError> {
        ctx.send(message.as_text().unwrap_or_default().to_uppercase())
            .await?;
        Ok(())
    }
}

#[tokio::test]
async fn namespaces_route_by_the_path() {
    let app = Namespaces::new()
        .add("default", || WhoAmI)
        .add("shout", || Shout)
        .mount(App::new(), "/socket/"); // a trailing slash in the prefix is fine
    let server = support::start(app).await;
    let host = server.addr.to_string();

    for (path, param) in [
        ("/socket", "-"),
        ("/socket/", "-"),
        ("/socket/default", "default"),
    ] {
        let mut ws = server.connect(path).await;
        send_text(&mut ws, "x").await;
        let want = format!("default param={param} peer=true host={host} msg=x");
        expect_text(&mut ws, &want).await;
        bye(ws).await;
    }

    let mut ws = server.connect("/socket/shout").await;
    send_text(&mut ws, "hello").await;
    expect_text(&mut ws, "HELLO").await;
    send_text(&mut ws, "again").await;
    expect_text(&mut ws, "AGAIN").await;
    bye(ws).await;

    // An unknown namespace is refused at the handshake, before accepting.
    let (status, _) = server.connect_err("/socket/nope").await;
    assert_eq!(status, 404);
    // A plain HTTP request to a handler route: the view is WebSocket-only.
    let (status, _) = server.get("/socket/shout").await;
    assert_eq!(status, 400);
    server.stop().await;
}

#[tokio::test]
async fn a_single_handler_view() {
    let app = App::new().route("/shout", wsview::handler_view(|| Shout));
    let server = support::start(app).await;
    let mut ws = server.connect("/shout").await;
    send_text(&mut ws, "quiet").await;
    expect_text(&mut ws, "QUIET").await;
    bye(ws).await;
    server.stop().await;
}

#[test]
fn a_registry_without_default_is_refused_when_the_app_is_built() {
    let err = Namespaces::new()
        .add("shout", || Shout)
        .mount(App::new(), "/socket")
        .build()
        .expect_err("no default");
    let text = err.to_string();
    assert!(text.contains("\"default\""), "{text}");
    assert_eq!(
        text.matches("no \"default\"").count(),
        1,
        "reported once: {text}"
    );

    let err = Namespaces::new()
        .add("default", || Shout)
        .add("default", || Shout)
        .add("", || Shout)
        .mount(App::new(), "/socket")
        .build()
        .expect_err("duplicate");
    let text = err.to_string();
    assert!(text.contains("registered twice"), "{text}");
    assert!(text.contains("must not be empty"), "{text}");

    let ok = Namespaces::new()
        .add("default", || Shout)
        .mount(App::new(), "/")
        .build();
    assert!(ok.is_ok());
}

/// Pushes a counter from a spawned task without waiting for input, and stops it in
/// on_close.
#[derive(Default)]
struct Pusher {
    task: Option<tokio::task::JoinHandle<()>>,
    stopped: Option<Closes>,
}

impl Handler for Pusher {
    async fn on_open(
        &mut self,
        ctx: &mut HandlerContext,
        _first: Message,
    ) -> Result<Opened, HandlerError> {
        let sender = ctx.sender();
        self.task = Some(tokio::spawn(async move {
            for i in 0u32.. {
                if sender.send(format!("push {i}")).await.is_err() {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }));
        Ok(Opened::Consumed)
    }

    async fn on_message(&mut self, _: &mut HandlerContext, _: Message) -> Result<(), HandlerError> {
        Ok(())
    }

    async fn on_close(&mut self, _ctx: &mut HandlerContext, reason: CloseReason) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(closes) = &self.stopped {
            closes.record(&reason);
        }
    }
}

#[tokio::test]
async fn a_handler_pushes_from_a_spawned_task() {
    let (closes, mut rx) = closes();
    let c = closes.clone();
    let app = App::new().route(
        "/push",
        wsview::handler_view(move || Pusher {
            task: None,
            stopped: Some(c.clone()),
        }),
    );
    let server = support::start(app).await;
    let mut ws = server.connect("/push").await;
    send_text(&mut ws, "start").await;
    for i in 0..5 {
        expect_text(&mut ws, &format!("push {i}")).await;
    }
    within(ws.close(None)).await.expect("close");
    drain(&mut ws).await;
    assert_eq!(only_close(server, &closes, &mut rx).await, "peer 0"); // no code given
}

/// Closes in on_open but asks to pass the first message on: once this side has
/// closed, nothing more is delivered, and on_close still runs once.
struct ClosesAtOnce {
    closes: Closes,
    messages: Arc<AtomicUsize>,
}

impl Handler for ClosesAtOnce {
    async fn on_open(
        &mut self,
        ctx: &mut HandlerContext,
        _first: Message,
    ) -> Result<Opened, HandlerError> {
        ctx.close(CloseCode::from(4001), "not today").await?;
        Ok(Opened::PassOn)
    }

    async fn on_message(&mut self, _: &mut HandlerContext, _: Message) -> Result<(), HandlerError> {
        self.messages.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn on_close(&mut self, _ctx: &mut HandlerContext, reason: CloseReason) {
        self.closes.record(&reason);
    }
}

#[tokio::test]
async fn nothing_is_delivered_after_the_handler_closes() {
    let (closes, mut rx) = closes();
    let messages = Arc::new(AtomicUsize::new(0));
    let (c, m) = (closes.clone(), messages.clone());
    let app = App::new().route(
        "/no",
        wsview::handler_view(move || ClosesAtOnce {
            closes: c.clone(),
            messages: m.clone(),
        }),
    );
    let server = support::start(app).await;
    let mut ws = server.connect("/no").await;
    send_text(&mut ws, "first").await;
    send_text(&mut ws, "second").await;
    assert_eq!(close_code(&mut ws).await, Some(4001));
    drain(&mut ws).await;
    assert_eq!(only_close(server, &closes, &mut rx).await, "server 4001");
    assert_eq!(messages.load(Ordering::SeqCst), 0);
}

/// Reports what its context says (request, extensions set by middleware, path
/// parameters, address, headers, subprotocol), flushes, closes on "close", fails on
/// "fail", and reports its close reason through the predicates. Everything goes to the
/// test over a channel; nothing is asserted in the handler.
struct Inspector {
    report: mpsc::UnboundedSender<String>,
}

#[derive(Clone, Debug)]
struct User(&'static str);

impl Handler for Inspector {
    async fn on_open(
        &mut self,
        ctx: &mut HandlerContext,
        _first: Message,
    ) -> Result<Opened, HandlerError> {
        let req = ctx.request();
        let line = format!(
            "ns={} path={} q={:?} user={:?} room={:?} params={:?} remote={:?} hdr={:?} \
             same_headers={} proto={:?} closed={}",
            ctx.namespace(),
            req.path(),
            req.query("q"),
            req.extensions().get::<User>().map(|u| u.0),
            ctx.param("room"),
            ctx.params(),
            ctx.remote_addr(),
            ctx.header("x-client"),
            ctx.headers().get("x-client") == req.headers().get("x-client"),
            ctx.protocol(),
            ctx.is_closed(),
        );
        let _ = self.report.send(line);
        ctx.send("opened").await?;
        let flushed = ctx.flush().await;
        let _ = self.report.send(format!("flushed={}", flushed.is_ok()));
        Ok(Opened::Consumed)
    }

    async fn on_message(
        &mut self,
        ctx: &mut HandlerContext,
        message: Message,
    ) -> Result<(), HandlerError> {
        match message.as_text() {
            Some("close") => {
                ctx.close(4001, "done").await?;
                let _ = self
                    .report
                    .send(format!("after close: closed={}", ctx.is_closed()));
            }
            Some("fail") => return Err(HandlerError::msg("inspector failed")),
            _ => ctx.send(message).await?,
        }
        Ok(())
    }

    async fn on_close(&mut self, _ctx: &mut HandlerContext, reason: CloseReason) {
        let _ = self.report.send(format!(
            "on_close shutdown={} failure={} cause={:?} text={reason}",
            reason.is_shutdown(),
            reason.is_handler_failure(),
            reason.cause(),
        ));
    }
}

#[tokio::test]
async fn the_handler_context_and_the_close_reason_predicates() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let view = Namespaces::new()
        .add("default", move || Inspector { report: tx.clone() })
        .view()
        .protocols(["chat"]);
    let app = App::new()
        .middleware(|mut req: wsview::Request, next: wsview::Next| {
            req.extensions_mut().insert(User("ann"));
            next.run(req)
        })
        .route("/rooms/{room}/{namespace}", view);
    let server = support::start(app).await;
    let open = |path: &str| {
        let mut req = server.url(path).into_client_request().expect("request");
        let h = req.headers_mut();
        h.insert("x-client", "test-suite".parse().expect("header"));
        h.insert(
            "sec-websocket-protocol",
            "other, chat".parse().expect("header"),
        );
        within(tokio_tungstenite::connect_async(req))
    };
    let local_addr = |ws: &Client| match ws.get_ref() {
        tokio_tungstenite::MaybeTlsStream::Plain(tcp) => tcp.local_addr().expect("addr"),
        _ => unreachable!("plain TCP"),
    };

    let (mut ws, resp) = open("/rooms/caf%C3%A9/default?q=1")
        .await
        .expect("handshake");
    assert_eq!(resp.headers()["sec-websocket-protocol"], "chat");
    send_text(&mut ws, "hello").await;
    expect_text(&mut ws, "opened").await;
    assert_eq!(
        within(rx.recv()).await.expect("report"),
        format!(
            "ns=default path=/rooms/caf%C3%A9/default q=Some(\"1\") user=Some(\"ann\") \
             room=Some(\"café\") params=[(\"room\", \"café\"), (\"namespace\", \"default\")] \
             remote=Some({:?}) hdr=Some(\"test-suite\") same_headers=true proto=Some(\"chat\") \
             closed=false",
            local_addr(&ws)
        )
    );
    assert_eq!(within(rx.recv()).await.as_deref(), Some("flushed=true"));
    send_text(&mut ws, "close").await;
    assert_eq!(close_code(&mut ws).await, Some(4001));
    drain(&mut ws).await;
    assert_eq!(
        within(rx.recv()).await.as_deref(),
        Some("after close: closed=true")
    );
    assert_eq!(
        within(rx.recv()).await.expect("on_close"),
        format!(
            "on_close shutdown=false failure=false cause={:?} text=this side closed (4001)",
            Some(CloseCause::Server {
                code: CloseCode::from(4001)
            })
        )
    );

    let (mut ws, _) = open("/rooms/x/default").await.expect("handshake");
    send_text(&mut ws, "hello").await;
    expect_text(&mut ws, "opened").await;
    let _ = within(rx.recv()).await; // the context line
    let _ = within(rx.recv()).await; // flushed
    send_text(&mut ws, "fail").await;
    assert_eq!(close_code(&mut ws).await, Some(1011));
    drain(&mut ws).await;
    assert_eq!(
        within(rx.recv()).await.as_deref(),
        Some(
            "on_close shutdown=false failure=true cause=None text=handler error: inspector failed"
        )
    );

    let (mut ws, _) = open("/rooms/x/default").await.expect("handshake");
    send_text(&mut ws, "hello").await;
    expect_text(&mut ws, "opened").await;
    let _ = within(rx.recv()).await;
    let _ = within(rx.recv()).await;
    let stopping = tokio::spawn(server.stop());
    assert_eq!(close_code(&mut ws).await, Some(1001));
    drain(&mut ws).await;
    within(stopping).await.expect("stopped");
    assert_eq!(
        within(rx.recv()).await.expect("on_close"),
        format!(
            "on_close shutdown=true failure=false cause={:?} text=this side closed (1001)",
            Some(CloseCause::Server {
                code: CloseCode::Away
            })
        )
    );
}

/// `CloseReason`'s predicates and text for each way a connection ends.
#[test]
fn close_reason_predicates_and_text() {
    let cases: Vec<(CloseReason, bool, bool, bool, &str)> = vec![
        (
            CloseReason::Closed(CloseCause::Peer {
                code: Some(CloseCode::Normal),
                reason: "bye".to_owned(),
            }),
            false,
            false,
            true,
            "the peer closed (1000) \"bye\"",
        ),
        (
            CloseReason::Closed(CloseCause::Peer {
                code: None,
                reason: String::new(),
            }),
            false,
            false,
            true,
            "the peer closed",
        ),
        (
            CloseReason::Closed(CloseCause::Server {
                code: CloseCode::Away,
            }),
            true,
            false,
            true,
            "this side closed (1001)",
        ),
        (
            CloseReason::Closed(CloseCause::Server {
                code: CloseCode::from(4000),
            }),
            false,
            false,
            true,
            "this side closed (4000)",
        ),
        (
            CloseReason::Closed(CloseCause::Error {
                code: CloseCode::Invalid,
                detail: "bad utf-8".to_owned(),
            }),
            false,
            false,
            true,
            "protocol error (1007): bad utf-8",
        ),
        (
            CloseReason::Closed(CloseCause::ConnectionLost),
            false,
            false,
            true,
            "the connection dropped",
        ),
        (
            CloseReason::HandlerError(HandlerError::msg("nope")),
            false,
            true,
            false,
            "handler error: nope",
        ),
        (
            CloseReason::Panic("boom".to_owned()),
            false,
            true,
            false,
            "handler panicked: boom",
        ),
    ];
    for (reason, shutdown, failure, has_cause, text) in cases {
        assert_eq!(reason.is_shutdown(), shutdown, "{reason}");
        assert_eq!(reason.is_handler_failure(), failure, "{reason}");
        assert_eq!(reason.cause().is_some(), has_cause, "{reason}");
        if let CloseReason::Closed(cause) = &reason {
            assert_eq!(reason.cause(), Some(cause));
        }
        assert_eq!(reason.to_string(), text);
    }
}
