//! A first run that talks: the server logs where it serves and when it stops, a bind
//! error names the address and the cause, and what a WebSocket view logs carries the
//! connection's span (id, path, peer).

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;
use wsview::prelude::*;
use wsview::test::TestClient;

/// Collects formatted log lines for the test that installed it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// The first captured line containing `needle`; fails the test if there is none.
    fn line_with(&self, needle: &str) -> String {
        let text = self.text();
        text.lines()
            .find(|l| l.contains(needle))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no line with {needle:?} in: {text}"))
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// A subscriber for the current thread (the tests run on a current-thread runtime, so
/// every task they spawn logs through it).
fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let out = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(out.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    (out, tracing::subscriber::set_default(subscriber))
}

async fn chatty(mut req: Request) -> Response {
    let ws = req.websocket().expect("require_websocket");
    if let Some(msg) = ws.wait().await {
        tracing::info!(got = %msg.as_text().unwrap_or_default(), "view got a message");
        let _ = ws.send(msg).await;
    }
    Response::empty()
}

#[tokio::test]
async fn a_bind_error_names_the_address_and_the_cause() {
    let (logs, _guard) = capture();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = App::new().bind(addr).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("could not listen on {addr}: ")),
        "{text}"
    );
    assert!(logs.text().contains(&text), "not logged: {}", logs.text());
}

#[tokio::test]
async fn an_unresolvable_address_is_named_too() {
    let err = App::new()
        .bind("no-such-host.invalid:80")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("\"no-such-host.invalid:80\""),
        "{err}"
    );
}

#[tokio::test]
async fn serving_logs_its_address_and_its_stop() {
    let (logs, _guard) = capture();
    let server = App::new().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    server.run_until(async {}).await.unwrap();
    let text = logs.text();
    assert!(
        text.contains(&format!("wsview serving on http://{addr}")),
        "{text}"
    );
    assert!(text.contains("stopped"), "{text}");
}

#[tokio::test]
async fn a_view_logs_inside_its_connection_span() {
    let (logs, _guard) = capture();
    let client =
        TestClient::new(App::new().route("/chat/{room}", require_websocket(chatty))).unwrap();
    let mut ws = client.connect("/chat/lobby").await.unwrap();
    ws.send("hello").await.unwrap();
    assert_eq!(ws.recv_text().await.unwrap(), "hello");
    ws.closed().await.unwrap();
    let line = logs.line_with("view got a message");
    assert!(line.contains("websocket{id="), "{line}");
    assert!(line.contains("path=/chat/lobby"), "{line}");
    assert!(line.contains("peer=127.0.0.1:"), "{line}");
    assert!(line.contains("got=hello"), "{line}");
}

/// Over a real server, a WebSocket's span is a root naming the peer itself: not a child
/// of the HTTP connection's `http{peer}` span, which would otherwise stay alive (with
/// its formatted fields) for the WebSocket's whole life. Both ways a WebSocket is
/// served: straight from a connection's first request (the server's own path, no
/// `http` span at all), and after a plain request on the same connection (hyper's
/// upgrade, inside an `http` span).
#[tokio::test]
async fn a_websocket_span_over_a_real_server_is_a_root() {
    let (line, _) = websocket_view_line_with(false).await;
    assert!(line.contains("websocket{id="), "{line}");
    assert!(line.contains("peer=127.0.0.1:"), "{line}");
    assert!(!line.contains("http{"), "{line}");
}

#[tokio::test]
async fn a_websocket_span_is_a_root_after_a_plain_request_too() {
    let (line, http) = websocket_view_line_with(true).await;
    assert!(http.contains("http{peer=127.0.0.1:"), "{http}");
    assert!(line.contains("websocket{id="), "{line}");
    assert!(line.contains("peer=127.0.0.1:"), "{line}");
    assert!(!line.contains("http{"), "{line}");
}

/// Serves one WebSocket (echoing one message) to a real client, opened after a plain
/// request on the same connection if asked; returns the view's log line, and the plain
/// view's (empty when there was none).
async fn websocket_view_line_with(after_plain_request: bool) -> (String, String) {
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    async fn plain(_req: Request) -> &'static str {
        tracing::info!("plain view ran");
        "plain"
    }
    let (logs, _guard) = capture();
    let server = App::new()
        .route("/chat/{room}", require_websocket(chatty))
        .route("/plain", plain)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run_until(async {
        let _ = stop_rx.await;
    }));
    let url = format!("ws://{addr}/chat/lobby");
    let limit = std::time::Duration::from_secs(10);
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    if after_plain_request {
        tcp.write_all(b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        // The whole response (it ends with its 5-byte body), the connection kept.
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        while !got.ends_with(b"plain") {
            let n = tokio::time::timeout(limit, tcp.read(&mut buf))
                .await
                .expect("in time")
                .unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
    }
    let (mut ws, _) = tokio::time::timeout(limit, tokio_tungstenite::client_async(url, tcp))
        .await
        .expect("in time")
        .expect("connect");
    ws.send(tokio_tungstenite::tungstenite::Message::text("hello"))
        .await
        .unwrap();
    let echo = tokio::time::timeout(limit, ws.next())
        .await
        .expect("in time");
    assert_eq!(
        echo.unwrap().unwrap(),
        tokio_tungstenite::tungstenite::Message::text("hello")
    );
    // Close from the client and read to the end, so stopping has no socket to wait for.
    ws.close(None).await.unwrap();
    while let Some(Ok(_)) = tokio::time::timeout(limit, ws.next())
        .await
        .expect("closed in time")
    {}
    let _ = stop_tx.send(());
    tokio::time::timeout(limit, serving)
        .await
        .expect("stops in time")
        .unwrap()
        .unwrap();
    let http = if after_plain_request {
        logs.line_with("plain view ran")
    } else {
        String::new()
    };
    (logs.line_with("view got a message"), http)
}
