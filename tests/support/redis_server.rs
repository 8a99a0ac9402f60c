//! A real Debian `redis-server` for the tests: started on a free loopback port with no
//! persistence, ready once it answers PING, stoppable (SIGTERM, then SIGKILL) and
//! restartable on the same port, killed when dropped. Never a mock.
#![allow(dead_code)] // each test binary uses a different part

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a start or a stop may take before the test fails.
const READY_LIMIT: Duration = Duration::from_secs(10);

pub struct RedisServer {
    port: u16,
    /// With TLS: the TLS port and the certificate and key files it serves.
    /// TLS port, certificate, key, and the CA that client certificates must chain to
    /// (when the server asks for them).
    tls: Option<(u16, String, String, Option<String>)>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts `redis-server` on a free port and waits until it answers PING.
    pub fn start() -> RedisServer {
        let port = free_port();
        let mut server = RedisServer {
            port,
            tls: None,
            child: None,
        };
        server.restart();
        server
    }

    /// Starts `redis-server` with a TLS port too, serving this certificate and key
    /// (no client certificates asked for); the plain port stays for readiness checks
    /// and `redis-cli`.
    pub fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> RedisServer {
        Self::tls_server(cert, key, None)
    }

    /// Like [`start_tls`](Self::start_tls), asking every TLS client for a certificate
    /// issued by `client_ca` (`tls-auth-clients yes`).
    pub fn start_mutual_tls(
        cert: &std::path::Path,
        key: &std::path::Path,
        client_ca: &std::path::Path,
    ) -> RedisServer {
        Self::tls_server(cert, key, Some(client_ca))
    }

    fn tls_server(
        cert: &std::path::Path,
        key: &std::path::Path,
        client_ca: Option<&std::path::Path>,
    ) -> RedisServer {
        let path = |p: &std::path::Path| p.to_str().expect("a UTF-8 path").to_owned();
        let mut server = RedisServer {
            port: free_port(),
            tls: Some((free_port(), path(cert), path(key), client_ca.map(path))),
            child: None,
        };
        server.restart();
        server
    }

    /// `rediss://127.0.0.1:TLS_PORT`, for a server started with [`start_tls`](Self::start_tls).
    pub fn tls_url(&self) -> String {
        let (port, ..) = self.tls.as_ref().expect("started with start_tls");
        format!("rediss://127.0.0.1:{port}")
    }

    /// A free port for a server that is not started yet ([`restart`](Self::restart)
    /// starts it): for a client that comes up before its Redis.
    pub fn not_started() -> RedisServer {
        RedisServer {
            port: free_port(),
            tls: None,
            child: None,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`, for `WSVIEW_REDIS_URL` or a layer config.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server again on the same port (after [`stop`](Self::stop) or
    /// [`kill`](Self::kill)) and waits until it answers PING.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let mut command = Command::new("redis-server");
        if let Some((port, cert, key, client_ca)) = &self.tls {
            command.args(["--tls-port", &port.to_string()]).args([
                "--tls-cert-file",
                cert,
                "--tls-key-file",
                key,
            ]);
            match client_ca {
                Some(ca) => command
                    .args(["--tls-auth-clients", "yes"])
                    .args(["--tls-ca-cert-file", ca]),
                None => command.args(["--tls-auth-clients", "no"]),
            };
        }
        let child = command
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .args(["--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server not found: scripts/test installs Debian's redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + READY_LIMIT;
        loop {
            if ping(self.port) {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                panic!(
                    "redis-server on port {} exited at start: {status}",
                    self.port
                );
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer PING within {READY_LIMIT:?}",
                self.port
            );
            // Polling a local process that is starting: short, bounded by the deadline.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the server with SIGTERM (SIGKILL if it has not exited within the limit)
    /// and waits until it has exited, so the port is free again.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + READY_LIMIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Kills the server with SIGKILL (no goodbye to its clients) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is answered — a
    /// hung or partitioned Redis.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Resumes a paused server (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let status = Command::new("kill")
                .args([sig, &c.id().to_string()])
                .status();
            assert!(status.is_ok_and(|s| s.success()), "kill {sig} redis-server");
        }
    }

    /// The server's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Runs one command with `redis-cli` and returns its output (for assertions on
    /// what the layer left in Redis).
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli (Debian's redis-tools, installed with redis-server)");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nobody listens on right now (the OS's ephemeral choice).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One inline PING; true when the server answered +PONG.
fn ping(port: u16) -> bool {
    let Ok(mut tcp) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(1)));
    if tcp.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while !got.ends_with(b"\r\n") {
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got.starts_with(b"+PONG")
}
