//! HTTP/2 on the plain-TCP listener (h2c with prior knowledge): every view answers as
//! over HTTP/1.1, and WebSockets open with an extended CONNECT (RFC 8441), several on
//! one connection, with the same views, lazy accept, limits and close semantics.

mod support;

#[path = "support/h2.rs"]
mod h2;

use support::{start, within};
use tokio::net::TcpStream;
use wsview::{accept_websocket, require_websocket, App, Request, Response, Settings};

async fn echo(mut req: Request) -> Response {
    let head = format!(
        "{:?} {} {}",
        req.version(),
        req.scheme(),
        req.header("host").unwrap_or("-")
    );
    match req.websocket() {
        None => Response::text(head),
        Some(ws) => {
            while let Some(msg) = ws.wait().await {
                if msg.as_text() == Some("head") {
                    let _ = ws.send(head.clone()).await;
                } else if ws.send(msg).await.is_err() {
                    break;
                }
            }
            Response::empty()
        }
    }
}

async fn lower(mut req: Request) -> Response {
    match req.websocket() {
        None => Response::text(req.query("message").unwrap_or_default().to_lowercase()),
        Some(ws) => {
            while let Some(msg) = ws.wait().await {
                let lower = msg.as_text().unwrap_or_default().to_lowercase();
                if ws.send(lower).await.is_err() {
                    break;
                }
            }
            Response::empty()
        }
    }
}

async fn once(mut req: Request) -> Response {
    let ws = req.websocket().expect("require_websocket");
    if let Some(msg) = ws.wait().await {
        let _ = ws.send(msg).await;
    }
    Response::empty()
}

/// Refuses before accepting: the view's response answers the CONNECT.
async fn refuse(_req: Request) -> Response {
    Response::text("no entry").with_status(403)
}

fn app() -> App {
    App::new()
        .settings(Settings::default().max_message_size(1024))
        .route("/", accept_websocket(echo))
        .route("/lower", accept_websocket(lower))
        .route("/once", require_websocket(once))
        .route("/refuse", accept_websocket(refuse))
}

#[tokio::test]
async fn two_websockets_share_one_connection() {
    let srv = start(app()).await;
    let authority = srv.addr.to_string();
    let tcp = TcpStream::connect(srv.addr).await.expect("connect");
    let mut send = h2::handshake(tcp).await;
    let (mut a, _) = within(h2::websocket(&mut send, &authority, "/", &[]))
        .await
        .expect("first websocket");
    let (mut b, _) = within(h2::websocket(&mut send, &authority, "/lower", &[]))
        .await
        .expect("second websocket");
    for i in 0..3 {
        h2::send(&mut a, &format!("A{i}")).await;
        h2::send(&mut b, &format!("B{i}")).await;
        assert_eq!(
            h2::next_text(&mut b).await.as_deref(),
            Some(format!("b{i}").as_str())
        );
        assert_eq!(
            h2::next_text(&mut a).await.as_deref(),
            Some(format!("A{i}").as_str())
        );
    }
    h2::send(&mut a, "head").await;
    assert_eq!(
        h2::next_text(&mut a).await,
        Some(format!("HTTP/2.0 http {authority}"))
    );
    // Closing one leaves the other, and the connection, working.
    let bye = tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: 1000.into(),
        reason: "bye".into(),
    };
    within(futures_util::SinkExt::send(
        &mut a,
        tokio_tungstenite::tungstenite::Message::Close(Some(bye)),
    ))
    .await
    .expect("send a close");
    assert_eq!(h2::close_code(&mut a).await, Some(1000));
    h2::send(&mut b, "STILL").await;
    assert_eq!(h2::next_text(&mut b).await.as_deref(), Some("still"));
    let (_, status, _, body) = h2::get(&mut send, &authority, "/lower?message=OK").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    // Shutdown closes the remaining one with 1001 (going away), and waits for its reply.
    let ((), code) = tokio::join!(srv.stop(), h2::close_code(&mut b));
    assert_eq!(code, Some(1001));
}

