//! Threaded mode over real sockets: blocking views and handlers run on a bounded pool
//! and never stall async views; the pool bound, refusals and close semantics.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use futures_util::SinkExt;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsview::{
    blocking, require_websocket, App, CloseCause, CloseCode, CloseReason, HandlerError, Message,
    Namespaces, Next, Opened, Request, Response,
};

use support::{close_code, next_data, send_text, within, Client, LIMIT};

/// A door blocking threads until the test opens it: a real blocking wait, holding the
/// worker's thread. Tests hold an [`OpenOnDrop`] for it, so a failing assertion opens it
/// while unwinding (the runtime waits for blocking threads when it shuts down: a gate
/// left shut would turn the failure into a silent hang). `wait` also panics past
/// [`LIMIT`], in case a test forgets the guard.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn wait(&self) {
        let (open, cv) = &*self.0;
        let open = open.lock().unwrap_or_else(|e| e.into_inner());
        let (open, timeout) = cv
            .wait_timeout_while(open, LIMIT, |open| !*open)
            .unwrap_or_else(|e| e.into_inner());
        drop(open);
        assert!(!timeout.timed_out(), "the test never opened the gate");
    }

    fn open(&self) {
        let (open, cv) = &*self.0;
        *open.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
    }

    /// Opens the gate when dropped: at the end of the test, or when an assertion fails.
    fn opener(&self) -> OpenOnDrop {
        OpenOnDrop(self.clone())
    }
}

struct OpenOnDrop(Gate);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

async fn expect_text(ws: &mut Client, want: &str) {
    match next_data(ws).await {
        Some(WsMessage::Text(t)) => assert_eq!(t.as_str(), want),
        other => panic!("expected {want:?}, got {other:?}"),
    }
}

/// Closes from the client side (unless the server's close came first) and completes
/// the handshake.
async fn bye(mut ws: Client) {
    let _ = within(ws.close(None)).await;
    while let Some(Ok(_)) = within(futures_util::StreamExt::next(&mut ws)).await {}
}

async fn echo(mut req: Request) -> Response {
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

/// Two async workers, four blocking workers all held busy: if blocking code ran on the
/// async workers, the async echo could not answer until the blocking views finished.
/// A fifth blocking connection, seen reaching the server, gets a worker only when one
/// of the four views has returned: its view does not start while all four are held,
/// and the views' start/end log shows it starting after the first one ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_blocking_workers_do_not_stall_async_views() {
    const WORKERS: usize = 4;
    let pool = blocking::Pool::new(WORKERS);
    let gate = Gate::default();
    let _opener = gate.opener();
    let finished = Arc::new(AtomicUsize::new(0));
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let view = {
        let (gate, finished, log) = (gate.clone(), finished.clone(), log.clone());
        pool.view(move |req: Request, ws: &mut blocking::WebSocket| {
            let tag = req.query("tag").unwrap_or_default();
            let note = |what: &str| {
                log.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!("{what} {tag}"))
            };
            note("start");
            while let Some(msg) = ws.wait() {
                let _ = started_tx.send(());
                gate.wait(); // blocking work, until the test says so
                finished.fetch_add(1, Ordering::SeqCst);
                let reply = format!("done:{}", msg.as_text().unwrap_or_default());
                if ws.send(reply).is_err() {
                    break;
                }
            }
            note("end");
            Response::empty()
        })
    };
    // Tells the test when a request has reached the server (before any pool wait).
    let (arrived_tx, mut arrived) = mpsc::unbounded_channel::<String>();
    let app = App::new()
        .middleware(move |req: Request, next: Next| {
            let _ = arrived_tx.send(req.query("tag").unwrap_or_default());
            next.run(req)
        })
        .route("/blocking", view)
        .route("/echo", require_websocket(echo));
    let server = support::start(app).await;

    let mut busy = Vec::new();
    for i in 0..WORKERS {
        let mut ws = server.connect(&format!("/blocking?tag=job{i}")).await;
        send_text(&mut ws, &format!("job{i}")).await;
        busy.push(ws);
    }
    for _ in 0..WORKERS {
        within(started.recv())
            .await
            .expect("a blocking view started");
    }
    assert_eq!(pool.available(), 0, "every worker is busy");

    // One more blocking connection waits for a worker, its handshake pending.
    let url = server.url("/blocking?tag=late");
    let waiting = tokio::spawn(async move { tokio_tungstenite::connect_async(url).await });
    loop {
        if within(arrived.recv()).await.expect("arrived") == "late" {
            break;
        }
    }

    // The async view answers while every blocking worker is held.
    let mut fast = server.connect("/echo").await;
    send_text(&mut fast, "ping").await;
    expect_text(&mut fast, "ping").await;
    assert_eq!(
        finished.load(Ordering::SeqCst),
        0,
        "the async reply came before any blocking view finished"
    );

    gate.open();
    for (i, ws) in busy.iter_mut().enumerate() {
        expect_text(ws, &format!("done:job{i}")).await;
    }
    // A blocking view holds its worker for its connection's life: the waiting
    // connection gets a worker when one of them ends.
    let first = busy.remove(0);
    bye(first).await;
    let (mut late, _) = within(waiting)
        .await
        .expect("join")
        .expect("accepted once a worker was free");
    send_text(&mut late, "late").await;
    expect_text(&mut late, "done:late").await;
    {
        let log = log.lock().unwrap_or_else(|e| e.into_inner());
        let at = |entry: &str| log.iter().position(|e| e == entry);
        let (ended, late_started) = (at("end job0"), at("start late"));
        assert!(
            ended.is_some() && late_started.is_some() && ended < late_started,
            "the late view started only after job0's view returned: {log:?}"
        );
    }

    for ws in busy {
        bye(ws).await;
    }
    bye(late).await;
    bye(fast).await;
    server.stop().await;
    assert_eq!(pool.available(), WORKERS, "every worker was given back");
}

