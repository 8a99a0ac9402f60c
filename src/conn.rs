//! One accepted connection, in its own task: the TLS handshake (feature `tls`), the
//! choice of HTTP/1.1 or HTTP/2, and serving it until it ends or the server stops.
//!
//! HTTP/2 is chosen by ALPN over TLS, and by the client's connection preface on plain
//! TCP (h2c with prior knowledge). On plain TCP the server reads the first bytes
//! itself (`first_read.rs`): an HTTP/1.1 WebSocket upgrade is served without hyper, the
//! engine on the bare `TcpStream`; anything else goes to hyper with those bytes first.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;

use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::first_read::{self, First};
use crate::prefixed::Prefixed;
use crate::response::Response;
use crate::service::{AppService, Replay, WebSocketTask};
use crate::settings::Settings;
use crate::websocket::handover::{Answer, DirectIo};
use crate::websocket::wire::WireConfig;

/// The HTTP/2 connection window: larger than one stream's (hyper's default, 1 MiB), so
/// one WebSocket whose peer outpaces its reader does not hold up the others sharing
/// the connection.
const H2_CONNECTION_WINDOW: u32 = 4 << 20;

/// How a server serves its connections, built once per server and shared.
pub(crate) struct Protocols {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    /// How long a plain-TCP client has to send its first bytes (the header read timeout).
    first_bytes_timeout: Option<Duration>,
    #[cfg(feature = "tls")]
    tls: Option<(tokio_rustls::TlsAcceptor, Duration)>,
}

impl std::fmt::Debug for Protocols {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Protocols").finish_non_exhaustive()
    }
}

impl Protocols {
    pub(crate) fn new(
        settings: &Settings,
        #[cfg(feature = "tls")] tls: Option<&crate::tls::config::TlsConfig>,
    ) -> Protocols {
        let mut h1 = http1::Builder::new();
        h1.timer(TokioTimer::new())
            .header_read_timeout(settings.header_read_timeout);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .enable_connect_protocol()
            .initial_connection_window_size(H2_CONNECTION_WINDOW)
            .max_concurrent_streams(settings.http2_max_concurrent_streams)
            .keep_alive_interval(settings.http2_keep_alive_interval);
        Protocols {
            http1: h1,
            http2: h2,
            first_bytes_timeout: settings.header_read_timeout,
            #[cfg(feature = "tls")]
            tls: tls.map(|t| {
                (
                    tokio_rustls::TlsAcceptor::from(t.server_config()),
                    t.timeout(),
                )
            }),
        }
    }

    /// What a new connection turns out to be, once its TLS handshake is done or its
    /// first bytes are read: served by hyper, a WebSocket the server serves itself, or
    /// nothing (it closed, failed or stayed silent).
    async fn open(
        self: Arc<Self>,
        mut tcp: TcpStream,
        peer: SocketAddr,
        service: AppService,
        mut stop: watch::Receiver<bool>,
    ) -> State {
        #[cfg(feature = "tls")]
        if let Some((acceptor, timeout)) = self.tls.clone() {
            let span = http_span(peer);
            return State::Hyper(Box::pin(tracing::Instrument::instrument(
                async move {
                    self.serve_tls(&acceptor, timeout, tcp, peer, service, stop)
                        .await;
                },
                span,
            )));
        }
        let first = tokio::select! {
            first = first_read::read(&mut tcp, self.first_bytes_timeout) => first,
            () = stopped(&mut stop) => return State::Done,
        };
        let (io, h2) = match first {
            First::Nothing => {
                tracing::debug!(%peer, "connection closed or silent before a request");
                return State::Done;
            }
            First::Http2(raw) => (TokioIo::new(Prefixed::new(tcp, raw)), true),
            First::Http1(raw) => (TokioIo::new(Prefixed::new(tcp, raw)), false),
            First::Upgrade {
                parts,
                raw,
                head_len,
            } => {
                // No `http` span: the WebSocket's own is a root that names the peer.
                let config = WireConfig::new(service.settings());
                let for_refusal = service.clone();
                let answer: Answer = Box::new(move |response, tcp, raw| {
                    Box::pin(self.answer_refusal(response, tcp, raw, peer, for_refusal, stop))
                });
                let io = DirectIo {
                    tcp,
                    raw,
                    head_len,
                    config,
                    answer,
                };
                return State::WebSocket(service.direct_task(*parts, io));
            }
        };
        let span = http_span(peer);
        State::Hyper(Box::pin(tracing::Instrument::instrument(
            async move { self.serve_io(io, h2, peer, service, stop).await },
            span,
        )))
    }

    /// A WebSocket request the server read itself and the view did not accept: hyper
    /// reads the request again from what was read, answers it with `response`, and
    /// serves the connection from there (keep-alive).
    async fn answer_refusal(
        self: Arc<Self>,
        response: Response,
        tcp: TcpStream,
        raw: Bytes,
        peer: SocketAddr,
        service: AppService,
        stop: watch::Receiver<bool>,
    ) {
        let io = TokioIo::new(Prefixed::new(tcp, raw));
        let replay = Replay::new(response, service);
        let conn = self.http1.serve_connection(io, replay).with_upgrades();
        let served = tracing::Instrument::instrument(drive(conn, stop), http_span(peer));
        if let Err(e) = served.await {
            tracing::debug!(error = %e, %peer, "http connection ended with an error");
        }
    }

