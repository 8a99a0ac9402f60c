//! TLS (feature `tls`): the echo example served over `https://` and `wss://` with a
//! certificate this test makes, to Python's `websockets`, to an HTTP/2 client (ALPN
//! `h2`, WebSockets by extended CONNECT), to HTTP/1.1, and to headless Chromium; bad
//! certificates and keys refused with their path; failed handshakes harmless.
#![cfg(feature = "tls")]

mod support;

#[path = "support/h2.rs"]
mod h2;
#[path = "support/tls.rs"]
mod testcert;

#[path = "../examples/echo.rs"]
#[allow(dead_code)]
mod echo;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use support::{require_browser, run_script, start, within, LIMIT};
use testcert::TestCert;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsview::{App, BoxFuture, Middleware, Next, Request, Response, Settings, TlsErrorKind};

/// What each request looked like to the views: its version, whether it was a
/// WebSocket, whether it came over TLS.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(http::Version, bool, bool)>>>);

impl Middleware for Seen {
    fn call(&self, req: Request, next: Next) -> BoxFuture<'static, Response> {
        if let Ok(mut seen) = self.0.lock() {
            seen.push((req.version(), req.is_websocket(), req.is_secure()));
        }
        next.run(req)
    }
}

impl Seen {
    fn take(&self) -> Vec<(http::Version, bool, bool)> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }
}

fn echo_app(cert: &TestCert, seen: &Seen) -> App {
    echo::app(Settings::default())
        .middleware(seen.clone())
        .tls(cert.config())
}

#[test]
fn bad_certificate_or_key_is_refused_with_its_path() {
    let good = TestCert::new();
    let other = TestCert::new();
    let dir = tempfile::tempdir().expect("temporary directory");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not a certificate\n").expect("write");
    let missing = dir.path().join("missing-key.pem");

    let err = wsview::TlsConfig::from_pem_files(&garbage, &good.key_path).unwrap_err();
    assert_eq!(err.kind(), TlsErrorKind::Certificate);
    assert_eq!(err.path(), Some(garbage.as_path()));
    assert!(
        err.to_string().contains(&*garbage.to_string_lossy()),
        "{err}"
    );

    // A certificate where the key should be: no key in it.
    let err = wsview::TlsConfig::from_pem_files(&good.cert_path, &good.cert_path).unwrap_err();
    assert_eq!(err.kind(), TlsErrorKind::Key);
    assert_eq!(err.path(), Some(good.cert_path.as_path()));
    assert!(err.to_string().contains("no private key"), "{err}");

    let err = wsview::TlsConfig::from_pem_files(&good.cert_path, &missing).unwrap_err();
    assert_eq!(err.kind(), TlsErrorKind::Io);
    assert_eq!(err.path(), Some(missing.as_path()));
    let io: std::io::Error = err.into();
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    assert!(io.to_string().contains(&*missing.to_string_lossy()), "{io}");

    // A key that belongs to another certificate.
    let err = wsview::TlsConfig::from_pem_files(&good.cert_path, &other.key_path).unwrap_err();
    assert_eq!(err.kind(), TlsErrorKind::Rejected);
    let text = err.to_string();
    assert!(text.contains(&*other.key_path.to_string_lossy()), "{text}");

    // From memory: the same checks, and a good pair loads.
    let err = wsview::TlsConfig::from_pem(good.cert_pem.as_bytes(), b"").unwrap_err();
    assert_eq!((err.kind(), err.path()), (TlsErrorKind::Key, None));
    assert!(wsview::TlsConfig::from_pem(good.cert_pem.as_bytes(), good.key_pem.as_bytes()).is_ok());
}

