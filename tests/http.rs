//! Plain HTTP through the app, and every handshake rule over raw TCP.

mod support;

use support::{parse_reply, start, upgrade_request};
use wsview::{accept_websocket, require_websocket, App, Next, Request, Response, Settings};

async fn lower_case(mut req: Request) -> Response {
    match req.websocket() {
        None => Response::text(req.query("message").unwrap_or_default().to_lowercase()),
        Some(ws) => {
            while let Some(m) = ws.wait().await {
                let _ = ws
                    .send(m.as_text().unwrap_or_default().to_lowercase())
                    .await;
            }
            Response::empty()
        }
    }
}

async fn hello(_req: Request) -> &'static str {
    "hello"
}

async fn echo_ws(mut req: Request) -> Response {
    if let Some(ws) = req.websocket() {
        while let Some(m) = ws.wait().await {
            let _ = ws.send(m).await;
        }
    }
    Response::empty()
}

async fn room(req: Request) -> Response {
    Response::json(&serde_json::json!({
        "room": req.param("room"),
        "rest": req.param("rest"),
        "method": req.method().as_str(),
        "body": String::from_utf8_lossy(req.body()),
    }))
}

async fn boom(_req: Request) -> Response {
    panic!("view failed on purpose")
}

fn app() -> App {
    App::new()
        .route("/lower", accept_websocket(lower_case))
        .route("/plain", hello)
        .route("/only-ws", require_websocket(echo_ws))
        .route("/rooms/{room}", room)
        .route("/files/{*rest}", room)
        .route("/boom", boom)
}

#[tokio::test]
async fn plain_get_to_accepting_view_is_served() {
    let srv = start(app()).await;
    assert_eq!(
        srv.get("/lower?message=HeLLo").await,
        (200, "hello".to_owned())
    );
    assert_eq!(
        srv.get("/lower?message=A%20B+C").await,
        (200, "a b c".to_owned())
    );
    srv.stop().await;
}

#[tokio::test]
async fn unknown_path_is_404_and_plain_get_to_require_websocket_is_400() {
    let srv = start(app()).await;
    assert_eq!(srv.get("/nope").await.0, 404);
    let (status, body) = srv.get("/only-ws").await;
    assert_eq!(status, 400);
    assert!(body.contains("requires a WebSocket"), "{body}");
    srv.stop().await;
}

#[tokio::test]
async fn path_parameters_and_body_reach_the_view() {
    let srv = start(app()).await;
    let (status, body) = srv.get("/rooms/caf%C3%A9").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["room"], "café");
    let (_, body) = srv.get("/files/a/b/c.txt").await;
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["rest"], "a/b/c.txt");
    let reply = srv
        .raw(b"POST /rooms/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello")
        .await;
    let (status, body) = parse_reply(&reply);
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        (v["method"].as_str(), v["body"].as_str()),
        (Some("POST"), Some("hello"))
    );
    srv.stop().await;
}

#[tokio::test]
async fn oversized_body_is_413() {
    let mut settings = Settings::default();
    settings.max_body_size = 10;
    let srv = start(app().settings(settings)).await;
    let reply = srv
        .raw(b"POST /rooms/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 11\r\n\r\nhello world")
        .await;
    assert_eq!(parse_reply(&reply).0, 413);
    srv.stop().await;
}

/// `Settings::header_read_timeout` closes a connection whose headers never finish.
#[tokio::test]
async fn slow_headers_are_cut_off_by_the_header_read_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let settings =
        Settings::default().header_read_timeout(Some(std::time::Duration::from_millis(200)));
    let srv = start(app().settings(settings)).await;
    let mut tcp = tokio::net::TcpStream::connect(srv.addr)
        .await
        .expect("connect");
    tcp.write_all(b"GET /plain HTTP/1.1\r\nHost: t\r\n")
        .await
        .expect("write");
    let mut rest = Vec::new();
    // The server gives up on the request and closes: the read ends (with or without a
    // 408), well before the test's own limit.
    let started = std::time::Instant::now();
    let _ = support::within(tcp.read_to_end(&mut rest)).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(!String::from_utf8_lossy(&rest).contains("hello"));
    // A complete request on a new connection is still served.
    assert_eq!(srv.get("/plain").await, (200, "hello".to_owned()));
    srv.stop().await;
}

