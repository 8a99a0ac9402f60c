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
//!   to the room, N being the number of members after the change. A member sees its own
//!   join (it is in the room by then), not its own leave; a late joiner sees nothing
//!   sent before it joined.
//! - `GET /rooms/{room}` answers `{"room":R,"members":N}` (0 for an empty room).
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
    let members = req.state::<Groups>().map_or(0, |g| g.members(&room));
    Response::json(&json!({ "room": room, "members": members }))
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
    let joined = groups.add_named(&room, &ws.sender(), &name);
    groups.send(
        &room,
        json!({"type": "join", "room": room, "name": name, "members": joined.members}).to_string(),
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
    let left = groups.discard(&room, me);
    groups.send(
        &room,
        json!({"type": "leave", "room": room, "name": name, "members": left.members}).to_string(),
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
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8000".to_owned());
    let server = app(Settings::from_env()?, Groups::new())
        .bind(addr.as_str())
        .await?;
    let at = server.local_addr();
    println!("wsview chat example serving on http://{at}");
    println!("  http://{at}/               the chat page");
    println!("  ws://{at}/chat/ROOM?name=N  join ROOM as N");
    println!("  http://{at}/rooms/ROOM      {{\"room\":ROOM,\"members\":N}}");
    println!("Ctrl-C stops it.");
    server.run_until(wsview::shutdown_signal()).await?;
    println!("stopped");
    Ok(())
}
