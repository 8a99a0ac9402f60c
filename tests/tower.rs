//! The app as a tower `Service`: served through hyper-util's tower adapter on a real
//! socket, it answers HTTP and completes WebSocket upgrades.

mod support;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use support::{next_data, send_text, within};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsview::{accept_websocket, App, Request, Response};

async fn both(mut req: Request) -> Response {
    match req.websocket() {
        None => Response::text("plain over tower"),
        Some(ws) => {
            while let Some(m) = ws.wait().await {
                let _ = ws.send(m).await;
            }
            Response::empty()
        }
    }
}

#[tokio::test]
async fn tower_service_serves_http_and_websockets() {
    let service = App::new()
        .route("/", accept_websocket(both))
        .build()
        .expect("build");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        // Two connections: one HTTP, one WebSocket.
        for _ in 0..2 {
            let (tcp, _) = listener.accept().await.expect("accept");
            let tower = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), tower)
                    .with_upgrades()
                    .await;
            });
        }
    });

    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut reply = String::new();
    within(tcp.read_to_string(&mut reply)).await.expect("read");
    assert_eq!(
        support::parse_reply(&reply),
        (200, "plain over tower".to_owned())
    );

    let (mut ws, _) = within(tokio_tungstenite::connect_async(format!("ws://{addr}/")))
        .await
        .expect("handshake");
    send_text(&mut ws, "through tower").await;
    assert_eq!(
        next_data(&mut ws).await,
        Some(WsMessage::text("through tower"))
    );
    within(ws.close(None)).await.expect("close");
    within(server).await.expect("server");
}
