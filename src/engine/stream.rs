//! The codec over a socket: reads through one buffer per thread, writes gathered in a
//! per-connection buffer until flushed (so the frames of one round leave in one write).
//!
//! An idle connection holds no read buffer: bytes are read into the thread's buffer and
//! decoded from there. Only what the decoder did not take (the rest of a read after the
//! message it stopped at, so the receive queue's bound holds) is copied aside, and freed
//! once decoded.

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::decoder::{Decoder, Event, Limits};
use super::encoder::Encoder;
use super::error::ProtocolError;
use super::negotiate::{DeflateConfig, DeflateParams};
use super::Role;
use crate::message::Message;

thread_local! {
    /// Every connection polled on this thread reads into this.
    static READ_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A write buffer with more capacity than this is released once flushed.
const WRITE_KEEP: usize = 4 << 10;

/// What a read gave.
#[derive(Debug)]
pub(crate) enum Read {
    /// A data message.
    Message(Message),
    /// The peer's close (code and reason, if it had a body). The reply is queued unless
    /// this side had already sent its close.
    Close(Option<(u16, String)>),
    /// A ping (already answered) or a pong: reported so the connection knows a frame
    /// completed (its unfinished-input deadline and keepalive count on it).
    Control,
}

/// Why a read failed.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer broke the protocol.
    Protocol(ProtocolError),
    /// The socket failed.
    Io(io::Error),
}

/// Why a write failed.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// A close frame was already sent.
    Closed,
    /// The socket failed.
    Io(io::Error),
}

/// Settings of one connection's stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamConfig {
    pub(crate) limits: Limits,
    /// Bytes read at once.
    pub(crate) read_size: usize,
    /// Queued output past which `poll_ready` writes before taking more.
    pub(crate) write_limit: usize,
}

/// One WebSocket connection's frames over `T`.
pub(crate) struct WsStream<T> {
    io: T,
    decoder: Decoder,
    encoder: Encoder,
    read_size: usize,
    /// Read but not yet decoded.
    pending: Vec<u8>,
    pending_at: usize,
    /// Queued output: headers and small frames.
    out: Vec<u8>,
    /// Large payloads written from their own bytes, each after `out[..offset]`.
    shared: Vec<(usize, Bytes)>,
    shared_len: usize,
    /// Bytes of the queued output already written.
    written: usize,
    write_limit: usize,
    close_sent: bool,
}

impl<T: AsyncRead + AsyncWrite + Unpin> WsStream<T> {
    /// A stream over `io`, which may start with bytes already read (`leftover`), with
    /// permessage-deflate if it was negotiated.
    pub(crate) fn new(
        io: T,
        role: Role,
        config: &StreamConfig,
        deflate: Option<(&DeflateParams, &DeflateConfig)>,
        leftover: &[u8],
    ) -> Self {
        WsStream {
            io,
            decoder: Decoder::new(role, config.limits, deflate.map(|(p, _)| p)),
            encoder: Encoder::new(role, deflate),
            read_size: config.read_size.max(256),
            pending: leftover.to_vec(),
            pending_at: 0,
            out: Vec::new(),
            shared: Vec::new(),
            shared_len: 0,
            written: 0,
            write_limit: config.write_limit,
            close_sent: false,
        }
    }

    pub(crate) fn get_ref(&self) -> &T {
        &self.io
    }

    /// Whether bytes already read wait to be decoded.
    pub(crate) fn has_pending(&self) -> bool {
        self.pending_at < self.pending.len()
    }

    /// Whether input has begun that is not a complete message yet: bytes read and not
    /// decoded, part of a frame, or a message (fragmented, or being inflated) whose last
    /// frame has not come; control frames between its fragments do not end it. Cheap:
    /// the connection task asks every round.
    pub(crate) fn input_pending(&self) -> bool {
        self.has_pending() || !self.decoder.is_idle()
    }

    /// The next message or close; `None` at the end of the stream (or after a close).
    /// Pings are answered and pongs dropped here.
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Read, ReadError>>> {
        loop {
            if self.decoder.is_done() {
                return Poll::Ready(None);
            }
            let step = if self.has_pending() {
                let pending = std::mem::take(&mut self.pending);
                let result = self.decode(&pending[self.pending_at..]);
                self.pending = pending;
                match result {
                    Ok((used, event)) => {
                        self.pending_at += used;
                        if !self.has_pending() || self.decoder.is_done() {
                            // Decoded: an idle connection keeps no buffer.
                            self.pending = Vec::new();
                            self.pending_at = 0;
                        }
                        Step::Decoded(event)
                    }
                    Err(e) => Step::Failed(ReadError::Protocol(e)),
                }
            } else {
                self.read_shared(cx)
            };
            match step {
                Step::Pending => return Poll::Pending,
                Step::Eof => return Poll::Ready(None),
                Step::Failed(e) => return Poll::Ready(Some(Err(e))),
                Step::Decoded(Some(read)) => return Poll::Ready(Some(Ok(read))),
                Step::Decoded(None) => {} // no whole message yet: read on
            }
        }
    }

