//! permessage-deflate (RFC 7692) end to end: Python's `websockets` (which offers it by
//! default), raw frames made with Python's zlib, headless Chromium, and the per-view
//! setting, all against real servers on 127.0.0.1.
//!
//! Needs the venv `scripts/test` makes (`websockets`, `selenium`) and Debian's chromium
//! and chromedriver; `WSVIEW_PYTHON` names another interpreter.

mod support;

use std::path::{Path, PathBuf};

use support::{start, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsview::{require_websocket, App, DeflateConfig, Request, Response, Settings};

#[path = "../examples/echo.rs"]
#[allow(dead_code)]
mod echo;

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("WSVIEW_PYTHON") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name)
}

fn compressed() -> Settings {
    let mut settings = Settings::default().compression(Some(DeflateConfig::default()));
    settings.max_message_size = 16 << 20;
    settings.max_frame_size = 16 << 20;
    settings
}

async fn run_python(args: Vec<String>) -> String {
    let out = within(
        tokio::process::Command::new(python())
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("all checks passed"),
        "python check failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

#[tokio::test]
async fn python_websockets_and_raw_zlib_frames() {
    let echo_srv = start(echo::app(compressed())).await;
    let limited = start(echo::app(
        Settings::default().compression(Some(DeflateConfig::default())),
    ))
    .await;
    let plain = start(echo::app(Settings::default())).await;
    run_python(vec![
        script("compression.py").display().to_string(),
        echo_srv.url("/"),
        limited.url("/"),
        plain.url("/"),
    ])
    .await;
    echo_srv.stop().await;
    limited.stop().await;
    plain.stop().await;
}

#[tokio::test]
async fn chromium_negotiates_deflate() {
    for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: run scripts/test (it installs chromium and chromium-driver)"
        );
    }
    let srv = start(echo::app(compressed())).await;
    run_python(vec![
        script("browser_deflate.py").display().to_string(),
        srv.url("/"),
    ])
    .await;
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