    /// Serves a TLS connection: the handshake, then HTTP/2 or HTTP/1.1 as ALPN chose.
    #[cfg(feature = "tls")]
    async fn serve_tls(
        &self,
        acceptor: &tokio_rustls::TlsAcceptor,
        timeout: Duration,
        tcp: TcpStream,
        peer: SocketAddr,
        service: AppService,
        mut stop: watch::Receiver<bool>,
    ) {
        let handshake = tokio::time::timeout(timeout, acceptor.accept(tcp));
        let tls = tokio::select! {
            done = handshake => match done {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, %peer, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            },
            () = stopped(&mut stop) => return,
        };
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let service = service.with_secure(true);
        self.serve_io(TokioIo::new(tls), h2, peer, service, stop)
            .await;
    }

    /// Serves an established stream with HTTP/2 (`h2`) or HTTP/1.1 with upgrades, and
    /// shuts it down gracefully when the server stops.
    async fn serve_io<I>(
        &self,
        io: TokioIo<I>,
        h2: bool,
        peer: SocketAddr,
        service: AppService,
        stop: watch::Receiver<bool>,
    ) where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let result = if h2 {
            drive(self.http2.serve_connection(io, service), stop).await
        } else {
            let conn = self.http1.serve_connection(io, service).with_upgrades();
            drive(conn, stop).await
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, %peer, "http connection ended with an error");
        }
    }
}

/// One accepted connection as the task that serves it: first what it turns out to be
/// (`Protocols::open`, boxed: it lives only that long), then hyper's connection
/// (boxed), or the WebSocket's connection task, inline: a WebSocket the server serves
/// itself is this one task, sized for nothing else, for its whole life.
pub(crate) struct Connection {
    state: State,
}

enum State {
    /// Finding out what the connection is (`Protocols::open`), which says what's next.
    Opening(Pin<Box<dyn Future<Output = State> + Send>>),
    Hyper(Pin<Box<dyn Future<Output = ()> + Send>>),
    WebSocket(WebSocketTask),
    Done,
}

impl Connection {
    /// Serves `tcp` to its end. Nothing that happens in it (a failed or slow handshake,
    /// a protocol error) reaches another connection: each is a task of its own.
    pub(crate) fn new(
        protocols: Arc<Protocols>,
        tcp: TcpStream,
        peer: SocketAddr,
        service: AppService,
        stop: watch::Receiver<bool>,
    ) -> Connection {
        Connection {
            state: State::Opening(Box::pin(protocols.open(tcp, peer, service, stop))),
        }
    }
}

impl Future for Connection {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            self.state = match &mut self.state {
                State::Opening(open) => ready!(open.as_mut().poll(cx)),
                State::Hyper(conn) => {
                    ready!(conn.as_mut().poll(cx));
                    State::Done
                }
                State::WebSocket(task) => {
                    ready!(Pin::new(&mut *task).poll(cx));
                    // The view answered without accepting: over HTTP, then.
                    match task.inner_mut().take_refused() {
                        Some((response, io)) => {
                            let DirectIo {
                                tcp, raw, answer, ..
                            } = *io;
                            State::Hyper(answer(response, tcp, raw))
                        }
                        None => State::Done,
                    }
                }
                State::Done => return Poll::Ready(()),
            };
        }
    }
}

/// The span an HTTP connection is served in: everything logged names its peer.
fn http_span(peer: SocketAddr) -> tracing::Span {
    tracing::info_span!("http", %peer)
}

/// Completes when the server is stopping (or gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// A hyper connection that can be asked to finish what it has and stop.
trait Graceful: Future<Output = Result<(), hyper::Error>> {
    fn graceful(self: Pin<&mut Self>);
}

impl<I, S> Graceful for http1::UpgradeableConnection<I, S>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn graceful(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, B> Graceful for http2::Connection<I, S, TokioExecutor>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn graceful(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Runs a connection; when the server stops, lets requests in flight finish (HTTP/2:
/// sends GOAWAY) and waits for the connection to end.
async fn drive<C: Graceful>(conn: C, mut stop: watch::Receiver<bool>) -> Result<(), hyper::Error> {
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => r,
        () = stopped(&mut stop) => {
            conn.as_mut().graceful();
            conn.await
        }
    }
}

#[cfg(test)]
mod tests {
    /// A WebSocket the server serves itself is this task for its whole life: keep it
    /// no larger than the connection task alone (the state's tag fits in the task's
    /// niche).
    #[test]
    fn a_connection_is_little_more_than_its_websocket_task() {
        let conn = std::mem::size_of::<super::Connection>();
        let task = std::mem::size_of::<crate::service::WebSocketTask>();
        eprintln!("Connection {conn} bytes, WebSocketTask {task} bytes");
        assert!(
            conn <= task + 16,
            "Connection {conn} bytes, its task {task}"
        );
    }
}
