//! The WebSocket object over real sockets: every method, lazy accept and refusal,
//! control frames while the view is busy, closes, limits, panics, shutdown.

mod support;

use std::future::Future;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use support::{close_code, next_data, send_text, start, within};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsview::{
    accept_websocket, require_websocket, App, CloseCause, CloseCode, Message, Request, Response,
    Settings, View, WebSocket,
};

async fn echo_all(mut req: Request) -> Response {
    let ws = req.websocket().expect("websocket");
    while let Some(m) = ws.wait().await {
        if ws.send(m).await.is_err() {
            break;
        }
    }
    Response::empty()
}

/// A WebSocket view that runs `body` on the socket and sends what it returns to the
/// test, so the assertions run in the test (a panic in a view is only a 1011).
fn observed<T, F, Fut>(body: F) -> (View, mpsc::UnboundedReceiver<T>)
where
    T: Send + 'static,
    F: Fn(WebSocket) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let view = require_websocket(move |mut req: Request| {
        let (tx, ws) = (tx.clone(), req.take_websocket().expect("websocket"));
        let report = body(ws);
        async move {
            let _ = tx.send(report.await);
            Response::empty()
        }
    });
    (view, rx)
}

/// Says "ready", reads to the end, and returns the close cause.
async fn ready_until_end(mut ws: WebSocket) -> Option<CloseCause> {
    let _ = ws.send("ready").await;
    while ws.wait().await.is_some() {}
    ws.close_cause()
}

#[tokio::test]
async fn echo_text_and_binary_then_close_1000_when_view_returns() {
    async fn echo_once(mut req: Request) -> Response {
        let ws = req.websocket().expect("websocket");
        if let Some(m) = ws.wait().await {
            let _ = ws.send(m).await;
        }
        Response::empty()
    }
    let srv = start(
        App::new()
            .route("/", require_websocket(echo_all))
            .route("/once", require_websocket(echo_once)),
    )
    .await;
    let mut ws = srv.connect("/").await;
    send_text(&mut ws, "héllo").await;
    assert_eq!(next_data(&mut ws).await, Some(WsMessage::text("héllo")));
    within(ws.send(WsMessage::binary(vec![0u8, 1, 255])))
        .await
        .expect("send");
    assert_eq!(
        next_data(&mut ws).await,
        Some(WsMessage::binary(vec![0u8, 1, 255]))
    );
    within(ws.close(None)).await.expect("close");

    let mut once = srv.connect("/once").await;
    send_text(&mut once, "one").await;
    assert_eq!(next_data(&mut once).await, Some(WsMessage::text("one")));
    assert_eq!(close_code(&mut once).await, Some(1000));
    drop((ws, once));
    srv.stop().await;
}

/// `wait` returns the first message; `count_messages`, `has_messages` and `read` see the
/// rest without waiting; `read` on an empty queue returns `None` at once. The view
/// looks only once the test knows all four arrived (the pong to a ping sent after them
/// proves the server read them), so the counts do not depend on TCP segmenting.
#[tokio::test]
async fn read_count_and_has_messages_see_what_arrived() {
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let release_rx = Arc::new(Mutex::new(Some(release_rx)));
    let srv = start(App::new().route(
        "/",
        require_websocket(move |mut req: Request| {
            let release = release_rx.lock().expect("lock").take();
            async move {
                let ws = req.websocket().expect("websocket");
                let _ = ws.accept().await;
                if let Some(release) = release {
                    let _ = release.await;
                }
                let first = ws.wait().await.expect("first");
                let count = ws.count_messages();
                let has = ws.has_messages();
                let mut rest = Vec::new();
                while let Some(m) = ws.read() {
                    rest.push(m.as_text().unwrap_or_default().to_owned());
                }
                let report = format!(
                    "first={} count={count} has={has} rest={} after: has={} read_none={}",
                    first.as_text().unwrap_or_default(),
                    rest.join(","),
                    ws.has_messages(),
                    ws.read().is_none()
                );
                let _ = ws.send(report).await;
                // Stay until the peer closes so the report is not cut by our close.
                while ws.wait().await.is_some() {}
                Response::empty()
            }
        }),
    ))
    .await;
    let mut ws = srv.connect("/").await;
    for m in ["a", "b", "c", "d"] {
        within(ws.feed(WsMessage::text(m))).await.expect("feed");
    }
    within(ws.feed(WsMessage::Ping("all in?".into())))
        .await
        .expect("feed");
    within(ws.flush()).await.expect("flush");
    match within(ws.next()).await {
        Some(Ok(WsMessage::Pong(p))) => assert_eq!(&p[..], b"all in?"),
        other => panic!("expected the pong, got {other:?}"),
    }
    release_tx.send(()).expect("release");
    let report = next_data(&mut ws).await.expect("report");
    assert_eq!(
        report.to_text().expect("text"),
        "first=a count=3 has=true rest=b,c,d after: has=false read_none=true"
    );
    within(ws.close(None)).await.expect("close");
    drop(ws);
    srv.stop().await;
}

