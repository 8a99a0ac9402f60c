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
    let line = logs
        .text()
        .lines()
        .find(|l| l.contains("view got a message"))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("the view's line is missing: {}", logs.text()));
    assert!(line.contains("websocket{id="), "{line}");
    assert!(line.contains("path=/chat/lobby"), "{line}");
    assert!(line.contains("peer=127.0.0.1:"), "{line}");
    assert!(line.contains("got=hello"), "{line}");
}
