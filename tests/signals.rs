//! `shutdown_signal` and `App::serve` stop on SIGINT (Ctrl-C) and SIGTERM. Its own test
//! binary: the signals go to this whole process, and one test runs at a time here.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsview::{require_websocket, App, Request, Response};

use support::{close_code, next_data, send_text, within};

/// Sends `signal` to this process, with the shell's own `kill` (always there where
/// bash is; the `kill` program may not be).
fn signal_self(signal: &str) {
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("kill -{signal} {}", std::process::id()))
        .status()
        .expect("run bash");
    assert!(status.success(), "kill -{signal} failed");
}

/// Polls `fut` once: it must be waiting. Polling installs its signal handlers, so a
/// signal sent afterwards reaches it (one sent before would kill the process).
async fn poll_once<F: Future + ?Sized>(fut: &mut Pin<Box<F>>) {
    let first = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx).is_pending())).await;
    assert!(first, "completed before any signal");
}

async fn echo(mut req: Request) -> Response {
    let ws = req.websocket().expect("websocket");
    while let Some(m) = ws.wait().await {
        let _ = ws.send(m).await;
    }
    Response::empty()
}

#[tokio::test]
async fn shutdown_signal_and_serve_stop_on_sigint_and_sigterm() {
    for signal in ["INT", "TERM"] {
        let mut stop = Box::pin(wsview::shutdown_signal());
        poll_once(&mut stop).await;
        signal_self(signal);
        within(stop).await;
    }

    // App::serve: binds on its first poll (an IP address needs no lookup), serves,
    // and returns Ok once signalled, after closing WebSockets with 1001.
    for signal in ["TERM", "INT"] {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut serving: Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> = Box::pin(
            App::new()
                .route("/", require_websocket(echo))
                .serve(addr.clone()),
        );
        poll_once(&mut serving).await;
        let serving = tokio::spawn(serving);
        let (mut ws, _) = within(tokio_tungstenite::connect_async(format!("ws://{addr}/")))
            .await
            .expect("serve accepts once polled");
        send_text(&mut ws, "served").await;
        assert_eq!(next_data(&mut ws).await, Some(WsMessage::text("served")));
        signal_self(signal);
        assert_eq!(close_code(&mut ws).await, Some(1001), "SIG{signal}");
        while let Some(Ok(_)) = within(ws.next()).await {}
        within(serving)
            .await
            .expect("join")
            .expect("serve returns Ok after the signal");
    }
}