/// `for message in request.websocket` as a Stream; the peer's close ends it, and
/// `close_cause` reports the peer's code and reason.
#[tokio::test]
async fn stream_ends_on_peer_close_with_its_cause() {
    let (view, mut rx) = observed(|mut ws| async move {
        let mut seen = Vec::new();
        while let Some(m) = ws.next().await {
            seen.push(m.as_text().unwrap_or_default().to_owned());
        }
        (seen, ws.close_cause(), ws.is_closed())
    });
    let srv = start(App::new().route("/", view)).await;
    let mut ws = srv.connect("/").await;
    send_text(&mut ws, "x").await;
    send_text(&mut ws, "y").await;
    let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: 4001.into(), // the client's (tungstenite's) close code
        reason: "bye now".into(),
    };
    within(ws.close(Some(frame))).await.expect("close");
    let (seen, cause, closed) = within(rx.recv()).await.expect("view report");
    assert_eq!(seen, ["x", "y"]);
    assert_eq!(
        cause,
        Some(CloseCause::Peer {
            code: Some(CloseCode::Library(4001)),
            reason: "bye now".to_owned()
        })
    );
    assert!(closed);
    drop(ws);
    srv.stop().await;
}

/// What the view sees after its own close is sent to the test and checked there: an
/// assertion inside the view could not fail the test (a panic there is only a 1011).
#[tokio::test]
async fn close_with_code_and_reason_reaches_the_client() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let srv = start(App::new().route(
        "/",
        require_websocket(move |mut req: Request| {
            let tx = tx.clone();
            async move {
                let ws = req.websocket().expect("websocket");
                let _ = ws.send("before close").await;
                let closed = ws.close(4000, "custom reason").await.is_ok();
                let is_closed = ws.is_closed();
                let send_after = ws.send("after").await;
                // wait returns None once the client acknowledged.
                let wait_after = ws.wait().await;
                let _ = tx.send((closed, is_closed, send_after, wait_after, ws.close_cause()));
                Response::empty()
            }
        }),
    ))
    .await;
    let mut ws = srv.connect("/").await;
    assert_eq!(
        next_data(&mut ws).await,
        Some(WsMessage::text("before close"))
    );
    match within(ws.next()).await {
        Some(Ok(WsMessage::Close(Some(f)))) => {
            assert_eq!(u16::from(f.code), 4000);
            assert_eq!(f.reason.as_str(), "custom reason");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    // Our reply completes the handshake, then the server hangs up.
    while let Some(Ok(_)) = within(ws.next()).await {}
    let (closed, is_closed, send_after, wait_after, cause) =
        within(rx.recv()).await.expect("view report");
    assert!(closed, "close returned Ok");
    assert!(is_closed, "is_closed() right after close()");
    assert!(
        send_after.as_ref().is_err_and(wsview::Error::is_closed),
        "send after close must fail with Closed: {send_after:?}"
    );
    assert_eq!(wait_after, None, "wait after the close handshake");
    assert_eq!(
        cause,
        Some(CloseCause::Server {
            code: CloseCode::Library(4000)
        })
    );
    srv.stop().await;
}

/// Lazy accept: a view that returns before touching the socket refuses the upgrade with
/// its own response; a view that panics before touching it gives 500.
#[tokio::test]
async fn view_can_refuse_the_upgrade_with_its_response() {
    async fn gate(mut req: Request) -> Response {
        if req.query("token").as_deref() != Some("ok") {
            return Response::text("forbidden: no token").with_status(403);
        }
        if req.query("explode").is_some() {
            panic!("before accept");
        }
        let ws = req.websocket().expect("websocket");
        let _ = ws.send("welcome").await;
        Response::empty()
    }
    let srv = start(App::new().route("/", require_websocket(gate))).await;
    assert_eq!(
        srv.connect_err("/").await,
        (403, "forbidden: no token".to_owned())
    );
    assert_eq!(srv.connect_err("/?token=ok&explode=1").await.0, 500);
    let mut ws = srv.connect("/?token=ok").await;
    assert_eq!(next_data(&mut ws).await, Some(WsMessage::text("welcome")));
    assert_eq!(close_code(&mut ws).await, Some(1000));
    drop(ws);
    srv.stop().await;
}

/// A view that panics after accepting closes with 1011; the server serves the next
/// connection.
#[tokio::test]
async fn panicking_view_closes_1011_and_server_continues() {
    async fn explode(mut req: Request) -> Response {
        let ws = req.websocket().expect("websocket");
        if ws.wait().await.is_some() {
            panic!("view failed on purpose");
        }
        Response::empty()
    }
    let srv = start(
        App::new()
            .route("/explode", require_websocket(explode))
            .route("/echo", require_websocket(echo_all)),
    )
    .await;
    let mut ws = srv.connect("/explode").await;
    send_text(&mut ws, "trigger").await;
    assert_eq!(close_code(&mut ws).await, Some(1011));
    let mut ok = srv.connect("/echo").await;
    send_text(&mut ok, "still here").await;
    assert_eq!(
        next_data(&mut ok).await,
        Some(WsMessage::text("still here"))
    );
    drop((ws, ok));
    srv.stop().await;
}

/// Pings are answered and the peer's close is completed while the view is busy
/// elsewhere and never reads.
#[tokio::test]
async fn control_frames_are_served_while_the_view_is_busy() {
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let release_rx = Arc::new(Mutex::new(Some(release_rx)));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let srv = start(App::new().route(
        "/",
        require_websocket(move |mut req: Request| {
            let release = release_rx.lock().expect("lock").take();
            let done_tx = done_tx.clone();
            async move {
                let ws = req.websocket().expect("websocket");
                let _ = ws.send("only sending").await;
                if let Some(release) = release {
                    let _ = release.await; // busy: not reading the socket
                }
                let _ = done_tx.send((ws.is_closed(), ws.close_cause()));
                Response::empty()
            }
        }),
    ))
    .await;
    let mut ws = srv.connect("/").await;
    assert_eq!(
        next_data(&mut ws).await,
        Some(WsMessage::text("only sending"))
    );
    within(ws.send(WsMessage::Ping("are you there".into())))
        .await
        .expect("ping");
    match within(ws.next()).await {
        Some(Ok(WsMessage::Pong(p))) => assert_eq!(&p[..], b"are you there"),
        other => panic!("expected a pong, got {other:?}"),
    }
    within(ws.close(None)).await.expect("close");
    // The server completes the closing handshake without the view: its close frame
    // (not just a hang-up) comes back.
    match within(ws.next()).await {
        Some(Ok(WsMessage::Close(_))) => {}
        other => panic!("expected the close reply, got {other:?}"),
    }
    release_tx.send(()).expect("release");
    let (closed, cause) = within(done_rx.recv()).await.expect("done");
    assert!(closed);
    assert!(matches!(cause, Some(CloseCause::Peer { .. })), "{cause:?}");
    drop(ws);
    srv.stop().await;
}

/// Other tasks send through the cloneable sender while the view waits; once the
/// connection is over (the client saw the server hang up) a send fails. The view
/// reports, the test checks.
#[tokio::test]
async fn sender_handle_pushes_from_another_task() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let release_rx = Arc::new(Mutex::new(Some(release_rx)));
    let srv = start(App::new().route(
        "/",
        require_websocket(move |mut req: Request| {
            let tx = tx.clone();
            let release = release_rx.lock().expect("lock").take();
            async move {
                let ws = req.websocket().expect("websocket");
                let sender = ws.sender();
                let other = sender.clone();
                let same = sender.same_connection(&other);
                let task = tokio::spawn(async move {
                    for i in 0..5 {
                        other.send(format!("push {i}")).await?;
                    }
                    other.close(4002, "pushed all").await
                });
                while ws.wait().await.is_some() {}
                let pushed = task.await.map(|r| r.is_ok()).unwrap_or(false);
                if let Some(release) = release {
                    let _ = release.await; // until the client saw the server hang up
                }
                let late = sender.send("late").await;
                let _ = tx.send((same, pushed, sender.is_closed(), late));
                Response::empty()
            }
        }),
    ))
    .await;
    let mut ws = srv.connect("/").await;
    for i in 0..5 {
        let expected = format!("push {i}");
        assert_eq!(next_data(&mut ws).await, Some(WsMessage::text(expected)));
    }
    assert_eq!(close_code(&mut ws).await, Some(4002));
    while let Some(Ok(_)) = within(ws.next()).await {}
    release_tx.send(()).expect("release");
    let (same, pushed, closed, late) = within(rx.recv()).await.expect("view report");
    assert!(same, "a clone sends to the same connection");
    assert!(pushed, "every push and the close were accepted");
    assert!(closed, "the sender reports the connection closed");
    assert!(
        late.as_ref().is_err_and(wsview::Error::is_closed),
        "the connection is over: {late:?}"
    );
    srv.stop().await;
}

