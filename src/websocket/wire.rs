//! The engine seam: the one interface between a connection and the WebSocket protocol
//! engine (framing, masking, fragment reassembly, ping and close replies).
//!
//! The connection state machine talks to the engine only through [`Wire`] and the
//! types below; tokio-tungstenite is named nowhere else in the connection code. Swapping
//! the engine means reimplementing this file.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use futures_util::{FutureExt, Sink};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

use crate::error::Error;
use crate::message::{CloseCode, Message};
use crate::settings::Settings;
use crate::utf8::Utf8Bytes;
use crate::websocket::transport::Transport;

/// The engine's limits, from the settings.
#[derive(Clone, Copy)]
pub(crate) struct WireConfig(WebSocketConfig);

impl WireConfig {
    pub(crate) fn new(settings: &Settings) -> Self {
        WireConfig(
            WebSocketConfig::default()
                .read_buffer_size(settings.read_buffer_size.max(256))
                .write_buffer_size(settings.write_buffer_size)
                .max_message_size(Some(settings.max_message_size))
                .max_frame_size(Some(settings.max_frame_size)),
        )
    }
}

/// An open WebSocket: frames in and out over the transport.
pub(crate) struct Wire {
    engine: WebSocketStream<Transport>,
}

/// What one read gave.
pub(crate) enum Incoming {
    /// A data message.
    Message(Message),
    /// The peer's close frame (code and reason, if it had a body). The engine has
    /// queued the reply; it leaves at the next flush.
    Close(Option<(CloseCode, String)>),
    /// A ping or pong, already handled by the engine.
    Control,
}

/// Why a read failed.
pub(crate) enum ReadError {
    /// The peer broke the protocol: close with `code` (RFC 6455 §7.4.1).
    Peer { code: CloseCode, detail: String },
    /// The transport failed or was reset: nothing more can be read or written.
    Lost,
}

/// A write that failed.
pub(crate) struct WriteError(WsError);

impl WriteError {
    /// Whether it failed because the connection is closing or closed.
    pub(crate) fn is_closed(&self) -> bool {
        matches!(
            self.0,
            WsError::ConnectionClosed
                | WsError::AlreadyClosed
                | WsError::Protocol(ProtocolError::SendAfterClosing)
        )
    }

    pub(crate) fn into_error(self) -> Error {
        Error::protocol(self.0)
    }
}

impl Wire {
    /// The wire over an upgraded connection, and whether it starts with bytes hyper had
    /// already read. `None` if the engine did not start.
    pub(crate) fn start(
        upgraded: hyper::upgrade::Upgraded,
        config: WireConfig,
    ) -> Option<(Wire, bool)> {
        let (transport, leftover) = match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => (Transport::tcp(parts.io.into_inner()), parts.read_buf),
            Err(upgraded) => (Transport::other(TokioIo::new(upgraded)), Bytes::new()),
        };
        // Both constructors finish on their first poll; they are async only by signature.
        if leftover.is_empty() {
            WebSocketStream::from_raw_socket(transport, Role::Server, Some(config.0))
                .now_or_never()
                .map(|engine| (Wire { engine }, false))
        } else {
            WebSocketStream::from_partially_read(
                transport,
                leftover.to_vec(),
                Role::Server,
                Some(config.0),
            )
            .now_or_never()
            .map(|engine| (Wire { engine }, true))
        }
    }

    /// Whether the socket may have bytes to read (see [`Transport::poll_read_ready`]).
    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.engine.get_ref().poll_read_ready(cx)
    }

    /// Bytes read from the socket so far (the transport's count): the connection task's
    /// sign of life from the peer, and of input begun.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.engine.get_ref().bytes_read()
    }

    /// The next frame; `None` at the end of the stream. Every complete frame is
    /// reported, control frames too (`Incoming::Control`): the unfinished-input deadline
    /// counts bytes read since the last one.
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Incoming, ReadError>>> {
        Pin::new(&mut self.engine).poll_next(cx).map(|next| {
            next.map(|read| match read {
                Ok(WsMessage::Text(t)) => {
                    Ok(Incoming::Message(Message::Text(Utf8Bytes::from_engine(t))))
                }
                Ok(WsMessage::Binary(b)) => Ok(Incoming::Message(Message::Binary(b))),
                Ok(WsMessage::Close(frame)) => Ok(Incoming::Close(frame.map(|f| {
                    (
                        CloseCode::from(u16::from(f.code)),
                        f.reason.as_str().to_owned(),
                    )
                }))),
                Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_)) => {
                    Ok(Incoming::Control)
                }
                Err(e) => Err(read_error(e)),
            })
        })
    }

    /// Whether the engine takes another frame.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        Pin::new(&mut self.engine)
            .poll_ready(cx)
            .map_err(WriteError)
    }

    /// Queues a data message (call [`poll_ready`](Self::poll_ready) first).
    pub(crate) fn start_send(&mut self, msg: Message) -> Result<(), WriteError> {
        let msg = match msg {
            Message::Text(t) => WsMessage::Text(t.into_engine()),
            Message::Binary(b) => WsMessage::Binary(b),
        };
        Pin::new(&mut self.engine)
            .start_send(msg)
            .map_err(WriteError)
    }

    /// Queues a ping (the keepalive's).
    pub(crate) fn start_ping(&mut self) -> Result<(), WriteError> {
        Pin::new(&mut self.engine)
            .start_send(WsMessage::Ping(Bytes::new()))
            .map_err(WriteError)
    }

    /// Queues a close frame.
    pub(crate) fn start_close(&mut self, code: CloseCode, reason: &str) -> Result<(), WriteError> {
        let frame = CloseFrame {
            code: u16::from(code).into(),
            reason: reason.into(),
        };
        Pin::new(&mut self.engine)
            .start_send(WsMessage::Close(Some(frame)))
            .map_err(WriteError)
    }

    /// Writes out everything queued.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        Pin::new(&mut self.engine)
            .poll_flush(cx)
            .map_err(WriteError)
    }
}

/// The close code RFC 6455 §7.4.1 gives for a peer's error, or `Lost`.
fn read_error(e: WsError) -> ReadError {
    let code = match &e {
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => CloseCode::Size,
        WsError::Capacity(_) => CloseCode::Size,
        WsError::Utf8(_) => CloseCode::Invalid,
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => return ReadError::Lost,
        WsError::Protocol(_) => CloseCode::Protocol,
        _ => return ReadError::Lost,
    };
    ReadError::Peer {
        code,
        detail: e.to_string(),
    }
}