#[tokio::test]
async fn http1_and_http2_answer_alike() {
    let srv = start(app()).await;
    let authority = srv.addr.to_string();
    let tcp = TcpStream::connect(srv.addr).await.expect("connect");
    let mut send = h2::handshake(tcp).await;
    for path in ["/lower?message=HeLLo", "/once", "/missing", "/refuse"] {
        let (v2, status2, ctype2, body2) = h2::get(&mut send, &authority, path).await;
        assert_eq!(v2, http::Version::HTTP_2);
        let raw = srv
            .raw(
                format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await;
        let (status1, body1) = support::parse_reply(&raw);
        assert_eq!(
            (status1, body1.as_str()),
            (status2, body2.as_str()),
            "{path}"
        );
        let ctype1 = raw
            .lines()
            .find_map(|l| l.strip_prefix("content-type: ").map(str::to_owned));
        assert_eq!(ctype1, ctype2, "{path}");
    }
    // The view sees the host over both (HTTP/2's :authority becomes `Host`).
    let (_, _, _, head) = h2::get(&mut send, &authority, "/").await;
    assert_eq!(head, format!("HTTP/2.0 http {authority}"));
    let (_, head1) = srv.get("/").await;
    assert!(head1.starts_with("HTTP/1.1 http "), "{head1}");
    srv.stop().await;
}

#[tokio::test]
async fn lazy_accept_limits_and_close_over_http2() {
    let srv = start(
        app().settings(
            Settings::default()
                .max_message_size(1024)
                .allowed_origins(["https://good.example"]),
        ),
    )
    .await;
    let authority = srv.addr.to_string();
    let tcp = TcpStream::connect(srv.addr).await.expect("connect");
    let mut send = h2::handshake(tcp).await;
    // A view that returns before using the socket answers with its own response.
    let refused = within(h2::websocket(&mut send, &authority, "/refuse", &[])).await;
    assert_eq!(refused.err(), Some((403, "no entry".to_owned())));
    // The handshake's checks apply: a refused origin, a wrong version.
    let origin = [("origin", "https://evil.example")];
    let refused = within(h2::websocket(&mut send, &authority, "/", &origin)).await;
    assert_eq!(refused.err().map(|e| e.0), Some(403));
    let version = [("sec-websocket-version", "8")];
    let refused = within(h2::websocket(&mut send, &authority, "/", &version)).await;
    assert_eq!(refused.err().map(|e| e.0), Some(426));
    // A view returning closes with 1000.
    let (mut ws, _) = within(h2::websocket(&mut send, &authority, "/once", &[]))
        .await
        .expect("websocket");
    h2::send(&mut ws, "one").await;
    assert_eq!(h2::next_text(&mut ws).await.as_deref(), Some("one"));
    assert_eq!(h2::close_code(&mut ws).await, Some(1000));
    // A message over the limit closes with 1009 (message too big).
    let (mut ws, _) = within(h2::websocket(&mut send, &authority, "/", &[]))
        .await
        .expect("websocket");
    h2::send(&mut ws, &"x".repeat(2000)).await;
    assert_eq!(h2::close_code(&mut ws).await, Some(1009));
    // The connection outlives its WebSockets.
    let (_, status, _, body) = h2::get(&mut send, &authority, "/lower?message=Fine").await;
    assert_eq!((status, body.as_str()), (200, "fine"));
    srv.stop().await;
}

/// Lets the test release the view that does not read.
#[derive(Clone, Default)]
struct Release(std::sync::Arc<tokio::sync::Notify>);

/// Accepts, then reads nothing until released: its peer's data piles up.
async fn deaf(mut req: Request) -> Response {
    let release = req.state::<Release>().cloned().expect("state");
    let ws = req.websocket().expect("require_websocket");
    let _ = ws.send("ready").await;
    release.0.notified().await;
    Response::empty()
}

#[tokio::test]
async fn a_websocket_whose_view_does_not_read_does_not_block_the_others() {
    let release = Release::default();
    // A small queue: the deaf view's connection stops reading after 4 messages, so its
    // stream's flow-control window fills.
    let settings = Settings::default()
        .max_queued_messages(4)
        .close_timeout(std::time::Duration::from_secs(20));
    let srv = start(
        App::new()
            .settings(settings)
            .state(release.clone())
            .route("/", accept_websocket(echo))
            .route("/deaf", require_websocket(deaf)),
    )
    .await;
    let authority = srv.addr.to_string();
    let tcp = TcpStream::connect(srv.addr).await.expect("connect");
    let mut send = h2::handshake(tcp).await;
    let (mut deaf_ws, _) = within(h2::websocket(&mut send, &authority, "/deaf", &[]))
        .await
        .expect("websocket on /deaf");
    assert_eq!(h2::next_text(&mut deaf_ws).await.as_deref(), Some("ready"));
    let (mut live, _) = within(h2::websocket(&mut send, &authority, "/", &[]))
        .await
        .expect("websocket on /");
    // 2.5 MiB toward the view that does not read: more than a stream's window (1 MiB)
    // and than hyper's default connection window (1 MiB, the same), less than ours.
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel();
    let flood = tokio::spawn(async move {
        let chunk = "z".repeat(64 << 10);
        for i in 0..40 {
            h2::send(&mut deaf_ws, &chunk).await;
            let _ = sent_tx.send(i);
        }
        deaf_ws
    });
    // Once more than hyper's default connection window (1 MiB) has gone out on the
    // deaf stream (17 chunks, 1.06 MiB), the other WebSocket still echoes. The deaf
    // stream admits about 20 chunks (its 1 MiB window plus the 4 messages the server
    // takes before it pauses); waiting for 21, as this did, hung when the server's
    // reads happened to take no part of a fifth.
    while let Some(i) = within(sent_rx.recv()).await {
        if i >= 16 {
            break;
        }
    }
    for i in 0..5 {
        h2::send(&mut live, &format!("live {i}")).await;
        assert_eq!(h2::next_text(&mut live).await, Some(format!("live {i}")));
    }
    release.0.notify_waiters();
    flood.abort();
    let ((), code) = tokio::join!(srv.stop(), h2::close_code(&mut live));
    assert_eq!(code, Some(1001));
}

/// `http2_max_concurrent_streams` is what the server advertises in its SETTINGS (read
/// with the h2 crate's client, which obeys it), 200 by default.
#[tokio::test]
async fn the_stream_limit_is_advertised() {
    async fn advertised(srv: &support::TestServer) -> usize {
        let tcp = TcpStream::connect(srv.addr).await.expect("connect");
        let (mut client, mut conn) = within(::h2::client::handshake(tcp))
            .await
            .expect("HTTP/2 handshake");
        let req = http::Request::get(format!("http://{}/", srv.addr))
            .body(())
            .expect("request");
        let (resp, _) = client.send_request(req, true).expect("send");
        // The server's SETTINGS come before any response.
        let resp = within(async {
            tokio::select! {
                r = resp => r.expect("response"),
                end = &mut conn => panic!("connection ended: {end:?}"),
            }
        })
        .await;
        assert_eq!(resp.status(), 200);
        conn.max_concurrent_send_streams()
    }
    let default = start(app()).await;
    assert_eq!(advertised(&default).await, 200);
    default.stop().await;
    let one = start(app().settings(Settings::default().http2_max_concurrent_streams(1))).await;
    assert_eq!(advertised(&one).await, 1);
    one.stop().await;
}

/// `http2_keep_alive_interval`: a silent HTTP/2 connection gets a PING from the server.
#[tokio::test]
async fn http2_keepalive_pings_a_silent_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let settings =
        Settings::default().http2_keep_alive_interval(Some(std::time::Duration::from_millis(100)));
    let srv = start(app().settings(settings)).await;
    let mut tcp = TcpStream::connect(srv.addr).await.expect("connect");
    // The client preface and an empty SETTINGS frame; then silence.
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    tcp.write_all(&hello).await.expect("write");
    // Frames from the server until a PING that is not an acknowledgement.
    let ping = within(async {
        loop {
            let mut head = [0u8; 9];
            tcp.read_exact(&mut head).await.expect("a frame header");
            let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
            let mut payload = vec![0u8; len];
            tcp.read_exact(&mut payload).await.expect("a frame payload");
            if head[3] == 0x6 && head[4] & 0x1 == 0 {
                return payload;
            }
        }
    })
    .await;
    assert_eq!(ping.len(), 8, "a PING carries 8 bytes");
    drop(tcp);
    srv.stop().await;
}

/// A client that writes the HTTP/2 preface in two pieces still gets HTTP/2 (the server
/// waits for the rest of a preface's start rather than handing it to HTTP/1.1).
#[tokio::test]
async fn a_preface_in_two_writes_is_still_http2() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = start(app()).await;
    let mut tcp = TcpStream::connect(srv.addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    tcp.write_all(&hello[..10]).await.expect("write");
    // Only to make two reads on the server; passes (less usefully) if they merge.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    tcp.write_all(&hello[10..]).await.expect("write");
    let mut head = [0u8; 9];
    within(tcp.read_exact(&mut head))
        .await
        .expect("a frame header");
    assert_eq!(
        head[3], 0x4,
        "the server's first frame is SETTINGS: {head:?}"
    );
    drop(tcp);
    srv.stop().await;
}
