//! `wsbench fanout`: one publisher, N subscribers in one group, 64-byte text messages,
//! at most `window` messages in flight (a message is in flight until every subscriber
//! has received it, or has seen a later one: a drop).
//!
//! Each message carries its sequence number and send time, so every subscriber measures
//! publish→receive latency and notices gaps (drops). Figures: messages delivered per
//! second (one message to N subscribers counts N), server CPU per delivered message,
//! latency p50/p99, RSS per subscriber (after the subscribers joined and the warm-up ran,
//! minus before they connected), drops.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

use crate::bench::{self, ServerProc, ServerSpec};
use crate::client::{self, Front, WsConn, MASK};
use crate::hist::Hist;
use crate::sys;

/// The payload size of every published message.
const PAYLOAD: usize = 64;
/// The sequence number that tells subscribers to stop.
const STOP: u64 = u64::MAX;
/// Handshakes in flight while the subscribers connect.
const OPENERS: usize = 64;

pub const GROUPS: &str = "wsview-groups";
pub const REGISTRY: &str = "wsview-registry";
pub const AXUM: &str = "axum-broadcast";
/// Two `wsview-groups` processes sharing the group through a redis-server the harness
/// starts; subscribers split between them, the publisher on the first.
pub const GROUPS_REDIS: &str = "wsview-groups-redis";
const ALL: [&str; 4] = [GROUPS, REGISTRY, AXUM, GROUPS_REDIS];

pub struct Args {
    subs: Vec<usize>,
    window: usize,
    rounds: usize,
    warmup: Duration,
    measure: Duration,
    servers: Vec<String>,
    out: PathBuf,
}

pub fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        subs: vec![100, 1000, 5000],
        window: 16,
        rounds: 1,
        warmup: Duration::from_secs(1),
        measure: Duration::from_secs(3),
        servers: ALL[..3].iter().map(|s| s.to_string()).collect(),
        out: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fanout-results.md"),
    };
    let (mut warmup, mut measure, mut quick) = (None, None, false);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let secs = |s: String| -> Result<Duration, String> {
            s.parse::<f64>()
                .ok()
                .filter(|x| *x > 0.0 && *x < 600.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| format!("bad number of seconds {s:?}"))
        };
        match flag.as_str() {
            "--subs" => {
                a.subs = val()?
                    .split(',')
                    .map(|s| {
                        s.parse::<usize>()
                            .ok()
                            .filter(|n| (1..=50_000).contains(n))
                            .ok_or(format!("--subs takes numbers in 1..=50000, not {s:?}"))
                    })
                    .collect::<Result<_, _>>()?
            }
            "--window" => {
                a.window = val()?
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=1024).contains(n))
                    .ok_or("--window takes 1..=1024")?
            }
            "--rounds" => {
                a.rounds = val()?
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=20).contains(n))
                    .ok_or("--rounds takes 1..=20")?
            }
            "--warmup" => warmup = Some(secs(val()?)?),
            "--duration" => measure = Some(secs(val()?)?),
            "--quick" => quick = true,
            "--servers" => {
                a.servers = val()?.split(',').map(|s| s.to_string()).collect();
                if let Some(bad) = a.servers.iter().find(|s| !ALL.contains(&s.as_str())) {
                    return Err(format!("unknown server {bad:?}; known: {}", ALL.join(", ")));
                }
            }
            "--out" => a.out = PathBuf::from(val()?),
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    if quick {
        a.warmup = Duration::from_millis(500);
        a.measure = Duration::from_millis(1500);
    }
    a.warmup = warmup.unwrap_or(a.warmup);
    a.measure = measure.unwrap_or(a.measure);
    Ok(a)
}

/// One fan-out measurement.
pub struct Fanout {
    pub published: u64,
    pub delivered_per_s: f64,
    pub srv_cpu_us_per_delivered: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub rss_per_sub: f64,
    pub drops: u64,
    pub foreign_pct: f64,
}

/// A masked text frame carrying `payload` (shorter than 126 bytes).
fn masked_text(payload: &[u8]) -> Vec<u8> {
    debug_assert!(payload.len() < 126);
    let mut f = vec![0x81, 0x80 | payload.len() as u8];
    f.extend_from_slice(&MASK);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    f
}

