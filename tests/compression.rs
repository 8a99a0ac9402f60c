//! permessage-deflate (RFC 7692) end to end: Python's `websockets` (which offers it by
//! default), raw frames made with Python's zlib, headless Chromium, and the per-view
//! setting, all against real servers on 127.0.0.1.
//!
//! Needs the venv `scripts/test` makes (`websockets`, `selenium`) and Debian's chromium
//! and chromedriver; `WSVIEW_PYTHON` names another interpreter.

mod support;

use support::{require_browser, run_script, start, within, LIMIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsview::{require_websocket, App, DeflateConfig, Request, Response, Settings};

#[path = "../examples/echo.rs"]
#[allow(dead_code)]
mod echo;

fn compressed() -> Settings {
    let mut settings = Settings::default().compression(Some(DeflateConfig::default()));
    settings.max_message_size = 16 << 20;
    settings.max_frame_size = 16 << 20;
    settings
}

#[tokio::test]
async fn python_websockets_and_raw_zlib_frames() {
    let echo_srv = start(echo::app(compressed())).await;
    let limited = start(echo::app(
        Settings::default().compression(Some(DeflateConfig::default())),
    ))
    .await;
    let plain = start(echo::app(Settings::default())).await;
    let urls = [echo_srv.url("/"), limited.url("/"), plain.url("/")];
    run_script("compression.py", urls, LIMIT).await;
    echo_srv.stop().await;
    limited.stop().await;
    plain.stop().await;
}

#[tokio::test]
async fn chromium_negotiates_deflate() {
    require_browser();
    let srv = start(echo::app(compressed())).await;
    run_script("browser_deflate.py", [srv.url("/")], LIMIT).await;
    srv.stop().await;
}

/// The 101's `Sec-WebSocket-Extensions` for a raw handshake offering `offer`.
async fn agreed(addr: std::net::SocketAddr, path: &str, offer: &str) -> Option<String> {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Extensions: {offer}\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        within(tcp.read_exact(&mut byte)).await.expect("read");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).expect("ascii");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-extensions")
            .then(|| value.trim().to_owned())
    })
}

async fn hold(mut req: Request) -> Response {
    if let Some(ws) = req.websocket() {
        while ws.wait().await.is_some() {}
    }
    Response::empty()
}

#[tokio::test]
async fn the_view_setting_overrides_the_apps() {
    let mut takeover = DeflateConfig::default();
    takeover.server_context_takeover = true;
    takeover.client_context_takeover = true;
    takeover.server_max_window_bits = 12;
    let app = |settings: Settings| {
        App::new()
            .settings(settings)
            .route("/inherit", require_websocket(hold))
            .route("/off", require_websocket(hold).compression(None))
            .route(
                "/own",
                require_websocket(hold).compression(Some(takeover.clone())),
            )
    };
    let offer = "permessage-deflate; client_max_window_bits";
    let on = start(app(
        Settings::default().compression(Some(DeflateConfig::default()))
    ))
    .await;
    assert_eq!(
        agreed(on.addr, "/inherit", offer).await.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    );
    assert_eq!(agreed(on.addr, "/off", offer).await, None);
    assert_eq!(
        agreed(on.addr, "/own", offer).await.as_deref(),
        Some("permessage-deflate; server_max_window_bits=12")
    );
    // Several offers: the first acceptable one wins; none acceptable, no compression.
    assert_eq!(
        agreed(on.addr, "/own", "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_no_context_takeover").await.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=12")
    );
    assert_eq!(
        agreed(
            on.addr,
            "/inherit",
            "permessage-deflate; bogus, x-webkit-deflate-frame"
        )
        .await,
        None
    );
    on.stop().await;
    let off = start(app(Settings::default())).await;
    assert_eq!(agreed(off.addr, "/inherit", offer).await, None);
    assert_eq!(
        agreed(off.addr, "/own", offer).await.as_deref(),
        Some("permessage-deflate; server_max_window_bits=12")
    );
    off.stop().await;
}
