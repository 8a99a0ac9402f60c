//! Settings: every documented default, and `Settings::from_env` for each variable the
//! guide lists, checked by the behaviour each one sets over real sockets. Its own test
//! binary with one test touching the environment: setting process environment
//! variables must not race with other tests.

mod support;

use std::time::{Duration, Instant};

use support::{next_data, parse_reply, send_text, start, within};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsview::{require_websocket, App, IntoResponse, Request, Response, Settings};

const VARIABLES: [&str; 22] = [
    "WEBSOCKET_ACCEPT_ALL",
    "WSVIEW_MAX_MESSAGE_SIZE",
    "WSVIEW_MAX_FRAME_SIZE",
    "WSVIEW_READ_BUFFER_SIZE",
    "WSVIEW_WRITE_BUFFER_SIZE",
    "WSVIEW_MAX_QUEUED_MESSAGES",
    "WSVIEW_MAX_QUEUED_BYTES",
    "WSVIEW_SENDER_CAPACITY",
    "WSVIEW_MAX_BODY_SIZE",
    "WSVIEW_CLOSE_TIMEOUT_MS",
    "WSVIEW_HEADER_READ_TIMEOUT_MS",
    "WSVIEW_TCP_KEEPALIVE_SECS",
    "WSVIEW_TCP_KEEPALIVE_INTERVAL_SECS",
    "WSVIEW_TCP_KEEPALIVE_RETRIES",
    "WSVIEW_ALLOWED_ORIGINS",
    "WSVIEW_PING_INTERVAL_MS",
    "WSVIEW_PONG_TIMEOUT_MS",
    "WSVIEW_MESSAGE_READ_TIMEOUT_MS",
    "WSVIEW_BODY_READ_TIMEOUT_MS",
    "WSVIEW_LISTEN_BACKLOG",
    "WSVIEW_COMPRESSION",
    "WSVIEW_COMPRESSION_THRESHOLD",
];

/// The guide's table of defaults, field by field.
#[test]
fn defaults_are_the_documented_ones() {
    let s = Settings::default();
    assert!(!s.websocket_accept_all);
    assert_eq!(s.max_message_size, 1 << 20, "max_message_size 1 MiB");
    assert_eq!(s.max_frame_size, 1 << 20, "max_frame_size 1 MiB");
    assert_eq!(s.read_buffer_size, 64 << 10, "read_buffer_size 64 KiB");
    assert_eq!(s.write_buffer_size, 64 << 10, "write_buffer_size 64 KiB");
    assert_eq!(s.max_queued_messages, 64);
    assert_eq!(s.max_queued_bytes, 1 << 20, "max_queued_bytes 1 MiB");
    assert_eq!(s.sender_capacity, 64);
    assert_eq!(s.max_body_size, 2 << 20, "max_body_size 2 MiB");
    assert_eq!(s.close_timeout, Duration::from_secs(5));
    assert_eq!(s.header_read_timeout, Some(Duration::from_secs(30)));
    assert_eq!(s.tcp_keepalive, Some(Duration::from_secs(60)));
    assert_eq!(s.tcp_keepalive_interval, Duration::from_secs(10));
    assert_eq!(s.tcp_keepalive_retries, 3);
    assert_eq!(s.allowed_origins, None, "the same host only");
    assert!(!s.any_origin);
    assert_eq!(s.ping_interval, Some(Duration::from_secs(20)));
    assert_eq!(s.pong_timeout, Some(Duration::from_secs(20)));
    assert_eq!(s.message_read_timeout, Some(Duration::from_secs(30)));
    assert_eq!(s.body_read_timeout, Some(Duration::from_secs(30)));
    assert_eq!(s.listen_backlog, 1024);
    assert_eq!(s.http2_max_concurrent_streams, 200);
    assert_eq!(s.http2_keep_alive_interval, None);
    assert_eq!(s.compression, None, "compression off");
    let d = wsview::DeflateConfig::default();
    assert_eq!((d.level, d.threshold), (1, 128));
    assert!(!d.server_context_takeover && !d.client_context_takeover);
    assert_eq!(
        (d.server_max_window_bits, d.client_max_window_bits),
        (15, 15)
    );
}

