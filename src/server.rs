//! Listening, hyper connections, graceful shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::conn::{Connection, Protocols};
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
        let sockets = SocketSetup::new(&listener, service.settings());
        // The accept loop runs in a task of its own, on a runtime worker, rather than
        // in whatever awaits this (often the main thread, outside the workers): then a
        // new connection's task is queued on the worker that accepted it, with no
        // cross-thread wake-up per connection.
        let (quit_tx, quit_rx) = tokio::sync::oneshot::channel::<()>();
        let mut accepting = tokio::spawn(accept_loop(
            listener,
            sockets,
            protocols,
            service.clone(),
            stop_rx,
            quit_rx,
        ));
        tokio::pin!(signal);
        let ended = tokio::select! {
            () = &mut signal => false,
            _ = &mut accepting => true,
        };
        if !ended {
            let _ = quit_tx.send(());
            let _ = accepting.await; // the listener is closed once it returns
        }
        tracing::info!(address = %local_addr, "shutting down: no new connections, closing websockets");
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

/// Accepts connections until told to quit, each served in its own task.
async fn accept_loop(
    listener: TcpListener,
    mut sockets: SocketSetup,
    protocols: Arc<Protocols>,
    service: AppService,
    stop_rx: tokio::sync::watch::Receiver<bool>,
    mut quit: tokio::sync::oneshot::Receiver<()>,
) {
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
            _ = &mut quit => return,
        };
        sockets.apply(&tcp);
        // The TLS handshake and the protocol choice happen in the connection's own
        // task: a slow or failing client never holds up the accept loop.
        let protocols = protocols.clone();
        let service = service.with_remote_addr(peer);
        let stop = stop_rx.clone();
        tokio::spawn(Connection::new(protocols, tcp, peer, service, stop));
    }
}

/// The options every accepted socket gets: `TCP_NODELAY`, and TCP keepalive probes
/// unless turned off. They are set once on the listener, which Linux copies into every
/// socket it accepts (saving five system calls per connection); the first accepted
/// socket is checked, and if it did not inherit them they are set on each socket.
struct SocketSetup {
    keepalive: Option<socket2::TcpKeepalive>,
    /// The keepalive idle time, interval and probe count asked for.
    wanted: Option<(Duration, Duration, u32)>,
    /// Whether accepted sockets inherit the options; `None` until the first is seen.
    inherited: Option<bool>,
}

impl SocketSetup {
    fn new(listener: &TcpListener, settings: &crate::settings::Settings) -> SocketSetup {
        let wanted = settings.tcp_keepalive.map(|idle| {
            (
                idle,
                settings.tcp_keepalive_interval,
                settings.tcp_keepalive_retries,
            )
        });
        let keepalive = wanted.map(|(idle, interval, retries)| {
            socket2::TcpKeepalive::new()
                .with_time(idle)
                .with_interval(interval)
                .with_retries(retries)
        });
        let sock = socket2::SockRef::from(listener);
        let on_listener = sock.set_tcp_nodelay(true).is_ok()
            && keepalive
                .as_ref()
                .is_none_or(|k| sock.set_tcp_keepalive(k).is_ok());
        SocketSetup {
            keepalive,
            wanted,
            inherited: if on_listener { None } else { Some(false) },
        }
    }

    fn apply(&mut self, tcp: &tokio::net::TcpStream) {
        let inherited = match self.inherited {
            Some(known) => known,
            None => *self.inherited.insert(self.has_options(tcp)),
        };
        if inherited {
            return;
        }
        let _ = tcp.set_nodelay(true);
        if let Some(probes) = &self.keepalive {
            if let Err(e) = socket2::SockRef::from(tcp).set_tcp_keepalive(probes) {
                tracing::debug!(error = %e, "could not enable TCP keepalive");
            }
        }
    }

    /// Whether `tcp` already has the options (inherited from the listener).
    fn has_options(&self, tcp: &tokio::net::TcpStream) -> bool {
        let sock = socket2::SockRef::from(tcp);
        if !sock.tcp_nodelay().unwrap_or(false) {
            return false;
        }
        let Some((idle, interval, retries)) = self.wanted else {
            return true;
        };
        let secs = |d: io::Result<Duration>| d.map(|d| d.as_secs()).ok();
        sock.keepalive().unwrap_or(false)
            && secs(sock.tcp_keepalive_time()) == Some(idle.as_secs())
            && secs(sock.tcp_keepalive_interval()) == Some(interval.as_secs())
            && sock.tcp_keepalive_retries().ok() == Some(retries)
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
