//! The orchestration of one run: server processes, scenarios, rounds.

use std::fs::File;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{self, LoadPlan};
use crate::hist::Hist;
use crate::sys;

pub const SERVER_CORE: usize = 0;
pub const LOADGEN_CORE: usize = 1;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ScenarioId {
    A,
    B,
    C,
    D,
    E,
}

impl ScenarioId {
    pub const ALL: [ScenarioId; 5] = [
        ScenarioId::A,
        ScenarioId::B,
        ScenarioId::C,
        ScenarioId::D,
        ScenarioId::E,
    ];

    pub fn letter(self) -> &'static str {
        match self {
            ScenarioId::A => "a",
            ScenarioId::B => "b",
            ScenarioId::C => "c",
            ScenarioId::D => "d",
            ScenarioId::E => "e",
        }
    }

    pub fn parse(s: &str) -> Option<ScenarioId> {
        Self::ALL.into_iter().find(|x| x.letter() == s)
    }
}

/// A throughput scenario: `conns` connections, `depth` messages in flight on each.
pub struct Scenario {
    pub id: ScenarioId,
    pub title: String,
    pub conns: usize,
    pub depth: usize,
    pub payload: usize,
    pub binary: bool,
    /// permessage-deflate: the 2 KiB JSON message, compressed (scenario (e)).
    pub compressed: bool,
}

pub fn scenario(id: ScenarioId, idle_conns: usize) -> Scenario {
    let (title, conns, depth, payload, binary) = match id {
        ScenarioId::A => (
            "64 B text, 64 connections, 1 in flight each",
            64,
            1,
            64,
            false,
        ),
        ScenarioId::B => (
            "64 B text, 64 connections, 16 in flight each (pipelined)",
            64,
            16,
            64,
            false,
        ),
        ScenarioId::C => (
            "16 KiB binary, 16 connections, 1 in flight each",
            16,
            1,
            16 * 1024,
            true,
        ),
        ScenarioId::D => ("", idle_conns, 0, 0, false),
        ScenarioId::E => (
            "2 KiB JSON text, compressed both ways (permessage-deflate), 16 connections, 1 in flight each",
            16,
            1,
            2048,
            false,
        ),
    };
    let title = if id == ScenarioId::D {
        format!("{idle_conns} idle connections: handshake rate and RSS per connection")
    } else {
        title.to_string()
    };
    Scenario {
        id,
        title,
        conns,
        depth,
        payload,
        binary,
        compressed: id == ScenarioId::E,
    }
}

/// How to start one server under test.
#[derive(Clone)]
pub struct ServerSpec {
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Request path the load generator connects to.
    pub path: String,
    /// Environment for scenario (e): what turns the server's compression on.
    pub compress_env: Vec<(String, String)>,
    /// Whether the server compresses (only such servers run scenario (e)).
    pub compresses: bool,
}

/// A running server process; killed when dropped.
pub struct ServerProc {
    child: Child,
    pub addr: SocketAddr,
}

impl ServerProc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = StdListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
    l.local_addr().expect("local_addr of probe listener").port()
}

