//! Serving: `Server::run`, and shutdown as the guide documents it — stops accepting,
//! lets HTTP requests in flight finish, closes WebSockets with 1001, waits for views to
//! return, and gives up on what is still running after `close_timeout`.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsview::{accept_websocket, require_websocket, App, Request, Response, Settings};

use support::{close_code, next_data, parse_reply, within};

/// A view that holds until the test releases it, saying when it started.
#[derive(Clone)]
struct Held {
    started: mpsc::UnboundedSender<()>,
    release: Arc<Mutex<Option<oneshot::Receiver<()>>>>,
}

impl Held {
    fn new() -> (Held, mpsc::UnboundedReceiver<()>, oneshot::Sender<()>) {
        let (started, started_rx) = mpsc::unbounded_channel();
        let (release_tx, release_rx) = oneshot::channel();
        let held = Held {
            started,
            release: Arc::new(Mutex::new(Some(release_rx))),
        };
        (held, started_rx, release_tx)
    }

    async fn hold(&self) {
        let release = self
            .release
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let _ = self.started.send(());
        if let Some(release) = release {
            let _ = release.await;
        }
    }
}

async fn echo(mut req: Request) -> Response {
    match req.websocket() {
        None => Response::text("plain"),
        Some(ws) => {
            while let Some(m) = ws.wait().await {
                let _ = ws.send(m).await;
            }
            Response::empty()
        }
    }
}

/// `Server::run` serves HTTP and WebSockets until its future is dropped; then the
/// port no longer accepts.
#[tokio::test]
async fn server_run_serves_until_dropped() {
    let server = App::new()
        .route("/", accept_websocket(echo))
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = server.local_addr();
    assert_eq!(addr.ip(), std::net::Ipv4Addr::LOCALHOST);
    assert_ne!(addr.port(), 0, "local_addr tells the port chosen");
    assert_eq!(server.service().open_websockets(), 0);
    let running = tokio::spawn(server.run());

    let mut tcp = within(TcpStream::connect(addr)).await.expect("connect");
    within(tcp.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))
        .await
        .expect("write");
    let mut reply = String::new();
    within(tcp.read_to_string(&mut reply)).await.expect("read");
    assert_eq!(parse_reply(&reply), (200, "plain".to_owned()));

    let (mut ws, _) = within(tokio_tungstenite::connect_async(format!("ws://{addr}/")))
        .await
        .expect("handshake");
    support::send_text(&mut ws, "via run").await;
    assert_eq!(next_data(&mut ws).await, Some(WsMessage::text("via run")));
    within(ws.close(None)).await.expect("close");
    drop(ws);

    running.abort();
    let ended = within(running).await;
    assert!(
        ended.as_ref().is_err_and(|e| e.is_cancelled()),
        "run() serves until stopped from outside: {ended:?}"
    );
    let refused = TcpStream::connect(addr).await;
    assert_eq!(
        refused.map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::ConnectionRefused)
    );
}