/// After a close asked for through a `WebSocketSender`, once the closing handshake is
/// done and `wait` has returned `None`, sends through that sender fail like the view's
/// own (they used to be queued and silently dropped).
#[tokio::test]
async fn sender_fails_as_soon_as_the_connection_is_closing() {
    let (view, mut rx) = observed(|mut ws| async move {
        let sender = ws.sender();
        let _ = sender.close(4002, "bye").await;
        while ws.wait().await.is_some() {}
        let own = ws.send("own").await.is_err();
        let through_sender = sender.send("late").await.is_err();
        (own, through_sender)
    });
    let srv = start(App::new().route("/", view)).await;
    let mut ws = srv.connect("/").await;
    assert_eq!(close_code(&mut ws).await, Some(4002));
    while let Some(Ok(_)) = within(ws.next()).await {}
    assert_eq!(within(rx.recv()).await, Some((true, true)));
    srv.stop().await;
}

#[tokio::test]
async fn oversize_message_closes_1009_and_invalid_utf8_closes_1007() {
    let mut settings = Settings::default();
    settings.max_message_size = 1024;
    settings.max_frame_size = 1024;
    let srv = start(
        App::new()
            .settings(settings)
            .route("/", require_websocket(echo_all)),
    )
    .await;
    let mut ws = srv.connect("/").await;
    send_text(&mut ws, "small is fine").await;
    assert_eq!(
        next_data(&mut ws).await,
        Some(WsMessage::text("small is fine"))
    );
    within(ws.send(WsMessage::binary(vec![7u8; 4096])))
        .await
        .expect("send");
    assert_eq!(close_code(&mut ws).await, Some(1009));

    let mut ws = srv.connect("/").await;
    let bad = Frame::message(vec![0xC3u8, 0x28], OpCode::Data(Data::Text), true);
    within(ws.send(WsMessage::Frame(bad))).await.expect("send");
    assert_eq!(close_code(&mut ws).await, Some(1007));
    drop(ws);
    srv.stop().await;
}

