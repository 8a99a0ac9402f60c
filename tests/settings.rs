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
use wsview::{require_websocket, App, Request, Response, Settings};

const VARIABLES: [&str; 6] = [
    "WEBSOCKET_ACCEPT_ALL",
    "WSVIEW_MAX_MESSAGE_SIZE",
    "WSVIEW_MAX_FRAME_SIZE",
    "WSVIEW_MAX_BODY_SIZE",
    "WSVIEW_CLOSE_TIMEOUT_MS",
    "WSVIEW_ALLOWED_ORIGINS",
];

/// The guide's table of defaults, field by field.
#[test]
fn defaults_are_the_documented_ones() {
    let s = Settings::default();
    assert!(!s.websocket_accept_all);
    assert_eq!(s.max_message_size, 1 << 20, "max_message_size 1 MiB");
    assert_eq!(s.max_frame_size, 1 << 20, "max_frame_size 1 MiB");
    assert_eq!(s.read_buffer_size, 8 << 10, "read_buffer_size 8 KiB");
    assert_eq!(s.write_buffer_size, 64 << 10, "write_buffer_size 64 KiB");
    assert_eq!(s.max_queued_messages, 64);
    assert_eq!(s.max_queued_bytes, 1 << 20, "max_queued_bytes 1 MiB");
    assert_eq!(s.sender_capacity, 64);
    assert_eq!(s.max_body_size, 2 << 20, "max_body_size 2 MiB");
    assert_eq!(s.close_timeout, Duration::from_secs(5));
    assert_eq!(s.tcp_keepalive, Some(Duration::from_secs(60)));
    assert_eq!(s.allowed_origins, None, "any origin");
}

async fn plain_view(mut req: Request) -> Response {
    match req.websocket() {
        None => Response::text(format!("{} bytes", req.body().len())),
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
    // WEBSOCKET_ACCEPT_ALL: 1/true/yes/on in any case; anything else is false.
    for (value, accepted) in [
        ("yes", true),
        ("TRUE", true),
        ("1", true),
        ("on", true),
        ("On", true),
        ("0", false),
        ("no", false),
    ] {
        set_only("WEBSOCKET_ACCEPT_ALL", value);
        let settings = Settings::from_env();
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

    // Sizes in bytes; a value that is not a number is ignored (the default stays).
    set_only("WSVIEW_MAX_MESSAGE_SIZE", "100");
    assert_eq!(Settings::from_env().max_message_size, 100);
    set_only("WSVIEW_MAX_FRAME_SIZE", " 200 ");
    assert_eq!(Settings::from_env().max_frame_size, 200);
    set_only("WSVIEW_MAX_FRAME_SIZE", "lots");
    assert_eq!(Settings::from_env().max_frame_size, 1 << 20);

    set_only("WSVIEW_MAX_BODY_SIZE", "10");
    let settings = Settings::from_env();
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
    let settings = Settings::from_env();
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

    // WSVIEW_ALLOWED_ORIGINS: a comma list, spaces and empty items ignored.
    set_only(
        "WSVIEW_ALLOWED_ORIGINS",
        " https://a.example , https://b.example,,",
    );
    let settings = Settings::from_env();
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
    for name in VARIABLES {
        std::env::remove_var(name);
    }
}