/// Each builder setter sets its field, and only it.
#[test]
fn builder_setters_set_their_field() {
    let s = Settings::default()
        .websocket_accept_all(true)
        .max_message_size(1)
        .max_frame_size(2)
        .read_buffer_size(3)
        .write_buffer_size(4)
        .max_queued_messages(5)
        .max_queued_bytes(6)
        .sender_capacity(7)
        .max_body_size(8)
        .close_timeout(Duration::from_millis(9))
        .header_read_timeout(None)
        .tcp_keepalive(Some(Duration::from_secs(11)))
        .tcp_keepalive_interval(Duration::from_secs(12))
        .tcp_keepalive_retries(13)
        .allowed_origins(["https://a.example"])
        .ping_interval(None)
        .pong_timeout(Some(Duration::from_millis(14)))
        .message_read_timeout(Some(Duration::from_millis(15)))
        .body_read_timeout(None)
        .listen_backlog(16)
        .http2_max_concurrent_streams(17)
        .http2_keep_alive_interval(Some(Duration::from_millis(18)));
    assert!(s.websocket_accept_all);
    assert_eq!(
        (
            s.max_message_size,
            s.max_frame_size,
            s.read_buffer_size,
            s.write_buffer_size,
            s.max_queued_messages,
            s.max_queued_bytes,
            s.sender_capacity,
            s.max_body_size,
        ),
        (1, 2, 3, 4, 5, 6, 7, 8)
    );
    assert_eq!(s.close_timeout, Duration::from_millis(9));
    assert_eq!(s.header_read_timeout, None);
    assert_eq!(s.tcp_keepalive, Some(Duration::from_secs(11)));
    assert_eq!(s.tcp_keepalive_interval, Duration::from_secs(12));
    assert_eq!(s.tcp_keepalive_retries, 13);
    assert_eq!(
        s.allowed_origins,
        Some(vec!["https://a.example".to_owned()])
    );
    assert_eq!(s.ping_interval, None);
    assert_eq!(s.pong_timeout, Some(Duration::from_millis(14)));
    assert_eq!(s.message_read_timeout, Some(Duration::from_millis(15)));
    assert_eq!(s.body_read_timeout, None);
    assert_eq!(s.listen_backlog, 16);
    assert_eq!(s.http2_max_concurrent_streams, 17);
    assert_eq!(s.http2_keep_alive_interval, Some(Duration::from_millis(18)));
    assert!(!s.any_origin);
    assert!(s.dangerously_allow_any_origin().any_origin);
}

async fn plain_view(mut req: Request) -> Response {
    match req.websocket() {
        None => match req.body().await {
            Ok(body) => Response::text(format!("{} bytes", body.len())),
            Err(e) => e.into_response(),
        },
        Some(ws) => {
            while let Some(m) = ws.wait().await {
                let _ = ws.send(m).await;
            }
            Response::empty()
        }
    }
}

/// `std::env::set_var` is safe on edition 2021; named so its uses stand out. Every
/// variable is cleared first, so each step sees only its own.
fn set_only(key: &str, value: &str) {
    for name in VARIABLES {
        std::env::remove_var(name);
    }
    std::env::set_var(key, value);
}