    /// One read into the thread's buffer, decoded from there.
    fn read_shared(&mut self, cx: &mut Context<'_>) -> Step {
        let read_size = self.read_size;
        READ_BUF.with(|buf| {
            let mut buf = buf.borrow_mut();
            if buf.len() < read_size {
                buf.resize(read_size, 0);
            }
            let mut rb = ReadBuf::new(&mut buf[..read_size]);
            match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
                Poll::Pending => Step::Pending,
                Poll::Ready(Err(e)) => Step::Failed(ReadError::Io(e)),
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    if n == 0 {
                        return Step::Eof;
                    }
                    match self.decode(&buf[..n]) {
                        Ok((used, event)) => {
                            if used < n && !self.decoder.is_done() {
                                self.pending.extend_from_slice(&buf[used..n]);
                            }
                            Step::Decoded(event)
                        }
                        Err(e) => Step::Failed(ReadError::Protocol(e)),
                    }
                }
            }
        })
    }

    /// Decodes until the first message, close or control frame; answers pings.
    fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<Read>), ProtocolError> {
        let mut got = None;
        let (encoder, out, close_sent) = (&mut self.encoder, &mut self.out, &mut self.close_sent);
        let used = self.decoder.decode(input, |event| match event {
            Event::Message(m) => {
                got = Some(Read::Message(m));
                ControlFlow::Break(())
            }
            Event::Ping(payload) => {
                if !*close_sent {
                    encoder.pong(&payload, out);
                }
                got = Some(Read::Control);
                ControlFlow::Break(())
            }
            Event::Pong(_) => {
                got = Some(Read::Control);
                ControlFlow::Break(())
            }
            Event::Close(close) => {
                if !*close_sent {
                    // Echo the code (RFC 6455 §5.5.1); the state machine ends the
                    // connection once it is written.
                    *close_sent = true;
                    encoder.close(close.as_ref().map(|(code, _)| *code), "", out);
                }
                got = Some(Read::Close(close));
                ControlFlow::Break(())
            }
        })?;
        Ok((used, got))
    }

    /// Whether another message may be queued now; past the write limit, writes first.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        if self.queued() < self.write_limit {
            return Poll::Ready(Ok(()));
        }
        match self.poll_write_out(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(WriteError::Io(e))),
            _ if self.queued() < self.write_limit => Poll::Ready(Ok(())),
            _ => Poll::Pending,
        }
    }

    /// Queues bytes that are not a frame, written before anything queued after them
    /// (the server's 101 when it wrote the handshake itself).
    pub(crate) fn queue_raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Queues a data message.
    pub(crate) fn start_send(&mut self, msg: Message) -> Result<(), WriteError> {
        if self.close_sent {
            return Err(WriteError::Closed);
        }
        if self.encoder.header_only(&msg, &mut self.out) {
            let payload = msg.into_bytes();
            self.shared_len += payload.len();
            self.shared.push((self.out.len(), payload));
        } else {
            self.encoder.message(&msg, &mut self.out);
        }
        Ok(())
    }

    fn queued(&self) -> usize {
        self.out.len() + self.shared_len - self.written
    }

    /// Queues an empty ping (the keepalive's).
    pub(crate) fn start_ping(&mut self) -> Result<(), WriteError> {
        if self.close_sent {
            return Err(WriteError::Closed);
        }
        self.encoder.ping(&[], &mut self.out);
        Ok(())
    }

    /// Queues a close frame (once; later calls do nothing).
    pub(crate) fn start_close(&mut self, code: u16, reason: &str) {
        if !self.close_sent {
            self.close_sent = true;
            self.encoder.close(Some(code), reason, &mut self.out);
        }
    }

    /// Writes out everything queued.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        match self.poll_write_out(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.io)
                .poll_flush(cx)
                .map_err(WriteError::Io),
            Poll::Ready(Err(e)) => Poll::Ready(Err(WriteError::Io(e))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.queued() > 0 {
            let polled = if self.shared.is_empty() {
                Pin::new(&mut self.io).poll_write(cx, &self.out[self.written..])
            } else {
                let mut iov = [IoSlice::new(&[]); 64];
                let n = gather(&self.out, &self.shared, self.written, &mut iov);
                Pin::new(&mut self.io).poll_write_vectored(cx, &iov[..n])
            };
            match polled {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.written = 0;
        self.shared.clear();
        self.shared_len = 0;
        if self.out.capacity() > WRITE_KEEP {
            self.out = Vec::new();
        } else {
            self.out.clear();
        }
        Poll::Ready(Ok(()))
    }

    /// Bytes this connection holds in buffers now (read leftovers, queued output).
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.pending.capacity() + self.out.capacity() + self.shared.capacity()
    }
}

