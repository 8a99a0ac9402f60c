//! django-websocket's two README views, plus a full echo view with a page to try it.
//!
//! ```text
//! cargo run --example echo                      # listens on 127.0.0.1:8000
//! cargo run --release --example echo -- 127.0.0.1:9001
//! ```
//!
//! - `/echo`: `echo_once` (require_websocket) echoes one message, then closes.
//! - `/lower`: `lower_case` (accept_websocket) lower-cases every message; over plain
//!   HTTP, `GET /lower?message=HeLLo` answers `hello`.
//! - `/`: echoes every message until the peer closes; a browser GET gets a page to try it.
//!
//! Settings come from the environment (`WEBSOCKET_ACCEPT_ALL=1`, `WSVIEW_COMPRESSION=on`
//! for permessage-deflate with every client that offers it, …). The message and frame
//! limits are 16 MiB here unless `WSVIEW_MAX_MESSAGE_SIZE` / `WSVIEW_MAX_FRAME_SIZE` set
//! them, because the Autobahn suite, which runs against `/`, sends messages that large;
//! the library's default is 1 MiB. Logs go to stderr, filtered by `RUST_LOG`.

use futures_util::StreamExt;
use wsview::{accept_websocket, require_websocket, App, Request, Response, Settings};

async fn echo_once(mut req: Request) -> Response {
    let ws = req
        .websocket()
        .expect("require_websocket: always a websocket");
    if let Some(msg) = ws.wait().await {
        let _ = ws.send(msg).await;
    }
    Response::empty() // returning closes the connection (1000)
}

async fn lower_case(mut req: Request) -> Response {
    match req.websocket() {
        None => Response::text(req.query("message").unwrap_or_default().to_lowercase()),
        Some(ws) => {
            while let Some(msg) = ws.next().await {
                let lower = msg.as_text().unwrap_or_default().to_lowercase();
                if ws.send(lower).await.is_err() {
                    break;
                }
            }
            Response::empty()
        }
    }
}

async fn echo_all(mut req: Request) -> Response {
    match req.websocket() {
        None => Response::html(PAGE),
        Some(ws) => {
            while let Some(msg) = ws.wait().await {
                if ws.send(msg).await.is_err() {
                    break;
                }
            }
            Response::empty()
        }
    }
}

/// The example's app; the interop test serves the same one.
pub fn app(settings: Settings) -> App {
    App::new()
        .settings(settings)
        .route("/", accept_websocket(echo_all))
        .route("/echo", require_websocket(echo_once))
        .route("/lower", accept_websocket(lower_case))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Logs (the server's address, a view's panic, a bad setting) go to stderr;
    // RUST_LOG filters them (`RUST_LOG=wsview=debug`), info by default.
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
    let mut settings = Settings::from_env()?;
    let settings_compression = settings.compression.is_some();
    // 16 MiB for the Autobahn suite, unless the environment sets a limit (lower or
    // higher): WSVIEW_MAX_MESSAGE_SIZE=65536 makes this server refuse 64 KiB + 1.
    if std::env::var_os("WSVIEW_MAX_MESSAGE_SIZE").is_none() {
        settings.max_message_size = 16 << 20;
    }
    if std::env::var_os("WSVIEW_MAX_FRAME_SIZE").is_none() {
        settings.max_frame_size = 16 << 20;
    }
    let server = app(settings).bind(addr.as_str()).await?;
    let at = server.local_addr();
    println!("wsview echo example serving on http://{at}");
    println!("  ws://{at}/      echo every message (a browser GET gets a page to try it)");
    println!("  ws://{at}/echo  echo one message, then close");
    println!("  ws://{at}/lower lower-case every message; also GET /lower?message=HeLLo");
    let compression = if settings_compression { "on" } else { "off" };
    println!("permessage-deflate: {compression} (WSVIEW_COMPRESSION=on|off)");
    println!("Ctrl-C stops it.");
    server.run_until(wsview::shutdown_signal()).await?;
    println!("stopped");
    Ok(())
}

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>wsview echo</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
#log { border: 1px solid #ccc; min-height: 10rem; padding: .5rem; white-space: pre-wrap; }
</style></head>
<body>
<h1>wsview echo</h1>
<p id="status">connecting…</p>
<form id="form"><input id="text" autocomplete="off" placeholder="type a message" autofocus>
<button>Send</button></form>
<div id="log"></div>
<script>
const log = (line) => { document.getElementById('log').textContent += line + "\n"; };
const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
const ws = new WebSocket(scheme + location.host + '/');
ws.onopen = () => { document.getElementById('status').textContent = 'connected'; };
ws.onclose = (e) => { document.getElementById('status').textContent = 'closed (' + e.code + ')'; };
ws.onmessage = (e) => log('echo: ' + e.data);
document.getElementById('form').onsubmit = (e) => {
  e.preventDefault();
  const input = document.getElementById('text');
  if (input.value) { ws.send(input.value); log('sent: ' + input.value); input.value = ''; }
};
</script>
</body>
</html>
"#;