/// Subprotocols: the first one the client offered that the view speaks.
#[tokio::test]
async fn subprotocol_is_negotiated_in_client_order() {
    async fn which(mut req: Request) -> Response {
        let ws = req.websocket().expect("websocket");
        let p = ws.protocol().unwrap_or("none").to_owned();
        let _ = ws.send(p).await;
        while ws.wait().await.is_some() {}
        Response::empty()
    }
    let srv = start(App::new().route(
        "/",
        require_websocket(which).protocols(["chat.v2", "chat.v1"]),
    ))
    .await;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = srv.url("/").into_client_request().expect("request");
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "other, chat.v1, chat.v2".parse().expect("header"),
    );
    let (mut ws, resp) = within(tokio_tungstenite::connect_async(req))
        .await
        .expect("handshake");
    assert_eq!(resp.headers()["sec-websocket-protocol"], "chat.v1");
    assert_eq!(next_data(&mut ws).await, Some(WsMessage::text("chat.v1")));
    within(ws.close(None)).await.expect("close");

    let mut ws = srv.connect("/").await; // offers none
    assert_eq!(next_data(&mut ws).await, Some(WsMessage::text("none")));
    within(ws.close(None)).await.expect("close");
    drop(ws);
    srv.stop().await;
}

#[tokio::test]
async fn origin_allow_list_refuses_others_with_403() {
    let mut settings = Settings::default();
    settings.allowed_origins = Some(vec!["https://good.example".to_owned()]);
    let srv = start(
        App::new()
            .settings(settings)
            .route("/", require_websocket(echo_all)),
    )
    .await;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    for (origin, ok) in [
        ("https://good.example", true),
        ("https://evil.example", false),
    ] {
        let mut req = srv.url("/").into_client_request().expect("request");
        req.headers_mut()
            .insert("origin", origin.parse().expect("header"));
        match within(tokio_tungstenite::connect_async(req)).await {
            Ok((ws, _)) => {
                assert!(ok, "{origin} should be refused");
                drop(ws);
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert!(!ok, "{origin} should pass");
                assert_eq!(resp.status(), 403);
                assert_eq!(support::body_text(&resp), "origin not allowed");
            }
            Err(e) => panic!("{e}"),
        }
    }
    srv.stop().await;
}

/// An accept_websocket view serves HTTP too, and `accept()` can be called explicitly.
#[tokio::test]
async fn accept_websocket_serves_both_and_explicit_accept_works() {
    async fn both(mut req: Request) -> Response {
        match req.websocket() {
            None => Response::text("plain"),
            Some(ws) => {
                ws.accept().await.expect("accept");
                ws.accept().await.expect("accept twice is a no-op");
                let _ = ws.send(Message::binary(vec![1u8, 2])).await;
                while ws.wait().await.is_some() {}
                Response::empty()
            }
        }
    }
    let srv = start(App::new().route("/", accept_websocket(both))).await;
    assert_eq!(srv.get("/").await, (200, "plain".to_owned()));
    let mut ws = srv.connect("/").await;
    assert_eq!(
        next_data(&mut ws).await,
        Some(WsMessage::binary(vec![1u8, 2]))
    );
    within(ws.close(None)).await.expect("close");
    drop(ws);
    srv.stop().await;
}

/// Shutdown closes open WebSockets with 1001; the view sees `wait() == None`.
#[tokio::test]
async fn shutdown_closes_websockets_with_1001() {
    let (view, mut rx) = observed(ready_until_end);
    let srv = start(App::new().route("/", view)).await;
    let mut ws = srv.connect("/").await;
    assert_eq!(next_data(&mut ws).await, Some(WsMessage::text("ready")));
    let stopping = tokio::spawn(srv.stop());
    assert_eq!(close_code(&mut ws).await, Some(1001));
    // Polling again sends the client's close reply and sees the server hang up.
    assert!(within(ws.next()).await.is_none_or(|r| r.is_err()));
    let cause = within(rx.recv()).await.expect("view ended");
    assert_eq!(
        cause,
        Some(CloseCause::Server {
            code: CloseCode::Away
        })
    );
    within(stopping).await.expect("stopped");
}

/// A peer that never answers our close cannot hold the connection: after
/// `close_timeout` the view's wait ends anyway.
#[tokio::test]
async fn unanswered_close_is_dropped_after_close_timeout() {
    let (view, mut rx) = observed(|mut ws| async move {
        let _ = ws.close(4003, "going").await;
        while ws.wait().await.is_some() {}
        ws.close_cause()
    });
    let mut settings = Settings::default();
    settings.close_timeout = std::time::Duration::from_millis(200);
    let srv = start(App::new().settings(settings).route("/", view)).await;
    // Raw TCP: reads the close frame but never answers it.
    let (head, mut rest, mut tcp) = srv.raw_head(&support::upgrade_request("/", "")).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let cause = within(rx.recv()).await.expect("view ended");
    assert_eq!(
        cause,
        Some(CloseCause::Server {
            code: CloseCode::Library(4003)
        })
    );
    use tokio::io::AsyncReadExt;
    within(tcp.read_to_end(&mut rest))
        .await
        .expect("server hung up");
    assert_eq!(
        &rest[..2],
        &[0x88, 7],
        "a close frame with code 4003 and reason"
    );
    srv.stop().await;
}