/// The queued output from byte `skip` on, as at most `iov.len()` slices: `out` up to each
/// shared payload's offset, the payload, and so on. Returns how many slices it filled.
fn gather<'a>(
    out: &'a [u8],
    shared: &'a [(usize, Bytes)],
    mut skip: usize,
    iov: &mut [IoSlice<'a>],
) -> usize {
    let mut n = 0;
    let mut at = 0;
    for (offset, payload) in shared {
        for piece in [&out[at..*offset], &payload[..]] {
            if !take(piece, &mut skip, iov, &mut n) {
                return n;
            }
        }
        at = *offset;
    }
    take(&out[at..], &mut skip, iov, &mut n);
    n
}

/// Adds `piece` (less what was already written) to `iov`; false once `iov` is full.
fn take<'a>(piece: &'a [u8], skip: &mut usize, iov: &mut [IoSlice<'a>], n: &mut usize) -> bool {
    if *n == iov.len() {
        return false;
    }
    if *skip >= piece.len() {
        *skip -= piece.len();
        return true;
    }
    iov[*n] = IoSlice::new(&piece[*skip..]);
    *skip = 0;
    *n += 1;
    true
}

enum Step {
    Pending,
    Eof,
    Failed(ReadError),
    Decoded(Option<Read>),
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::protocol::Role as TRole;
    use tokio_tungstenite::tungstenite::Message as TMessage;
    use tokio_tungstenite::WebSocketStream;

    use super::*;
    use crate::engine::negotiate::negotiate;

    fn config() -> StreamConfig {
        StreamConfig {
            limits: Limits {
                max_frame: 1 << 20,
                max_message: 1 << 20,
            },
            read_size: 64 << 10,
            write_limit: 64 << 10,
        }
    }

    async fn read(s: &mut WsStream<tokio::io::DuplexStream>) -> Option<Read> {
        let r = poll_fn(|cx| s.poll_read(cx)).await?;
        Some(r.expect("no error"))
    }

    async fn flush(s: &mut WsStream<tokio::io::DuplexStream>) {
        poll_fn(|cx| s.poll_flush(cx)).await.expect("flushed");
    }

