//! The socket under the protocol engine.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The socket, and how many bytes have been read from it.
///
/// The count is what the connection's keepalive and unfinished-input deadline watch
/// (see `task.rs`): it is counted here, under whatever engine reads, so those timers do
/// not depend on the engine.
pub(crate) struct Transport {
    io: Io,
    bytes_read: u64,
}

/// A TCP stream (the server's own, or one hyper gives back: no dynamic dispatch), any
/// upgraded I/O otherwise (TLS, HTTP/2).
enum Io {
    Tcp(TcpStream),
    Other(TokioIo<hyper::upgrade::Upgraded>),
}

impl Transport {
    /// Over the server's own TCP stream.
    pub(crate) fn tcp(tcp: TcpStream) -> Self {
        Transport {
            io: Io::Tcp(tcp),
            bytes_read: 0,
        }
    }

    /// Over upgraded I/O of another kind.
    pub(crate) fn other(io: TokioIo<hyper::upgrade::Upgraded>) -> Self {
        Transport {
            io: Io::Other(io),
            bytes_read: 0,
        }
    }

    /// Whether the socket may have bytes to read. Always `Ready` for a transport that
    /// cannot tell (an upgraded stream from another server).
    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        match &self.io {
            Io::Tcp(tcp) => tcp.poll_read_ready(cx).map(|_| ()),
            Io::Other(_) => Poll::Ready(()),
        }
    }

    /// Bytes read from the socket so far (wrapping; compare for change only).
    pub(crate) fn bytes_read(&self) -> u64 {
        self.bytes_read
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = match &mut this.io {
            Io::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Io::Other(s) => Pin::new(s).poll_read(cx, buf),
        };
        let n = buf.filled().len().saturating_sub(before);
        this.bytes_read = this.bytes_read.wrapping_add(n as u64);
        polled
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Io::Other(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Other(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Tcp(s) => s.is_write_vectored(),
            Io::Other(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Tcp(s) => Pin::new(s).poll_flush(cx),
            Io::Other(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Io::Other(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
