//! Shared helpers for the integration tests: a real server on 127.0.0.1 with an
//! ephemeral port, a real WebSocket client (tokio-tungstenite), and raw TCP for requests
//! no well-behaved client would send.
#![allow(dead_code)] // each test binary uses a different part

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// An HTTP answer to a refused handshake, as tokio-tungstenite's client reports it.
pub type Refusal = tokio_tungstenite::tungstenite::http::Response<Option<Vec<u8>>>;

/// An upper bound for anything a test awaits, so a bug fails a test instead of hanging
/// CI. Never a way to wait for a condition: every wait below is on an event.
pub const LIMIT: Duration = Duration::from_secs(20);

pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

pub async fn start(app: wsview::App) -> TestServer {
    let server = app.bind("127.0.0.1:0").await.expect("bind");
    let addr = server.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));
    TestServer {
        addr,
        stop: Some(stop),
        handle: Some(handle),
    }
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Opens a WebSocket with tokio-tungstenite's client.
    pub async fn connect(&self, path: &str) -> Client {
        let (ws, resp) = within(tokio_tungstenite::connect_async(self.url(path)))
            .await
            .expect("websocket handshake");
        assert_eq!(resp.status(), 101);
        ws
    }

    /// Tries a WebSocket handshake and returns the HTTP error status if refused.
    pub async fn connect_err(&self, path: &str) -> (u16, String) {
        let resp = self.refusal(path).await;
        (resp.status().as_u16(), body_text(&resp))
    }

    /// Tries a WebSocket handshake that must be refused; returns the whole refusal
    /// (its body as text with [`body_text`]).
    pub async fn refusal(&self, path: &str) -> Refusal {
        match within(tokio_tungstenite::connect_async(self.url(path))).await {
            Ok(_) => panic!("expected the handshake to {path} to be refused"),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => *resp,
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    /// Sends raw bytes and reads until the server closes or `Connection: close` ends
    /// the response. Returns the whole reply.
    pub async fn raw(&self, request: &[u8]) -> String {
        let mut tcp = TcpStream::connect(self.addr).await.expect("connect");
        tcp.write_all(request).await.expect("write");
        let mut out = Vec::new();
        within(tcp.read_to_end(&mut out)).await.expect("read");
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Sends raw bytes and reads only the reply's status line and headers (a 101 leaves
    /// the connection open). Returns the head, any bytes read past it, and the stream.
    pub async fn raw_head(&self, request: &[u8]) -> (String, Vec<u8>, TcpStream) {
        let mut tcp = TcpStream::connect(self.addr).await.expect("connect");
        tcp.write_all(request).await.expect("write");
        let (head, rest) = read_head(&mut tcp).await;
        (head, rest, tcp)
    }

    /// A plain `GET` with `Connection: close`; returns (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let reply = self.raw(req.as_bytes()).await;
        parse_reply(&reply)
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            within(handle)
                .await
                .expect("server task")
                .expect("server result");
        }
    }
}

/// Reads a response's status line and headers from `tcp` (all there is, if it closes
/// first). Returns the head and any bytes read past it.
pub async fn read_head(tcp: &mut TcpStream) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = within(tcp.read(&mut buf)).await.expect("read");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let end = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(got.len(), |p| p + 4);
    let rest = got.split_off(end);
    (String::from_utf8_lossy(&got).into_owned(), rest)
}

/// A refusal's body as text (empty when it had none).
pub fn body_text(resp: &Refusal) -> String {
    resp.body()
        .as_deref()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// Status and body of a raw HTTP/1.1 reply.
pub fn parse_reply(reply: &str) -> (u16, String) {
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Awaits `fut`, failing the test if it takes longer than [`LIMIT`].
pub async fn within<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(LIMIT, fut)
        .await
        .expect("timed out: the awaited event never came")
}

/// The next data message, skipping pings and pongs; `None` on close.
pub async fn next_data(ws: &mut Client) -> Option<WsMessage> {
    loop {
        match within(ws.next()).await {
            Some(Ok(m @ (WsMessage::Text(_) | WsMessage::Binary(_)))) => return Some(m),
            Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

/// Reads until the server's close frame and returns its code.
pub async fn close_code(ws: &mut Client) -> Option<u16> {
    loop {
        match within(ws.next()).await {
            Some(Ok(WsMessage::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            None | Some(Err(_)) => return None,
        }
    }
}

pub async fn send_text(ws: &mut Client, text: &str) {
    within(ws.send(WsMessage::text(text)))
        .await
        .expect("client send");
}

/// A raw upgrade request with the given extra header lines.
pub fn upgrade_request(path: &str, extra: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// The Python that runs the scripts in `tests/python`: `WSVIEW_PYTHON`, or the venv
/// `scripts/test` makes (with `websockets` and `selenium`).
pub fn python() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("WSVIEW_PYTHON") {
        return p.into();
    }
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no Python venv at {}: run scripts/test (it creates it) or set WSVIEW_PYTHON",
        venv.display()
    );
    venv
}

/// Fails the test at once, saying how to get them, unless Debian's headless Chromium and
/// its driver are installed.
pub fn require_browser() {
    for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(
            std::path::Path::new(tool).exists(),
            "{tool} is missing: run scripts/test (it installs chromium and chromium-driver)"
        );
    }
}

/// Runs `tests/python/{name}` with `args` and returns its stdout; fails the test, with
/// both outputs, unless it exits 0 having printed "all checks passed" within `limit`
/// (the script is killed if the limit passes).
pub async fn run_script<I, S>(name: &str, args: I, limit: Duration) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name);
    let out = tokio::time::timeout(
        limit,
        tokio::process::Command::new(python())
            .arg(script)
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{name} did not finish within {limit:?}"))
    .unwrap_or_else(|e| panic!("could not run {name}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("all checks passed"),
        "{name} failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    stdout
}