#[tokio::test]
async fn the_blocking_websocket_api() {
    let (report_tx, mut report) = mpsc::unbounded_channel::<String>();
    let view = blocking::Pool::new(2).view(move |req: Request, ws: &mut blocking::WebSocket| {
        if req.query("token").as_deref() != Some("ok") {
            // Before using the socket: refuses the handshake, like an async view.
            return Response::text("no").with_status(403);
        }
        ws.accept().expect("accept");
        // The iterator, for reading: the first three messages, then echo them.
        let first: Vec<Message> = ws.by_ref().take(3).collect();
        for msg in first {
            let _ = ws.send(msg);
        }
        while let Some(msg) = ws.wait() {
            if msg == "close" {
                let _ = ws.close(CloseCode::from(4000), "bye");
                break;
            }
            if ws.send(msg).is_err() {
                break;
            }
        }
        // The peer answers the close; then the connection has ended.
        while ws.wait().is_some() {}
        let _ = report_tx.send(format!(
            "closed={} cause={:?}",
            ws.is_closed(),
            ws.close_cause()
        ));
        Response::empty()
    });
    let server = support::start(App::new().route("/b", view)).await;

    let (status, _) = server.connect_err("/b").await;
    assert_eq!(status, 403);

    let mut ws = server.connect("/b?token=ok").await;
    for text in ["one", "two", "three"] {
        send_text(&mut ws, text).await;
    }
    for text in ["one", "two", "three"] {
        expect_text(&mut ws, text).await;
    }
    within(ws.send(WsMessage::binary(vec![1u8, 2, 3])))
        .await
        .expect("send binary");
    assert_eq!(
        next_data(&mut ws).await,
        Some(WsMessage::binary(vec![1u8, 2, 3]))
    );
    send_text(&mut ws, "close").await;
    assert_eq!(close_code(&mut ws).await, Some(4000));
    bye(ws).await;
    let line = within(report.recv()).await.expect("report");
    assert_eq!(
        line,
        format!(
            "closed=true cause={:?}",
            Some(CloseCause::Server {
                code: CloseCode::from(4000)
            })
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn a_panicking_blocking_view_closes_with_1011() {
    let view = blocking::Pool::new(1).view(|_req: Request, ws: &mut blocking::WebSocket| {
        if let Some(msg) = ws.wait() {
            panic!("blocking view got {msg:?}");
        }
        Response::empty()
    });
    let server = support::start(App::new().route("/p", view)).await;
    let mut ws = server.connect("/p").await;
    send_text(&mut ws, "boom").await;
    assert_eq!(close_code(&mut ws).await, Some(1011));
    bye(ws).await;
    server.stop().await;
}

#[tokio::test]
async fn past_max_wait_a_busy_pool_refuses_with_503() {
    let pool = blocking::Pool::new(1).max_wait(Duration::from_millis(50));
    let gate = Gate::default();
    let _opener = gate.opener();
    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let view = {
        let gate = gate.clone();
        pool.view(move |_req: Request, ws: &mut blocking::WebSocket| {
            if let Some(msg) = ws.wait() {
                let _ = started_tx.send(());
                gate.wait();
                let _ = ws.send(msg);
            }
            Response::empty()
        })
    };
    let server = support::start(App::new().route("/one", view)).await;
    let mut holder = server.connect("/one").await;
    send_text(&mut holder, "hold").await;
    within(started.recv())
        .await
        .expect("the only worker is busy");

    let refusal = server.refusal("/one").await;
    assert_eq!(refusal.status(), 503);
    assert_eq!(
        refusal.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..]),
        "503 carries Retry-After: 1"
    );
    assert_eq!(
        support::body_text(&refusal),
        "Service Unavailable: every worker is busy."
    );

    gate.open();
    expect_text(&mut holder, "hold").await;
    bye(holder).await;
    server.stop().await;
}

/// A blocking handler: a sync `on_message` that replies after blocking work, with the
/// first message handled in on_open unless it says "pass".
struct Clerk {
    closes: mpsc::UnboundedSender<String>,
    count: Arc<AtomicUsize>,
}

impl blocking::Handler for Clerk {
    fn on_open(
        &mut self,
        ctx: &mut blocking::Context,
        first: Message,
    ) -> Result<Opened, HandlerError> {
        ctx.send(format!("open:{}", first.as_text().unwrap_or_default()))?;
        Ok(if first == "pass" {
            Opened::PassOn
        } else {
            Opened::Consumed
        })
    }

    fn on_message(
        &mut self,
        ctx: &mut blocking::Context,
        message: Message,
    ) -> Result<(), HandlerError> {
        let text = message.as_text().unwrap_or_default();
        if text == "fail" {
            return Err(HandlerError::msg("clerk failed"));
        }
        std::thread::sleep(Duration::from_millis(1)); // blocking work
        ctx.send(format!("{}:{text}", ctx.namespace()))?;
        Ok(())
    }

    fn on_close(&mut self, _ctx: &mut blocking::Context, reason: CloseReason) {
        self.count.fetch_add(1, Ordering::SeqCst);
        let what = match &reason {
            CloseReason::Closed(CloseCause::Peer { .. }) => "peer".to_owned(),
            CloseReason::Closed(CloseCause::Server { code }) => {
                format!("server {}", u16::from(*code))
            }
            CloseReason::HandlerError(e) => format!("error: {e}"),
            other => other.to_string(),
        };
        let _ = self.closes.send(what);
    }
}

fn clerk_app(pool: blocking::Pool) -> (App, mpsc::UnboundedReceiver<String>, Arc<AtomicUsize>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let app = Namespaces::new()
        .blocking_pool(pool)
        .add_blocking("default", move || Clerk {
            closes: tx.clone(),
            count: c.clone(),
        })
        .mount(App::new(), "/socket");
    (app, rx, count)
}

#[tokio::test]
async fn a_blocking_handler_gets_messages_in_order_and_closes_once() {
    let (app, mut closes, count) = clerk_app(blocking::Pool::new(2));
    let server = support::start(app).await;

    let mut ws = server.connect("/socket").await;
    send_text(&mut ws, "pass").await;
    expect_text(&mut ws, "open:pass").await;
    expect_text(&mut ws, "default:pass").await;
    for i in 0..200 {
        send_text(&mut ws, &i.to_string()).await;
    }
    for i in 0..200 {
        expect_text(&mut ws, &format!("default:{i}")).await;
    }
    bye(ws).await;
    assert_eq!(within(closes.recv()).await.as_deref(), Some("peer"));

    let mut ws = server.connect("/socket/default").await;
    send_text(&mut ws, "eat").await;
    expect_text(&mut ws, "open:eat").await;
    send_text(&mut ws, "fail").await;
    assert_eq!(close_code(&mut ws).await, Some(1011));
    bye(ws).await;
    assert_eq!(
        within(closes.recv()).await.as_deref(),
        Some("error: clerk failed")
    );

    server.stop().await;
    assert_eq!(
        count.load(Ordering::SeqCst),
        2,
        "on_close once per connection"
    );
    assert!(closes.try_recv().is_err());
}

/// With one worker, two blocking-handler connections still both answer, turn by turn:
/// an idle connection holds no thread (a blocking *view* would hold the only worker).
#[tokio::test]
async fn idle_blocking_handler_connections_hold_no_worker() {
    let pool = blocking::Pool::new(1);
    let (app, mut closes, _count) = clerk_app(pool.clone());
    let server = support::start(app).await;
    let mut a = server.connect("/socket").await;
    let mut b = server.connect("/socket").await;
    send_text(&mut a, "hello a").await;
    expect_text(&mut a, "open:hello a").await;
    send_text(&mut b, "hello b").await;
    expect_text(&mut b, "open:hello b").await;
    for round in 0..3 {
        send_text(&mut a, &format!("a{round}")).await;
        expect_text(&mut a, &format!("default:a{round}")).await;
        send_text(&mut b, &format!("b{round}")).await;
        expect_text(&mut b, &format!("default:b{round}")).await;
    }

    // Server shutdown: both get 1001 and on_close, each once.
    let stopping = tokio::spawn(server.stop());
    assert_eq!(close_code(&mut a).await, Some(1001));
    assert_eq!(close_code(&mut b).await, Some(1001));
    bye(a).await;
    bye(b).await;
    within(stopping).await.expect("stopped");
    assert_eq!(within(closes.recv()).await.as_deref(), Some("server 1001"));
    assert_eq!(within(closes.recv()).await.as_deref(), Some("server 1001"));
    assert!(closes.try_recv().is_err());
    assert_eq!(pool.available(), 1);
}

#[tokio::test]
async fn a_blocking_handler_view_without_namespaces() {
    let (tx, _rx) = mpsc::unbounded_channel();
    let count = Arc::new(AtomicUsize::new(0));
    let view = blocking::Pool::new(1).handler_view(move || Clerk {
        closes: tx.clone(),
        count: count.clone(),
    });
    let server = support::start(App::new().route("/clerk", view)).await;
    let mut ws = server.connect("/clerk").await;
    send_text(&mut ws, "pass").await;
    expect_text(&mut ws, "open:pass").await;
    expect_text(&mut ws, "default:pass").await;
    within(ws.send(WsMessage::text("x"))).await.expect("send");
    expect_text(&mut ws, "default:x").await;
    bye(ws).await;
    server.stop().await;
}

/// 32 MB from a blocking thread through one connection: the write buffer and the
/// socket fill, `send` blocks, and every message still arrives, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_sends_survive_back_pressure() {
    const N: usize = 4000;
    const SIZE: usize = 8 << 10;
    let view = blocking::Pool::new(1).view(|_req: Request, ws: &mut blocking::WebSocket| {
        if ws.wait().is_none() {
            return Response::empty();
        }
        for i in 0..N {
            let mut payload = vec![0u8; SIZE];
            payload[..8].copy_from_slice(&(i as u64).to_be_bytes());
            if ws.send(payload).is_err() {
                break;
            }
        }
        let _ = ws.send("end");
        while ws.wait().is_some() {}
        Response::empty()
    });
    let server = support::start(App::new().route("/flood", view)).await;
    let mut ws = server.connect("/flood").await;
    send_text(&mut ws, "go").await;
    for i in 0..N {
        match next_data(&mut ws).await {
            Some(WsMessage::Binary(b)) => {
                assert_eq!(b.len(), SIZE);
                assert_eq!(b[..8], (i as u64).to_be_bytes(), "message {i} in order");
            }
            other => panic!("message {i}: {other:?}"),
        }
    }
    expect_text(&mut ws, "end").await;
    bye(ws).await;
    server.stop().await;
}