/// Message `seq` sent `sent_ns` after the run's base instant: two 16-digit hex fields,
/// padded to `PAYLOAD` bytes.
fn message(seq: u64, sent_ns: u64) -> Vec<u8> {
    let mut p = format!("{seq:016x}{sent_ns:016x}").into_bytes();
    p.resize(PAYLOAD, b'.');
    masked_text(&p)
}

fn hex16(b: &[u8]) -> Option<u64> {
    std::str::from_utf8(b.get(..16)?)
        .ok()
        .and_then(|s| u64::from_str_radix(s, 16).ok())
}

/// Per-message delivery counters, shared by the subscribers and the publisher.
struct Progress {
    subs: u32,
    /// `window` slots: subscribers that received (or skipped) message `seq % window`.
    slots: Vec<AtomicU32>,
    /// Messages every subscriber has received or skipped; always a prefix, since each
    /// subscriber sees the messages in order.
    completed: AtomicU64,
    more: Notify,
}

impl Progress {
    fn resolve(&self, seq: u64) {
        let slot = &self.slots[(seq % self.slots.len() as u64) as usize];
        if slot.fetch_add(1, Ordering::AcqRel) + 1 == self.subs {
            slot.store(0, Ordering::Release);
            self.completed.fetch_add(1, Ordering::AcqRel);
            self.more.notify_one();
        }
    }
}

struct Plan {
    base: Instant,
    warm_end: Instant,
    end: Instant,
}

struct SubResult {
    delivered: u64,
    drops: u64,
    hist: Hist,
}

/// Reads messages until the stop message, recording those that arrive in the window.
async fn subscriber(
    conn: WsConn,
    progress: Arc<Progress>,
    plan: Arc<Plan>,
) -> io::Result<SubResult> {
    let WsConn {
        mut stream,
        leftover,
    } = conn;
    let mut buf = vec![0u8; 64 * 1024];
    let mut filled = leftover.len().min(buf.len());
    buf[..filled].copy_from_slice(&leftover[..filled]);
    let mut r = SubResult {
        delivered: 0,
        drops: 0,
        hist: Hist::new(),
    };
    let mut expect = 0u64;
    loop {
        let mut pos = 0;
        let now = Instant::now();
        let in_window = now >= plan.warm_end && now < plan.end;
        let base_ns = |t: Instant| t.duration_since(plan.base).as_nanos() as u64;
        while let Front::Frame { total, opcode, .. } = client::parse_front(&buf[pos..filled]) {
            if opcode == 8 {
                return Err(io::Error::other("server sent close"));
            }
            let frame = &buf[pos..pos + total];
            pos += total;
            let payload = &frame[2.min(frame.len())..];
            let (Some(seq), Some(sent)) = (hex16(payload), payload.get(16..).and_then(hex16))
            else {
                return Err(io::Error::other("unexpected message from the server"));
            };
            if seq == STOP {
                return Ok(r);
            }
            if seq < expect {
                return Err(io::Error::other("message out of order"));
            }
            for lost in expect..seq {
                r.drops += 1;
                progress.resolve(lost);
            }
            expect = seq + 1;
            if in_window {
                r.delivered += 1;
                r.hist
                    .record(Duration::from_nanos(base_ns(now).saturating_sub(sent)));
            }
            progress.resolve(seq);
        }
        if pos > 0 {
            buf.copy_within(pos..filled, 0);
            filled -= pos;
        }
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Err(io::Error::other("server closed the connection"));
        }
        filled += n;
    }
}

/// Keeps `window` messages in flight until the end of the plan, then sends the stop
/// message. Returns how many messages it published.
async fn publisher(
    mut conn: WsConn,
    progress: Arc<Progress>,
    plan: Arc<Plan>,
    window: u64,
) -> io::Result<u64> {
    let mut sent = 0u64;
    let mut batch = Vec::new();
    let end = tokio::time::Instant::from_std(plan.end);
    while Instant::now() < plan.end {
        let done = progress.completed.load(Ordering::Acquire);
        if sent - done < window {
            let now = Instant::now().duration_since(plan.base).as_nanos() as u64;
            batch.clear();
            while sent - done < window {
                batch.extend(message(sent, now));
                sent += 1;
            }
            conn.stream.write_all(&batch).await?;
            continue;
        }
        // A stall (a message no subscriber got, and nothing after it) ends the window.
        if tokio::time::timeout_at(end, progress.more.notified())
            .await
            .is_err()
        {
            break;
        }
    }
    // Let the messages in flight drain before the stop message: under the default
    // policy (drop for a full queue) a stop sent behind a full queue would itself be
    // dropped, and that subscriber would never end. A message dropped for a
    // subscriber stays unresolved (nothing later reached it), hence the bound.
    let drained = tokio::time::Instant::now() + Duration::from_secs(2);
    while progress.completed.load(Ordering::Acquire) < sent {
        if tokio::time::timeout_at(drained, progress.more.notified())
            .await
            .is_err()
        {
            break;
        }
    }
    conn.stream.write_all(&message(STOP, 0)).await?;
    Ok(sent)
}