    #[tokio::test]
    async fn against_tungstenite_as_the_client() {
        // Room for everything the client sends before the server reads.
        let (a, b) = tokio::io::duplex(1 << 20);
        let mut server = WsStream::new(a, Role::Server, &config(), None, &[]);
        let mut client = WebSocketStream::from_raw_socket(b, TRole::Client, None).await;
        client.send(TMessage::text("hello")).await.unwrap();
        client
            .send(TMessage::Ping(b"p".to_vec().into()))
            .await
            .unwrap();
        client
            .send(TMessage::binary(vec![5u8; 100_000]))
            .await
            .unwrap();
        match read(&mut server).await {
            Some(Read::Message(m)) => assert_eq!(m, "hello"),
            other => panic!("{other:?}"),
        }
        // The ping is answered and reported (the connection's input deadline counts it).
        assert!(matches!(read(&mut server).await, Some(Read::Control)));
        match read(&mut server).await {
            Some(Read::Message(m)) => assert_eq!(m.as_bytes(), &[5u8; 100_000][..]),
            other => panic!("{other:?}"),
        }
        // Corking: the pong and both echoes leave in one flush.
        server.start_send("one".into()).unwrap();
        server.start_send(Message::binary(vec![1, 2])).unwrap();
        flush(&mut server).await;
        assert!(
            server.buffered() <= WRITE_KEEP,
            "a small write buffer at most"
        );
        assert!(matches!(client.next().await, Some(Ok(TMessage::Pong(p))) if &p[..] == b"p"));
        assert_eq!(client.next().await.unwrap().unwrap(), TMessage::text("one"));
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            TMessage::binary(vec![1, 2])
        );
        // The client closes; the server echoes the code and reads nothing more.
        client.close(None).await.unwrap();
        match read(&mut server).await {
            Some(Read::Close(c)) => assert_eq!(c, None),
            other => panic!("{other:?}"),
        }
        flush(&mut server).await;
        assert!(matches!(
            client.next().await,
            Some(Ok(TMessage::Close(None)))
        ));
        assert!(read(&mut server).await.is_none());
        assert!(matches!(
            server.start_send("late".into()),
            Err(WriteError::Closed)
        ));
    }

    #[test]
    fn gather_skips_what_was_written() {
        let out = b"aabbcc".to_vec();
        let shared = vec![
            (2, Bytes::from_static(b"XY")),
            (4, Bytes::from_static(b"Z")),
        ];
        let whole: Vec<u8> = b"aaXYbbZcc".to_vec();
        for skip in 0..whole.len() {
            let mut iov = [IoSlice::new(&[]); 8];
            let n = gather(&out, &shared, skip, &mut iov);
            let got: Vec<u8> = iov[..n].iter().flat_map(|s| s.iter().copied()).collect();
            assert_eq!(got, whole[skip..], "skip {skip}");
        }
        let mut small = [IoSlice::new(&[]); 2];
        assert_eq!(gather(&out, &shared, 0, &mut small), 2);
    }

    #[tokio::test]
    async fn large_payloads_leave_in_order_through_partial_writes() {
        // A small pipe: every flush takes many partial writes.
        let (a, b) = tokio::io::duplex(4096);
        let mut server = WsStream::new(a, Role::Server, &config(), None, &[]);
        let mut client = WebSocketStream::from_raw_socket(b, TRole::Client, None).await;
        let big = vec![9u8; 100_000];
        let text = "é".repeat(3000);
        let sent = [
            Message::from("first"),
            Message::binary(big.clone()),
            Message::from("between"),
            Message::from(text.as_str()),
            Message::from("last"),
        ];
        for m in &sent {
            server.start_send(m.clone()).unwrap();
        }
        let write = async {
            flush(&mut server).await;
            server
        };
        let read = async {
            let mut got = Vec::new();
            for _ in 0..sent.len() {
                got.push(client.next().await.unwrap().unwrap());
            }
            got
        };
        let (_server, got) = tokio::join!(write, read);
        assert_eq!(
            got,
            [
                TMessage::text("first"),
                TMessage::binary(big),
                TMessage::text("between"),
                TMessage::text(text),
                TMessage::text("last"),
            ]
        );
    }

    #[tokio::test]
    async fn a_protocol_error_and_leftover_bytes() {
        let (a, b) = tokio::io::duplex(1 << 16);
        // Bytes read with the upgrade request: a whole text frame, then half of one.
        let mut early = Vec::new();
        let mut c = Encoder::new(Role::Client, None);
        c.message(&"early".into(), &mut early);
        c.message(&"split".into(), &mut early);
        let rest = early.split_off(early.len() - 4);
        let mut server = WsStream::new(a, Role::Server, &config(), None, &early);
        match read(&mut server).await {
            Some(Read::Message(m)) => assert_eq!(m, "early"),
            other => panic!("{other:?}"),
        }
        let mut client = tokio::io::BufWriter::new(b);
        use tokio::io::AsyncWriteExt;
        client.write_all(&rest).await.unwrap();
        // A frame with RSV2 set.
        client.write_all(&[0xa1, 0x80, 0, 0, 0, 0]).await.unwrap();
        client.flush().await.unwrap();
        match read(&mut server).await {
            Some(Read::Message(m)) => assert_eq!(m, "split"),
            other => panic!("{other:?}"),
        }
        let e = poll_fn(|cx| server.poll_read(cx))
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(e, ReadError::Protocol(ProtocolError::ReservedBits)),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn compressed_both_ways_between_two_engines() {
        let deflate = DeflateConfig::default();
        let (params, _) = negotiate(["permessage-deflate"], &deflate).unwrap();
        let (a, b) = tokio::io::duplex(1 << 12);
        let mut server = WsStream::new(a, Role::Server, &config(), Some((&params, &deflate)), &[]);
        let mut client = WsStream::new(b, Role::Client, &config(), Some((&params, &deflate)), &[]);
        let text = "{\"event\":\"tick\",\"n\":1}".repeat(100);
        let send = async {
            for _ in 0..20 {
                client.start_send(text.as_str().into()).unwrap();
            }
            flush(&mut client).await;
            client
        };
        let recv = async {
            for _ in 0..20 {
                match read(&mut server).await {
                    Some(Read::Message(m)) => assert_eq!(m, text.as_str()),
                    other => panic!("{other:?}"),
                }
            }
            server
        };
        let (_client, _server) = tokio::join!(send, recv);
    }
}
