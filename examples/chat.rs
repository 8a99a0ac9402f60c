//! A chat server: rooms, names, join and leave notices, on [`wsview::groups::Groups`].
//!
//! ```text
//! cargo run --example chat                      # listens on 127.0.0.1:8000
//! cargo run --example chat -- 127.0.0.1:9002
//! ```
//!
//! Open `http://127.0.0.1:8000/` in two browser tabs, pick a name and the same room in
//! each, and type.
//!
//! Several processes share rooms through Redis when built with the `redis` feature and
//! given `WSVIEW_REDIS_URL` (optionally `WSVIEW_REDIS_PREFIX`): a member on one process
//! sees the lines of members on the others, and member counts are across processes.
//!
//! ```text
//! WSVIEW_REDIS_URL=redis://127.0.0.1:6379 cargo run --features redis --example chat -- 127.0.0.1:8001
//! WSVIEW_REDIS_URL=redis://127.0.0.1:6379 cargo run --features redis --example chat -- 127.0.0.1:8002
//! ```
//!
//! # Interface (kept stable: the browser test and other clients rely on it)
//!
//! - `GET /` serves the chat page (choose a name and a room, see who joins and leaves,
//!   send lines).
//! - WebSocket at `/chat/{room}?name=NAME`; without a name the server makes one up
//!   (`guest-` and a number).
//! - Every text message a client sends goes to every member of the room, the sender
//!   included, as `{"type":"message","room":R,"from":NAME,"text":T}`. Binary messages
//!   are ignored.
//! - Joining and leaving send `{"type":"join"|"leave","room":R,"name":NAME,"members":N}`
//!   to the room, N being the number of members after the change (in every process, with
//!   Redis). A member sees its own
//!   join (it is in the room by then), not its own leave; a late joiner sees nothing
//!   sent before it joined.
//! - `GET /rooms/{room}` answers `{"room":R,"members":N}` (0 for an empty room; with
//!   Redis, the members of every process).
//!
//! Delivery is the groups module's: at most once, in order per sender; a member that
//! does not keep up loses messages (counted in `Groups::snapshot`) instead of slowing
//! the room down. Settings come from the environment (`WSVIEW_…`, as in the other examples).

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;
use wsview::groups::Groups;
use wsview::{accept_websocket, App, Request, Response, Settings};

const PAGE: &str = include_str!("chat.html");

async fn index(_req: Request) -> Response {
    Response::html(PAGE)
}

async fn room_info(req: Request) -> Response {
    let room = req.param("room").unwrap_or_default().to_owned();
    let members = match req.state::<Groups>() {
        Some(groups) => members(groups, &room).await,
        None => 0,
    };
    Response::json(&json!({ "room": room, "members": members }))
}

/// The room's members in every process (with a cross-process layer), or in this one
/// when the layer cannot answer (Redis down).
async fn members(groups: &Groups, room: &str) -> usize {
    match groups.presence(room).await {
        Ok(presence) => presence.count,
        Err(_) => groups.members(room),
    }
}

fn guest_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("guest-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

async fn chat(mut req: Request) -> Response {
    let Some(groups) = req.state::<Groups>().cloned() else {
        return Response::internal_error();
    };
    let room = req.param("room").unwrap_or_default().to_owned();
    let name = req
        .query("name")
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(guest_name);
    let Some(ws) = req.websocket() else {
        return Response::bad_request("connect with a WebSocket");
    };
    if ws.accept().await.is_err() {
        return Response::empty();
    }
    let me = ws.id();
    groups.add_named(&room, &ws.sender(), &name);
    let count = members(&groups, &room).await;
    groups.send(
        &room,
        json!({"type": "join", "room": room, "name": name, "members": count}).to_string(),
    );
    while let Some(msg) = ws.wait().await {
        if let Some(text) = msg.as_text() {
            groups.send(
                &room,
                json!({"type": "message", "room": room, "from": name, "text": text}).to_string(),
            );
        }
    }
    // The peer closed or the connection dropped. (Had the view ended another way, the
    // registry would still have taken the connection out of the room by itself.)
    groups.discard(&room, me);
    let count = members(&groups, &room).await;
    groups.send(
        &room,
        json!({"type": "leave", "room": room, "name": name, "members": count}).to_string(),
    );
    Response::empty()
}

/// The example's app; the browser test serves the same one.
pub fn app(settings: Settings, groups: Groups) -> App {
    App::new()
        .settings(settings)
        .state(groups)
        .route("/", index)
        .route("/rooms/{room}", room_info)
        .route("/chat/{room}", accept_websocket(chat))
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
    let (groups, layer) = groups_from_env()?;
    let server = app(Settings::from_env()?, groups)
        .bind(addr.as_str())
        .await?;
    let at = server.local_addr();
    println!("wsview chat example serving on http://{at}");
    println!("  http://{at}/               the chat page");
    println!("  ws://{at}/chat/ROOM?name=N  join ROOM as N");
    println!("  http://{at}/rooms/ROOM      {{\"room\":ROOM,\"members\":N}}");
    println!("Ctrl-C stops it.");
    server.run_until(wsview::shutdown_signal()).await?;
    close(layer).await;
    println!("stopped");
    Ok(())
}

#[cfg(feature = "redis")]
use wsview::groups::redis::RedisLayer;
/// Without the `redis` feature there is no layer.
#[cfg(not(feature = "redis"))]
type RedisLayer = std::convert::Infallible;

/// The registry: shared through Redis when `WSVIEW_REDIS_URL` is set (feature `redis`).
#[cfg(feature = "redis")]
fn groups_from_env() -> std::io::Result<(Groups, Option<RedisLayer>)> {
    match RedisLayer::from_env() {
        Ok(Some(layer)) => {
            println!(
                "rooms shared through Redis at {} (prefix {:?})",
                layer.config().url_for_logs(),
                layer.config().key_prefix()
            );
            Ok((Groups::builder().layer(layer.clone()).build(), Some(layer)))
        }
        Ok(None) => Ok((Groups::new(), None)),
        Err(e) => Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)),
    }
}

#[cfg(not(feature = "redis"))]
fn groups_from_env() -> std::io::Result<(Groups, Option<RedisLayer>)> {
    if std::env::var_os("WSVIEW_REDIS_URL").is_some() {
        eprintln!("WSVIEW_REDIS_URL ignored: built without the `redis` feature");
    }
    Ok((Groups::new(), None))
}

/// On a clean stop this process's members leave presence at once.
async fn close(layer: Option<RedisLayer>) {
    #[cfg(feature = "redis")]
    if let Some(layer) = layer {
        layer.close().await;
    }
    #[cfg(not(feature = "redis"))]
    let _ = layer;
}