/// Measures one fan-out. The subscribers are spread round-robin over `procs` (several
/// processes sharing groups through Redis, or one), the publisher connects to the first;
/// server CPU adds up every process in `procs` and `also_pids` (redis-server), RSS the
/// `procs`.
async fn measure(
    procs: &[&ServerProc],
    also_pids: &[u32],
    subs: usize,
    window: usize,
    a: &Args,
) -> Result<Fanout, String> {
    let pids: Vec<u32> = procs.iter().map(|p| p.pid()).collect();
    let cpu_pids: Vec<u32> = pids.iter().chain(also_pids).copied().collect();
    let rss = |pids: &[u32]| -> Result<u64, String> {
        pids.iter()
            .map(|&pid| sys::proc_rss(pid).map_err(|e| format!("read server status: {e}")))
            .sum()
    };
    let snapshots = |pids: &[u32]| -> Result<Vec<sys::Snapshot>, String> {
        pids.iter()
            .map(|&pid| sys::Snapshot::take(pid).map_err(|e| format!("read server stat: {e}")))
            .collect()
    };
    let rss0 = rss(&pids)?;
    let addrs: Vec<_> = procs.iter().map(|p| p.addr).collect();
    let pub_addr = addrs[0];
    // Connect the subscribers, a bounded number of handshakes at a time; each is ready
    // once it has read the server's first message.
    let next = Arc::new(AtomicU64::new(0));
    let openers: Vec<_> = (0..OPENERS.min(subs))
        .map(|_| {
            let next = next.clone();
            let addrs = addrs.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= subs as u64 {
                        break;
                    }
                    let addr = addrs[k as usize % addrs.len()];
                    let mut c = client::connect(addr, "/sub", Duration::from_secs(10)).await?;
                    ready(&mut c).await?;
                    mine.push(c);
                }
                Ok::<_, io::Error>(mine)
            })
        })
        .collect();
    let mut conns = Vec::with_capacity(subs);
    for o in openers {
        conns.extend(
            o.await
                .map_err(|e| format!("task: {e}"))?
                .map_err(|e| format!("subscriber connect: {e}"))?,
        );
    }
    let publisher_conn = client::connect(pub_addr, "/pub", Duration::from_secs(10))
        .await
        .map_err(|e| format!("publisher connect: {e}"))?;

    let base = Instant::now();
    let plan = Arc::new(Plan {
        base,
        warm_end: base + a.warmup,
        end: base + a.warmup + a.measure,
    });
    let progress = Arc::new(Progress {
        subs: subs as u32,
        slots: (0..window).map(|_| AtomicU32::new(0)).collect(),
        completed: AtomicU64::new(0),
        more: Notify::new(),
    });
    let hard_stop = tokio::time::Instant::from_std(plan.end + Duration::from_secs(10));
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|c| {
            let (progress, plan) = (progress.clone(), plan.clone());
            tokio::spawn(tokio::time::timeout_at(
                hard_stop,
                subscriber(c, progress, plan),
            ))
        })
        .collect();
    let publishing = tokio::spawn(tokio::time::timeout_at(
        hard_stop,
        publisher(
            publisher_conn,
            progress.clone(),
            plan.clone(),
            window as u64,
        ),
    ));

    tokio::time::sleep_until(tokio::time::Instant::from_std(plan.warm_end)).await;
    let snap0 = snapshots(&cpu_pids)?;
    let rss1 = rss(&pids)?;
    tokio::time::sleep_until(tokio::time::Instant::from_std(plan.end)).await;
    let snap1 = snapshots(&cpu_pids)?;

    let published = match publishing.await {
        Ok(Ok(Ok(n))) => n,
        Ok(Ok(Err(e))) => return Err(format!("publisher: {e}")),
        Ok(Err(_)) => return Err("publisher stalled past the window".into()),
        Err(e) => return Err(format!("publisher task: {e}")),
    };
    let (mut delivered, mut drops, mut hist) = (0u64, 0u64, Hist::new());
    let mut errors = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(Ok(r))) => {
                delivered += r.delivered;
                drops += r.drops;
                hist.merge(&r.hist);
            }
            Ok(Ok(Err(e))) => errors.push(e.to_string()),
            Ok(Err(_)) => errors.push("no stop message within 10 s of the end".into()),
            Err(e) => errors.push(format!("task: {e}")),
        }
    }
    if !errors.is_empty() {
        errors.sort();
        errors.dedup();
        return Err(format!(
            "{} subscriber(s) failed: {}",
            errors.len(),
            errors.join("; ")
        ));
    }
    if delivered == 0 {
        return Err("nothing delivered in the measured window".into());
    }
    let usages: Vec<sys::Usage> = snap0
        .iter()
        .zip(&snap1)
        .map(|(a, b)| sys::usage(a, b))
        .collect();
    let server: Duration = usages.iter().map(|u| u.server).sum();
    let mut u = usages[0];
    // The first snapshot's "foreign" time includes the other measured processes.
    let others = server.saturating_sub(u.server).as_secs_f64();
    u.foreign_pct = (u.foreign_pct - others * 100.0 / u.wall.as_secs_f64().max(1e-9)).max(0.0);
    Ok(Fanout {
        published,
        delivered_per_s: delivered as f64 / a.measure.as_secs_f64(),
        srv_cpu_us_per_delivered: server.as_secs_f64() * 1e6 / delivered as f64,
        p50_us: hist.quantile_us(0.50),
        p99_us: hist.quantile_us(0.99),
        rss_per_sub: rss1.saturating_sub(rss0) as f64 / subs as f64,
        drops,
        foreign_pct: u.foreign_pct,
    })
}

