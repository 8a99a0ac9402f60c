//! The engine seam: the one interface between a connection and the WebSocket protocol
//! engine (framing, masking, fragment reassembly, compression, ping and close replies).
//!
//! The connection state machine talks to the engine only through [`Wire`] and the
//! types below. The engine is wsview's own (`crate::engine`): a sans-IO codec, driven
//! here over the connection's transport by [`WsStream`], which reads through one buffer
//! per thread so that an idle connection holds none.

use std::task::{Context, Poll};

use bytes::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::engine::decoder::Limits;
use crate::engine::negotiate::{DeflateConfig, DeflateParams};
use crate::engine::stream::{self, Read, StreamConfig, WsStream};
use crate::engine::Role;
use crate::error::Error;
use crate::message::{CloseCode, Message};
use crate::prefixed::Prefixed;
use crate::settings::Settings;
use crate::websocket::transport::Transport;

/// The engine's limits and buffer sizes, from the settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WireConfig(StreamConfig);

impl WireConfig {
    pub(crate) fn new(settings: &Settings) -> Self {
        WireConfig(StreamConfig {
            limits: Limits {
                max_frame: settings.max_frame_size,
                max_message: settings.max_message_size,
            },
            read_size: settings.read_buffer_size.max(256),
            write_limit: settings.write_buffer_size.max(1),
        })
    }
}

/// The compression agreed in the handshake, and how this side compresses.
pub(crate) type Deflate = (DeflateParams, DeflateConfig);

/// An open WebSocket: frames in and out over the transport.
pub(crate) struct Wire {
    stream: WsStream<Transport>,
}

/// What one read gave.
pub(crate) enum Incoming {
    /// A data message.
    Message(Message),
    /// The peer's close frame (code and reason, if it had a body). The engine has
    /// queued the reply; it leaves at the next flush.
    Close(Option<(CloseCode, String)>),
    /// A ping (already answered by the engine) or a pong.
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
pub(crate) struct WriteError(stream::WriteError);

impl WriteError {
    /// Whether it failed because the connection is closing or closed.
    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.0, stream::WriteError::Closed)
    }

    pub(crate) fn into_error(self) -> Error {
        match self.0 {
            stream::WriteError::Closed => Error::closed(None),
            stream::WriteError::Io(e) => Error::protocol(e),
        }
    }
}

impl Wire {
    /// The wire over an upgraded connection, with the compression negotiated for it,
    /// and whether it starts with bytes hyper had already read. `None` if the engine did
    /// not start (it always does; the seam keeps the option).
    pub(crate) fn start(
        upgraded: hyper::upgrade::Upgraded,
        config: WireConfig,
        deflate: Option<&Deflate>,
    ) -> Option<(Wire, bool)> {
        // The server hands hyper a `Prefixed` stream; an app's own loop (`AppService`)
        // may hand it the bare one.
        let (transport, leftover) = match upgraded.downcast::<TokioIo<Prefixed>>() {
            // hyper read the prefix first: what it kept comes before the rest.
            Ok(parts) => {
                let (tcp, rest) = parts.io.into_inner().into_parts();
                let leftover = if rest.is_empty() {
                    parts.read_buf
                } else {
                    [parts.read_buf, rest].concat().into()
                };
                (Transport::tcp(tcp), leftover)
            }
            Err(upgraded) => match upgraded.downcast::<TokioIo<TcpStream>>() {
                Ok(parts) => (Transport::tcp(parts.io.into_inner()), parts.read_buf),
                Err(upgraded) => (Transport::other(TokioIo::new(upgraded)), Bytes::new()),
            },
        };
        Some(Wire::over(transport, config, deflate, &leftover, &[]))
    }

    /// The wire over the server's own socket, whose request head it read itself: the
    /// 101's unwritten rest (`head`) is queued as the first bytes out, and whether it starts with bytes
    /// read past the request.
    pub(crate) fn start_direct(
        tcp: TcpStream,
        leftover: &[u8],
        config: WireConfig,
        head: &[u8],
        deflate: Option<&Deflate>,
    ) -> (Wire, bool) {
        Wire::over(Transport::tcp(tcp), config, deflate, leftover, head)
    }

    fn over(
        transport: Transport,
        config: WireConfig,
        deflate: Option<&Deflate>,
        leftover: &[u8],
        head: &[u8],
    ) -> (Wire, bool) {
        let mut stream = WsStream::new(
            transport,
            Role::Server,
            &config.0,
            deflate.map(|(p, c)| (p, c)),
            leftover,
        );
        stream.queue_raw(head);
        (Wire { stream }, !leftover.is_empty())
    }

    /// Whether the socket may have bytes to read (see [`Transport::poll_read_ready`]).
    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.stream.has_pending() {
            return Poll::Ready(());
        }
        self.stream.get_ref().poll_read_ready(cx)
    }

    /// Bytes read from the socket so far (the transport's count): the connection task's
    /// sign of life from the peer, and of input begun.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.stream.get_ref().bytes_read()
    }

    /// Whether the peer has begun a frame or message not complete yet (a fragmented one
    /// stays begun through the control frames between its fragments): the
    /// unfinished-input deadline runs while this holds.
    pub(crate) fn input_pending(&self) -> bool {
        self.stream.input_pending()
    }

    /// The next message, close or control frame; `None` at the end of the stream.
    /// Every complete frame is reported, pings and pongs too (`Incoming::Control`, the
    /// engine has answered a ping already).
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Incoming, ReadError>>> {
        self.stream.poll_read(cx).map(|next| {
            next.map(|read| match read {
                Ok(Read::Message(m)) => Ok(Incoming::Message(m)),
                Ok(Read::Control) => Ok(Incoming::Control),
                Ok(Read::Close(close)) => Ok(Incoming::Close(
                    close.map(|(code, reason)| (CloseCode::from(code), reason)),
                )),
                Err(stream::ReadError::Protocol(e)) => Err(ReadError::Peer {
                    code: CloseCode::from(e.close_code()),
                    detail: e.to_string(),
                }),
                Err(stream::ReadError::Io(e)) => {
                    tracing::debug!(error = %e, "websocket read failed");
                    Err(ReadError::Lost)
                }
            })
        })
    }

    /// Whether the engine takes another frame.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        self.stream.poll_ready(cx).map_err(WriteError)
    }

    /// Queues a data message (call [`poll_ready`](Self::poll_ready) first).
    pub(crate) fn start_send(&mut self, msg: Message) -> Result<(), WriteError> {
        self.stream.start_send(msg).map_err(WriteError)
    }

    /// Queues a ping (the keepalive's).
    pub(crate) fn start_ping(&mut self) -> Result<(), WriteError> {
        self.stream.start_ping().map_err(WriteError)
    }

    /// Queues a close frame.
    pub(crate) fn start_close(&mut self, code: CloseCode, reason: &str) -> Result<(), WriteError> {
        self.stream.start_close(code.into(), reason);
        Ok(())
    }

    /// Writes out everything queued.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        self.stream.poll_flush(cx).map_err(WriteError)
    }
}
