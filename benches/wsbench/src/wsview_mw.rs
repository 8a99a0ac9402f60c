//! `wsbench serve wsview-mw ADDR`: wsview's full echo view, as in `examples/echo.rs`,
//! but behind three no-op middlewares and on a route with a path parameter
//! (`/bench/{room}`), to check that those features do not tax the hot path.

use std::net::SocketAddr;

use wsview::{accept_websocket, App, Next, Request, Response, Settings};

async fn noop_a(req: Request, next: Next) -> Response {
    next.run(req).await
}

async fn noop_b(req: Request, next: Next) -> Response {
    next.run(req).await
}

async fn noop_c(req: Request, next: Next) -> Response {
    next.run(req).await
}

async fn echo_all(mut req: Request) -> Response {
    // Touch the path parameter the way a real view would.
    let room_ok = req.param("room").is_some_and(|r| !r.is_empty());
    match req.websocket() {
        None => Response::text(if room_ok { "echo view" } else { "no room" }),
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

pub async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    // The same settings as the echo example, so only routing and middleware differ.
    let mut settings = Settings::from_env()?;
    settings.max_message_size = settings.max_message_size.max(16 << 20);
    settings.max_frame_size = settings.max_frame_size.max(16 << 20);
    let server = App::new()
        .settings(settings)
        .middleware(noop_a)
        .middleware(noop_b)
        .middleware(noop_c)
        .route("/bench/{room}", accept_websocket(echo_all))
        .bind(addr)
        .await?;
    println!("listening on {}", server.local_addr());
    server.run().await
}