/// What the blocking view saw, sent to the test.
#[derive(Debug, Default)]
struct ViewReport {
    protocol: Option<String>,
    count: usize,
    has: bool,
    read: Vec<Option<Message>>,
    has_after: bool,
    flushed: bool,
    via_sender: bool,
    closed_after_close: bool,
    cause: Option<CloseCause>,
}

/// The rest of `blocking::WebSocket`: `protocol`, `count_messages`, `has_messages`,
/// `read`, `flush`, `sender`, `close`, `is_closed`, `close_cause`. The test makes sure
/// three messages are queued before the view looks (a pong to a ping sent after them
/// proves the server read them), so the counts are exact.
#[tokio::test]
async fn the_rest_of_the_blocking_websocket_api() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let (report_tx, mut report) = mpsc::unbounded_channel::<ViewReport>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let go_rx = Mutex::new(go_rx);
    let view = blocking::Pool::new(1)
        .view(move |_req: Request, ws: &mut blocking::WebSocket| {
            let mut r = ViewReport::default();
            if ws.accept().is_err() {
                return Response::empty();
            }
            r.protocol = ws.protocol().map(str::to_owned);
            let go = go_rx.lock().unwrap_or_else(|e| e.into_inner());
            if go.recv_timeout(LIMIT).is_err() {
                return Response::empty(); // the test reports the missing report
            }
            r.count = ws.count_messages();
            r.has = ws.has_messages();
            r.read = (0..4).map(|_| ws.read()).collect();
            r.has_after = ws.has_messages();
            r.flushed = ws.send("direct").is_ok() && ws.flush().is_ok();
            r.via_sender = ws
                .sender()
                .is_some_and(|s| s.try_send("via sender").is_ok());
            // The sender's queue is not ordered with close: close once the client has it.
            r.via_sender &= ws.wait().is_some_and(|m| m == "got both");
            let _ = ws.close(CloseCode::from(4000), "bye");
            r.closed_after_close = ws.is_closed();
            while ws.wait().is_some() {}
            r.cause = ws.close_cause();
            let _ = report_tx.send(r);
            Response::empty()
        })
        .protocols(["chat"]);
    let server = support::start(App::new().route("/b", view)).await;
    let mut req = server.url("/b").into_client_request().expect("request");
    req.headers_mut()
        .insert("sec-websocket-protocol", "chat".parse().expect("header"));
    let (mut ws, _) = within(tokio_tungstenite::connect_async(req))
        .await
        .expect("handshake");
    for text in ["a", "b", "c"] {
        within(ws.feed(WsMessage::text(text))).await.expect("feed");
    }
    within(ws.feed(WsMessage::Ping("queued?".into())))
        .await
        .expect("ping");
    within(ws.flush()).await.expect("flush");
    match within(futures_util::StreamExt::next(&mut ws)).await {
        Some(Ok(WsMessage::Pong(p))) => assert_eq!(&p[..], b"queued?"),
        other => panic!("expected the pong, got {other:?}"),
    }
    go_tx.send(()).expect("the view waits for the go");
    expect_text(&mut ws, "direct").await;
    expect_text(&mut ws, "via sender").await;
    send_text(&mut ws, "got both").await;
    assert_eq!(close_code(&mut ws).await, Some(4000));
    bye(ws).await;
    let r = within(report.recv()).await.expect("view report");
    assert_eq!(r.protocol.as_deref(), Some("chat"), "{r:?}");
    assert_eq!((r.count, r.has, r.has_after), (3, true, false), "{r:?}");
    assert_eq!(
        r.read,
        [
            Some(Message::text("a")),
            Some(Message::text("b")),
            Some(Message::text("c")),
            None
        ]
    );
    assert!(r.flushed && r.via_sender && r.closed_after_close, "{r:?}");
    assert_eq!(
        r.cause,
        Some(CloseCause::Server {
            code: CloseCode::from(4000)
        })
    );
    server.stop().await;
}