/// Reads the server's `ready` message (bounded).
async fn ready(c: &mut WsConn) -> io::Result<()> {
    tokio::time::timeout(Duration::from_secs(10), client::read_messages(c, 1))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no ready message"))?
        .map(|_| ())
}

pub fn run(a: Args, argv: &[String], wsview_note: String) -> std::process::ExitCode {
    use std::process::ExitCode;
    let started = sys::utc_now_string();
    let pin = sys::online_cores() >= 2;
    if pin {
        if let Err(e) = sys::pin_current_thread(bench::LOADGEN_CORE) {
            eprintln!("pin the load generator: {e}");
            return ExitCode::FAILURE;
        }
    }
    let biggest = a.subs.iter().copied().max().unwrap_or(0) as u64;
    if let Err(e) = sys::raise_nofile(biggest + 1024) {
        eprintln!("setrlimit(RLIMIT_NOFILE): {e}");
        return ExitCode::FAILURE;
    }
    let me = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("path of the wsbench executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // rows[server][subs]: the cheapest round of each cell (the least disturbed by other
    // work). Rounds are interleaved across servers, so that a busy stretch of the machine
    // disturbs each server alike.
    type Cells = Vec<Option<Result<Fanout, String>>>;
    let mut rows: Vec<(String, Cells)> = a
        .servers
        .iter()
        .map(|s| (s.clone(), a.subs.iter().map(|_| None).collect()))
        .collect();
    for _ in 0..a.rounds {
        for (i, &n) in a.subs.iter().enumerate() {
            for (name, cells) in rows.iter_mut() {
                let name: &str = name;
                let kind = if name == GROUPS_REDIS { GROUPS } else { name };
                let spec = ServerSpec {
                    name: name.to_owned(),
                    program: me.clone(),
                    args: vec!["serve".into(), kind.to_owned()],
                    path: "/sub".into(),
                    compress_env: Vec::new(),
                    compresses: false,
                };
                let r = if name == GROUPS_REDIS {
                    crate::fanout_redis::measure_two(&spec, pin, |procs, redis_pid| {
                        rt.block_on(measure(procs, &[redis_pid], n, a.window, &a))
                    })
                } else {
                    bench::start_server(&spec, pin, false)
                        .and_then(|proc| rt.block_on(measure(&[&proc], &[], n, a.window, &a)))
                };
                match &r {
                    Ok(f) => eprintln!(
                        "{name:<16} N={n:<5} {:>10.0} msg/s delivered  server {:.3} µs/msg  p50 {:.0} µs  p99 {:.0} µs  RSS/sub {:.1} KiB  drops {}  foreign {:.0}%",
                        f.delivered_per_s,
                        f.srv_cpu_us_per_delivered,
                        f.p50_us,
                        f.p99_us,
                        f.rss_per_sub / 1024.0,
                        f.drops,
                        f.foreign_pct
                    ),
                    Err(e) => eprintln!("{name:<16} N={n:<5} ERROR {e}"),
                }
                cells[i] = match (cells[i].take(), r) {
                    (Some(Ok(b)), Ok(r))
                        if b.srv_cpu_us_per_delivered <= r.srv_cpu_us_per_delivered =>
                    {
                        Some(Ok(b))
                    }
                    (Some(Ok(b)), Err(_)) => Some(Ok(b)),
                    (_, r) => Some(r),
                };
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
    let rows: Vec<(String, Vec<Result<Fanout, String>>)> = rows
        .into_iter()
        .map(|(name, cells)| {
            let cells = cells
                .into_iter()
                .map(|c| c.unwrap_or_else(|| Err("not measured".into())))
                .collect();
            (name, cells)
        })
        .collect();
    let mut md = render(&a, &rows, argv, &started, pin, &wsview_note);
    if a.servers.iter().any(|s| s == GROUPS_REDIS) {
        md.push_str(&crate::fanout_redis::ceiling(PAYLOAD + 10));
    }
    println!("{md}");
    if let Err(e) = std::fs::write(&a.out, &md) {
        eprintln!("could not write {}: {e}", a.out.display());
        return ExitCode::FAILURE;
    }
    eprintln!("wrote {}", a.out.display());
    ExitCode::SUCCESS
}

fn render(
    a: &Args,
    rows: &[(String, Vec<Result<Fanout, String>>)],
    argv: &[String],
    started: &str,
    pinned: bool,
    wsview_note: &str,
) -> String {
    let mut md = String::new();
    md.push_str("## Fan-out: one publisher, N subscribers in one group\n\n");
    md.push_str(&format!(
        "- {started} (start); command `wsbench {}`\n- {}\n- {wsview_note}\n- {} B text messages, at most {} in flight (until every subscriber has it); warm-up {:.1} s, measured {:.1} s; best of {} round(s) by server CPU; server {} core 0, load generator core 1\n\n",
        argv.join(" "),
        sys::machine_summary(),
        PAYLOAD,
        a.window,
        a.warmup.as_secs_f64(),
        a.measure.as_secs_f64(),
        a.rounds,
        if pinned { "pinned to" } else { "NOT pinned (fewer than 2 cores):" },
    ));
    md.push_str("| server | N | delivered msg/s | server CPU µs / delivered msg | × registry | p50 µs | p99 µs | RSS / subscriber KiB | drops | foreign % |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let registry = rows.iter().find(|(n, _)| n == REGISTRY);
    for (name, cells) in rows {
        for (i, cell) in cells.iter().enumerate() {
            let n = a.subs[i];
            match cell {
                Ok(f) => {
                    let ratio = registry
                        .and_then(|(_, c)| c[i].as_ref().ok())
                        .map(|r| {
                            format!(
                                "{:.2}",
                                f.srv_cpu_us_per_delivered / r.srv_cpu_us_per_delivered
                            )
                        })
                        .unwrap_or_else(|| "–".into());
                    md.push_str(&format!(
                        "| {name} | {n} | {:.0} | {:.3} | {ratio} | {:.0} | {:.0} | {:.1} | {} of {} | {:.0} |\n",
                        f.delivered_per_s,
                        f.srv_cpu_us_per_delivered,
                        f.p50_us,
                        f.p99_us,
                        f.rss_per_sub / 1024.0,
                        f.drops,
                        f.published * n as u64,
                        f.foreign_pct
                    ));
                }
                Err(e) => md.push_str(&format!("| {name} | {n} | ERROR: {e} | | | | | | | |\n")),
            }
        }
    }
    md.push('\n');
    md
}
