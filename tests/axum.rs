//! A wsview app mounted in an axum 0.8 Router and served by `axum::serve` over a real
//! socket: axum's own routes, wsview's plain and WebSocket views under a prefix, a lazy
//! refusal, the peer address through axum's ConnectInfo, and shutdown.

mod support;

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use futures_util::{SinkExt, StreamExt};
use support::within;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsview::prelude::*;

async fn echo(mut req: Request) -> Response {
    if req.query("token").as_deref() != Some("ok") {
        return Response::text("token please").with_status(403);
    }
    let ws = req.websocket().expect("require_websocket");
    while let Some(msg) = ws.next().await {
        if ws.send(msg).await.is_err() {
            break;
        }
    }
    Response::empty()
}

async fn info(req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string());
    let original = req
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map(|uri| uri.0.path().to_owned());
    Response::json(&serde_json::json!({
        "path": req.path(),
        "original": original,
        "peer": peer,
        "wsview_remote_addr": req.remote_addr().map(|a| a.to_string()),
    }))
}

struct Mounted {
    addr: SocketAddr,
    live: AppService,
    stop: oneshot::Sender<()>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn serve() -> Mounted {
    let live = App::new()
        .route("/echo", require_websocket(echo))
        .route("/info", info)
        .build()
        .expect("wsview app builds");
    let router = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "axum ok" }))
        .nest_service("/live", live.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .await
    });
    Mounted {
        addr,
        live,
        stop,
        served,
    }
}

/// A plain HTTP/1.1 GET over a raw socket; returns the status and the body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut tcp = within(tokio::net::TcpStream::connect(addr)).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    within(tcp.read_to_end(&mut raw)).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

#[tokio::test]
async fn axum_routes_and_wsview_plain_views_side_by_side() {
    let m = serve().await;
    assert_eq!(
        http_get(m.addr, "/health").await,
        (200, "axum ok".to_owned())
    );
    let (status, body) = http_get(m.addr, "/live/info").await;
    assert_eq!(status, 200);
    let seen: serde_json::Value = serde_json::from_str(&body).unwrap();
    // nest_service strips the prefix; axum keeps the original path in an extension.
    assert_eq!(seen["path"], "/info");
    assert_eq!(seen["original"], "/live/info");
    // wsview's own remote_addr is the server's to set; axum's ConnectInfo carries it.
    assert_eq!(seen["peer"], "127.0.0.1");
    assert!(seen["wsview_remote_addr"].is_null());
    // wsview's router answers for unknown paths under the prefix.
    assert_eq!(http_get(m.addr, "/live/nothing").await.0, 404);
}

#[tokio::test]
async fn a_websocket_view_under_the_prefix_upgrades_through_axum() {
    let m = serve().await;
    let url = format!("ws://{}/live/echo?token=ok", m.addr);
    let (mut ws, resp) = within(tokio_tungstenite::connect_async(url)).await.unwrap();
    assert_eq!(resp.status(), 101);
    ws.send(WsMessage::text("through axum")).await.unwrap();
    let back = within(ws.next()).await.unwrap().unwrap();
    assert_eq!(back.into_text().unwrap().as_str(), "through axum");
    assert_eq!(m.live.open_websockets(), 1);
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn a_lazy_refusal_reaches_the_client_through_axum() {
    let m = serve().await;
    let url = format!("ws://{}/live/echo", m.addr);
    match within(tokio_tungstenite::connect_async(url)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 403);
            assert_eq!(resp.body().as_deref(), Some(&b"token please"[..]));
        }
        other => panic!("expected a 403 refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn axum_shutdown_leaves_websockets_to_close_websockets() {
    let m = serve().await;
    let url = format!("ws://{}/live/echo?token=ok", m.addr);
    let (mut ws, _) = within(tokio_tungstenite::connect_async(url)).await.unwrap();
    ws.send(WsMessage::text("before")).await.unwrap();
    within(ws.next()).await.unwrap().unwrap();
    // axum's graceful shutdown returns while the upgraded connection is still open...
    m.stop.send(()).unwrap();
    within(m.served).await.unwrap().unwrap();
    ws.send(WsMessage::text("after axum stopped"))
        .await
        .unwrap();
    let back = within(ws.next()).await.unwrap().unwrap();
    assert_eq!(back.into_text().unwrap().as_str(), "after axum stopped");
    // ...so the app closes its WebSockets itself: 1001, and the view returns.
    let live = m.live.clone();
    let closing = tokio::spawn(async move { live.close_websockets().await });
    match within(ws.next()).await {
        Some(Ok(WsMessage::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected a 1001 close, got {other:?}"),
    }
    // Reading on sends tungstenite's queued close reply, completing the handshake.
    assert!(within(ws.next()).await.is_none());
    within(closing).await.unwrap();
    assert_eq!(m.live.open_websockets(), 0);
}