/// Many pipelined messages come back complete and in order (the batching path).
#[tokio::test]
async fn pipelined_messages_come_back_in_order() {
    let srv = start(App::new().route("/", require_websocket(echo_all))).await;
    let mut ws = srv.connect("/").await;
    let n = 2000;
    let (mut write, mut read) = ws.split();
    let writer = tokio::spawn(async move {
        for i in 0..n {
            write
                .feed(WsMessage::text(i.to_string()))
                .await
                .expect("feed");
        }
        write.flush().await.expect("flush");
        write
    });
    for i in 0..n {
        match within(read.next()).await {
            Some(Ok(WsMessage::Text(t))) => assert_eq!(t.as_str(), i.to_string()),
            other => panic!("at {i}: {other:?}"),
        }
    }
    let write = within(writer).await.expect("writer");
    ws = write.reunite(read).expect("reunite");
    within(ws.close(None)).await.expect("close");
    drop(ws);
    srv.stop().await;
}

/// The connection's peer dropping the TCP without a close: the view's wait ends with
/// `ConnectionLost`.
#[tokio::test]
async fn dropped_connection_ends_wait_with_connection_lost() {
    let (view, mut rx) = observed(ready_until_end);
    let srv = start(App::new().route("/", view)).await;
    let mut ws = srv.connect("/").await;
    assert_eq!(next_data(&mut ws).await, Some(WsMessage::text("ready")));
    drop(ws); // no close frame
    let cause = within(rx.recv()).await.expect("view ended");
    assert_eq!(cause, Some(CloseCause::ConnectionLost));
    srv.stop().await;
}

/// A WebSocket moved into another task keeps working under back-pressure: its writes
/// wait on the connection task's flush and are woken by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_used_from_another_task_survives_back_pressure() {
    const N: usize = 2000;
    async fn mover(mut req: Request) -> Response {
        let mut ws = req.take_websocket().expect("websocket");
        let task = tokio::spawn(async move {
            for i in 0..N {
                let mut payload = vec![0u8; 8192];
                payload[..8].copy_from_slice(&(i as u64).to_be_bytes());
                ws.send(payload).await.expect("send");
            }
            ws.flush().await.expect("flush");
            while ws.wait().await.is_some() {}
        });
        let _ = task.await;
        Response::empty()
    }
    let srv = start(App::new().route("/", require_websocket(mover))).await;
    let mut ws = srv.connect("/").await;
    for i in 0..N {
        match next_data(&mut ws).await {
            Some(WsMessage::Binary(b)) => {
                assert_eq!(b.len(), 8192);
                assert_eq!(
                    u64::from_be_bytes(b[..8].try_into().expect("8 bytes")),
                    i as u64
                );
            }
            other => panic!("message {i}: {other:?}"),
        }
    }
    within(ws.close(None)).await.expect("close");
    drop(ws);
    srv.stop().await;
}

/// Messages other tasks queued before the view returned are delivered before its 1000.
#[tokio::test]
async fn sender_messages_queued_before_return_are_delivered() {
    async fn push_and_return(mut req: Request) -> Response {
        let ws = req.websocket().expect("websocket");
        ws.accept().await.expect("accept"); // a sender alone does not accept
        let sender = ws.sender();
        let task = tokio::spawn(async move {
            for i in 0..10 {
                sender.send(format!("queued {i}")).await.expect("queue");
            }
        });
        let _ = task.await;
        Response::empty() // returns with all ten still queued
    }
    let srv = start(App::new().route("/", require_websocket(push_and_return))).await;
    let mut ws = srv.connect("/").await;
    for i in 0..10 {
        let expected = format!("queued {i}");
        assert_eq!(next_data(&mut ws).await, Some(WsMessage::text(expected)));
    }
    assert_eq!(close_code(&mut ws).await, Some(1000));
    drop(ws);
    srv.stop().await;
}

/// A producer sending through a `WebSocketSender` learns the connection closed while
/// the view is still running (it used to block forever once the queue was full).
#[tokio::test]
async fn sender_fails_once_the_peer_closed_while_the_view_runs() {
    let (view, mut rx) = observed(|mut ws| async move {
        let _ = ws.send("ready").await;
        let sender = ws.sender();
        // The view does not read: only the producer can notice the close.
        let producer = tokio::spawn(async move {
            let mut sent = 0u64;
            while sender.send(format!("m{sent}")).await.is_ok() {
                sent += 1;
            }
            sender.is_closed()
        });
        producer.await.unwrap_or(false)
    });
    let mut settings = Settings::default();
    settings.sender_capacity = 4;
    let srv = start(App::new().settings(settings).route("/", view)).await;
    let mut ws = srv.connect("/").await;
    assert_eq!(next_data(&mut ws).await, Some(WsMessage::text("ready")));
    within(ws.close(None)).await.expect("close");
    while let Some(Ok(_)) = within(ws.next()).await {}
    assert!(
        within(rx.recv()).await.expect("producer ended"),
        "sender reports closed"
    );
    srv.stop().await;
}

