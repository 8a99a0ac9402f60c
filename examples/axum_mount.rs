//! A wsview app living inside an axum app: axum serves its own routes and mounts the
//! wsview app, WebSocket views included, under `/live`, all served by `axum::serve`.
//! See docs/axum.md for what works and what does not.
//!
//! ```text
//! cargo run --example axum_mount               # listens on 127.0.0.1:8000
//! cargo run --example axum_mount -- 127.0.0.1:9002
//! RUST_LOG=wsview=debug cargo run --example axum_mount
//! ```

use axum::routing::get;
use wsview::prelude::*;

/// wsview's part: its paths are relative to where axum mounts it.
fn live_app() -> App {
    App::new()
        .route("/echo", require_websocket(echo))
        .route("/time", accept_websocket(path_and_time))
}

async fn echo(mut req: Request) -> Response {
    let ws = req.websocket().expect("require_websocket");
    while let Some(msg) = ws.next().await {
        if ws.send(msg).await.is_err() {
            break;
        }
    }
    Response::empty()
}

/// Over plain HTTP, says which path wsview saw (axum strips the mount prefix).
async fn path_and_time(mut req: Request) -> Response {
    let path = req.path().to_owned();
    match req.websocket() {
        None => Response::text(format!("wsview saw {path}")),
        Some(ws) => {
            let since = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let _ = ws.send(format!("seconds since 1970: {since}")).await;
            Response::empty()
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Logs go to stderr; RUST_LOG filters them (`RUST_LOG=wsview=debug`), info by default.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8000".to_owned());
    let live = live_app().build()?;
    let router = axum::Router::new()
        .route(
            "/",
            get(|| async { "axum here; the wsview app is under /live" }),
        )
        .nest_service("/live", live.clone());
    let listener = tokio::net::TcpListener::bind(addr.as_str())
        .await
        .map_err(|e| format!("could not listen on {addr}: {e}"))?;
    let at = listener.local_addr()?;
    println!("axum with a wsview app mounted, serving on http://{at}");
    println!("  http://{at}/           an axum handler");
    println!("  ws://{at}/live/echo    wsview: echoes every message");
    println!(
        "  http://{at}/live/time  wsview: plain HTTP says the path it saw; ws:// sends the time"
    );
    println!("Ctrl-C stops it.");
    axum::serve(listener, router)
        .with_graceful_shutdown(wsview::shutdown_signal())
        .await?;
    // axum's graceful shutdown does not wait for upgraded connections: close them.
    live.close_websockets().await;
    println!("stopped");
    Ok(())
}