/// Shutdown in order: the signal stops the accept loop (new connections are refused
/// while shutdown goes on), an HTTP request in flight still gets its whole answer,
/// open WebSockets get 1001, and `run_until` returns only after their views have.
#[tokio::test]
async fn shutdown_stops_accepting_lets_http_finish_and_waits_for_views() {
    let (slow, mut slow_started, release_slow) = Held::new();
    let (ws_hold, _, release_ws_view) = Held::new();
    let log = Arc::new(Mutex::new(Vec::<&'static str>::new()));
    let view_log = log.clone();
    let app = App::new()
        .route("/slow", move |_req: Request| {
            let slow = slow.clone();
            async move {
                slow.hold().await;
                Response::text("slow done")
            }
        })
        .route(
            "/ws",
            require_websocket(move |mut req: Request| {
                let (hold, log) = (ws_hold.clone(), view_log.clone());
                async move {
                    let ws = req.websocket().expect("websocket");
                    let _ = ws.send("ready").await;
                    while ws.wait().await.is_some() {}
                    hold.hold().await; // the view returns only when the test says so
                    log.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push("view returned");
                    Response::empty()
                }
            }),
        );
    let server = app.bind("127.0.0.1:0").await.expect("bind");
    let addr = server.local_addr();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let run_log = log.clone();
    let running = tokio::spawn(async move {
        let result = server
            .run_until(async {
                let _ = stop_rx.await;
            })
            .await;
        run_log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push("run_until returned");
        result
    });

    let (mut ws, _) = within(tokio_tungstenite::connect_async(format!("ws://{addr}/ws")))
        .await
        .expect("handshake");
    assert_eq!(next_data(&mut ws).await, Some(WsMessage::text("ready")));
    let mut http = within(TcpStream::connect(addr)).await.expect("connect");
    within(http.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))
        .await
        .expect("write");
    within(slow_started.recv())
        .await
        .expect("the HTTP view started");

    stop_tx.send(()).expect("stop");
    // The 1001 is sent after the accept loop has ended and the listener is closed.
    assert_eq!(close_code(&mut ws).await, Some(1001));
    let refused = TcpStream::connect(addr).await;
    assert_eq!(
        refused.map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::ConnectionRefused),
        "no new connection once shutdown has begun"
    );

    release_slow.send(()).expect("release the HTTP view");
    let mut reply = String::new();
    within(http.read_to_string(&mut reply)).await.expect("read");
    assert_eq!(
        parse_reply(&reply),
        (200, "slow done".to_owned()),
        "{reply}"
    );

    while let Some(Ok(_)) = within(ws.next()).await {} // our close reply; the server hangs up
    release_ws_view
        .send(())
        .expect("release the WebSocket view");
    within(running)
        .await
        .expect("join")
        .expect("run_until result");
    assert_eq!(
        *log.lock().unwrap_or_else(|e| e.into_inner()),
        ["view returned", "run_until returned"],
        "shutdown waits for the WebSocket view to return"
    );
}

/// What does not end by itself is given `close_timeout`, then dropped: a WebSocket
/// view that never returns and an HTTP view that never answers hold shutdown for that
/// long and no longer.
#[tokio::test]
async fn shutdown_gives_up_after_close_timeout() {
    const TIMEOUT: Duration = Duration::from_millis(300);
    let (stuck_http, mut http_started, _never) = Held::new();
    let mut settings = Settings::default();
    settings.close_timeout = TIMEOUT;
    let app = App::new()
        .settings(settings)
        .route("/stuck", move |_req: Request| {
            let stuck = stuck_http.clone();
            async move {
                stuck.hold().await;
                Response::text("never")
            }
        })
        .route(
            "/ws",
            require_websocket(|mut req: Request| async move {
                let ws = req.websocket().expect("websocket");
                let _ = ws.send("ready").await;
                std::future::pending::<()>().await; // never returns, never reads
                Response::empty()
            }),
        );
    let server = app.bind("127.0.0.1:0").await.expect("bind");
    let addr = server.local_addr();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let running = tokio::spawn(server.run_until(async {
        let _ = stop_rx.await;
    }));
    let (mut ws, _) = within(tokio_tungstenite::connect_async(format!("ws://{addr}/ws")))
        .await
        .expect("handshake");
    assert_eq!(next_data(&mut ws).await, Some(WsMessage::text("ready")));
    let mut http = within(TcpStream::connect(addr)).await.expect("connect");
    within(http.write_all(b"GET /stuck HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))
        .await
        .expect("write");
    within(http_started.recv())
        .await
        .expect("the HTTP view started");

    let stopped_at = Instant::now();
    stop_tx.send(()).expect("stop");
    assert_eq!(close_code(&mut ws).await, Some(1001));
    within(running)
        .await
        .expect("join")
        .expect("run_until result");
    let took = stopped_at.elapsed();
    assert!(
        took >= TIMEOUT && took < TIMEOUT + Duration::from_secs(5),
        "shutdown waited close_timeout for the stuck views, and no longer: {took:?}"
    );
    // The stuck WebSocket view was dropped with its connection.
    while let Some(Ok(_)) = within(ws.next()).await {}
    drop(http);
}