/// A handle taken after the connection ended is closed at once.
#[tokio::test]
async fn sender_taken_after_the_end_is_closed() {
    let (view, mut rx) = observed(|mut ws| async move {
        let _ = ws.send("ready").await;
        while ws.wait().await.is_some() {}
        let sender = ws.sender();
        (sender.is_closed(), sender.send("late").await.is_err())
    });
    let srv = start(App::new().route("/", view)).await;
    let mut ws = srv.connect("/").await;
    assert_eq!(next_data(&mut ws).await, Some(WsMessage::text("ready")));
    within(ws.close(None)).await.expect("close");
    assert_eq!(within(rx.recv()).await, Some((true, true)));
    drop(ws);
    srv.stop().await;
}

/// The error close (1007) goes out as soon as a task other than the connection's has
/// taken the messages before the error, not when the view returns.
#[tokio::test]
async fn error_close_is_sent_when_another_task_drained_the_queue() {
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let release_rx = Arc::new(Mutex::new(Some(release_rx)));
    let srv = start(App::new().route(
        "/",
        require_websocket(move |mut req: Request| {
            let release = release_rx.lock().expect("lock").take();
            async move {
                let mut ws = req.take_websocket().expect("websocket");
                ws.accept().await.expect("accept");
                let task = tokio::spawn(async move {
                    while ws.wait().await.is_some() {}
                    if let Some(release) = release {
                        let _ = release.await; // the view returns only after the test saw 1007
                    }
                });
                let _ = task.await;
                Response::empty()
            }
        }),
    ))
    .await;
    let mut ws = srv.connect("/").await;
    send_text(&mut ws, "a").await;
    send_text(&mut ws, "b").await;
    let bad = Frame::message(vec![0xC3u8, 0x28], OpCode::Data(Data::Text), true);
    within(ws.send(WsMessage::Frame(bad))).await.expect("send");
    assert_eq!(close_code(&mut ws).await, Some(1007));
    release_tx.send(()).expect("release");
    drop(ws);
    srv.stop().await;
}

/// When the view closes before a pending peer error's close would go out, its close is
/// the one sent and the one `close_cause` reports. Reserved codes are refused.
#[tokio::test]
async fn close_cause_matches_the_close_frame_sent() {
    let (view, mut rx) = observed(|mut ws| async move {
        let refused = ws
            .close(1005, "reserved")
            .await
            .is_err_and(|e| e.invalid_close_code() == Some(1005));
        let _ = ws.accept().await;
        // "a" and the invalid frame behind it arrive; the view takes "a" only
        // once the error is known and still pending (close_cause reports it,
        // no close sent yet), so its own close goes out first. Nothing wakes a
        // view for that state, hence the yield loop, bounded.
        let pending = tokio::time::timeout(support::LIMIT, async {
            loop {
                if let Some(cause) = ws.close_cause() {
                    break cause;
                }
                tokio::task::yield_now().await;
            }
        })
        .await
        .ok();
        let first = ws.wait().await;
        let _ = ws.close(4000, "mine").await;
        while ws.wait().await.is_some() {}
        (refused, pending, first, ws.close_cause())
    });
    let srv = start(App::new().route("/", view)).await;
    let mut ws = srv.connect("/").await;
    within(ws.feed(WsMessage::text("a"))).await.expect("feed");
    let bad = Frame::message(vec![0xC3u8, 0x28], OpCode::Data(Data::Text), true);
    within(ws.feed(WsMessage::Frame(bad))).await.expect("feed");
    within(ws.flush()).await.expect("flush");
    assert_eq!(close_code(&mut ws).await, Some(4000));
    let (refused, pending, first, cause) = within(rx.recv()).await.expect("report");
    assert!(refused, "1005 must be refused");
    assert!(
        matches!(
            pending,
            Some(CloseCause::Error {
                code: CloseCode::Invalid,
                ..
            })
        ),
        "the 1007 was pending while \"a\" was queued: {pending:?}"
    );
    assert_eq!(first, Some(Message::text("a")));
    assert_eq!(
        cause,
        Some(CloseCause::Server {
            code: CloseCode::Library(4000)
        })
    );
    drop(ws);
    srv.stop().await;
}

/// A view that takes no message while its queue stays full for `close_timeout` does not
/// leave the connection deaf: it is closed with 1008, and the peer's close completes it.
#[tokio::test]
async fn a_view_that_never_reads_is_closed_with_1008_once_its_queue_stays_full() {
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let release_rx = Arc::new(Mutex::new(Some(release_rx)));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut settings = Settings::default();
    settings.max_queued_messages = 4;
    settings.close_timeout = std::time::Duration::from_millis(200);
    let srv = start(App::new().settings(settings).route(
        "/",
        require_websocket(move |mut req: Request| {
            let release = release_rx.lock().expect("lock").take();
            let tx = tx.clone();
            async move {
                let ws = req.websocket().expect("websocket");
                let _ = ws.send("ready").await;
                if let Some(release) = release {
                    let _ = release.await; // busy, reading nothing
                }
                let _ = tx.send((ws.count_messages(), ws.close_cause()));
                Response::empty()
            }
        }),
    ))
    .await;
    let mut ws = srv.connect("/").await;
    assert_eq!(next_data(&mut ws).await, Some(WsMessage::text("ready")));
    for i in 0..50 {
        within(ws.feed(WsMessage::text(i.to_string())))
            .await
            .expect("feed");
    }
    within(ws.flush()).await.expect("flush");
    assert_eq!(close_code(&mut ws).await, Some(1008));
    while let Some(Ok(_)) = within(ws.next()).await {} // our reply; the server hangs up
    release_tx.send(()).expect("release");
    let (queued, cause) = within(rx.recv()).await.expect("report");
    assert_eq!(queued, 4, "what was queued stays readable");
    assert_eq!(
        cause,
        Some(CloseCause::Server {
            code: CloseCode::Policy
        })
    );
    srv.stop().await;
}

