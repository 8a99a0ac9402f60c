//! The fan-out servers (`wsbench serve KIND ADDR`): subscribers connect to `/sub`, the
//! publisher to `/pub`; every message the publisher sends goes to every subscriber.
//! Each subscriber gets one `ready` message once it is registered, so the load
//! generator knows when to start.
//!
//! - `axum-broadcast`: axum 0.8 with `tokio::sync::broadcast`, as its chat example does
//!   (one channel of `String`, a forwarding task per subscriber).
//! - `wsview-registry`: wsview with the hand-written registry a user writes today: a
//!   map of `WebSocketSender`s behind a mutex, `try_send` to each.
//! - `wsview-groups`: wsview's `groups::Groups` (`add`, `send`).

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpListener;

/// Capacity of axum's broadcast channel: its chat example uses 100.
const AXUM_CHANNEL: usize = 100;

pub async fn axum_broadcast(addr: SocketAddr) -> io::Result<()> {
    use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
    use axum::extract::State;
    use axum::response::Response;
    use axum::routing::get;
    use axum::serve::ListenerExt;
    use futures_util::{SinkExt, StreamExt};
    use tokio::sync::broadcast;

    #[derive(Clone)]
    struct AppState {
        tx: broadcast::Sender<String>,
    }

    async fn sub(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
        ws.on_upgrade(move |socket: WebSocket| async move {
            let (mut sender, mut receiver) = socket.split();
            let mut rx = state.tx.subscribe();
            if sender.send(Message::text("ready")).await.is_err() {
                return;
            }
            let mut send_task = tokio::spawn(async move {
                while let Ok(msg) = rx.recv().await {
                    if sender.send(Message::text(msg)).await.is_err() {
                        break;
                    }
                }
            });
            let mut recv_task =
                tokio::spawn(async move { while let Some(Ok(_)) = receiver.next().await {} });
            tokio::select! {
                _ = &mut send_task => recv_task.abort(),
                _ = &mut recv_task => send_task.abort(),
            }
        })
    }

    async fn publish(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
        ws.on_upgrade(move |mut socket: WebSocket| async move {
            while let Some(Ok(msg)) = socket.recv().await {
                match msg {
                    Message::Text(text) => {
                        let _ = state.tx.send(text.to_string());
                    }
                    Message::Close(_) => break,
                    _ => {}
                }
            }
        })
    }

    let (tx, _) = broadcast::channel(AXUM_CHANNEL);
    let listener = TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let app = axum::Router::new()
        .route("/sub", get(sub))
        .route("/pub", get(publish))
        .with_state(AppState { tx });
    axum::serve(listener, app).await
}

#[cfg(feature = "wsview-fanout")]
pub use with_wsview::*;

#[cfg(feature = "wsview-fanout")]
mod with_wsview {
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{LazyLock, Mutex};

    use wsview::groups::Groups;
    use wsview::{require_websocket, App, Request, Response, WebSocketSender};

    /// What a user writes today: senders in a map, their own ids.
    struct Registry {
        next_id: AtomicU64,
        subs: Mutex<HashMap<u64, WebSocketSender>>,
    }

    static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry {
        next_id: AtomicU64::new(0),
        subs: Mutex::new(HashMap::new()),
    });

    async fn sub(mut req: Request) -> Response {
        let Some(ws) = req.websocket() else {
            return Response::empty();
        };
        if ws.accept().await.is_err() {
            return Response::empty();
        }
        let id = REGISTRY.next_id.fetch_add(1, Ordering::Relaxed);
        let sender = ws.sender();
        REGISTRY
            .subs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, sender);
        if ws.send("ready").await.is_ok() {
            while ws.wait().await.is_some() {}
        }
        REGISTRY
            .subs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        Response::empty()
    }

    async fn publish(mut req: Request) -> Response {
        let Some(ws) = req.websocket() else {
            return Response::empty();
        };
        while let Some(msg) = ws.wait().await {
            let subs = REGISTRY.subs.lock().unwrap_or_else(|e| e.into_inner());
            for sender in subs.values() {
                // Full or closed: the message is lost for that subscriber.
                let _ = sender.try_send(msg.clone());
            }
        }
        Response::empty()
    }

    async fn groups_sub(mut req: Request) -> Response {
        let Some(groups) = req.state::<Groups>().cloned() else {
            return Response::internal_error();
        };
        let Some(ws) = req.websocket() else {
            return Response::empty();
        };
        if ws.accept().await.is_err() {
            return Response::empty();
        }
        groups.add("bench", &ws.sender());
        // Across processes: ready once this process's subscription is in Redis.
        #[cfg(feature = "redis")]
        if let Some(layer) = req.state::<wsview::groups::redis::RedisLayer>() {
            layer.synced().await;
        }
        let Some(ws) = req.websocket() else {
            return Response::empty();
        };
        if ws.send("ready").await.is_ok() {
            while ws.wait().await.is_some() {}
        }
        Response::empty()
    }

    async fn groups_pub(mut req: Request) -> Response {
        let Some(groups) = req.state::<Groups>().cloned() else {
            return Response::internal_error();
        };
        let Some(ws) = req.websocket() else {
            return Response::empty();
        };
        while let Some(msg) = ws.wait().await {
            groups.send("bench", msg);
        }
        Response::empty()
    }

    pub async fn wsview_groups(addr: SocketAddr) -> std::io::Result<()> {
        let app = App::new();
        // With WSVIEW_REDIS_URL (wsbench fanout's wsview-groups-redis run), the group
        // is shared with the other processes through Redis.
        #[cfg(feature = "redis")]
        let (app, groups) = match wsview::groups::redis::RedisLayer::from_env() {
            Ok(Some(layer)) => (
                app.state(layer.clone()),
                Groups::builder().layer(layer).build(),
            ),
            Ok(None) => (app, Groups::new()),
            Err(e) => return Err(std::io::Error::other(e)),
        };
        #[cfg(not(feature = "redis"))]
        let groups = Groups::new();
        let server = app
            .state(groups)
            .route("/sub", require_websocket(groups_sub))
            .route("/pub", require_websocket(groups_pub))
            .bind(addr)
            .await?;
        println!("listening on {}", server.local_addr());
        server.run().await
    }

    pub async fn wsview_registry(addr: SocketAddr) -> std::io::Result<()> {
        let server = App::new()
            .route("/sub", require_websocket(sub))
            .route("/pub", require_websocket(publish))
            .bind(addr)
            .await?;
        println!("listening on {}", server.local_addr());
        server.run().await
    }
}

#[cfg(not(feature = "wsview-fanout"))]
pub async fn wsview_groups(_addr: SocketAddr) -> io::Result<()> {
    wsview_registry(_addr).await
}

#[cfg(not(feature = "wsview-fanout"))]
pub async fn wsview_registry(_addr: SocketAddr) -> io::Result<()> {
    Err(io::Error::other(
        "wsbench was built without the `wsview-fanout` feature",
    ))
}
