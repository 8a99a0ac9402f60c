use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use wsview::prelude::*;
use wsview::test::TestClient;
use wsview_downstream::{app, router, Visits};

// The guide's "Testing without a port" example, as written there.
async fn echo(mut req: Request) -> Response {
    let Some(ws) = req.websocket() else {
        return Response::text("connect with a WebSocket").with_status(426);
    };
    while let Some(msg) = ws.next().await {
        if ws.send(msg).await.is_err() {
            break;
        }
    }
    Response::empty()
}

#[tokio::test]
async fn echoes() -> Result<(), Box<dyn std::error::Error>> {
    let client = TestClient::new(App::new().route("/echo", accept_websocket(echo)))?;

    assert_eq!(client.get("/echo").await?.status(), 426); // plain HTTP

    let mut ws = client.connect("/echo").await?; // the real 101
    ws.send("hello").await?;
    assert_eq!(ws.recv_text().await?, "hello");
    ws.send_json(&serde_json::json!({ "n": 1 })).await?;
    assert_eq!(ws.recv_json::<serde_json::Value>().await?["n"], 1);
    ws.expect_nothing(Duration::from_millis(50)).await?;
    assert_eq!(ws.close(1000, "done").await?.code, CloseCode::Normal);
    Ok(())
}

#[tokio::test]
async fn state_is_shared_between_requests_and_websockets() -> Result<(), Box<dyn std::error::Error>>
{
    let visits = Visits::default();
    let client = TestClient::new(app(visits.clone()))?;
    assert_eq!(
        client.get("/room").await?.text(),
        "visitor 1: connect with a WebSocket"
    );
    let mut ws = client.connect("/room").await?;
    assert_eq!(ws.recv_text().await?, "welcome, visitor 2");
    ws.send("echo?").await?;
    assert_eq!(ws.recv_text().await?, "echo?");
    assert_eq!(visits.0.load(Ordering::Relaxed), 2);
    Ok(())
}

#[tokio::test]
async fn mounted_in_axum_over_a_real_socket() -> Result<(), Box<dyn std::error::Error>> {
    let live = app(Visits::default()).build()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let axum_app = router(live.clone());
    let served = tokio::spawn(async move {
        axum::serve(listener, axum_app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let limit = Duration::from_secs(10);
    let (mut ws, _) = tokio::time::timeout(
        limit,
        tokio_tungstenite::connect_async(format!("ws://{addr}/live/room")),
    )
    .await??;
    let hello = tokio::time::timeout(limit, ws.next())
        .await?
        .ok_or("no welcome")??;
    assert_eq!(hello.into_text()?.as_str(), "welcome, visitor 1");
    ws.send("through axum".into()).await?;
    let back = tokio::time::timeout(limit, ws.next())
        .await?
        .ok_or("no echo")??;
    assert_eq!(back.into_text()?.as_str(), "through axum");
    // As docs/axum.md says: stop axum, then close the WebSockets it left open.
    let _ = stop.send(());
    tokio::time::timeout(limit, served).await???;
    let closing = tokio::spawn({
        let live = live.clone();
        async move { live.close_websockets().await }
    });
    // The client reads the 1001 and answers it (tungstenite replies as it reads).
    let close = tokio::time::timeout(limit, ws.next())
        .await?
        .ok_or("no close")??;
    assert!(close.is_close(), "{close:?}");
    assert!(tokio::time::timeout(limit, ws.next()).await?.is_none());
    tokio::time::timeout(limit, closing).await??;
    assert_eq!(live.open_websockets(), 0);
    Ok(())
}
