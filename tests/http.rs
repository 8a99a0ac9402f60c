//! Plain HTTP through the app, and every handshake rule over raw TCP.

mod support;

use support::{parse_reply, start, upgrade_request};
use wsview::{
    accept_websocket, require_websocket, App, IntoResponse, Next, Request, Response, Settings,
};

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

async fn room(mut req: Request) -> Response {
    let body = match req.body().await {
        Ok(body) => String::from_utf8_lossy(body).into_owned(),
        Err(e) => return e.into_response(),
    };
    Response::json(&serde_json::json!({
        "room": req.param("room"),
        "rest": req.param("rest"),
        "method": req.method().as_str(),
        "body": body,
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
    assert_eq!(
        (status, body.as_str()),
        (400, "This view requires a WebSocket request.")
    );
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
    // A client that sends nothing at all is cut off too.
    let mut silent = tokio::net::TcpStream::connect(srv.addr)
        .await
        .expect("connect");
    let started = std::time::Instant::now();
    let mut nothing = Vec::new();
    let _ = support::within(silent.read_to_end(&mut nothing)).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(nothing.is_empty(), "{nothing:?}");
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

/// Middleware run in the order added, around the view: each one notes its name in a
/// request header on the way in (the view answers with the list) and in a response
/// header on the way out.
#[tokio::test]
async fn middleware_runs_in_order_and_can_answer() {
    fn note(req: &mut Request, name: &str) {
        let trail = match req.header("x-trail") {
            Some(t) => format!("{t},{name}"),
            None => name.to_owned(),
        };
        req.headers_mut()
            .insert("x-trail", trail.parse().expect("header value"));
    }
    async fn outer(mut req: Request, next: Next) -> Response {
        note(&mut req, "outer");
        next.run(req).await.with_header("x-out", "outer")
    }
    async fn deny(mut req: Request, next: Next) -> Response {
        note(&mut req, "deny");
        if req.query("deny").is_some() {
            return Response::text("denied").with_status(403);
        }
        next.run(req).await.with_header("x-out", "deny")
    }
    async fn trail(req: Request) -> Response {
        Response::text(req.header("x-trail").unwrap_or("none").to_owned())
    }
    let srv = start(
        app()
            .route("/trail", trail)
            .middleware(outer)
            .middleware(deny),
    )
    .await;
    let reply = srv
        .raw(b"GET /trail HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await;
    let (status, body) = parse_reply(&reply);
    assert_eq!((status, body.as_str()), (200, "outer,deny"), "{reply}");
    // On the way out the inner one adds its header first.
    let outs: Vec<&str> = reply
        .lines()
        .filter_map(|l| l.strip_prefix("x-out: "))
        .collect();
    assert_eq!(outs, ["deny", "outer"], "{reply}");
    assert_eq!(srv.get("/plain?deny=1").await, (403, "denied".to_owned()));
    // A middleware refusing a WebSocket request refuses the upgrade.
    let (status, body) = srv.connect_err("/lower?deny=1").await;
    assert_eq!((status, body.as_str()), (403, "denied"));
    srv.stop().await;
}

#[tokio::test]
async fn websocket_request_to_plain_view_is_400_unless_accept_all() {
    let srv = start(app()).await;
    let reply = srv
        .raw(&upgrade_request("/plain", "Connection: close\r\n"))
        .await;
    let (status, body) = parse_reply(&reply);
    assert_eq!(
        (status, body.as_str()),
        (400, "This view does not accept WebSocket requests."),
        "{reply}"
    );
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

/// Each malformed upgrade gets the status and the body the guide's table documents,
/// word for word.
#[tokio::test]
async fn malformed_upgrades_are_refused_with_reasons() {
    let srv = start(app()).await;
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let cases: Vec<(String, u16, &str)> = vec![
        (
            format!("POST /lower HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"),
            400,
            "WebSocket upgrade requires the GET method",
        ),
        (
            format!("GET /lower HTTP/1.0\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}Sec-WebSocket-Version: 13\r\n\r\n"),
            400,
            "WebSocket upgrade requires HTTP/1.1",
        ),
        (
            format!("GET /lower HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n{key}Sec-WebSocket-Version: 13\r\n\r\n"),
            400,
            "WebSocket upgrade requires `Connection: upgrade`",
        ),
        (
            format!("GET /lower HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}Sec-WebSocket-Version: 13\r\n\r\n"),
            400,
            "WebSocket upgrade requires a Host header",
        ),
        (
            "GET /lower HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n".to_owned(),
            400,
            "missing Sec-WebSocket-Key header",
        ),
        (
            "GET /lower HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: not base64!\r\nSec-WebSocket-Version: 13\r\n\r\n".to_owned(),
            400,
            "Sec-WebSocket-Key must be the base64 encoding of 16 bytes",
        ),
        (
            // base64 of 15 bytes
            "GET /lower HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\nSec-WebSocket-Version: 13\r\n\r\n".to_owned(),
            400,
            "Sec-WebSocket-Key must be the base64 encoding of 16 bytes",
        ),
        (
            format!("GET /lower HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}Sec-WebSocket-Version: 8\r\n\r\n"),
            426,
            "unsupported Sec-WebSocket-Version; use 13",
        ),
    ];
    for (request, status, reason) in cases {
        let request = request.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n");
        let reply = srv.raw(request.as_bytes()).await;
        let (got, body) = parse_reply(&reply);
        assert_eq!(
            (got, body.as_str()),
            (status, reason),
            "request:\n{request}\nreply:\n{reply}"
        );
    }
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

/// What each `IntoResponse` the guide lists turns into on the wire: status, content
/// type and body.
#[tokio::test]
async fn every_documented_return_type_is_served_as_documented() {
    async fn string(_req: Request) -> String {
        "owned".to_owned()
    }
    async fn status(_req: Request) -> http::StatusCode {
        http::StatusCode::NO_CONTENT
    }
    async fn pair(_req: Request) -> (http::StatusCode, &'static str) {
        (http::StatusCode::CREATED, "made")
    }
    async fn unit(_req: Request) {}
    async fn result(req: Request) -> Result<String, (http::StatusCode, String)> {
        match req.query("fail") {
            None => Ok("fine".to_owned()),
            Some(why) => Err((http::StatusCode::UNPROCESSABLE_ENTITY, why)),
        }
    }
    let srv = start(
        App::new()
            .route("/string", string)
            .route("/str", hello)
            .route("/status", status)
            .route("/pair", pair)
            .route("/unit", unit)
            .route("/result", result),
    )
    .await;
    let text = Some("text/plain; charset=utf-8");
    for (path, want_status, want_type, want_body) in [
        ("/string", 200, text, "owned"),
        ("/str", 200, text, "hello"),
        ("/status", 204, None, ""),
        ("/pair", 201, text, "made"),
        ("/unit", 200, None, ""),
        ("/result", 200, text, "fine"),
        ("/result?fail=no+good", 422, text, "no good"),
    ] {
        let reply = srv
            .raw(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
            .await;
        let (got_status, body) = parse_reply(&reply);
        let content_type = reply.lines().find_map(|l| l.strip_prefix("content-type: "));
        assert_eq!(
            (got_status, content_type, body.as_str()),
            (want_status, want_type, want_body),
            "{path}:\n{reply}"
        );
    }
    srv.stop().await;
}

/// `WebSocketMiddleware` added explicitly takes the place it is given: middleware
/// before it see `is_websocket() == false`, after it `true`, and the app adds no second
/// one in front.
#[tokio::test]
async fn an_explicit_websocket_middleware_runs_where_it_is_added() {
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let probe = |name: &'static str| {
        let seen = seen.clone();
        move |req: Request, next: Next| {
            seen.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("{name}:{}", req.is_websocket()));
            next.run(req)
        }
    };
    let srv = start(
        app()
            .middleware(probe("before"))
            .middleware(wsview::WebSocketMiddleware::new())
            .middleware(probe("after")),
    )
    .await;
    let mut ws = srv.connect("/lower").await;
    support::send_text(&mut ws, "ABC").await;
    assert_eq!(
        support::next_data(&mut ws)
            .await
            .map(|m| m.into_text().expect("text")),
        Some("abc".into())
    );
    drop(ws);
    assert_eq!(
        *seen.lock().unwrap_or_else(|e| e.into_inner()),
        ["before:false", "after:true"]
    );
    srv.stop().await;

    // Placed last, it still validates: a malformed upgrade is refused with its reason,
    // and middleware before it saw a plain request.
    seen.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let srv = start(
        app()
            .middleware(probe("first"))
            .middleware(wsview::WebSocketMiddleware),
    )
    .await;
    let reply = srv
        .raw(&upgrade_request(
            "/lower",
            "Sec-WebSocket-Version: 8\r\nConnection: close\r\n",
        ))
        .await;
    assert_eq!(parse_reply(&reply).0, 426, "{reply}");
    assert_eq!(
        *seen.lock().unwrap_or_else(|e| e.into_inner()),
        ["first:false"]
    );
    srv.stop().await;
}

/// `accept_websocket` applied to a `require_websocket` view keeps requiring.
#[tokio::test]
async fn accept_websocket_of_require_websocket_keeps_requiring() {
    let view = accept_websocket(require_websocket(echo_ws));
    assert!(view.requires_websocket() && view.accepts_websocket());
    let srv = start(App::new().route("/", view)).await;
    assert_eq!(
        srv.get("/").await,
        (400, "This view requires a WebSocket request.".to_owned())
    );
    let mut ws = srv.connect("/").await;
    support::send_text(&mut ws, "still a websocket").await;
    assert_eq!(
        support::next_data(&mut ws)
            .await
            .map(|m| m.into_text().expect("text")),
        Some("still a websocket".into())
    );
    drop(ws);
    srv.stop().await;
}

/// Bad routes are reported by `build` (so `bind` and `serve` too), naming each one,
/// before anything listens.
#[tokio::test]
async fn bad_routes_fail_the_build_naming_each_route() {
    let err = App::new()
        .route("no-slash", hello)
        .route("/twice", hello)
        .route("/twice", hello)
        .route("/ok", hello)
        .build()
        .expect_err("a bad app must not build");
    let text = err.to_string();
    assert_eq!(
        text,
        "the app is misconfigured: route \"no-slash\": a route must start with '/'; \
         route \"/twice\": Insertion failed due to conflict with previously registered route: /twice"
    );
    let bound = App::new().route("bad", hello).bind("127.0.0.1:0").await;
    let io = bound.expect_err("bind builds first");
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
    assert!(io.to_string().contains("\"bad\""), "{io}");
    // Each problem is typed: RouteError says which pattern and what kind.
    let routes: Vec<&wsview::RouteError> = err
        .problems()
        .iter()
        .filter_map(|p| p.route_error())
        .collect();
    assert_eq!(routes.len(), 2, "{err}");
    assert_eq!(
        (
            routes[0].pattern(),
            routes[0].is_invalid_pattern(),
            routes[0].is_conflict()
        ),
        ("no-slash", true, false)
    );
    assert_eq!(
        (
            routes[1].pattern(),
            routes[1].is_invalid_pattern(),
            routes[1].is_conflict()
        ),
        ("/twice", false, true)
    );
    assert_eq!(
        routes[0].to_string(),
        "route \"no-slash\": a route must start with '/'"
    );
    let source: &dyn std::error::Error = routes[1];
    assert!(source.to_string().starts_with("route \"/twice\": "));
}

/// A masked client text frame (RFC 6455 §5.3), for raw-TCP tests.
fn masked_text(text: &str) -> Vec<u8> {
    let key = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x81, 0x80 | u8::try_from(text.len()).expect("short text")];
    frame.extend_from_slice(&key);
    frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

/// Reads one unmasked server text frame with a short payload.
async fn read_text_frame(tcp: &mut tokio::net::TcpStream, already: &[u8]) -> String {
    use tokio::io::AsyncReadExt;
    let mut got = already.to_vec();
    let mut buf = [0u8; 256];
    while got.len() < 2 || got.len() < 2 + usize::from(got[1] & 0x7f) {
        let n = support::within(tcp.read(&mut buf)).await.expect("read");
        assert!(n > 0, "closed before a whole frame: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got[0], 0x81, "a final text frame: {got:?}");
    let len = usize::from(got[1] & 0x7f);
    String::from_utf8(got[2..2 + len].to_vec()).expect("utf-8")
}

/// Frames a client sends in the same write as its upgrade request (before the 101) are
/// the socket's first messages, not lost and not read as HTTP.
#[tokio::test]
async fn frames_sent_with_the_upgrade_request_are_read() {
    let srv = start(app()).await;
    let mut req = upgrade_request("/lower", "");
    req.extend(masked_text("HELLO"));
    req.extend(masked_text("World"));
    let (head, rest, mut tcp) = srv.raw_head(&req).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let first = read_text_frame(&mut tcp, &rest).await;
    assert_eq!(first, "hello");
    let consumed = 2 + first.len();
    let second = read_text_frame(&mut tcp, rest.get(consumed..).unwrap_or_default()).await;
    assert_eq!(second, "world");
    // Closed by the client: stopping the server has no close handshake to wait for.
    drop(tcp);
    srv.stop().await;
}

/// An upgrade request whose head arrives in two writes, the second carrying a frame
/// too, upgrades and reads that frame (the server's first read sees no whole request
/// and hands what it read to hyper, which must pass the frame on).
#[tokio::test]
async fn an_upgrade_request_in_two_writes_upgrades() {
    use tokio::io::AsyncWriteExt;
    let srv = start(app()).await;
    let req = upgrade_request("/lower", "");
    let (part1, part2) = req.split_at(30);
    let mut tcp = tokio::net::TcpStream::connect(srv.addr)
        .await
        .expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    tcp.write_all(part1).await.expect("write");
    // A pause only to make the two writes two reads on the server; the test waits
    // for nothing with it (it passes, less usefully, if they merge).
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let mut second = part2.to_vec();
    second.extend(masked_text("SPLIT"));
    tcp.write_all(&second).await.expect("write");
    let (head, rest) = support::read_head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(read_text_frame(&mut tcp, &rest).await, "split");
    // Closed by the client: stopping the server has no close handshake to wait for.
    drop(tcp);
    srv.stop().await;
}

/// Sends `first` and then a plain `GET /plain` (with `Connection: close`) on one
/// connection; returns the two responses, split where the second (a 200) starts.
async fn then_a_plain_request(srv: &support::TestServer, first: &[u8]) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(srv.addr)
        .await
        .expect("connect");
    tcp.write_all(first).await.expect("write");
    tcp.write_all(b"GET /plain HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut out = Vec::new();
    support::within(tcp.read_to_end(&mut out))
        .await
        .expect("read");
    let text = String::from_utf8_lossy(&out).into_owned();
    let second = text
        .find("HTTP/1.1 200")
        .unwrap_or_else(|| panic!("{text}"));
    (text[..second].to_owned(), text[second..].to_owned())
}

/// A refused upgrade (a wrong version: 426) is answered, and the same connection goes
/// on serving plain requests (HTTP/1.1 keep-alive), as over hyper alone.
#[tokio::test]
async fn a_refused_upgrade_leaves_the_connection_serving() {
    let srv = start(app()).await;
    let refused = String::from_utf8(upgrade_request("/lower", ""))
        .expect("ascii")
        .replace("Version: 13", "Version: 8");
    let (first, second) = then_a_plain_request(&srv, refused.as_bytes()).await;
    assert!(first.starts_with("HTTP/1.1 426"), "{first}");
    assert!(
        first.contains("unsupported Sec-WebSocket-Version"),
        "{first}"
    );
    assert!(second.ends_with("hello"), "{second}");
    srv.stop().await;
}

/// A view that answers a WebSocket request without accepting (a redirect, say) gets
/// its response out whole, body included, and the connection serves on.
#[tokio::test]
async fn a_view_that_declines_the_socket_answers_over_http() {
    async fn declines(_req: Request) -> Response {
        Response::text("not for sockets").with_status(409)
    }
    let srv = start(
        App::new()
            .route("/x", accept_websocket(declines))
            .route("/plain", hello),
    )
    .await;
    let (first, second) = then_a_plain_request(&srv, &upgrade_request("/x", "")).await;
    assert!(first.starts_with("HTTP/1.1 409"), "{first}");
    assert!(first.ends_with("not for sockets"), "{first}");
    assert!(second.ends_with("hello"), "{second}");
    srv.stop().await;
}

/// hyper's own upgrade path: a plain request first, then an upgrade on the same
/// keep-alive connection (hyper serves the connection, the engine gets the socket back
/// from it, with a frame sent along with the request).
#[tokio::test]
async fn an_upgrade_after_a_plain_request_on_the_same_connection() {
    use tokio::io::AsyncWriteExt;
    let srv = start(app()).await;
    let mut tcp = tokio::net::TcpStream::connect(srv.addr)
        .await
        .expect("connect");
    tcp.write_all(b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("write");
    let (head, mut body) = support::read_head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    while body.len() < "hello".len() {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 64];
        let n = support::within(tcp.read(&mut buf)).await.expect("read");
        assert!(n > 0);
        body.extend_from_slice(&buf[..n]);
    }
    assert_eq!(body, b"hello");
    let mut req = upgrade_request("/lower", "");
    req.extend(masked_text("AFTER"));
    tcp.write_all(&req).await.expect("write");
    let (head, rest) = support::read_head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(read_text_frame(&mut tcp, &rest).await, "after");
    // Closed by the client: stopping the server has no close handshake to wait for.
    drop(tcp);
    srv.stop().await;
}

/// A request head larger than the server's first read (a browser with many cookies)
/// goes to hyper whole and upgrades there.
#[tokio::test]
async fn an_upgrade_with_a_head_larger_than_the_first_read() {
    let srv = start(app()).await;
    let cookie = format!("Cookie: session={}\r\n", "c".repeat(6000));
    let mut req = upgrade_request("/lower", &cookie);
    req.extend(masked_text("BIG"));
    let (head, rest, mut tcp) = srv.raw_head(&req).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(read_text_frame(&mut tcp, &rest).await, "big");
    // Closed by the client: stopping the server has no close handshake to wait for.
    drop(tcp);
    srv.stop().await;
}
