//! `wsview::test`: the in-process client drives the real handshake and connection task
//! with no port. Each test checks something that would fail if the client faked it.

use std::time::Duration;

use wsview::test::{TestClient, TestError};
use wsview::{accept_websocket, require_websocket, App, CloseCode, Request, Response};

async fn echo(mut req: Request) -> Response {
    let Some(ws) = req.websocket() else {
        return Response::text(format!("plain {}", req.query("q").unwrap_or_default()));
    };
    while let Some(msg) = ws.wait().await {
        if msg == "bye" {
            let _ = ws.close(4001, "asked to").await;
            break;
        }
        if ws.send(msg).await.is_err() {
            break;
        }
    }
    Response::empty()
}

async fn once(mut req: Request) -> Response {
    let ws = req.websocket().expect("require_websocket");
    if let Some(msg) = ws.wait().await {
        let _ = ws.send(msg).await;
    }
    Response::empty()
}

async fn guarded(mut req: Request) -> Response {
    if req.header("authorization") != Some("Bearer ok") {
        return Response::text("no token")
            .with_status(401)
            .with_header("x-why", "token");
    }
    let protocol = req
        .websocket()
        .and_then(|ws| ws.protocol().map(str::to_owned));
    let ws = req.websocket().expect("require_websocket");
    let _ = ws
        .send(format!("protocol={}", protocol.unwrap_or_default()))
        .await;
    Response::empty()
}

async fn who(mut req: Request) -> Response {
    let body = req.json::<serde_json::Value>().await.ok();
    Response::json(&serde_json::json!({
        "method": req.method().as_str(),
        "body": body,
        "peer_ip": req.remote_addr().map(|a| a.ip().to_string()),
        "host": req.header("host"),
    }))
}

fn client() -> TestClient {
    TestClient::new(
        App::new()
            .route("/echo", accept_websocket(echo))
            .route("/once", require_websocket(once))
            .route(
                "/guarded",
                require_websocket(guarded).protocols(["chat.v2", "chat.v1"]),
            )
            .route("/who", who),
    )
    .expect("app builds")
}

#[tokio::test]
async fn echo_over_the_real_handshake() {
    let client = client();
    let mut ws = client.connect("/echo").await.expect("accepted");
    ws.send("hello").await.unwrap();
    assert_eq!(ws.recv_text().await.unwrap(), "hello");
    ws.send(vec![1u8, 2, 3]).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().as_bytes(), &[1, 2, 3]);
    assert_eq!(client.service().open_websockets(), 1);
    let closed = ws.close(1000, "done").await.unwrap();
    assert_eq!(closed.code, CloseCode::Normal);
}

#[tokio::test]
async fn json_both_ways() {
    let mut ws = client().connect("/echo").await.unwrap();
    ws.send_json(&serde_json::json!({"n": [1, 2]}))
        .await
        .unwrap();
    let back: serde_json::Value = ws.recv_json().await.unwrap();
    assert_eq!(back["n"][1], 2);
    ws.send("not json").await.unwrap();
    assert!(matches!(
        ws.recv_json::<serde_json::Value>().await,
        Err(TestError::Json(_))
    ));
}

#[tokio::test]
async fn the_close_code_the_view_chose_is_seen() {
    let mut ws = client().connect("/echo").await.unwrap();
    ws.send("bye").await.unwrap();
    let closed = ws.closed().await.unwrap();
    assert_eq!(closed.code, CloseCode::Library(4001));
    assert_eq!(closed.reason, "asked to");
    assert_eq!(ws.close_seen(), Some(&closed));
    // Receiving after the close keeps saying so.
    assert!(matches!(ws.recv().await, Err(TestError::Closed(c)) if c == closed));
}

#[tokio::test]
async fn a_view_that_returns_closes_with_1000() {
    let mut ws = client().connect("/once").await.unwrap();
    ws.send("x").await.unwrap();
    assert_eq!(ws.recv_text().await.unwrap(), "x");
    assert_eq!(ws.closed().await.unwrap().code, CloseCode::Normal);
}

