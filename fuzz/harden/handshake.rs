//! The WebSocket opening handshake, fuzzed through the app's public service: the input
//! is a request head (first line `METHOD /path`, then `Name: value` lines), run through
//! the handshake middleware, the router and a view that accepts. Whatever the input, the
//! service answers (101, or the refusal's 4xx) and never panics. Shared by the libFuzzer
//! target and the stable replay in `tests/fuzz_replay.rs`.

use std::sync::OnceLock;

use bytes::Bytes;
use http_body_util::Full;
use wsview::http::{HeaderName, HeaderValue, Method, Request as HttpRequest, Uri};
use wsview::{accept_websocket, App, AppService, Request};

fn runtime_and_app() -> &'static (tokio::runtime::Runtime, AppService) {
    static ONCE: OnceLock<(tokio::runtime::Runtime, AppService)> = OnceLock::new();
    ONCE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let app = App::new()
            .settings(wsview::Settings::default().allowed_origins(["https://ok.example"]))
            .route(
                "/ws",
                accept_websocket(|mut req: Request| async move {
                    if let Some(ws) = req.websocket() {
                        let _ = ws.accept().await;
                    }
                    "plain"
                }),
            )
            .build()
            .expect("app");
        (rt, app)
    })
}

fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// Runs one input and returns the status; panics only if the service misbehaves.
pub fn run(data: &[u8]) -> u16 {
    let (rt, app) = runtime_and_app();
    let mut lines = data.split(|b| *b == b'\n');
    let mut builder = HttpRequest::builder().method(Method::GET).uri("/ws");
    if let Some(first) = lines.next() {
        let mut parts = trim(first).splitn(2, |b| *b == b' ');
        if let Some(m) = parts.next().and_then(|m| Method::from_bytes(m).ok()) {
            builder = builder.method(m);
        }
        if let Some(u) = parts.next().and_then(|u| Uri::try_from(trim(u)).ok()) {
            builder = builder.uri(u);
        }
    }
    for line in lines {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(trim(&line[..colon])),
            HeaderValue::from_bytes(trim(&line[colon + 1..])),
        ) else {
            continue;
        };
        builder = builder.header(name, value);
    }
    let Ok(req) = builder.body(Full::new(Bytes::new())) else {
        return 0;
    };
    let mut service = app.clone();
    let resp = rt
        .block_on(tower_service::Service::call(&mut service, req))
        .unwrap_or_else(|never| match never {});
    let status = resp.status().as_u16();
    assert!(
        matches!(status, 101 | 200 | 400 | 403 | 404 | 426 | 500),
        "unexpected status {status}"
    );
    status
}

/// A valid handshake, as a seed for mutations (the stable replay uses it; the fuzzer has
/// its corpus).
#[allow(dead_code)]
pub const SEED: &[u8] = b"GET /ws\nHost: h\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\nOrigin: http://h\nSec-WebSocket-Protocol: chat, superchat\n";