/// The queue is bounded by bytes as well as by count: reading pauses at
/// `max_queued_bytes` (here after three 400-byte messages), not only at the count.
#[tokio::test]
async fn the_message_queue_is_bounded_by_bytes() {
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let release_rx = Arc::new(Mutex::new(Some(release_rx)));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut settings = Settings::default();
    settings.max_queued_bytes = 1000;
    settings.close_timeout = std::time::Duration::from_millis(200);
    let srv = start(App::new().settings(settings).route(
        "/",
        require_websocket(move |mut req: Request| {
            let release = release_rx.lock().expect("lock").take();
            let tx = tx.clone();
            async move {
                let ws = req.websocket().expect("websocket");
                let _ = ws.send("ready").await;
                if let Some(release) = release {
                    let _ = release.await; // reads nothing until released
                }
                let _ = tx.send(ws.count_messages());
                Response::empty()
            }
        }),
    ))
    .await;
    let mut ws = srv.connect("/").await;
    assert_eq!(next_data(&mut ws).await, Some(WsMessage::text("ready")));
    for _ in 0..10 {
        within(ws.feed(WsMessage::binary(vec![1u8; 400])))
            .await
            .expect("feed");
    }
    within(ws.flush()).await.expect("flush");
    // Full by bytes and untouched for close_timeout: closed with 1008.
    assert_eq!(close_code(&mut ws).await, Some(1008));
    while let Some(Ok(_)) = within(ws.next()).await {}
    release_tx.send(()).expect("release");
    assert_eq!(within(rx.recv()).await, Some(3));
    srv.stop().await;
}

