//! Hostile and dead peers (issue 10): keepalive, deadlines for unfinished input, the
//! origin check, bounded REST-over-WebSocket messages. Real server, real sockets;
//! settings are made small so the deadlines pass quickly, and every wait is on an event
//! with an upper bound.

mod support;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use support::{within, Client, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsview::{accept_websocket, api_socket, App, CloseCause, CloseCode, Request, Settings};

/// Settings with every peer deadline off: each test turns on the one it checks.
fn quiet() -> Settings {
    Settings::default()
        .ping_interval(None)
        .pong_timeout(None)
        .message_read_timeout(None)
        .close_timeout(Duration::from_millis(500))
}

/// An echo app whose view reports how the connection ended.
fn echo_app(settings: Settings) -> (App, mpsc::UnboundedReceiver<Option<CloseCause>>) {
    let (ended, ends) = mpsc::unbounded_channel();
    let app = App::new().settings(settings).route(
        "/",
        accept_websocket(move |mut req: Request| {
            let ended = ended.clone();
            async move {
                if let Some(ws) = req.websocket() {
                    while let Some(msg) = ws.wait().await {
                        if ws.send(msg).await.is_err() {
                            break;
                        }
                    }
                    let _ = ended.send(ws.close_cause());
                }
                wsview::Response::text("done")
            }
        }),
    );
    (app, ends)
}

fn handshake(addr: std::net::SocketAddr, extra: &str) -> Vec<u8> {
    format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// Opens a raw WebSocket: returns the stream after the 101 and any bytes read past it.
async fn raw_ws(server: &TestServer) -> (TcpStream, Vec<u8>) {
    let (head, rest, tcp) = server.raw_head(&handshake(server.addr, "")).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    (tcp, rest)
}

/// A server frame: opcode and payload.
struct Frame {
    opcode: u8,
    payload: Vec<u8>,
}

/// Reads server frames until the connection ends; returns them (server frames are not
/// masked; these tests only see short ones).
async fn frames_until_eof(
    tcp: &mut (impl tokio::io::AsyncRead + Unpin),
    mut got: Vec<u8>,
) -> Vec<Frame> {
    let mut buf = [0u8; 4096];
    loop {
        match within(tcp.read(&mut buf)).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let mut frames = Vec::new();
    let mut at = 0;
    while at + 2 <= got.len() {
        let opcode = got[at] & 0x0f;
        let len = usize::from(got[at + 1] & 0x7f);
        assert!(len < 126, "short frames only");
        let end = (at + 2 + len).min(got.len());
        frames.push(Frame {
            opcode,
            payload: got[at + 2..end].to_vec(),
        });
        at = end;
    }
    frames
}

fn close_code_of(frames: &[Frame]) -> Option<u16> {
    let close = frames.iter().find(|f| f.opcode == 8)?;
    Some(u16::from_be_bytes([
        *close.payload.first()?,
        *close.payload.get(1)?,
    ]))
}

/// A masked client frame header (FIN set) for a payload of `len` bytes.
fn client_header(opcode: u8, len: u64) -> Vec<u8> {
    let mut h = vec![0x80 | opcode];
    if len < 126 {
        h.push(0x80 | len as u8);
    } else if len <= 0xffff {
        h.push(0x80 | 126);
        h.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        h.push(0x80 | 127);
        h.extend_from_slice(&len.to_be_bytes());
    }
    h.extend_from_slice(&[0, 0, 0, 0]); // a zero mask leaves the payload as is
    h
}

#[tokio::test]
async fn a_silent_peer_is_pinged_then_closed_with_1011() {
    let ping = Duration::from_millis(200);
    let pong = Duration::from_millis(300);
    let (app, mut ends) = echo_app(quiet().ping_interval(Some(ping)).pong_timeout(Some(pong)));
    let server = support::start(app).await;
    let started = Instant::now();
    let (mut tcp, rest) = raw_ws(&server).await;
    // Never answers: reads everything the server sends until it hangs up.
    let frames = frames_until_eof(&mut tcp, rest).await;
    let elapsed = started.elapsed();
    assert_eq!(frames.first().map(|f| f.opcode), Some(9), "a ping first");
    assert_eq!(close_code_of(&frames), Some(1011));
    assert!(elapsed >= ping + pong, "closed after {elapsed:?}");
    assert!(elapsed < (ping + pong) * 10, "closed after {elapsed:?}");
    let cause = within(ends.recv()).await.expect("the view ended");
    assert_eq!(cause, Some(CloseCause::Unresponsive));
    server.stop().await;
}

#[tokio::test]
async fn a_peer_that_answers_pings_stays_open() {
    let ping = Duration::from_millis(100);
    // The input deadline is on too: pongs are complete frames, never "unfinished input".
    let settings = quiet()
        .ping_interval(Some(ping))
        .pong_timeout(Some(Duration::from_millis(150)))
        .message_read_timeout(Some(Duration::from_millis(120)));
    let (app, _ends) = echo_app(settings);
    let server = support::start(app).await;
    let mut ws: Client = server.connect("/").await;
    // tungstenite's client answers each ping as it reads it. Eight pings span far more
    // than ping_interval + pong_timeout and the input deadline.
    let mut pings = 0;
    while pings < 8 {
        match within(ws.next()).await {
            Some(Ok(WsMessage::Ping(_))) => pings += 1,
            other => panic!("expected pings, got {other:?}"),
        }
    }
    ws.send(WsMessage::text("still here")).await.expect("send");
    loop {
        match within(ws.next()).await {
            Some(Ok(WsMessage::Text(t))) => {
                assert_eq!(t.as_str(), "still here");
                break;
            }
            Some(Ok(WsMessage::Ping(_))) => {}
            other => panic!("expected the echo, got {other:?}"),
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_busy_peer_is_not_pinged() {
    let ping = Duration::from_millis(150);
    let settings = quiet().ping_interval(Some(ping)).pong_timeout(Some(ping));
    let (app, _ends) = echo_app(settings);
    let server = support::start(app).await;
    let mut ws: Client = server.connect("/").await;
    // Messages every ~30 ms for 15 rounds (more than 3 ping intervals): the echo of each
    // is awaited, and no ping may come between them.
    for i in 0..15 {
        let text = format!("m{i}");
        ws.send(WsMessage::text(text.clone())).await.expect("send");
        match within(ws.next()).await {
            Some(Ok(WsMessage::Text(t))) => assert_eq!(t.as_str(), text),
            other => panic!("round {i}: expected the echo, got {other:?}"),
        }
        // Pacing the client, not waiting for a condition.
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    server.stop().await;
}

/// The input deadline closed the connection: no earlier than its bound, well within ten
/// times it, and the view saw the end as a policy error (1008).
async fn closed_for_stalled_input(
    elapsed: Duration,
    limit: Duration,
    ends: &mut mpsc::UnboundedReceiver<Option<CloseCause>>,
) {
    assert!(elapsed >= limit, "closed after {elapsed:?}");
    assert!(elapsed < limit * 10, "closed after {elapsed:?}");
    match within(ends.recv()).await.expect("the view ended") {
        Some(CloseCause::Error { code, .. }) => assert_eq!(code, CloseCode::Policy),
        other => panic!("cause {other:?}"),
    }
}

#[tokio::test]
async fn a_trickled_half_frame_is_closed_with_1008() {
    let limit = Duration::from_millis(400);
    let (app, mut ends) = echo_app(quiet().message_read_timeout(Some(limit)));
    let server = support::start(app).await;
    let (tcp, rest) = raw_ws(&server).await;
    let (mut rd, mut wr) = tcp.into_split();
    let started = Instant::now();
    // A 1 MiB frame begun, then one byte every 20 ms: bytes keep arriving, but the
    // frame does not complete, so the deadline (counted from its first byte) passes.
    wr.write_all(&client_header(2, 1 << 20))
        .await
        .expect("write");
    wr.write_all(&[0u8; 1000]).await.expect("write");
    let trickle = tokio::spawn(async move {
        while wr.write_all(&[0u8]).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let mut got = rest;
    let mut buf = [0u8; 1024];
    loop {
        match within(rd.read(&mut buf)).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let elapsed = started.elapsed();
    trickle.abort();
    assert_eq!(got.first(), Some(&0x88), "a close frame");
    assert_eq!(got.get(2..4), Some(&1008u16.to_be_bytes()[..]));
    closed_for_stalled_input(elapsed, limit, &mut ends).await;
    server.stop().await;
}

/// A masked client frame (with a zero mask): `fin`, `opcode`, a short `payload`.
fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = client_header(opcode, payload.len() as u64);
    if !fin {
        frame[0] &= 0x7f;
    }
    frame.extend_from_slice(payload);
    frame
}

#[tokio::test]
async fn a_fragmented_message_never_finished_is_closed_with_1008_despite_pings() {
    let limit = Duration::from_millis(400);
    let (app, mut ends) = echo_app(quiet().message_read_timeout(Some(limit)));
    let server = support::start(app).await;
    let (tcp, rest) = raw_ws(&server).await;
    let (mut rd, mut wr) = tcp.into_split();
    let started = Instant::now();
    // A text message begun, then every 80 ms (a fifth of the bound) one more fragment
    // and a ping: every frame is complete, but the message never is.
    wr.write_all(&client_frame(false, 1, b"begun"))
        .await
        .expect("write");
    let trickle = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(80)).await; // pacing the sender
            let mut frames = client_frame(false, 0, b"more");
            frames.extend_from_slice(&client_frame(true, 9, b"still here"));
            if wr.write_all(&frames).await.is_err() {
                break;
            }
        }
    });
    // The pongs keep the reads busy: bound the whole wait, not each read.
    let frames = tokio::time::timeout(limit * 10, frames_until_eof(&mut rd, rest))
        .await
        .expect("closed within ten times the bound");
    let elapsed = started.elapsed();
    trickle.abort();
    assert!(
        frames.iter().any(|f| f.opcode == 10),
        "the pings were answered"
    );
    assert_eq!(close_code_of(&frames), Some(1008));
    closed_for_stalled_input(elapsed, limit, &mut ends).await;
    server.stop().await;
}

#[tokio::test]
async fn a_frame_begun_in_the_same_write_as_a_whole_one_is_bounded() {
    // Keepalive off: only the input deadline can close this connection.
    let limit = Duration::from_millis(300);
    let (app, mut ends) = echo_app(quiet().message_read_timeout(Some(limit)));
    let server = support::start(app).await;
    let (mut tcp, rest) = raw_ws(&server).await;
    let started = Instant::now();
    // A whole message and, in the same write, three bytes of the next frame; then
    // nothing more.
    let mut bytes = client_frame(true, 1, b"whole");
    bytes.extend_from_slice(&client_frame(true, 1, b"never finished")[..3]);
    tcp.write_all(&bytes).await.expect("write");
    let frames = frames_until_eof(&mut tcp, rest).await;
    let elapsed = started.elapsed();
    assert_eq!(
        frames.first().map(|f| f.payload.as_slice()),
        Some(&b"whole"[..])
    );
    assert_eq!(close_code_of(&frames), Some(1008));
    closed_for_stalled_input(elapsed, limit, &mut ends).await;
    server.stop().await;
}

#[tokio::test]
async fn fragmented_messages_finished_in_time_stay_open() {
    let limit = Duration::from_millis(1000);
    let (app, mut ends) = echo_app(quiet().message_read_timeout(Some(limit)));
    let server = support::start(app).await;
    let (mut tcp, rest) = raw_ws(&server).await;
    assert!(rest.is_empty());
    let started = Instant::now();
    // Three messages of six fragments, 80 ms apart with pings between (about 400 ms
    // each, 1.2 s together: more than the bound, which is per message). Each next
    // message begins in the same write as the last fragment of the one before.
    let mut first = client_frame(false, 1, b"m0-");
    for m in 0..3u8 {
        for f in 0..5u8 {
            tokio::time::sleep(Duration::from_millis(80)).await; // pacing the sender
            let mut frames = std::mem::take(&mut first);
            frames.extend_from_slice(&client_frame(true, 9, b"ping"));
            frames.extend_from_slice(&client_frame(f == 4, 0, &[b'a' + f]));
            if f == 4 && m < 2 {
                frames.extend_from_slice(&client_frame(
                    false,
                    1,
                    format!("m{}-", m + 1).as_bytes(),
                ));
            }
            tcp.write_all(&frames).await.expect("write");
        }
        // Pongs first (one per ping), then the message's echo.
        let want = format!("m{m}-abcde");
        loop {
            let mut head = [0u8; 2];
            within(tcp.read_exact(&mut head)).await.expect("a frame");
            let mut payload = vec![0u8; usize::from(head[1] & 0x7f)];
            within(tcp.read_exact(&mut payload))
                .await
                .expect("its payload");
            match head[0] & 0x0f {
                10 => continue,
                1 => {
                    assert_eq!(String::from_utf8_lossy(&payload), want);
                    break;
                }
                other => panic!("opcode {other} before the echo of {want}"),
            }
        }
    }
    assert!(
        started.elapsed() > limit,
        "the messages together outlast the bound"
    );
    tcp.write_all(&client_frame(true, 8, &1000u16.to_be_bytes()))
        .await
        .expect("write");
    let frames = frames_until_eof(&mut tcp, Vec::new()).await;
    assert_eq!(close_code_of(&frames), Some(1000));
    match within(ends.recv()).await.expect("the view ended") {
        Some(CloseCause::Peer { code, .. }) => assert_eq!(code, Some(CloseCode::Normal)),
        other => panic!("cause {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_half_frame_is_dropped_and_the_connection_freed() {
    let limit = Duration::from_millis(300);
    let (app, mut ends) = echo_app(quiet().message_read_timeout(Some(limit)));
    let service = app.build().expect("app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let serving = service.clone();
    tokio::spawn(async move {
        while let Ok((tcp, peer)) = listener.accept().await {
            let svc = serving.with_remote_addr(peer);
            tokio::spawn(async move {
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                    .with_upgrades();
                let _ = conn.await;
            });
        }
    });
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(&handshake(addr, "")).await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        within(tcp.read_exact(&mut byte)).await.expect("head");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    tcp.write_all(&client_header(2, 1 << 20))
        .await
        .expect("write");
    tcp.write_all(&vec![7u8; 200 << 10]).await.expect("write");
    // The server holds 200 KiB of an unfinished frame; past the deadline it closes.
    let frames = frames_until_eof(&mut tcp, Vec::new()).await;
    assert_eq!(close_code_of(&frames), Some(1008));
    within(ends.recv()).await.expect("the view ended");
    // The connection, and the engine holding the partial frame, are gone.
    assert_eq!(service.open_websockets(), 0);
}

#[tokio::test]
async fn a_complete_frame_in_pieces_is_not_cut() {
    let limit = Duration::from_millis(300);
    let (app, _ends) = echo_app(quiet().message_read_timeout(Some(limit)));
    let server = support::start(app).await;
    let (mut tcp, _rest) = raw_ws(&server).await;
    // Three frames, each sent in two pieces 100 ms apart (within the bound), spanning
    // more than the bound together: the deadline is per frame, restarted by each.
    for i in 0..3u8 {
        let payload = [b'a' + i; 10];
        let mut frame = client_header(1, 10);
        frame.extend_from_slice(&payload);
        tcp.write_all(&frame[..5]).await.expect("write");
        tokio::time::sleep(Duration::from_millis(100)).await; // pacing the sender
        tcp.write_all(&frame[5..]).await.expect("write");
        let mut echo = [0u8; 12];
        within(tcp.read_exact(&mut echo)).await.expect("echo");
        assert_eq!(&echo[2..], &payload);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_foreign_origin_is_refused_and_the_same_host_accepted_by_default() {
    let (app, _ends) = echo_app(quiet());
    let server = support::start(app).await;
    let addr = server.addr;
    let (head, body, tcp) = server.raw_head(&foreign_for(addr)).await;
    drop(tcp);
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    assert!(body.starts_with(b"origin not allowed"), "{body:?}");
    let same = handshake(addr, &format!("Origin: http://{addr}\r\n"));
    let (head, _, tcp) = server.raw_head(&same).await;
    drop(tcp);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let none = handshake(addr, "");
    let (head, _, tcp) = server.raw_head(&none).await;
    drop(tcp);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    server.stop().await;

    // A listed origin passes too; the opt-out lets any through.
    let listed = quiet().allowed_origins(["https://app.example"]);
    let (app, _ends) = echo_app(listed);
    let server = support::start(app).await;
    let ok = handshake(server.addr, "Origin: https://APP.example\r\n");
    let (head, _, tcp) = server.raw_head(&ok).await;
    drop(tcp);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let (head, _, tcp) = server.raw_head(&foreign_for(server.addr)).await;
    drop(tcp);
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    server.stop().await;
    let (app, _ends) = echo_app(quiet().dangerously_allow_any_origin());
    let server = support::start(app).await;
    let (head, _, tcp) = server.raw_head(&foreign_for(server.addr)).await;
    drop(tcp);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    server.stop().await;
}

fn foreign_for(addr: std::net::SocketAddr) -> Vec<u8> {
    handshake(addr, "Origin: https://evil.example\r\n")
}

#[tokio::test]
async fn a_view_may_close_with_1014() {
    let settings = quiet().close_timeout(Duration::from_millis(200));
    let app = App::new().settings(settings).route(
        "/",
        accept_websocket(|mut req: Request| async move {
            if let Some(ws) = req.websocket() {
                let _ = ws.close(CloseCode::BadGateway, "upstream failed").await;
            }
            "done"
        }),
    );
    let server = support::start(app).await;
    // A raw client: tungstenite's own refuses 1014 as reserved.
    let (mut tcp, rest) = raw_ws(&server).await;
    let frames = frames_until_eof(&mut tcp, rest).await;
    assert_eq!(close_code_of(&frames), Some(1014));
    assert_eq!(CloseCode::from(1014), CloseCode::BadGateway);
    assert!(CloseCode::BadGateway.is_allowed());
    server.stop().await;
}

#[tokio::test]
async fn a_peer_may_close_with_1014() {
    let (app, mut ends) = echo_app(quiet());
    let server = support::start(app).await;
    let (mut tcp, rest) = raw_ws(&server).await;
    let mut close = client_header(8, 2);
    close.extend_from_slice(&1014u16.to_be_bytes());
    tcp.write_all(&close).await.expect("write");
    // Accepted: the reply echoes 1014 (a refusal would be 1002).
    let frames = frames_until_eof(&mut tcp, rest).await;
    assert_eq!(close_code_of(&frames), Some(1014));
    let cause = within(ends.recv()).await.expect("the view ended");
    assert_eq!(
        cause,
        Some(CloseCause::Peer {
            code: Some(CloseCode::BadGateway),
            reason: String::new()
        })
    );
    server.stop().await;
}

#[tokio::test]
async fn a_message_with_24600_headers_is_answered_400_and_the_socket_serves_on() {
    let app = App::new()
        .settings(quiet())
        .route("/api/x/", |_r: Request| async { "x" })
        .route("/ws/api", api_socket());
    let server = support::start(app).await;
    let mut ws = server.connect("/ws/api").await;
    let fields: Vec<String> = (0..24_600).map(|i| format!("\"x-h{i}\": \"v\"")).collect();
    let big = format!(
        r#"{{"id": 1, "url": "/api/x/", "headers": {{{}}}}}"#,
        fields.join(",")
    );
    assert!(big.len() > 350_000);
    support::send_text(&mut ws, &big).await;
    support::send_text(&mut ws, r#"{"id": 2, "url": "/api/x/"}"#).await;
    let mut replies = Vec::new();
    while replies.len() < 2 {
        match support::next_data(&mut ws).await {
            Some(WsMessage::Text(t)) => {
                let v: Value = serde_json::from_str(t.as_str()).expect("json reply");
                replies.push(v);
            }
            other => panic!("expected a reply, got {other:?}"),
        }
    }
    replies.sort_by_key(|r| r["id"].as_u64());
    assert_eq!(replies[0]["status"], 400);
    assert_eq!(replies[0]["body"], "Too many headers.");
    assert_eq!(replies[1]["status"], 200);
    assert_eq!(replies[1]["body"], "x");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// HTTP bodies: read on demand, bounded in size and time
// ---------------------------------------------------------------------------------------

/// An app whose middleware refuses requests without `X-Token: ok` (401), with a view that
/// echoes the body's length, a middleware-readable body at `/peek`, a view that answers
/// without the body at `/ignore` and one that parses it as JSON at `/json`.
fn body_app(settings: Settings) -> App {
    App::new()
        .settings(settings)
        .middleware(|mut req: Request, next: wsview::Next| async move {
            if req.header("x-token") != Some("ok") {
                return wsview::Response::text("no token").with_status(401);
            }
            if req.path() == "/peek" {
                let len = match req.body().await {
                    Ok(body) => body.len(),
                    Err(e) => return wsview::IntoResponse::into_response(e),
                };
                let resp = next.run(req).await;
                return resp.with_header("x-peeked", len.to_string());
            }
            next.run(req).await
        })
        .route("/", body_length)
        .route("/peek", body_length)
        .route("/ignore", |req: Request| async move {
            format!("{} without the body", req.method())
        })
        .route("/json", |mut req: Request| async move {
            let v: Value = req.json().await?;
            Ok::<_, wsview::Error>(format!("{} keys", v.as_object().map_or(0, |o| o.len())))
        })
}

async fn body_length(mut req: Request) -> Result<String, wsview::Error> {
    Ok(format!("{} bytes", req.body().await?.len()))
}

/// Reads one response head from `tcp`: the status and the head's text.
async fn read_head(tcp: &mut TcpStream) -> (u16, String) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match within(tcp.read(&mut byte)).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    (support::parse_reply(&text).0, text)
}

/// Reads one response from `tcp`, head and `Content-Length` body: the status and body.
async fn read_reply(tcp: &mut TcpStream) -> (u16, String) {
    let (status, head) = read_head(tcp).await;
    let len = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    within(tcp.read_exact(&mut body)).await.expect("the body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn a_view_that_ignores_the_body_answers_before_it_is_sent() {
    let server = support::start(body_app(quiet())).await;
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    // 1 MB declared (within the limit), 1000 bytes sent: the rest waits for the reply.
    tcp.write_all(
        b"POST /ignore HTTP/1.1\r\nHost: t\r\nX-Token: ok\r\nContent-Length: 1000000\r\n\r\n",
    )
    .await
    .expect("write");
    tcp.write_all(&[b'x'; 1000]).await.expect("write");
    let (status, body) = read_reply(&mut tcp).await;
    assert_eq!((status, body.as_str()), (200, "POST without the body"));
    // A view that reads gets the whole body, sent in two writes, the second only once
    // the first is out.
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    tcp.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nX-Token: ok\r\nContent-Length: 1000000\r\n\r\n")
        .await
        .expect("write");
    tcp.write_all(&vec![b'a'; 400_000]).await.expect("write");
    tcp.flush().await.expect("flush");
    tcp.write_all(&vec![b'b'; 600_000]).await.expect("write");
    assert_eq!(
        read_reply(&mut tcp).await,
        (200, "1000000 bytes".to_owned())
    );
    // The same connection serves on: the body was read to its end.
    tcp.write_all(b"POST /ignore HTTP/1.1\r\nHost: t\r\nX-Token: ok\r\nContent-Length: 0\r\n\r\n")
        .await
        .expect("write");
    assert_eq!(
        read_reply(&mut tcp).await,
        (200, "POST without the body".to_owned())
    );
    server.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_answered_400() {
    let server = support::start(body_app(quiet())).await;
    let post = |body: &str| {
        format!(
            "POST /json HTTP/1.1\r\nHost: t\r\nX-Token: ok\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    tcp.write_all(post(r#"{"a": 1, "b": [2]}"#).as_bytes())
        .await
        .expect("write");
    assert_eq!(read_reply(&mut tcp).await, (200, "2 keys".to_owned()));
    for bad in ["{", "[1, 2", "\u{1}"] {
        tcp.write_all(post(bad).as_bytes()).await.expect("write");
        let (status, body) = read_reply(&mut tcp).await;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert!(body.starts_with("Invalid JSON body: "), "{bad:?}: {body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_websocket_request_has_an_empty_body_and_is_not_held_by_it() {
    let app = App::new().settings(quiet()).route(
        "/",
        accept_websocket(|mut req: Request| async move {
            let len = match req.body().await {
                Ok(body) => body.len(),
                Err(e) => return wsview::IntoResponse::into_response(e),
            };
            if let Some(ws) = req.websocket() {
                let _ = ws.send(format!("{len} bytes")).await;
            }
            wsview::Response::empty()
        }),
    );
    let server = support::start(app).await;
    let mut ws = server.connect("/").await;
    match support::next_data(&mut ws).await {
        Some(WsMessage::Text(t)) => assert_eq!(t.as_str(), "0 bytes"),
        other => panic!("expected the body's length, got {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn a_slow_body_is_answered_408() {
    let limit = Duration::from_millis(300);
    let server = support::start(body_app(quiet().body_read_timeout(Some(limit)))).await;
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    let started = Instant::now();
    tcp.write_all(
        b"POST / HTTP/1.1\r\nHost: t\r\nX-Token: ok\r\nContent-Length: 100\r\n\r\n0123456789",
    )
    .await
    .expect("write");
    // The other 90 bytes never come.
    let (status, head) = read_head(&mut tcp).await;
    assert_eq!(status, 408, "{head}");
    assert!(started.elapsed() >= limit, "after {:?}", started.elapsed());
    // A body that does arrive in time is read whole, in pieces.
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    tcp.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nX-Token: ok\r\nContent-Length: 20\r\nConnection: close\r\n\r\n0123456789")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(50)).await; // pacing the sender
    tcp.write_all(b"abcdefghij").await.expect("write");
    let mut reply = Vec::new();
    within(tcp.read_to_end(&mut reply)).await.expect("read");
    let (status, body) = support::parse_reply(&String::from_utf8_lossy(&reply));
    assert_eq!((status, body.as_str()), (200, "20 bytes"));
    server.stop().await;
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_answered_413_before_the_body() {
    let server = support::start(body_app(quiet().max_body_size(1000))).await;
    // Whether or not the view would read it.
    for (path, extra) in [
        ("/", ""),
        ("/", "Expect: 100-continue\r\n"),
        ("/ignore", ""),
    ] {
        let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nX-Token: ok\r\nContent-Length: 1000000000000000\r\n{extra}\r\n"
        );
        tcp.write_all(head.as_bytes()).await.expect("write");
        // No byte of the body is sent, and no `100 Continue` may come first.
        let (status, head) = read_head(&mut tcp).await;
        assert_eq!(status, 413, "{extra:?}: {head}");
    }
    // A chunked body over the limit is cut off at the limit.
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    tcp.write_all(
        b"POST / HTTP/1.1\r\nHost: t\r\nX-Token: ok\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .await
    .expect("write");
    let chunk = format!("{:x}\r\n{}\r\n", 600, "a".repeat(600));
    tcp.write_all(chunk.as_bytes()).await.expect("write");
    tcp.write_all(chunk.as_bytes()).await.expect("write");
    assert_eq!(read_head(&mut tcp).await.0, 413);
    server.stop().await;
}

#[tokio::test]
async fn a_refusing_middleware_answers_before_the_body_is_sent() {
    let server = support::start(body_app(quiet())).await;
    // 2 MiB − 1 declared, none sent: the token check answers at once.
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    tcp.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2097151\r\n\r\n")
        .await
        .expect("write");
    assert_eq!(read_head(&mut tcp).await.0, 401);
    // With `Expect: 100-continue` the client is told no before it sends anything.
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    tcp.write_all(
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n",
    )
    .await
    .expect("write");
    let (status, head) = read_head(&mut tcp).await;
    assert_eq!(status, 401, "{head}");
    // A middleware may read the body itself; the view sees it too.
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    tcp.write_all(b"POST /peek HTTP/1.1\r\nHost: t\r\nX-Token: ok\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        .await
        .expect("write");
    let mut reply = Vec::new();
    within(tcp.read_to_end(&mut reply)).await.expect("read");
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.to_ascii_lowercase().contains("x-peeked: 5"),
        "{reply}"
    );
    assert!(reply.ends_with("5 bytes"), "{reply}");
    server.stop().await;
}