#[tokio::test]
async fn expect_nothing_passes_on_silence_and_fails_on_a_message() {
    let mut ws = client().connect("/echo").await.unwrap();
    ws.expect_nothing(Duration::from_millis(30)).await.unwrap();
    ws.send("ping?").await.unwrap();
    match ws.expect_nothing(Duration::from_secs(5)).await {
        Err(TestError::Unexpected(msg)) => assert_eq!(msg, "ping?"),
        other => panic!("expected the echo to be reported, got {other:?}"),
    }
}

#[tokio::test]
async fn recv_times_out_instead_of_hanging() {
    let client = client().timeout(Duration::from_millis(50));
    let mut ws = client.connect("/echo").await.unwrap();
    assert!(
        matches!(ws.recv().await, Err(TestError::Timeout(d)) if d == Duration::from_millis(50))
    );
}

#[tokio::test]
async fn a_lazy_refusal_comes_back_whole() {
    let resp = client().connect("/guarded").refused().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.header("x-why"), Some("token"));
    assert_eq!(resp.text(), "no token");
    // Awaiting the connection itself reports the refusal as an error holding it.
    let err = client().connect("/guarded").await.unwrap_err();
    assert_eq!(err.refusal().map(|r| r.status().as_u16()), Some(401));
}

#[tokio::test]
async fn headers_and_subprotocols_reach_the_view() {
    let mut ws = client()
        .connect("/guarded")
        .header("authorization", "Bearer ok")
        .protocols(["chat.v1", "chat.v2"])
        .await
        .unwrap();
    assert_eq!(ws.protocol(), Some("chat.v1"));
    assert_eq!(ws.recv_text().await.unwrap(), "protocol=chat.v1");
}

#[tokio::test]
async fn refused_fails_when_the_server_accepts() {
    assert!(matches!(
        client().connect("/echo").refused().await,
        Err(TestError::Accepted)
    ));
}

#[tokio::test]
async fn the_handshake_check_refusals_are_real() {
    // A plain request to a WebSocket-only view, and a WebSocket one to an unknown path.
    let plain = client().get("/once").await.unwrap();
    assert_eq!(plain.status(), 400);
    let missing = client().connect("/nowhere").refused().await.unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn plain_requests_with_bodies() {
    let client = client();
    let resp = client.get("/echo?q=hi").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text(), "plain hi");
    let resp = client
        .post("/who")
        .json(&serde_json::json!({"a": 1}))
        .await
        .unwrap();
    let seen: serde_json::Value = resp.json().unwrap();
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["body"]["a"], 1);
    assert_eq!(seen["peer_ip"], "127.0.0.1");
    assert_eq!(seen["host"], "wsview.test");
}

#[tokio::test]
async fn an_invalid_header_fails_the_request_not_the_test() {
    let err = client()
        .get("/who")
        .header("bad header", "x")
        .await
        .unwrap_err();
    assert!(matches!(err, TestError::InvalidRequest(_)), "{err}");
}

#[tokio::test]
async fn a_shutdown_closes_test_sockets_with_1001() {
    let client = client();
    let mut ws = client.connect("/echo").await.unwrap();
    ws.send("up?").await.unwrap();
    assert_eq!(ws.recv_text().await.unwrap(), "up?");
    let service = client.service().clone();
    let shutdown = tokio::spawn(async move { service.close_websockets().await });
    assert_eq!(ws.closed().await.unwrap().code, CloseCode::Away);
    shutdown.await.unwrap();
    assert_eq!(client.service().open_websockets(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn works_on_a_current_thread_runtime() {
    let mut ws = client().connect("/echo").await.unwrap();
    ws.send("one thread").await.unwrap();
    assert_eq!(ws.recv_text().await.unwrap(), "one thread");
}

#[tokio::test]
async fn a_negotiated_extension_is_refused_by_the_client_not_misread() {
    let settings = wsview::Settings::default().compression(Some(wsview::DeflateConfig::default()));
    let client = TestClient::new(
        App::new()
            .settings(settings)
            .route("/echo", accept_websocket(echo)),
    )
    .unwrap();
    let err = client
        .connect("/echo")
        .header("sec-websocket-extensions", "permessage-deflate")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TestError::Connection(why) if why.contains("permessage-deflate")),
        "{err}"
    );
    // Without the header the same app serves the test client uncompressed.
    let mut ws = client.connect("/echo").await.unwrap();
    ws.send("plain").await.unwrap();
    assert_eq!(ws.recv_text().await.unwrap(), "plain");
}