#[tokio::test]
async fn python_websockets_over_wss() {
    let cert = TestCert::new();
    let seen = Seen::default();
    let srv = start(echo_app(&cert, &seen)).await;
    let url = format!("wss://127.0.0.1:{}", srv.addr.port());
    run_script(
        "interop.py",
        [url.as_ref(), cert.cert_path.as_os_str()],
        LIMIT,
    )
    .await;
    let seen = seen.take();
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|&(_, _, secure)| secure),
        "every request came over TLS: {seen:?}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn http2_over_tls_two_websockets_and_http1_alike() {
    let cert = TestCert::new();
    let seen = Seen::default();
    let srv = start(echo_app(&cert, &seen)).await;
    let authority = format!("localhost:{}", srv.addr.port());

    let tls = cert.connect(srv.addr, &[b"h2", b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut send = h2::handshake(tls).await;
    let (version, status2, ctype2, body2) =
        h2::get(&mut send, &authority, "/lower?message=HeLLo").await;
    assert_eq!(
        (version, status2, body2.as_str()),
        (http::Version::HTTP_2, 200, "hello")
    );

    // The same request over HTTP/1.1 (ALPN http/1.1) answers alike.
    let mut tls = cert.connect(srv.addr, &[b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let request = format!(
        "GET /lower?message=HeLLo HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    );
    tls.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    // rustls reports a peer that closes without close_notify as an error: the bytes
    // read before it are the reply.
    let _ = within(tls.read_to_end(&mut raw)).await;
    let raw = String::from_utf8_lossy(&raw);
    let (status1, body1) = support::parse_reply(&raw);
    assert_eq!((status1, body1.as_str()), (status2, body2.as_str()));
    let ctype1 = raw
        .lines()
        .find_map(|l| l.strip_prefix("content-type: ").map(str::to_owned));
    assert_eq!(ctype1, ctype2);

    // Two WebSockets on the one HTTP/2 connection.
    let (mut all, _) = within(h2::websocket(&mut send, &authority, "/", &[]))
        .await
        .expect("websocket on /");
    let (mut lower, _) = within(h2::websocket(&mut send, &authority, "/lower", &[]))
        .await
        .expect("websocket on /lower");
    for i in 0..3 {
        h2::send(&mut lower, &format!("LOUD {i}")).await;
        h2::send(&mut all, &format!("same {i}")).await;
        assert_eq!(h2::next_text(&mut all).await, Some(format!("same {i}")));
        assert_eq!(h2::next_text(&mut lower).await, Some(format!("loud {i}")));
    }
    // The default origin check compares with this server's own origin, which is https:
    // a page served over plain http from the same host is another origin.
    let http_page = format!("http://{authority}");
    let refused = within(h2::websocket(
        &mut send,
        &authority,
        "/",
        &[("origin", &http_page)],
    ))
    .await;
    assert_eq!(refused.err().map(|e| e.0), Some(403));
    let https_page = format!("https://{authority}");
    let (mut same, _) = within(h2::websocket(
        &mut send,
        &authority,
        "/",
        &[("origin", &https_page)],
    ))
    .await
    .expect("the https page's own origin is allowed");
    h2::send(&mut same, "same origin").await;
    assert_eq!(
        h2::next_text(&mut same).await.as_deref(),
        Some("same origin")
    );
    let seen = seen.take();
    let h2_websockets = seen
        .iter()
        .filter(|&&(v, ws, secure)| v == http::Version::HTTP_2 && ws && secure)
        .count();
    assert_eq!(h2_websockets, 3, "{seen:?}");
    let ((), a, b, c) = tokio::join!(
        srv.stop(),
        h2::close_code(&mut all),
        h2::close_code(&mut lower),
        h2::close_code(&mut same)
    );
    assert_eq!((a, b, c), (Some(1001), Some(1001), Some(1001)));
}

#[tokio::test]
async fn a_failed_or_slow_handshake_disturbs_no_one() {
    let cert = TestCert::new();
    let seen = Seen::default();
    let app = echo::app(Settings::default())
        .middleware(seen.clone())
        .tls(cert.config().handshake_timeout(Duration::from_millis(300)));
    let srv = start(app).await;
    let url = format!("wss://localhost:{}/", srv.addr.port());

    let tls = cert.connect(srv.addr, &[b"http/1.1"]).await;
    let (mut ws, resp) = within(tokio_tungstenite::client_async(url.as_str(), tls))
        .await
        .expect("wss handshake");
    assert_eq!(resp.status(), 101);

    // Plain HTTP to the TLS port: the handshake fails and that connection is closed.
    let mut plain = TcpStream::connect(srv.addr).await.expect("connect");
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut sink = Vec::new();
    let _ = within(plain.read_to_end(&mut sink)).await;
    assert!(!String::from_utf8_lossy(&sink).contains("HTTP/1.1 200"));

    // A client that connects and says nothing is dropped at the handshake timeout.
    let mut silent = TcpStream::connect(srv.addr).await.expect("connect");
    let n = within(silent.read(&mut [0u8; 64])).await.unwrap_or(0);
    assert_eq!(n, 0, "the server closes a silent connection");

    // Meanwhile the open WebSocket echoes, and new clients connect.
    within(ws.send(WsMessage::text("still here")))
        .await
        .expect("send");
    let echoed = within(ws.next()).await.expect("a reply").expect("no error");
    assert_eq!(echoed, WsMessage::text("still here"));
    let tls = cert.connect(srv.addr, &[b"http/1.1"]).await;
    let (mut again, _) = within(tokio_tungstenite::client_async(url.as_str(), tls))
        .await
        .expect("a new wss handshake");
    within(again.send(WsMessage::text("new")))
        .await
        .expect("send");
    let echoed = within(again.next())
        .await
        .expect("a reply")
        .expect("no error");
    assert_eq!(echoed, WsMessage::text("new"));
    let ((), _, _) = tokio::join!(srv.stop(), drain(&mut ws), drain(&mut again));
}

async fn drain<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(Ok(_)) = within(ws.next()).await {}
}

#[tokio::test]
async fn chromium_loads_the_https_page_and_echoes_over_wss() {
    require_browser();
    let cert = TestCert::new();
    let seen = Seen::default();
    let srv = start(echo_app(&cert, &seen)).await;
    let url = format!("https://127.0.0.1:{}", srv.addr.port());
    run_script("browser.py", [url, cert.spki_sha256.clone()], LIMIT).await;
    let seen = seen.take();
    assert!(seen.iter().all(|&(_, _, secure)| secure), "{seen:?}");
    // Chromium loads the page over HTTP/2 (ALPN) and opens its WebSockets on that
    // connection with an extended CONNECT (RFC 8441).
    assert!(
        seen.iter()
            .any(|&(v, ws, _)| ws && v == http::Version::HTTP_2),
        "{seen:?}"
    );
    srv.stop().await;
}
