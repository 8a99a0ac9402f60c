//! `wsbench tls`: what TLS costs a wsview WebSocket. One binary, wsview's echo example
//! built with `--features tls`, runs twice: plain, and with `WSVIEW_TLS_CERT` /
//! `WSVIEW_TLS_KEY` naming a certificate made here (rcgen, P-256). Against each, N
//! connections are opened (64 handshakes at a time) and held, as scenario (d) does:
//! handshakes/s (TCP + TLS + WebSocket upgrade), server CPU per handshake, and server
//! RSS per connection before and after one 16-byte echo on each. Then the TLS server's
//! bare handshake rate: connections that only complete TLS and close.
//!
//! ```text
//! wsbench tls [--conns 2000] [--openers 64] [--echo-bin PATH] [--no-build]
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::bench::{start_server, ServerSpec};
use crate::sys;

pub struct TlsArgs {
    conns: usize,
    openers: usize,
    echo_bin: PathBuf,
    build: bool,
}

pub fn parse(args: &[String]) -> Result<TlsArgs, String> {
    let mut a = TlsArgs {
        conns: 2000,
        openers: 64,
        echo_bin: crate::repo_root().join("target/release/examples/echo"),
        build: true,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--conns" => a.conns = value()?.parse().map_err(|_| "--conns: a count")?,
            "--openers" => a.openers = value()?.parse().map_err(|_| "--openers: a count")?,
            "--echo-bin" => a.echo_bin = PathBuf::from(value()?),
            "--no-build" => a.build = false,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(a)
}

/// What one run against one server measured.
struct Held {
    hs_per_s: f64,
    cpu_us_per_hs: f64,
    rss_per_conn_kib: f64,
    rss_used_per_conn_kib: f64,
    rss_mib: [f64; 3],
}

pub fn run(a: TlsArgs) -> std::process::ExitCode {
    match run_inner(a) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsbench tls: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_inner(a: TlsArgs) -> Result<(), String> {
    if a.build {
        eprintln!("building wsview's echo example with --features tls (release) ...");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args([
                "build",
                "--release",
                "--features",
                "tls",
                "--example",
                "echo",
            ])
            .current_dir(crate::repo_root())
            .status()
            .map_err(|e| format!("cargo: {e}"))?;
        if !status.success() {
            return Err("building the echo example with --features tls failed".into());
        }
    }
    let _ = sys::raise_nofile(a.conns as u64 + 1024);
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .map_err(|e| format!("make a certificate: {e}"))?;
    let dir = std::env::temp_dir().join(format!("wsbench-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{dir:?}: {e}"))?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).map_err(|e| format!("{cert:?}: {e}"))?;
    std::fs::write(&key, made.signing_key.serialize_pem()).map_err(|e| format!("{key:?}: {e}"))?;
    let connector = connector(made.cert.der().to_vec())?;

    let echo = a.echo_bin.to_string_lossy().into_owned();
    let plain = ServerSpec {
        name: "wsview-plain".into(),
        program: a.echo_bin.clone(),
        args: vec![],
        path: "/".into(),
        compress_env: vec![],
        compresses: false,
    };
    // `env` execs the server in place: the pid measured is the server's.
    let tls = ServerSpec {
        name: "wsview-tls".into(),
        program: PathBuf::from("/usr/bin/env"),
        args: vec![
            format!("WSVIEW_TLS_CERT={}", cert.display()),
            format!("WSVIEW_TLS_KEY={}", key.display()),
            echo,
        ],
        path: "/".into(),
        compress_env: vec![],
        compresses: false,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    // The server on core 0, this load generator on core 1, as in `wsbench run`.
    let _ = sys::pin_current_thread(1);
    let mut rows = Vec::new();
    for (spec, tls) in [(&plain, None), (&tls, Some(&connector))] {
        let proc = start_server(spec, true, false)?;
        let held = rt.block_on(hold(proc.addr, proc.pid(), a.conns, a.openers, tls))?;
        rows.push((spec.name.clone(), held));
    }
    let proc = start_server(&tls, true, false)?;
    let bare = rt.block_on(bare_handshakes(
        proc.addr,
        proc.pid(),
        a.conns,
        a.openers,
        &connector,
    ))?;
    drop(proc);
    let _ = std::fs::remove_dir_all(&dir);

    println!("{}", sys::machine_summary());
    println!(
        "{} connections held, {} handshakes at a time\n",
        a.conns, a.openers
    );
    println!("| server | handshakes/s | server CPU µs/handshake | RSS per conn KiB | RSS/conn after one echo KiB | server RSS before → after → after echo MiB |");
    println!("|---|---|---|---|---|---|");
    for (name, h) in &rows {
        println!(
            "| {name} | {:.0} | {:.0} | {:.1} | {:.1} | {:.1} → {:.1} → {:.1} |",
            h.hs_per_s,
            h.cpu_us_per_hs,
            h.rss_per_conn_kib,
            h.rss_used_per_conn_kib,
            h.rss_mib[0],
            h.rss_mib[1],
            h.rss_mib[2]
        );
    }
    println!(
        "\nTLS handshakes alone (connect, TLS 1.3 handshake, close): {:.0}/s, server CPU {:.0} µs each",
        bare.0, bare.1
    );
    Ok(())
}

fn connector(cert_der: Vec<u8>) -> Result<tokio_rustls::TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(cert_der.into())
        .map_err(|e| format!("trust the certificate: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // No session resumption: every handshake is a full one.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

async fn open(
    addr: SocketAddr,
    tls: Option<&tokio_rustls::TlsConnector>,
) -> Result<WebSocketStream<Box<dyn Io>>, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let (io, url): (Box<dyn Io>, String) = match tls {
        None => (Box::new(tcp), format!("ws://{addr}/")),
        Some(c) => {
            let name =
                rustls::pki_types::ServerName::try_from("localhost").map_err(|e| e.to_string())?;
            let s = c
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            (Box::new(s), format!("wss://localhost:{}/", addr.port()))
        }
    };
    let (ws, _) = tokio_tungstenite::client_async(url, io)
        .await
        .map_err(|e| format!("upgrade: {e}"))?;
    Ok(ws)
}

/// Opens and holds `n` connections; RSS with all open, then after one echo on each.
async fn hold(
    addr: SocketAddr,
    pid: u32,
    n: usize,
    openers: usize,
    tls: Option<&tokio_rustls::TlsConnector>,
) -> Result<Held, String> {
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss0 = sys::proc_rss(pid).map_err(|e| e.to_string())?;
    let cpu0 = cpu(pid)?;
    let t0 = Instant::now();
    let next = AtomicUsize::new(0);
    let tasks = (0..openers.clamp(1, n.max(1))).map(|_| async {
        let mut mine = Vec::new();
        while next.fetch_add(1, Ordering::Relaxed) < n {
            let ws = tokio::time::timeout(Duration::from_secs(10), open(addr, tls))
                .await
                .map_err(|_| "handshake timed out".to_string())??;
            mine.push(ws);
        }
        Ok::<_, String>(mine)
    });
    let mut conns = Vec::with_capacity(n);
    for r in futures_util::future::join_all(tasks).await {
        conns.extend(r?);
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu1 = cpu(pid)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss1 = sys::proc_rss(pid).map_err(|e| e.to_string())?;
    let payload = "x".repeat(16);
    let echo_all = async {
        for ws in conns.iter_mut() {
            ws.send(Message::text(payload.clone()))
                .await
                .map_err(|e| e.to_string())?;
        }
        for ws in conns.iter_mut() {
            match ws.next().await {
                Some(Ok(Message::Text(_))) => {}
                other => return Err(format!("echo: {other:?}")),
            }
        }
        Ok::<_, String>(())
    };
    tokio::time::timeout(Duration::from_secs(30), echo_all)
        .await
        .map_err(|_| "echo timed out".to_string())??;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss2 = sys::proc_rss(pid).map_err(|e| e.to_string())?;
    drop(conns);
    let per = |r: u64| r.saturating_sub(rss0) as f64 / 1024.0 / n as f64;
    let mib = |r: u64| r as f64 / (1024.0 * 1024.0);
    Ok(Held {
        hs_per_s: n as f64 / wall,
        cpu_us_per_hs: (cpu1 - cpu0) * 1e6 / n as f64,
        rss_per_conn_kib: per(rss1),
        rss_used_per_conn_kib: per(rss2),
        rss_mib: [mib(rss0), mib(rss1), mib(rss2)],
    })
}

/// `n` TLS handshakes, each connection closed once it completes: (per second, server
/// CPU µs per handshake).
async fn bare_handshakes(
    addr: SocketAddr,
    pid: u32,
    n: usize,
    openers: usize,
    connector: &tokio_rustls::TlsConnector,
) -> Result<(f64, f64), String> {
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cpu0 = cpu(pid)?;
    let t0 = Instant::now();
    let next = AtomicUsize::new(0);
    let tasks = (0..openers.clamp(1, n.max(1))).map(|_| async {
        while next.fetch_add(1, Ordering::Relaxed) < n {
            let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            let name =
                rustls::pki_types::ServerName::try_from("localhost").map_err(|e| e.to_string())?;
            let tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
                .await
                .map_err(|_| "TLS handshake timed out".to_string())?
                .map_err(|e| format!("TLS: {e}"))?;
            drop(tls);
        }
        Ok::<_, String>(())
    });
    for r in futures_util::future::join_all(tasks).await {
        r?;
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu1 = cpu(pid)?;
    Ok((n as f64 / wall, (cpu1 - cpu0) * 1e6 / n as f64))
}

fn cpu(pid: u32) -> Result<f64, String> {
    let (user, sys) = sys::proc_cpu(pid).map_err(|e| e.to_string())?;
    Ok((user + sys).as_secs_f64())
}
