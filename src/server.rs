//! Listening, hyper connections, graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::conn::Protocols;
use crate::service::AppService;

/// A bound server; run it with [`run`](Self::run) or [`run_until`](Self::run_until).
///
/// Every connection speaks HTTP/1.1 or HTTP/2: over TLS (see
// `App::tls` exists only with the feature: a link to it would be broken without.
#[cfg_attr(feature = "tls", doc = "[`App::tls`](crate::app::App::tls),")]
#[cfg_attr(not(feature = "tls"), doc = "`App::tls`,")]
/// feature `tls`) as ALPN chose, on plain TCP HTTP/2 when the client starts with its
/// preface (h2c with prior knowledge). WebSockets work over both (RFC 8441 over HTTP/2).
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let server = wsview::App::new().bind("127.0.0.1:0").await?;
/// println!("serving on http://{}", server.local_addr());
/// server.run_until(wsview::shutdown_signal()).await
/// # }
/// ```
pub struct Server {
    listener: TcpListener,
    service: AppService,
    local_addr: SocketAddr,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::config::TlsConfig>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("tls", &self.is_tls())
            .finish_non_exhaustive()
    }
}

impl Server {
    pub(crate) async fn bind(
        service: AppService,
        addr: impl tokio::net::ToSocketAddrs,
    ) -> std::io::Result<Server> {
        let backlog = service.settings().listen_backlog.max(1);
        let listener = listen(addr, backlog).await?;
        let local_addr = listener.local_addr()?;
        Ok(Server {
            listener,
            service,
            local_addr,
            #[cfg(feature = "tls")]
            tls: None,
        })
    }

    /// Serves TLS with this configuration (feature `tls`).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: crate::tls::config::TlsConfig) -> Server {
        self.tls = Some(config);
        self
    }

    /// Whether the server serves TLS (`https://`, `wss://`).
    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The service, to count or close WebSockets from outside.
    pub fn service(&self) -> &AppService {
        &self.service
    }

    /// Serves until the process ends.
    pub async fn run(self) -> std::io::Result<()> {
        self.run_until(std::future::pending()).await
    }

    /// Serves until `signal` completes, then stops accepting, lets HTTP requests in
    /// flight finish, closes WebSockets with 1001 (going away) and waits for their
    /// views to return, all within [`Settings::close_timeout`](crate::Settings::close_timeout).
    pub async fn run_until(self, signal: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let scheme = if self.is_tls() { "https" } else { "http" };
        let protocols = Arc::new(Protocols::new(
            self.service.settings(),
            #[cfg(feature = "tls")]
            self.tls.as_ref(),
        ));
        let Server {
            listener,
            service,
            local_addr,
            ..
        } = self;
        tracing::info!("wsview serving on {scheme}://{local_addr}");
        // Each HTTP connection holds a receiver: shutdown is sent through it, and
        // `closed()` tells when the last connection has finished.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let settings = service.settings();
        let keepalive = settings.tcp_keepalive.map(|idle| {
            socket2::TcpKeepalive::new()
                .with_time(idle)
                .with_interval(settings.tcp_keepalive_interval)
                .with_retries(settings.tcp_keepalive_retries)
        });
        tokio::pin!(signal);
        loop {
            let (tcp, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of descriptors and the like: pause instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut signal => break,
            };
            let _ = tcp.set_nodelay(true);
            if let Some(probes) = &keepalive {
                if let Err(e) = socket2::SockRef::from(&tcp).set_tcp_keepalive(probes) {
                    tracing::debug!(error = %e, "could not enable TCP keepalive");
                }
            }
            // The TLS handshake and the protocol choice happen in the connection's own
            // task: a slow or failing client never holds up the accept loop. Everything
            // logged while serving this connection names its peer.
            let protocols = protocols.clone();
            let service = service.with_remote_addr(peer);
            let stop = stop_rx.clone();
            let span = tracing::info_span!("http", %peer);
            tokio::spawn(tracing::Instrument::instrument(
                async move { protocols.serve(tcp, peer, service, stop).await },
                span,
            ));
        }
        tracing::info!(address = %local_addr, "shutting down: no new connections, closing websockets");
        drop(listener);
        drop(stop_rx);
        let _ = stop_tx.send(true);
        let timeout = service.settings().close_timeout;
        let http_done = async {
            if tokio::time::timeout(timeout, stop_tx.closed())
                .await
                .is_err()
            {
                tracing::warn!("http connections still open after the close timeout");
            }
        };
        tokio::join!(http_done, service.close_websockets());
        tracing::info!(address = %local_addr, "stopped");
        Ok(())
    }
}

/// Binds the first address `addr` resolves to that binds, listening with `backlog`
/// (the standard library's `bind` takes no backlog and uses a fixed, smaller one).
async fn listen(
    addr: impl tokio::net::ToSocketAddrs,
    backlog: u32,
) -> std::io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host(addr).await? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        // As std and tokio do on Unix: a restarted server can bind at once.
        #[cfg(unix)]
        socket.set_reuseaddr(true)?;
        match socket.bind(addr).and_then(|()| socket.listen(backlog)) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the address resolved to nothing",
        )
    }))
}

/// Why a server could not listen: the address asked for and the cause. Travels inside
/// the `std::io::Error` that [`App::bind`](crate::App::bind) returns (with the cause's
/// kind), so its text names both.
#[derive(Debug)]
pub(crate) struct ListenError {
    addr: String,
    source: std::io::Error,
}

impl ListenError {
    pub(crate) fn new(addr: String, source: std::io::Error) -> Self {
        ListenError { addr, source }
    }

    pub(crate) fn into_io(self) -> std::io::Error {
        std::io::Error::new(self.source.kind(), self)
    }
}

impl std::fmt::Display for ListenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "could not listen on {}: {}", self.addr, self.source)
    }
}

impl std::error::Error for ListenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM: what [`App::serve`](crate::App::serve)
/// stops on.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
