//! The peer servers, each run as its own process by `wsbench serve KIND ADDR`.
//!
//! Every server echoes text and binary messages until the peer goes away, accepts any
//! path, sets TCP_NODELAY on accepted sockets (as the load generator does on its side)
//! and runs on a default multi-thread tokio runtime, which is what `#[tokio::main]`
//! gives an application. Pinned to one core, that runtime has one worker.
//! Nothing here unwraps on peer-controlled data: every peer error ends that connection.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// A server process lives at most this long, even if nobody kills it.
const MAX_LIFETIME: Duration = Duration::from_secs(60 * 60);

pub const KINDS: &[&str] = &[
    "tt-default",
    "tt-tuned",
    "axum",
    "fastwebsockets",
    "wsview-mw",
    "axum-broadcast",
    "wsview-registry",
    "wsview-groups",
];

/// Entry point of `wsbench serve KIND ADDR`.
pub fn serve(kind: &str, addr: SocketAddr) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let fut = async move {
            match kind {
                "tt-default" => tt_server(addr, TtMode::Default).await,
                "tt-tuned" => tt_server(addr, TtMode::Tuned).await,
                "axum" => axum_server(addr).await,
                "fastwebsockets" => fastws_server(addr).await,
                "wsview-mw" => wsview_mw_server(addr).await,
                "axum-broadcast" => crate::fanout_servers::axum_broadcast(addr).await,
                "wsview-registry" => crate::fanout_servers::wsview_registry(addr).await,
                "wsview-groups" => crate::fanout_servers::wsview_groups(addr).await,
                other => Err(io::Error::other(format!(
                    "unknown server kind {other:?}; known: {}",
                    KINDS.join(", ")
                ))),
            }
        };
        match tokio::time::timeout(MAX_LIFETIME, fut).await {
            Ok(r) => r,
            Err(_) => Ok(()),
        }
    })
}

#[derive(Clone, Copy)]
enum TtMode {
    /// `accept_async` with the default `WebSocketConfig` (128 KiB read buffer) and the
    /// textbook loop: `while let Some(m) = ws.next().await { ws.send(m).await }`.
    Default,
    /// 8 KiB read buffer, 8 KiB write-buffer target, and corking: replies are `feed`
    /// into the write buffer while more messages are already readable, and flushed once
    /// (one write) when the socket has nothing more to read.
    Tuned,
}

fn tuned_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024)
}

async fn accept_loop<F, Fut>(listener: TcpListener, per_conn: F) -> io::Result<()>
where
    F: Fn(TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    println!(
        "listening on {}",
        listener.local_addr().map_err(io::Error::other)?
    );
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(per_conn(stream));
            }
            // EMFILE and friends: back off briefly instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

async fn tt_server(addr: SocketAddr, mode: TtMode) -> io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    accept_loop(listener, move |stream| async move {
        let config = match mode {
            TtMode::Default => None,
            TtMode::Tuned => Some(tuned_config()),
        };
        let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, config).await else {
            return;
        };
        match mode {
            TtMode::Default => echo_plain(ws).await,
            TtMode::Tuned => echo_corked(ws).await,
        }
    })
    .await
}

async fn echo_plain(mut ws: WebSocketStream<TcpStream>) {
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                if ws.send(m).await.is_err() {
                    break;
                }
            }
            // Pings are answered and closes completed by tungstenite itself.
            Ok(_) => {}
            Err(_) => break,
        }
    }
}

async fn echo_corked(mut ws: WebSocketStream<TcpStream>) {
    let mut unflushed = false;
    loop {
        // Poll once without waiting: if nothing is ready, flush what we owe first.
        let next = match ws.next().now_or_never() {
            Some(next) => next,
            None => {
                if unflushed {
                    if ws.flush().await.is_err() {
                        break;
                    }
                    unflushed = false;
                }
                ws.next().await
            }
        };
        match next {
            Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                if ws.feed(m).await.is_err() {
                    break;
                }
                unflushed = true;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break,
        }
    }
}

async fn axum_server(addr: SocketAddr) -> io::Result<()> {
    use axum::extract::ws::{Message as AxMessage, WebSocket, WebSocketUpgrade};
    use axum::response::Response;
    use axum::serve::ListenerExt;

    async fn handler(ws: WebSocketUpgrade) -> Response {
        ws.on_upgrade(echo)
    }
    async fn echo(mut socket: WebSocket) {
        while let Some(Ok(msg)) = socket.recv().await {
            match msg {
                AxMessage::Close(_) => break,
                AxMessage::Ping(_) | AxMessage::Pong(_) => {}
                data => {
                    let Ok(()) = socket.send(data).await else {
                        break;
                    };
                }
            }
        }
    }

    let listener = TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    // Any path: the fallback handles every route.
    let app = axum::Router::new().fallback(handler);
    axum::serve(listener, app).await
}

/// fastwebsockets 0.10 as its own echo example sets it up: hyper's HTTP/1 server with
/// upgrades, `FragmentCollector` over the upgraded socket (pings answered and closes
/// completed by the library), the connection task `unconstrained`.
async fn fastws_server(addr: SocketAddr) -> io::Result<()> {
    use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
    use http_body_util::Empty;
    use hyper::body::{Bytes, Incoming};
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper::{Request, Response};
    use hyper_util::rt::TokioIo;

    async fn echo(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
        let mut ws = FragmentCollector::new(fut.await?);
        loop {
            let frame = ws.read_frame().await?;
            match frame.opcode {
                OpCode::Close => break,
                OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
                _ => {}
            }
        }
        Ok(())
    }

    async fn upgrade_req(
        mut req: Request<Incoming>,
    ) -> Result<Response<Empty<Bytes>>, WebSocketError> {
        let (response, fut) = upgrade::upgrade(&mut req)?;
        tokio::spawn(tokio::task::unconstrained(async move {
            let _ = echo(fut).await;
        }));
        Ok(response)
    }

    let listener = TcpListener::bind(addr).await?;
    accept_loop(listener, |stream| async move {
        let conn = http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service_fn(upgrade_req))
            .with_upgrades();
        let _ = conn.await;
    })
    .await
}

#[cfg(not(feature = "wsview-mw"))]
async fn wsview_mw_server(_addr: SocketAddr) -> io::Result<()> {
    Err(io::Error::other(
        "wsbench was built without the `wsview-mw` feature",
    ))
}

#[cfg(feature = "wsview-mw")]
async fn wsview_mw_server(addr: SocketAddr) -> io::Result<()> {
    crate::wsview_mw::serve(addr).await
}
