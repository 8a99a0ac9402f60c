//! A small app written from wsview's README and guide: a WebSocket room that counts
//! its visitors in shared state, and the app mounted in an axum Router.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use wsview::prelude::*;

/// Shared by every request: how many have joined.
#[derive(Clone, Default)]
pub struct Visits(pub Arc<AtomicU64>);

async fn room(mut req: Request) -> Result<Response, ViewError> {
    let visits = req.state::<Visits>().or_status(500)?.clone();
    let n = visits.0.fetch_add(1, Ordering::Relaxed) + 1;
    let Some(ws) = req.websocket() else {
        return Ok(Response::text(format!(
            "visitor {n}: connect with a WebSocket"
        )));
    };
    ws.send(format!("welcome, visitor {n}")).await?;
    while let Some(msg) = ws.next().await {
        ws.send(msg).await?;
    }
    Ok(Response::empty())
}

/// The wsview app.
pub fn app(visits: Visits) -> App {
    App::new()
        .state(visits)
        .route("/room", accept_websocket(room))
}

/// An axum Router with its own route and the wsview app under `/live`.
pub fn router(live: AppService) -> axum::Router {
    axum::Router::new()
        .route("/", axum::routing::get(|| async { "axum" }))
        .nest_service("/live", live)
}