/// Starts the server pinned to `SERVER_CORE` and waits (bounded) until it accepts.
pub fn start_server(spec: &ServerSpec, pin: bool, compressed: bool) -> Result<ServerProc, String> {
    let addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let log_path =
        std::env::temp_dir().join(format!("wsbench-{}-{}.log", std::process::id(), spec.name));
    let log = File::create(&log_path).map_err(|e| format!("create {log_path:?}: {e}"))?;
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .arg(addr.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    if compressed {
        cmd.envs(spec.compress_env.iter().map(|(k, v)| (k, v)));
    }
    // SAFETY: the closure runs in the forked child before exec and only makes two
    // async-signal-safe system calls on local data.
    unsafe {
        cmd.pre_exec(move || {
            if pin {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(SERVER_CORE, &mut set);
                if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // Die with the harness, whatever happens to it.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("start {}: {e} ({:?})", spec.name, spec.program))?;
    let mut proc = ServerProc { child, addr };
    // Poll until the port accepts: at most 400 tries, 25 ms apart (10 s).
    for _ in 0..400 {
        if let Ok(Some(status)) = proc.child.try_wait() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(format!(
                "{} exited with {status} before accepting; stderr: {}",
                spec.name,
                log.trim()
            ));
        }
        if StdStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Ok(proc);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = proc.child.kill();
    Err(format!(
        "{} did not accept on {addr} within 10 s",
        spec.name
    ))
}

/// One throughput measurement.
#[derive(Clone, Debug)]
pub struct Tput {
    pub msg_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// Server process utime + stime over the window, per message.
    pub srv_cpu_us_per_msg: f64,
    /// Of which utime (the server's own code; the rest is the kernel working for it).
    pub srv_user_us_per_msg: f64,
    /// irq + softirq time on the server's core per message (mostly loopback delivery
    /// of the server's replies), charged to no process.
    pub softirq_us_per_msg: f64,
    pub srv_cpu_pct: f64,
    pub lg_cpu_pct: f64,
    pub core0_pct: f64,
    pub core1_pct: f64,
    pub foreign_pct: f64,
}

/// One idle-connections measurement.
#[derive(Clone, Debug)]
pub struct Idle {
    pub hs_per_s: f64,
    pub srv_cpu_us_per_hs: f64,
    pub rss_before: u64,
    pub rss_after: u64,
    pub rss_per_conn: f64,
    /// VmRSS after one small message was echoed on every connection (0.5 s later).
    pub rss_used: u64,
    /// (rss_used − rss_before) ÷ connections: a connection that exchanged a message and
    /// went idle again (its read buffer has been touched at least once).
    pub rss_used_per_conn: f64,
    pub srv_cpu_pct: f64,
    pub lg_cpu_pct: f64,
    pub core0_pct: f64,
    pub core1_pct: f64,
    pub foreign_pct: f64,
}

pub enum Outcome {
    Tput(Tput),
    Idle(Idle),
}

impl Outcome {
    /// Busy time on the two cores that belonged to neither process (% of one core).
    pub fn foreign_pct(&self) -> f64 {
        match self {
            Outcome::Tput(t) => t.foreign_pct,
            Outcome::Idle(i) => i.foreign_pct,
        }
    }
}

pub struct Timing {
    pub warmup: Duration,
    pub measure: Duration,
    /// Concurrent handshakes in scenario (d).
    pub openers: usize,
}

pub async fn measure_throughput(
    proc: &ServerProc,
    path: &str,
    scn: &Scenario,
    timing: &Timing,
) -> Result<Tput, String> {
    let pid = proc.pid();
    let mut conns = Vec::with_capacity(scn.conns);
    for _ in 0..scn.conns {
        conns.push(
            client::connect_with(proc.addr, path, Duration::from_secs(5), scn.compressed)
                .await
                .map_err(|e| format!("connect: {e}"))?,
        );
    }
    let frame = if scn.compressed {
        client::compressed_frame(&client::json_message())
    } else {
        client::client_frame(scn.payload, scn.binary)
    };
    let start = Instant::now();
    let plan = Arc::new(LoadPlan {
        frames: Arc::new(frame.repeat(scn.depth)),
        frame_len: frame.len(),
        depth: scn.depth,
        warm_end: start + timing.warmup,
        end: start + timing.warmup + timing.measure,
    });
    let hard_stop = tokio::time::Instant::from_std(plan.end + Duration::from_secs(5));
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|c| {
            let plan = plan.clone();
            tokio::spawn(tokio::time::timeout_at(hard_stop, client::drive(c, plan)))
        })
        .collect();

    tokio::time::sleep_until(tokio::time::Instant::from_std(plan.warm_end)).await;
    let snap0 = sys::Snapshot::take(pid).map_err(|e| format!("read server stat: {e}"))?;
    tokio::time::sleep_until(tokio::time::Instant::from_std(plan.end)).await;
    let snap1 = sys::Snapshot::take(pid).map_err(|e| format!("read server stat: {e}"))?;

    let mut hist = Hist::new();
    let mut msgs = 0u64;
    let mut errors = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(Ok(r))) => {
                msgs += r.msgs;
                hist.merge(&r.hist);
            }
            Ok(Ok(Err(e))) => errors.push(e.to_string()),
            Ok(Err(_)) => errors.push("connection stalled past the window".into()),
            Err(e) => errors.push(format!("task: {e}")),
        }
    }
    if !errors.is_empty() {
        errors.dedup();
        return Err(format!(
            "{} of {} connections failed: {}",
            errors.len(),
            scn.conns,
            errors.join("; ")
        ));
    }
    if msgs == 0 {
        return Err("no replies in the measured window".into());
    }
    debug_assert_eq!(hist.count(), msgs);
    let window = timing.measure.as_secs_f64();
    let u = sys::usage(&snap0, &snap1);
    let wall = u.wall.as_secs_f64().max(1e-9);
    Ok(Tput {
        msg_per_s: msgs as f64 / window,
        p50_us: hist.quantile_us(0.50),
        p99_us: hist.quantile_us(0.99),
        srv_cpu_us_per_msg: u.server.as_secs_f64() * 1e6 / msgs as f64,
        srv_user_us_per_msg: u.server_user.as_secs_f64() * 1e6 / msgs as f64,
        softirq_us_per_msg: u.core0_irq.as_secs_f64() * 1e6 / msgs as f64,
        srv_cpu_pct: 100.0 * u.server.as_secs_f64() / wall,
        lg_cpu_pct: 100.0 * u.loadgen.as_secs_f64() / wall,
        core0_pct: u.core0_busy_pct,
        core1_pct: u.core1_busy_pct,
        foreign_pct: u.foreign_pct,
    })
}

/// Default number of concurrent handshakes while opening the idle connections.
pub const IDLE_OPENERS: usize = 64;

pub async fn measure_idle(
    proc: &ServerProc,
    path: &str,
    n: usize,
    openers: usize,
) -> Result<Idle, String> {
    let pid = proc.pid();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = sys::proc_rss(pid).map_err(|e| format!("read server status: {e}"))?;
    let snap0 = sys::Snapshot::take(pid).map_err(|e| format!("read server stat: {e}"))?;

    let next = Arc::new(AtomicUsize::new(0));
    let openers: Vec<_> = (0..openers.clamp(1, n.max(1)))
        .map(|_| {
            let next = next.clone();
            let path = path.to_string();
            let addr = proc.addr;
            tokio::spawn(async move {
                let mut mine = Vec::new();
                // Bounded by n in count and by the per-handshake timeout in time.
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    mine.push(client::connect(addr, &path, Duration::from_secs(10)).await?);
                }
                Ok::<_, std::io::Error>(mine)
            })
        })
        .collect();
    let mut conns = Vec::with_capacity(n);
    let mut errors = Vec::new();
    for o in openers {
        match o.await {
            Ok(Ok(v)) => conns.extend(v),
            Ok(Err(e)) => errors.push(e.to_string()),
            Err(e) => errors.push(format!("task: {e}")),
        }
    }
    let snap1 = sys::Snapshot::take(pid).map_err(|e| format!("read server stat: {e}"))?;
    if !errors.is_empty() {
        errors.dedup();
        return Err(format!(
            "opened {} of {n}; errors: {}",
            conns.len(),
            errors.join("; ")
        ));
    }
    // Let the server settle, then read its RSS with every connection still open.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = sys::proc_rss(pid).map_err(|e| format!("read server status: {e}"))?;

    // Then one small message on every connection, each echo read back, and RSS again:
    // a connection that never received anything may never have touched its buffers.
    echo_once_on_each(&mut conns).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_used = sys::proc_rss(pid).map_err(|e| format!("read server status: {e}"))?;
    drop(conns);
    let u = sys::usage(&snap0, &snap1);
    let wall = u.wall.as_secs_f64().max(1e-9);
    Ok(Idle {
        hs_per_s: n as f64 / wall,
        srv_cpu_us_per_hs: u.server.as_secs_f64() * 1e6 / n as f64,
        rss_before,
        rss_after,
        rss_per_conn: rss_after.saturating_sub(rss_before) as f64 / n as f64,
        rss_used,
        rss_used_per_conn: rss_used.saturating_sub(rss_before) as f64 / n as f64,
        srv_cpu_pct: 100.0 * u.server.as_secs_f64() / wall,
        lg_cpu_pct: 100.0 * u.loadgen.as_secs_f64() / wall,
        core0_pct: u.core0_busy_pct,
        core1_pct: u.core1_busy_pct,
        foreign_pct: u.foreign_pct,
    })
}

