//! How a WebSocket request's socket reaches the engine once the view accepts: from
//! hyper after it wrote the 101, or already here, when the server read the request
//! itself (its HTTP/1.1 upgrade path, see `first_read.rs`) and writes the 101 when the
//! view accepts.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::response::Response;
use crate::websocket::wire::WireConfig;

/// Where the connection comes from when the view accepts.
pub(crate) enum Handover {
    /// hyper's upgrade: the HTTP side is told to send the 101 (or the view's response)
    /// through `reply`; the stream arrives once hyper has written it.
    Hyper {
        reply: oneshot::Sender<Outcome>,
        on_upgrade: hyper::upgrade::OnUpgrade,
    },
    /// The server's own socket, its request head already read: nothing to wait for.
    /// Boxed: a pending connection's phase stays small.
    Direct(Box<DirectIo>),
}

/// What the connection task tells hyper's side: send the 101, or this response.
pub(crate) enum Outcome {
    Accept(http::Response<crate::body::Body>),
    Done(Response),
}

/// A plain-TCP connection whose request head the server read itself.
pub(crate) struct DirectIo {
    pub(crate) tcp: TcpStream,
    /// Everything read: the request head (`head_len` bytes), then the first WebSocket
    /// frames if the client sent any before the 101.
    pub(crate) raw: Bytes,
    pub(crate) head_len: usize,
    pub(crate) config: WireConfig,
    /// How the server answers over HTTP if the view does not accept: dropped unused
    /// when it does.
    pub(crate) answer: Answer,
}

/// Serves a refused WebSocket request's connection over HTTP: its response (the view's,
/// or a refusal), the socket, and everything read from it.
pub(crate) type Answer =
    Box<dyn FnOnce(Response, TcpStream, Bytes) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// The 101's head as HTTP/1.1 bytes, for the engine to write first (a 1xx has no body;
/// hyper would add `Date`, which RFC 9110 §6.6.1 leaves optional for 1xx).
pub(crate) fn switching_head<B>(response: &http::Response<B>) -> Vec<u8> {
    let status = response.status();
    let size = 64
        + response
            .headers()
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum::<usize>();
    let mut head = Vec::with_capacity(size);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in response.headers() {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}