#[tokio::test]
async fn from_env_reads_each_documented_variable() {
    // WEBSOCKET_ACCEPT_ALL: 1/true/yes/on or 0/false/no/off, in any case.
    for (value, accepted) in [
        ("yes", true),
        ("TRUE", true),
        ("1", true),
        ("on", true),
        ("On", true),
        ("0", false),
        ("no", false),
        ("OFF", false),
    ] {
        set_only("WEBSOCKET_ACCEPT_ALL", value);
        let settings = Settings::from_env().expect("a valid value");
        assert_eq!(settings.websocket_accept_all, accepted, "{value}");
        let srv = start(App::new().settings(settings).route("/", plain_view)).await;
        if accepted {
            let mut ws = srv.connect("/").await;
            send_text(&mut ws, value).await;
            assert_eq!(next_data(&mut ws).await, Some(WsMessage::text(value)));
            drop(ws);
        } else {
            assert_eq!(srv.connect_err("/").await.0, 400);
        }
        srv.stop().await;
    }

    // A value that does not parse is an error naming the variable and the value.
    for (name, value) in [
        ("WEBSOCKET_ACCEPT_ALL", "maybe"),
        ("WSVIEW_MAX_FRAME_SIZE", "lots"),
        ("WSVIEW_CLOSE_TIMEOUT_MS", "-1"),
        ("WSVIEW_TCP_KEEPALIVE_SECS", "soon"),
    ] {
        set_only(name, value);
        let err = Settings::from_env().expect_err("not a valid value");
        assert_eq!((err.variable(), err.value()), (name, value));
        assert!(
            err.to_string()
                .starts_with(&format!("{name}={value:?} is not ")),
            "{err}"
        );
    }

    // Each variable sets its field.
    let read = |name: &str, value: &str| {
        set_only(name, value);
        Settings::from_env().expect("a valid value")
    };
    assert_eq!(read("WSVIEW_MAX_MESSAGE_SIZE", "100").max_message_size, 100);
    assert_eq!(read("WSVIEW_MAX_FRAME_SIZE", " 200 ").max_frame_size, 200);
    assert_eq!(read("WSVIEW_READ_BUFFER_SIZE", "300").read_buffer_size, 300);
    assert_eq!(
        read("WSVIEW_WRITE_BUFFER_SIZE", "400").write_buffer_size,
        400
    );
    assert_eq!(
        read("WSVIEW_MAX_QUEUED_MESSAGES", "5").max_queued_messages,
        5
    );
    assert_eq!(read("WSVIEW_MAX_QUEUED_BYTES", "600").max_queued_bytes, 600);
    assert_eq!(read("WSVIEW_SENDER_CAPACITY", "7").sender_capacity, 7);
    assert_eq!(
        read("WSVIEW_HEADER_READ_TIMEOUT_MS", "800").header_read_timeout,
        Some(Duration::from_millis(800))
    );
    assert_eq!(
        read("WSVIEW_HEADER_READ_TIMEOUT_MS", "off").header_read_timeout,
        None
    );
    assert_eq!(
        read("WSVIEW_TCP_KEEPALIVE_SECS", "90").tcp_keepalive,
        Some(Duration::from_secs(90))
    );
    assert_eq!(read("WSVIEW_TCP_KEEPALIVE_SECS", "off").tcp_keepalive, None);
    assert_eq!(
        read("WSVIEW_TCP_KEEPALIVE_INTERVAL_SECS", "4").tcp_keepalive_interval,
        Duration::from_secs(4)
    );
    assert_eq!(
        read("WSVIEW_TCP_KEEPALIVE_RETRIES", "9").tcp_keepalive_retries,
        9
    );

    set_only("WSVIEW_MAX_BODY_SIZE", "10");
    let settings = Settings::from_env().expect("a valid value");
    assert_eq!(settings.max_body_size, 10);
    let srv = start(App::new().settings(settings).route("/", plain_view)).await;
    for (body, want) in [
        ("0123456789", (200, "10 bytes")),
        ("0123456789!", (413, "Payload Too Large")),
    ] {
        let reply = srv
            .raw(
                format!(
                    "POST / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
            .await;
        let (status, text) = parse_reply(&reply);
        assert_eq!((status, text.as_str()), want, "{reply}");
    }
    srv.stop().await;

    // WSVIEW_CLOSE_TIMEOUT_MS: a peer that never answers our close is dropped after it.
    set_only("WSVIEW_CLOSE_TIMEOUT_MS", "150");
    let settings = Settings::from_env().expect("a valid value");
    assert_eq!(settings.close_timeout, Duration::from_millis(150));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let srv = start(App::new().settings(settings).route(
        "/",
        require_websocket(move |mut req: Request| {
            let tx = tx.clone();
            async move {
                let ws = req.websocket().expect("websocket");
                let _ = ws.close(4000, "going").await;
                let closed_at = Instant::now();
                while ws.wait().await.is_some() {}
                let _ = tx.send(closed_at.elapsed());
                Response::empty()
            }
        }),
    ))
    .await;
    let (head, _, tcp) = srv.raw_head(&support::upgrade_request("/", "")).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let waited = within(rx.recv()).await.expect("view ended");
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(4),
        "the unanswered close was dropped after WSVIEW_CLOSE_TIMEOUT_MS, not the 5 s default: {waited:?}"
    );
    drop(tcp);
    srv.stop().await;

    // WSVIEW_COMPRESSION: on negotiates permessage-deflate with a client that offers it,
    // off does not; WSVIEW_COMPRESSION_THRESHOLD sets the threshold when it is on.
    let offer = support::upgrade_request(
        "/",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
    );
    for (value, on) in [("on", true), ("off", false), ("1", true)] {
        set_only("WSVIEW_COMPRESSION", value);
        let settings = Settings::from_env().expect("a valid value");
        assert_eq!(settings.compression.is_some(), on, "{value}");
        let srv = start(
            App::new()
                .settings(settings)
                .route("/", require_websocket(plain_view)),
        )
        .await;
        let (head, _, tcp) = srv.raw_head(&offer).await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        let agreed = head
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions: permessage-deflate");
        assert_eq!(agreed, on, "{value}: {head}");
        drop(tcp);
        srv.stop().await;
    }
    set_only("WSVIEW_COMPRESSION", "on");
    std::env::set_var("WSVIEW_COMPRESSION_THRESHOLD", "5");
    let settings = Settings::from_env().expect("valid values");
    assert_eq!(settings.compression.map(|c| c.threshold), Some(5));
    set_only("WSVIEW_COMPRESSION", "sometimes");
    let err = Settings::from_env().expect_err("not a boolean");
    assert_eq!(err.variable(), "WSVIEW_COMPRESSION");

    // WSVIEW_ALLOWED_ORIGINS: a comma list, spaces and empty items ignored.
    set_only(
        "WSVIEW_ALLOWED_ORIGINS",
        " https://a.example , https://b.example,,",
    );
    let settings = Settings::from_env().expect("a valid value");
    assert_eq!(
        settings.allowed_origins.as_deref(),
        Some(
            &[
                "https://a.example".to_owned(),
                "https://b.example".to_owned()
            ][..]
        )
    );
    let srv = start(
        App::new()
            .settings(settings)
            .route("/", require_websocket(plain_view)),
    )
    .await;
    for (origin, allowed) in [
        (Some("https://b.example"), true),
        (None, true),
        (Some("https://c.example"), false),
    ] {
        let mut req = srv.url("/").into_client_request().expect("request");
        if let Some(origin) = origin {
            req.headers_mut()
                .insert("origin", origin.parse().expect("header"));
        }
        match within(tokio_tungstenite::connect_async(req)).await {
            Ok(_) => assert!(allowed, "{origin:?} should be refused"),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert!(!allowed, "{origin:?} should pass");
                assert_eq!(resp.status(), 403);
                assert_eq!(support::body_text(&resp), "origin not allowed");
            }
            Err(e) => panic!("{e}"),
        }
    }
    srv.stop().await;

    // The peer deadlines and the backlog: milliseconds (or off) and a count.
    for (name, value) in [
        ("WSVIEW_PING_INTERVAL_MS", "off"),
        ("WSVIEW_PONG_TIMEOUT_MS", "250"),
        ("WSVIEW_MESSAGE_READ_TIMEOUT_MS", "300"),
        ("WSVIEW_BODY_READ_TIMEOUT_MS", "OFF"),
        ("WSVIEW_LISTEN_BACKLOG", "64"),
    ] {
        set_only(name, value);
        let s = Settings::from_env().expect("a valid value");
        match name {
            "WSVIEW_PING_INTERVAL_MS" => assert_eq!(s.ping_interval, None),
            "WSVIEW_PONG_TIMEOUT_MS" => {
                assert_eq!(s.pong_timeout, Some(Duration::from_millis(250)))
            }
            "WSVIEW_MESSAGE_READ_TIMEOUT_MS" => {
                assert_eq!(s.message_read_timeout, Some(Duration::from_millis(300)))
            }
            "WSVIEW_BODY_READ_TIMEOUT_MS" => assert_eq!(s.body_read_timeout, None),
            _ => assert_eq!(s.listen_backlog, 64),
        }
    }
    // Keepalive from the environment, over a socket: a silent peer is closed with 1011.
    set_only("WSVIEW_PING_INTERVAL_MS", "100");
    std::env::set_var("WSVIEW_PONG_TIMEOUT_MS", "100");
    let srv = start(
        App::new()
            .settings(Settings::from_env().expect("valid"))
            .route("/", require_websocket(plain_view)),
    )
    .await;
    let (head, mut got, mut tcp) = srv.raw_head(&support::upgrade_request("/", "")).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut buf = [0u8; 256];
    loop {
        use tokio::io::AsyncReadExt;
        match within(tcp.read(&mut buf)).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    // A ping (0x89, empty), then the close (0x88) with 1011.
    assert_eq!(got.get(..2), Some(&[0x89, 0][..]), "{got:?}");
    assert_eq!(got.get(2), Some(&0x88), "{got:?}");
    assert_eq!(got.get(4..6), Some(&1011u16.to_be_bytes()[..]), "{got:?}");
    srv.stop().await;
    for name in VARIABLES {
        std::env::remove_var(name);
    }
}