#[tokio::test]
async fn panicking_view_gives_500_and_server_keeps_serving() {
    let srv = start(app()).await;
    assert_eq!(srv.get("/boom").await.0, 500);
    assert_eq!(srv.get("/plain").await, (200, "hello".to_owned()));
    srv.stop().await;
}

#[tokio::test]
async fn middleware_runs_in_order_and_can_answer() {
    async fn tag(req: Request, next: Next) -> Response {
        let resp = next.run(req).await;
        resp.with_header("x-tag", "outer")
    }
    async fn deny(req: Request, next: Next) -> Response {
        if req.query("deny").is_some() {
            return Response::text("denied").with_status(403);
        }
        next.run(req).await
    }
    let srv = start(app().middleware(tag).middleware(deny)).await;
    let reply = srv
        .raw(b"GET /plain HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await;
    assert!(
        reply.to_ascii_lowercase().contains("x-tag: outer"),
        "{reply}"
    );
    assert_eq!(srv.get("/plain?deny=1").await, (403, "denied".to_owned()));
    // A middleware refusing a WebSocket request refuses the upgrade.
    let (status, _) = srv.connect_err("/lower?deny=1").await;
    assert_eq!(status, 403);
    srv.stop().await;
}

#[tokio::test]
async fn websocket_request_to_plain_view_is_400_unless_accept_all() {
    let srv = start(app()).await;
    let reply = srv
        .raw(&upgrade_request("/plain", "Connection: close\r\n"))
        .await;
    let (status, body) = parse_reply(&reply);
    assert_eq!(status, 400, "{reply}");
    assert!(body.contains("does not accept WebSocket"), "{body}");
    srv.stop().await;

    let mut settings = Settings::default();
    settings.websocket_accept_all = true;
    let srv = start(App::new().settings(settings).route("/plain", echo_ws)).await;
    let mut ws = srv.connect("/plain").await;
    support::send_text(&mut ws, "via accept-all").await;
    let got = support::next_data(&mut ws).await.expect("echo");
    assert_eq!(got.to_text().expect("text"), "via accept-all");
    drop(ws);
    srv.stop().await;
}

/// Each malformed upgrade gets the status and reason the handshake rules give.
#[tokio::test]
async fn malformed_upgrades_are_refused_with_reasons() {
    let srv = start(app()).await;
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let cases: Vec<(String, u16, &str)> = vec![
        (
            format!("POST /lower HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"),
            400,
            "GET",
        ),
        (
            format!("GET /lower HTTP/1.0\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}Sec-WebSocket-Version: 13\r\n\r\n"),
            400,
            "HTTP/1.1",
        ),
        (
            format!("GET /lower HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n{key}Sec-WebSocket-Version: 13\r\n\r\n"),
            400,
            "Connection",
        ),
        (
            format!("GET /lower HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}Sec-WebSocket-Version: 13\r\n\r\n"),
            400,
            "Host",
        ),
        (
            "GET /lower HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n".to_owned(),
            400,
            "missing Sec-WebSocket-Key",
        ),
        (
            "GET /lower HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: not base64!\r\nSec-WebSocket-Version: 13\r\n\r\n".to_owned(),
            400,
            "16 bytes",
        ),
        (
            // base64 of 15 bytes
            "GET /lower HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\nSec-WebSocket-Version: 13\r\n\r\n".to_owned(),
            400,
            "16 bytes",
        ),
    ];
    for (request, status, reason) in cases {
        let request = request.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n");
        let reply = srv.raw(request.as_bytes()).await;
        let (got, body) = parse_reply(&reply);
        assert_eq!(got, status, "request:\n{request}\nreply:\n{reply}");
        assert!(body.contains(reason), "expected {reason:?} in {body:?}");
    }
    srv.stop().await;
}

#[tokio::test]
async fn wrong_version_is_426_with_supported_version() {
    let srv = start(app()).await;
    let req = "GET /lower HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\nConnection: close\r\n\r\n";
    let reply = srv.raw(req.as_bytes()).await;
    assert_eq!(parse_reply(&reply).0, 426, "{reply}");
    assert!(
        reply
            .to_ascii_lowercase()
            .contains("sec-websocket-version: 13"),
        "{reply}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn upgrade_tokens_are_case_insensitive_and_lists_are_parsed() {
    let srv = start(app()).await;
    let req = "GET /lower HTTP/1.1\r\nHost: t\r\nUpgrade: WebSocket\r\nConnection: keep-alive, UPGRADE\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let (head, _, tcp) = srv.raw_head(req.as_bytes()).await;
    drop(tcp);
    let text = head.to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 101"), "{text}");
    // RFC 6455's own example key and answer.
    assert!(
        text.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{text}"
    );
    srv.stop().await;
}

/// No header content whatsoever produces a 500 or kills the server.
#[tokio::test]
async fn hostile_header_values_never_give_500() {
    let srv = start(app()).await;
    let values: [&[u8]; 8] = [
        b"\xff\xfe\xfd",
        b"",
        b",,,,",
        b"websocket, websocket",
        b"=\x01\x02",
        b"AAAAAAAAAAAAAAAAAAAAAA==AAAA",
        b"\t \t",
        &[b'a'; 6000],
    ];
    let headers = [
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Protocol",
        "Connection",
        "Upgrade",
        "Origin",
        "Host",
    ];
    for header in headers {
        for value in values {
            let mut req = b"GET /lower HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n".to_vec();
            req.extend_from_slice(header.as_bytes());
            req.extend_from_slice(b": ");
            req.extend_from_slice(value);
            req.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
            let (head, _, _tcp) = srv.raw_head(&req).await;
            let status = parse_reply(&head).0;
            assert!(
                [101, 400, 403, 426, 431].contains(&status),
                "{header}: {value:?} gave {head}"
            );
        }
    }
    assert_eq!(srv.get("/plain").await.0, 200);
    srv.stop().await;
}

/// Accepted sockets have TCP keepalive on (so a vanished peer is noticed), unless
/// turned off: the kernel shows an idle, established socket's keepalive timer (kind 2)
/// in /proc/net/tcp. Linux only.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn accepted_connections_have_tcp_keepalive() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for (keepalive, expect_timer) in [(Settings::default().tcp_keepalive, true), (None, false)] {
        let mut settings = Settings::default();
        settings.tcp_keepalive = keepalive;
        let srv = start(app().settings(settings)).await;
        let mut client = tokio::net::TcpStream::connect(srv.addr)
            .await
            .expect("connect");
        // A served request proves the server holds its side of the connection.
        client
            .write_all(b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0u8; 512];
        let n = support::within(client.read(&mut buf)).await.expect("read");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        // The server side: local port = the server's, remote port = the client's.
        let wanted = format!(":{:04X}", srv.addr.port());
        let remote = format!(":{:04X}", client.local_addr().expect("addr").port());
        let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
        let timer = table
            .lines()
            .skip(1)
            .find_map(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                let (local, rem, timer) = (cols.get(1)?, cols.get(2)?, cols.get(5)?);
                (local.ends_with(&wanted) && rem.ends_with(&remote)).then(|| timer.to_string())
            })
            .expect("the server's socket is in /proc/net/tcp");
        assert_eq!(
            timer.starts_with("02:"),
            expect_timer,
            "keepalive {keepalive:?}: timer {timer}"
        );
        drop(client);
        srv.stop().await;
    }
}