/// A blocking handler reports its `blocking::Context`: request, extensions set by
/// middleware, path parameters, address, headers, subprotocol; `flush`, `sender`,
/// `close` and `is_closed`. Reported to the test, asserted here.
struct Reporter {
    report: mpsc::UnboundedSender<String>,
}

#[derive(Clone, Debug)]
struct User(&'static str);

impl blocking::Handler for Reporter {
    fn on_open(
        &mut self,
        ctx: &mut blocking::Context,
        _first: Message,
    ) -> Result<Opened, HandlerError> {
        let req = ctx.request();
        let line = format!(
            "ns={} path={} user={:?} room={:?} params={:?} remote={:?} hdr={:?} \
             same_headers={} proto={:?} closed={}",
            ctx.namespace(),
            req.path(),
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
        ctx.send("opened")?;
        let flushed = ctx.flush().is_ok();
        let pushed = ctx.sender().is_some_and(|s| s.try_send("pushed").is_ok());
        let _ = self
            .report
            .send(format!("flushed={flushed} pushed={pushed}"));
        Ok(Opened::Consumed)
    }

    fn on_message(
        &mut self,
        ctx: &mut blocking::Context,
        _message: Message,
    ) -> Result<(), HandlerError> {
        ctx.close(CloseCode::from(4002), "done")?;
        let _ = self
            .report
            .send(format!("after close: closed={}", ctx.is_closed()));
        Ok(())
    }

    fn on_close(&mut self, _ctx: &mut blocking::Context, reason: CloseReason) {
        let _ = self.report.send(format!("on_close: {reason}"));
    }
}

#[tokio::test]
async fn the_blocking_context() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let view = Namespaces::new()
        .blocking_pool(blocking::Pool::new(1))
        .add_blocking("default", move || Reporter { report: tx.clone() })
        .view()
        .protocols(["chat"]);
    let app = App::new()
        .middleware(|mut req: Request, next: Next| {
            req.extensions_mut().insert(User("bob"));
            next.run(req)
        })
        .route("/b/{room}/{namespace}", view);
    let server = support::start(app).await;
    let mut req = server
        .url("/b/r1/default")
        .into_client_request()
        .expect("request");
    let h = req.headers_mut();
    h.insert("x-client", "test-suite".parse().expect("header"));
    h.insert("sec-websocket-protocol", "chat".parse().expect("header"));
    let (mut ws, _) = within(tokio_tungstenite::connect_async(req))
        .await
        .expect("handshake");
    let local = match ws.get_ref() {
        tokio_tungstenite::MaybeTlsStream::Plain(tcp) => tcp.local_addr().expect("addr"),
        _ => unreachable!("plain TCP"),
    };
    send_text(&mut ws, "hi").await;
    expect_text(&mut ws, "opened").await;
    expect_text(&mut ws, "pushed").await;
    assert_eq!(
        within(rx.recv()).await.expect("report"),
        format!(
            "ns=default path=/b/r1/default user=Some(\"bob\") room=Some(\"r1\") \
             params=[(\"room\", \"r1\"), (\"namespace\", \"default\")] remote=Some({local:?}) \
             hdr=Some(\"test-suite\") same_headers=true proto=Some(\"chat\") closed=false"
        )
    );
    assert_eq!(
        within(rx.recv()).await.as_deref(),
        Some("flushed=true pushed=true")
    );
    send_text(&mut ws, "close please").await;
    assert_eq!(close_code(&mut ws).await, Some(4002));
    bye(ws).await;
    assert_eq!(
        within(rx.recv()).await.as_deref(),
        Some("after close: closed=true")
    );
    assert_eq!(
        within(rx.recv()).await.as_deref(),
        Some("on_close: this side closed (4002)")
    );
    server.stop().await;
}

/// The pool's documented sizes: at least one worker, and a global pool of
/// `DEFAULT_WORKERS` = 16 shared by every handle to it.
#[test]
fn pool_sizes() {
    assert_eq!(blocking::DEFAULT_WORKERS, 16);
    let global = blocking::Pool::global();
    assert_eq!(global.size(), blocking::DEFAULT_WORKERS);
    assert_eq!(blocking::Pool::global().available(), global.available());
    let zero = blocking::Pool::new(0);
    assert_eq!(
        (zero.size(), zero.available()),
        (1, 1),
        "at least one worker"
    );
    let three = blocking::Pool::new(3);
    assert_eq!((three.size(), three.available()), (3, 3));
}
