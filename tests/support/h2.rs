//! An HTTP/2 client (hyper's) for the tests: plain requests, and WebSockets over
//! extended CONNECT (RFC 8441), several on one connection.
#![allow(dead_code)] // each test binary uses a different part

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

pub type H2Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// One HTTP/2 connection over `io` (TLS with ALPN h2, or plain TCP with prior
/// knowledge); its driver runs in a task of its own.
pub async fn handshake<I>(io: I) -> SendRequest<Empty<Bytes>>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(io))
        .await
        .expect("HTTP/2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut send = send;
    // An extended CONNECT needs the server's SETTINGS (ENABLE_CONNECT_PROTOCOL): any
    // response comes after them, so one request is the event to wait for.
    let _ = get(&mut send, "localhost", "/").await;
    send
}

/// A GET; returns the response's version, status, content type and body.
pub async fn get(
    send: &mut SendRequest<Empty<Bytes>>,
    authority: &str,
    path: &str,
) -> (http::Version, u16, Option<String>, String) {
    let req = http::Request::get(format!("http://{authority}{path}"))
        .body(Empty::new())
        .expect("request");
    let resp = send.send_request(req).await.expect("response");
    let version = resp.version();
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (
        version,
        status,
        ctype,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// Opens a WebSocket with an extended CONNECT (`:protocol websocket`); the response if
/// the server answers other than 200.
pub async fn websocket(
    send: &mut SendRequest<Empty<Bytes>>,
    authority: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> Result<(H2Socket, http::HeaderMap), (u16, String)> {
    let mut req = http::Request::connect(format!("http://{authority}{path}"))
        .version(http::Version::HTTP_2)
        .extension(hyper::ext::Protocol::from_static("websocket"))
        .header("sec-websocket-version", "13");
    for (name, value) in extra {
        req = req.header(*name, *value);
    }
    let req = req.body(Empty::new()).expect("request");
    let mut resp = send.send_request(req).await.expect("response");
    if resp.status() != 200 {
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        return Err((status, String::from_utf8_lossy(&body).into_owned()));
    }
    let headers = resp.headers().clone();
    let upgraded = hyper::upgrade::on(&mut resp)
        .await
        .expect("the stream as a tunnel");
    let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;
    Ok((ws, headers))
}

/// The next text message, skipping control frames; `None` on close or error.
pub async fn next_text<S>(ws: &mut WebSocketStream<S>) -> Option<String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match super::within(ws.next()).await {
            Some(Ok(Message::Text(t))) => return Some(t.as_str().to_owned()),
            Some(Ok(Message::Binary(b))) => return Some(String::from_utf8_lossy(&b).into_owned()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

/// Reads until the peer's close frame and returns its code, then reads on to the end so
/// the client's reply goes out (tungstenite sends it on the next read).
pub async fn close_code<S>(ws: &mut WebSocketStream<S>) -> Option<u16>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match super::within(ws.next()).await {
            Some(Ok(Message::Close(frame))) => {
                while let Some(Ok(_)) = super::within(ws.next()).await {}
                return frame.map(|f| u16::from(f.code));
            }
            Some(Ok(_)) => continue,
            None | Some(Err(_)) => return None,
        }
    }
}

/// Sends a text message.
pub async fn send<S>(ws: &mut WebSocketStream<S>, text: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures_util::SinkExt;
    super::within(ws.send(tokio_tungstenite::tungstenite::Message::text(text)))
        .await
        .expect("client send");
}