/// `try_send` never waits: with the queue full (a sender's messages wait for the
/// accept) it hands the message back in `TrySendError::Full`; `send` waits on a full
/// queue until the connection takes from it; once the connection is over `try_send`
/// hands it back in `TrySendError::Closed`. Observed in the view, asserted here.
#[tokio::test]
async fn try_send_and_a_full_sender_queue() {
    use std::future::Future;
    use std::task::Poll;
    #[derive(Debug)]
    struct Report {
        first_two: bool,
        full: Option<(String, String)>,
        send_waited: bool,
        send_then: bool,
        closed: Option<(String, String)>,
    }
    fn handed_back(r: Result<(), wsview::TrySendError>, full: bool) -> Option<(String, String)> {
        match r {
            Err(e @ wsview::TrySendError::Full(_)) if full => {
                let text = e.to_string();
                let wsview::TrySendError::Full(m) = e else {
                    return None;
                };
                Some((m.into_text()?, text))
            }
            Err(e @ wsview::TrySendError::Closed(_)) if !full => {
                let text = e.to_string();
                let wsview::TrySendError::Closed(m) = e else {
                    return None;
                };
                Some((m.into_text()?, text))
            }
            _ => None,
        }
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let release_rx = Arc::new(Mutex::new(Some(release_rx)));
    let mut settings = Settings::default();
    settings.sender_capacity = 2;
    let srv = start(App::new().settings(settings).route(
        "/",
        require_websocket(move |mut req: Request| {
            let tx = tx.clone();
            let release = release_rx.lock().expect("lock").take();
            async move {
                let ws = req.websocket().expect("websocket");
                let sender = ws.sender(); // not accepted yet: nothing leaves the queue
                let first_two = sender.try_send("t0").is_ok() && sender.try_send("t1").is_ok();
                let full = handed_back(sender.try_send("t2"), true);
                let mut send = Box::pin(sender.send("s2"));
                let polled = std::future::poll_fn(|cx| Poll::Ready(send.as_mut().poll(cx))).await;
                let send_waited = polled.is_pending();
                let _ = ws.accept().await;
                let send_then = send.await.is_ok();
                while ws.wait().await.is_some() {}
                if let Some(release) = release {
                    let _ = release.await; // until the client saw the server hang up
                }
                let closed = handed_back(sender.try_send("late"), false);
                let _ = tx.send(Report {
                    first_two,
                    full,
                    send_waited,
                    send_then,
                    closed,
                });
                Response::empty()
            }
        }),
    ))
    .await;
    let mut ws = srv.connect("/").await;
    for want in ["t0", "t1", "s2"] {
        assert_eq!(next_data(&mut ws).await, Some(WsMessage::text(want)));
    }
    within(ws.close(None)).await.expect("close");
    while let Some(Ok(_)) = within(ws.next()).await {}
    release_tx.send(()).expect("release");
    let report = within(rx.recv()).await.expect("view report");
    assert!(report.first_two, "{report:?}");
    assert_eq!(
        report.full,
        Some(("t2".to_owned(), "websocket send queue is full".to_owned())),
        "{report:?}"
    );
    assert!(report.send_waited, "send waits on a full queue: {report:?}");
    assert!(
        report.send_then,
        "and completes once the queue moves: {report:?}"
    );
    assert_eq!(
        report.closed,
        Some(("late".to_owned(), "websocket closed".to_owned())),
        "{report:?}"
    );
    srv.stop().await;
}

/// A peer that breaks the protocol ends the view's wait with `CloseCause::Error`
/// carrying the code sent: 1002 for an unmasked client frame, 1007 for invalid UTF-8,
/// 1009 for an oversized message.
#[tokio::test]
async fn peer_errors_are_reported_as_close_cause_error() {
    let (view, mut rx) = observed(|mut ws| async move {
        let _ = ws.accept().await;
        while ws.wait().await.is_some() {}
        ws.close_cause()
    });
    let mut settings = Settings::default();
    settings.max_message_size = 1024;
    let srv = start(App::new().settings(settings).route("/", view)).await;
    let error_code = |cause: Option<CloseCause>| match cause {
        Some(CloseCause::Error { code, detail }) if !detail.is_empty() => Some(u16::from(code)),
        other => panic!("expected CloseCause::Error with a detail, got {other:?}"),
    };

    // 1002: raw TCP, a text frame without the mask every client frame must carry.
    let (head, _, mut tcp) = srv.raw_head(&support::upgrade_request("/", "")).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    within(tcp.write_all(&[0x81, 0x02, b'h', b'i']))
        .await
        .expect("write");
    let mut reply = Vec::new();
    let _ = within(tcp.read_to_end(&mut reply)).await;
    assert_eq!(
        reply.get(..4),
        Some(&[0x88, 0x02, 0x03, 0xEA][..]),
        "close 1002: {reply:?}"
    );
    assert_eq!(
        error_code(within(rx.recv()).await.expect("report")),
        Some(1002)
    );

    let mut ws = srv.connect("/").await;
    let bad = Frame::message(vec![0xC3u8, 0x28], OpCode::Data(Data::Text), true);
    within(ws.send(WsMessage::Frame(bad))).await.expect("send");
    assert_eq!(close_code(&mut ws).await, Some(1007));
    assert_eq!(
        error_code(within(rx.recv()).await.expect("report")),
        Some(1007)
    );

    let mut ws = srv.connect("/").await;
    within(ws.send(WsMessage::binary(vec![0u8; 2048])))
        .await
        .expect("send");
    assert_eq!(close_code(&mut ws).await, Some(1009));
    assert_eq!(
        error_code(within(rx.recv()).await.expect("report")),
        Some(1009)
    );
    srv.stop().await;
}

/// `max_frame_size` bounds one frame and `max_message_size` the reassembled message,
/// each on its own.
#[tokio::test]
async fn frame_and_message_limits_are_separate() {
    fn fragments(total: usize, each: usize) -> Vec<WsMessage> {
        let chunks: Vec<Vec<u8>> = vec![7u8; total].chunks(each).map(<[u8]>::to_vec).collect();
        let last = chunks.len() - 1;
        chunks
            .into_iter()
            .enumerate()
            .map(|(i, chunk)| {
                let opcode = if i == 0 { Data::Binary } else { Data::Continue };
                WsMessage::Frame(Frame::message(chunk, OpCode::Data(opcode), i == last))
            })
            .collect()
    }
    // Small frames, large messages: a 4 KiB message in 1 KiB frames passes, one 2 KiB
    // frame does not.
    let mut settings = Settings::default();
    settings.max_frame_size = 1024;
    let srv = start(
        App::new()
            .settings(settings)
            .route("/", require_websocket(echo_all)),
    )
    .await;
    let mut ws = srv.connect("/").await;
    for frame in fragments(4096, 1024) {
        within(ws.send(frame)).await.expect("send");
    }
    assert_eq!(
        next_data(&mut ws).await,
        Some(WsMessage::binary(vec![7u8; 4096]))
    );
    within(ws.send(WsMessage::binary(vec![7u8; 2048])))
        .await
        .expect("send");
    assert_eq!(close_code(&mut ws).await, Some(1009));
    srv.stop().await;

    // Large frames, small messages: one 1000-byte frame passes, 2 KiB in 512-byte
    // frames does not.
    let mut settings = Settings::default();
    settings.max_message_size = 1024;
    let srv = start(
        App::new()
            .settings(settings)
            .route("/", require_websocket(echo_all)),
    )
    .await;
    let mut ws = srv.connect("/").await;
    within(ws.send(WsMessage::binary(vec![7u8; 1000])))
        .await
        .expect("send");
    assert_eq!(
        next_data(&mut ws).await,
        Some(WsMessage::binary(vec![7u8; 1000]))
    );
    for frame in fragments(2048, 512) {
        within(ws.send(frame)).await.expect("send");
    }
    assert_eq!(close_code(&mut ws).await, Some(1009));
    srv.stop().await;
}
