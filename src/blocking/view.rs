//! A blocking view: synchronous code holding one worker for its connection's life.

use std::sync::Arc;

use crate::blocking::bridge::{serve_until, Bridge};
use crate::blocking::socket::WebSocket;
use crate::blocking::workers::Workers;
use crate::request::Request;
use crate::response::{IntoResponse, Response};
use crate::view::{require_websocket, View};

/// The view [`Pool::view`](crate::blocking::Pool::view) makes.
pub(crate) fn blocking_view<F, R>(workers: Workers, view: F) -> View
where
    F: Fn(Request, &mut WebSocket) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    let view = Arc::new(view);
    require_websocket(move |mut req: Request| {
        let workers = workers.clone();
        let view = view.clone();
        async move {
            let Some(mut ws) = req.take_websocket() else {
                return Response::bad_request("This view requires a WebSocket request.");
            };
            let Some(permit) = workers.acquire_for_view().await else {
                tracing::warn!(
                    workers = workers.size(),
                    "refusing a websocket: every blocking worker stayed busy"
                );
                return Response::text("Service Unavailable: every worker is busy.")
                    .with_status(503)
                    .with_header("retry-after", "1");
            };
            let (bridge, mut ops) = Bridge::new();
            let (id, protocol) = (ws.id(), ws.protocol().map(str::to_owned));
            let job = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let mut ws = WebSocket::new(bridge, id, protocol);
                view(req, &mut ws).into_response()
            });
            match serve_until(&mut ws, &mut ops, job).await {
                Ok(response) => response,
                // The connection task catches it: 500 before accepting, 1011 after.
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => Response::internal_error(),
            }
        }
    })
}