/// Payload of the message sent on every idle connection after the first RSS reading.
pub const IDLE_ECHO_BYTES: usize = 16;
/// The echo step of scenario (d) must finish within this.
const IDLE_ECHO_TIMEOUT: Duration = Duration::from_secs(20);

/// Sends one `IDLE_ECHO_BYTES` text message on every connection (all sent first, then
/// every echo read). Bounded: `conns.len()` writes and reads, `IDLE_ECHO_TIMEOUT` overall.
/// Fails unless every connection got its echo.
async fn echo_once_on_each(conns: &mut [client::WsConn]) -> Result<(), String> {
    let frame = client::client_frame(IDLE_ECHO_BYTES, false);
    let n = conns.len();
    let mut echoed = 0usize;
    let all = async {
        for c in conns.iter_mut() {
            use tokio::io::AsyncWriteExt;
            c.stream.write_all(&frame).await?;
        }
        for c in conns.iter_mut() {
            client::read_messages(c, 1).await?;
            echoed += 1;
        }
        Ok::<_, std::io::Error>(())
    };
    match tokio::time::timeout(IDLE_ECHO_TIMEOUT, all).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!(
            "one echo on each idle connection: {echoed} of {n} echoed, then: {e}"
        )),
        Err(_) => Err(format!(
            "one echo on each idle connection: {echoed} of {n} echoed within {} s",
            IDLE_ECHO_TIMEOUT.as_secs()
        )),
    }
}

/// Starts the server, checks it echoes, measures, stops it.
pub fn measure_one(
    rt: &tokio::runtime::Runtime,
    spec: &ServerSpec,
    scn: &Scenario,
    timing: &Timing,
    pin: bool,
) -> Result<Outcome, String> {
    let proc = start_server(spec, pin, scn.compressed)?;
    rt.block_on(async {
        if scn.compressed {
            client::echo_check_compressed(proc.addr, &spec.path).await
        } else {
            client::echo_check(proc.addr, &spec.path).await
        }
        .map_err(|e| format!("echo check on {}: {e}", spec.path))?;
        match scn.id {
            ScenarioId::D => measure_idle(&proc, &spec.path, scn.conns, timing.openers)
                .await
                .map(Outcome::Idle),
            _ => measure_throughput(&proc, &spec.path, scn, timing)
                .await
                .map(Outcome::Tput),
        }
    })
}
