//! wsbench: wsview's echo server side by side with raw tokio-tungstenite (default and
//! tuned) and axum, each a server process on core 0, driven from core 1.
//!
//! ```text
//! wsbench run [--rounds N] [--out FILE] [--quick] [--warmup SECS] [--duration SECS]
//!             [--idle-conns N] [--servers a,b,..] [--scenarios a,b,c,d,e]
//!             [--wsview-bin PATH] [--no-build] [--retries N] [--openers N]
//! wsbench fanout [--subs 100,1000,5000] [--window 16] [--servers ..] [--quick] ..
//! wsbench tls [--conns 2000] [--openers 64] [--echo-bin PATH] [--no-build]
//! wsbench serve KIND ADDR        KIND: tt-default | tt-tuned | axum | wsview-mw
//!                                      | axum-broadcast | wsview-registry | wsview-groups
//! wsbench load ADDR [--path P] [--conns C] [--msgs N] [--size BYTES] [--depth D]
//! ```
//! `fanout` measures one publisher to N subscribers (see `fanout.rs`).
//! `load` sends exactly N messages over C connections and exits: a fixed, repeatable
//! load for profiling one server by hand (e.g. under `valgrind --tool=callgrind`).
//! See docs/performance.md in the wsview repository.

mod bench;
mod client;
mod fanout;
#[cfg(feature = "redis")]
mod fanout_redis;
#[cfg(not(feature = "redis"))]
#[path = "fanout_redis_off.rs"]
mod fanout_redis;
mod fanout_servers;
mod hist;
mod report;
mod servers;
mod sys;
mod tls;
#[cfg(feature = "wsview-mw")]
mod wsview_mw;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use bench::{ScenarioId, ServerSpec, Timing};
use report::{AXUM, FASTWS, PY_WEBSOCKETS, TT_DEFAULT, TT_TUNED, WSVIEW, WSVIEW_MW};

const USAGE: &str = "usage:
  wsbench run [--rounds N] [--out FILE] [--quick] [--warmup SECS] [--duration SECS]
              [--idle-conns N] [--servers wsview,wsview-mw,tt-default,tt-tuned,axum,fastwebsockets,py-websockets]
              [--scenarios a,b,c,d,e] [--wsview-bin PATH] [--no-build]
              [--retries N] [--openers N]
  wsbench fanout [--subs 100,1000,5000] [--window 16] [--rounds 1] [--quick]
                 [--warmup SECS] [--duration SECS] [--out FILE]
                 [--servers wsview-groups,wsview-registry,axum-broadcast]
  wsbench tls [--conns 2000] [--openers 64] [--echo-bin PATH] [--no-build]
  wsbench serve KIND ADDR      (KIND: tt-default | tt-tuned | axum | wsview-mw
                                | axum-broadcast | wsview-registry | wsview-groups)
  wsbench load ADDR [--path /] [--conns 4] [--msgs 10000] [--size 64] [--depth 1]
                    [--binary] [--timeout SECS]";

struct RunArgs {
    rounds: usize,
    out: PathBuf,
    quick: bool,
    warmup: Duration,
    duration: Duration,
    idle_conns: usize,
    servers: Option<Vec<String>>,
    scenarios: Vec<ScenarioId>,
    wsview_bin: PathBuf,
    build: bool,
    retries: usize,
    openers: usize,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A Python interpreter with `websockets`: `WSVIEW_PYTHON`, else the repository's `.venv`.
fn python() -> Option<PathBuf> {
    let py = std::env::var_os("WSVIEW_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    let ok = std::process::Command::new(&py)
        .args(["-c", "import websockets"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(py)
}

fn parse_run(args: &[String]) -> Result<RunArgs, String> {
    let mut a = RunArgs {
        rounds: 3,
        out: Path::new(env!("CARGO_MANIFEST_DIR")).join("bench-results.md"),
        quick: false,
        warmup: Duration::from_secs(1),
        duration: Duration::from_secs(5),
        idle_conns: 5000,
        servers: None,
        scenarios: ScenarioId::ALL.to_vec(),
        wsview_bin: repo_root().join("target/release/examples/echo"),
        build: true,
        retries: 2,
        openers: bench::IDLE_OPENERS,
    };
    let (mut rounds, mut warmup, mut duration) = (None, None, None);
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
            "--rounds" => {
                rounds = Some(
                    val()?
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=50).contains(n))
                        .ok_or("--rounds takes 1..=50")?,
                )
            }
            "--out" => a.out = PathBuf::from(val()?),
            "--quick" => a.quick = true,
            "--warmup" => warmup = Some(secs(val()?)?),
            "--duration" => duration = Some(secs(val()?)?),
            "--idle-conns" => {
                a.idle_conns = val()?
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=100_000).contains(n))
                    .ok_or("--idle-conns takes 1..=100000")?
            }
            "--servers" => a.servers = Some(val()?.split(',').map(|s| s.to_string()).collect()),
            "--scenarios" => {
                a.scenarios = val()?
                    .split(',')
                    .map(|s| ScenarioId::parse(s).ok_or(format!("unknown scenario {s:?}")))
                    .collect::<Result<_, _>>()?
            }
            "--wsview-bin" => a.wsview_bin = PathBuf::from(val()?),
            "--no-build" => a.build = false,
            "--retries" => {
                a.retries = val()?
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n <= 10)
                    .ok_or("--retries takes 0..=10")?
            }
            "--openers" => {
                a.openers = val()?
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=1024).contains(n))
                    .ok_or("--openers takes 1..=1024")?
            }
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    if a.quick {
        a.rounds = 1;
        a.warmup = Duration::from_millis(300);
        a.duration = Duration::from_millis(1500);
    }
    a.rounds = rounds.unwrap_or(a.rounds);
    a.warmup = warmup.unwrap_or(a.warmup);
    a.duration = duration.unwrap_or(a.duration);
    Ok(a)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(|s| s.as_str()) {
        Some("serve") => {
            let (Some(kind), Some(addr)) = (args.get(1), args.get(2)) else {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            };
            let Ok(addr) = addr.parse::<SocketAddr>() else {
                eprintln!("bad address {addr:?}");
                return ExitCode::from(2);
            };
            match servers::serve(kind, addr) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("wsbench serve {kind}: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some("load") => match parse_load(&args[1..]) {
            Ok(l) => load(l),
            Err(e) => {
                eprintln!("{e}\n{USAGE}");
                ExitCode::from(2)
            }
        },
        Some("tls") => match tls::parse(&args[1..]) {
            Ok(a) => tls::run(a),
            Err(e) => {
                eprintln!("{e}\n{USAGE}");
                ExitCode::FAILURE
            }
        },
        Some("fanout") => match fanout::parse(&args[1..]) {
            Ok(a) => fanout::run(a, &args, format!("wsview measured: {}", wsview_revision())),
            Err(e) => {
                eprintln!("{e}\n{USAGE}");
                ExitCode::from(2)
            }
        },
        Some("run") => match parse_run(&args[1..]) {
            Ok(a) => run(a, &args),
            Err(e) => {
                eprintln!("{e}\n{USAGE}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// `wsbench load`: a fixed number of echoes, for profiling one server by hand.
struct LoadArgs {
    addr: SocketAddr,
    path: String,
    conns: usize,
    msgs: usize,
    size: usize,
    depth: usize,
    binary: bool,
    timeout: Duration,
}

fn parse_load(args: &[String]) -> Result<LoadArgs, String> {
    let addr = args
        .first()
        .ok_or("load needs ADDR")?
        .parse::<SocketAddr>()
        .map_err(|e| format!("bad address: {e}"))?;
    let mut l = LoadArgs {
        addr,
        path: "/".into(),
        conns: 4,
        msgs: 10_000,
        size: 64,
        depth: 1,
        binary: false,
        timeout: Duration::from_secs(300),
    };
    let mut it = args[1..].iter();
    while let Some(flag) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let num = |s: String, max: usize| -> Result<usize, String> {
            s.parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| format!("{flag} takes 1..={max}"))
        };
        match flag.as_str() {
            "--path" => l.path = val()?,
            "--conns" => l.conns = num(val()?, 10_000)?,
            "--msgs" => l.msgs = num(val()?, 100_000_000)?,
            "--size" => l.size = num(val()?, 16 << 20)?,
            "--depth" => l.depth = num(val()?, 1024)?,
            "--binary" => l.binary = true,
            "--timeout" => l.timeout = Duration::from_secs(num(val()?, 3600)? as u64),
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    Ok(l)
}

fn load(l: LoadArgs) -> ExitCode {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build the load generator's current-thread runtime");
    let started = Instant::now();
    let r: Result<(), String> = rt.block_on(async {
        let mut conns = Vec::with_capacity(l.conns);
        for _ in 0..l.conns {
            conns.push(
                client::connect(l.addr, &l.path, l.timeout)
                    .await
                    .map_err(|e| format!("connect: {e}"))?,
            );
        }
        let frame = std::sync::Arc::new(client::client_frame(l.size, l.binary));
        let per = l.msgs / l.conns;
        let extra = l.msgs % l.conns;
        let tasks: Vec<_> = conns
            .into_iter()
            .enumerate()
            .map(|(i, mut c)| {
                let frame = frame.clone();
                let count = per + usize::from(i < extra);
                let depth = l.depth;
                tokio::spawn(async move {
                    client::send_exactly(&mut c, &frame, count, depth).await?;
                    Ok::<_, std::io::Error>(c)
                })
            })
            .collect();
        let all = async {
            let mut open = Vec::new();
            for t in tasks {
                open.push(
                    t.await
                        .map_err(|e| format!("task: {e}"))?
                        .map_err(|e| e.to_string())?,
                );
            }
            Ok::<_, String>(open)
        };
        // The connections are dropped (RST) only after every one has finished.
        let open = tokio::time::timeout(l.timeout, all)
            .await
            .map_err(|_| format!("not done within {} s", l.timeout.as_secs()))??;
        drop(open);
        Ok(())
    });
    match r {
        Ok(()) => {
            eprintln!(
                "{} echoes of {} bytes on {} connection(s), {} in flight each, in {:.2} s",
                l.msgs,
                l.size,
                l.conns,
                l.depth,
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wsbench load: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Builds wsview's echo example; returns why wsview cannot be included, if it cannot.
fn build_wsview(a: &RunArgs) -> Option<String> {
    if a.build {
        eprintln!("building wsview's echo example (cargo build --release --example echo) ...");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args(["build", "--release", "--example", "echo"])
            .current_dir(repo_root())
            .output();
        match out {
            // Let the build's after-effects (writeback, freed memory) settle first.
            Ok(o) if o.status.success() => std::thread::sleep(Duration::from_secs(2)),
            Ok(o) => {
                let err = String::from_utf8_lossy(&o.stderr);
                let tail: Vec<&str> = err.lines().rev().take(6).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Some(format!(
                    "`cargo build --release --example echo` failed: {}",
                    tail.join(" / ")
                ));
            }
            Err(e) => return Some(format!("could not run cargo: {e}")),
        }
    }
    if !a.wsview_bin.exists() {
        return Some(format!("{} does not exist", a.wsview_bin.display()));
    }
    None
}

/// Which wsview was measured: the repository's commit, and whether the crate's files
/// differ from it. Read-only git (`--no-optional-locks`: not even an index refresh).
fn wsview_revision() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("--no-optional-locks")
            .arg("-C")
            .arg(repo_root())
            .args(args)
            .output()
            .ok()
    };
    let head = git(&["rev-parse", "--short", "HEAD"])
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let Some(head) = head else {
        return "not a git checkout (or no commit yet)".into();
    };
    let dirty = git(&[
        "diff",
        "--quiet",
        "HEAD",
        "--",
        "src",
        "examples",
        "Cargo.toml",
    ])
    .map(|o| !o.status.success())
    .unwrap_or(false);
    if dirty {
        format!("git {head} plus uncommitted changes to src/, examples/ or Cargo.toml")
    } else {
        format!("git {head}")
    }
}

fn run(a: RunArgs, argv: &[String]) -> ExitCode {
    let started = Instant::now();
    let started_at = sys::utc_now_string();
    let mut notes = Vec::new();

    // Which servers.
    let all = [
        WSVIEW,
        WSVIEW_MW,
        TT_DEFAULT,
        TT_TUNED,
        AXUM,
        FASTWS,
        PY_WEBSOCKETS,
    ];
    let wanted: Vec<String> = match &a.servers {
        Some(v) => {
            for s in v {
                if !all.contains(&s.as_str()) {
                    eprintln!("unknown server {s:?}; known: {}", all.join(", "));
                    return ExitCode::from(2);
                }
            }
            v.clone()
        }
        None => all.iter().map(|s| s.to_string()).collect(),
    };
    // The servers inherit the environment; wsview reads its settings from it.
    let env_settings: Vec<String> = std::env::vars()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("WSVIEW_") || k.starts_with("WEBSOCKET_"))
        .collect();
    if !env_settings.is_empty() {
        notes.push(format!(
            "wsview settings from the environment: {}",
            env_settings.join(", ")
        ));
    }
    let me = std::env::current_exe().expect("path of the wsbench executable");
    let mut specs = Vec::new();
    for name in &wanted {
        let internal = |kind: &str, path: &str| ServerSpec {
            name: name.clone(),
            program: me.clone(),
            args: vec!["serve".into(), kind.into()],
            path: path.into(),
            compress_env: Vec::new(),
            compresses: false,
        };
        let wsview_compression = vec![("WSVIEW_COMPRESSION".to_string(), "on".to_string())];
        match name.as_str() {
            WSVIEW => match build_wsview(&a) {
                None => specs.push(ServerSpec {
                    name: name.clone(),
                    program: a.wsview_bin.clone(),
                    args: vec![],
                    path: "/".into(),
                    compress_env: wsview_compression,
                    compresses: true,
                }),
                Some(why) => notes.push(format!("wsview NOT included: {why}")),
            },
            WSVIEW_MW => {
                if cfg!(feature = "wsview-mw") {
                    let mut spec = internal("wsview-mw", "/bench/x");
                    spec.compress_env = wsview_compression;
                    spec.compresses = true;
                    specs.push(spec);
                } else {
                    notes.push(
                        "wsview-mw NOT included: wsbench was built without `--features wsview-mw`"
                            .into(),
                    );
                }
            }
            PY_WEBSOCKETS => match python() {
                Some(py) => specs.push(ServerSpec {
                    name: name.clone(),
                    program: py,
                    args: vec![Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("py_echo.py")
                        .display()
                        .to_string()],
                    path: "/".into(),
                    compress_env: Vec::new(),
                    compresses: true,
                }),
                None => notes.push(
                    "py-websockets NOT included: no Python with `websockets` (set WSVIEW_PYTHON or run scripts/test to make .venv)".into(),
                ),
            },
            other => specs.push(internal(other, "/")),
        }
    }
    if specs
        .iter()
        .any(|s| s.name == WSVIEW || s.name == WSVIEW_MW)
    {
        notes.insert(0, format!("wsview measured: {}", wsview_revision()));
    }
    if specs.is_empty() {
        eprintln!("no server to measure: {}", notes.join("; "));
        return ExitCode::FAILURE;
    }

    // Placement: load generator on core 1, servers on core 0.
    let pin = sys::online_cores() >= 2;
    if pin {
        sys::pin_current_thread(bench::LOADGEN_CORE).expect("pin the load generator to core 1");
    } else {
        notes.push("fewer than 2 cores: nothing pinned, numbers are not comparable".into());
    }
    // File descriptors: the idle scenario holds idle_conns client sockets here and as
    // many in the server (which inherits this limit).
    if a.scenarios.contains(&ScenarioId::D) {
        let want = a.idle_conns as u64 + 1024;
        match sys::raise_nofile(want) {
            Ok(n) if n >= want => {}
            Ok(n) => {
                eprintln!(
                    "RLIMIT_NOFILE hard limit {n} is below the {want} the idle scenario needs; use --idle-conns"
                );
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("setrlimit(RLIMIT_NOFILE): {e}");
                return ExitCode::FAILURE;
            }
        }
    }

    // Is anything else running? (The machine may be shared with a compiler.)
    let busy = sys::busy_pct_over(Duration::from_secs(1));
    if busy >= report::FOREIGN_PCT {
        let msg = format!(
            "cores 0 and 1 were {busy:.0}% busy (of one core) with other work in the second before the run: cells marked contended are disturbed"
        );
        eprintln!("warning: {msg}");
        notes.push(msg);
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build the load generator's current-thread runtime");
    let timing = Timing {
        warmup: a.warmup,
        measure: a.duration,
        openers: a.openers,
    };
    let scenarios: Vec<_> = a
        .scenarios
        .iter()
        .map(|id| bench::scenario(*id, a.idle_conns))
        .collect();
    let mut results = report::Results::default();

    // The first cells of a run can come out low: in one (d) run the first two
    // (25,320 and 26,624 handshakes/s) were 25-30 % below the same servers' later
    // cells. One cell of the first scenario, thrown away, warms the machine up so
    // that the server listed first does not pay for it.
    if let (Some(spec), Some(scn)) = (specs.first(), scenarios.first()) {
        eprintln!("[warm-up] ({}) {}, not counted", scn.id.letter(), spec.name);
        let _ = bench::measure_one(&rt, spec, scn, &timing, pin);
    }

    let (mut retried, mut contended) = (0usize, 0usize);
    // Bounded: rounds × scenarios × servers cells (each retried at most --retries
    // times), each bounded in time.
    for round in 0..a.rounds {
        for scn in &scenarios {
            let n = specs.len();
            for k in 0..n {
                let spec = &specs[(k + round) % n];
                // (e) compares servers that compress; python websockets only runs (e).
                if scn.compressed != spec.compresses
                    && (scn.compressed || spec.name == PY_WEBSOCKETS)
                {
                    continue;
                }
                // A cell disturbed by other programs on the cores is measured again,
                // a bounded number of times; the last try is kept either way.
                let mut r = bench::measure_one(&rt, spec, scn, &timing, pin);
                let mut tries = 0;
                while tries < a.retries
                    && r.as_ref()
                        .is_ok_and(|o| o.foreign_pct() >= report::FOREIGN_PCT)
                {
                    tries += 1;
                    retried += 1;
                    eprintln!(
                        "  ({}) {}: {:.0}% foreign load on the cores, measuring again ({tries}/{})",
                        scn.id.letter(),
                        spec.name,
                        r.as_ref().map(|o| o.foreign_pct()).unwrap_or(0.0),
                        a.retries
                    );
                    std::thread::sleep(Duration::from_secs(2));
                    r = bench::measure_one(&rt, spec, scn, &timing, pin);
                }
                if r.as_ref()
                    .is_ok_and(|o| o.foreign_pct() >= report::FOREIGN_PCT)
                {
                    contended += 1;
                }
                let line = match &r {
                    Ok(bench::Outcome::Tput(t)) => format!(
                        "{:>9.0} msg/s  p50 {:>6.0} µs  p99 {:>6.0} µs  server {:>5.2} µs/msg (user {:.2}, +{:.2} softirq)  cpu srv {:>3.0}% lg {:>3.0}%  foreign {:>3.0}%",
                        t.msg_per_s,
                        t.p50_us,
                        t.p99_us,
                        t.srv_cpu_us_per_msg,
                        t.srv_user_us_per_msg,
                        t.softirq_us_per_msg,
                        t.srv_cpu_pct,
                        t.lg_cpu_pct,
                        t.foreign_pct
                    ),
                    Ok(bench::Outcome::Idle(i)) => format!(
                        "{:>7.0} handshakes/s  {:>6.1} KiB/conn ({:.1} after one echo)  server {:>5.1} µs/handshake  foreign {:>3.0}%",
                        i.hs_per_s,
                        i.rss_per_conn / 1024.0,
                        i.rss_used_per_conn / 1024.0,
                        i.srv_cpu_us_per_hs,
                        i.foreign_pct
                    ),
                    Err(e) => format!("ERROR {e}"),
                };
                eprintln!(
                    "[round {}/{} +{:>4.0}s] ({}) {:<10} {line}",
                    round + 1,
                    a.rounds,
                    started.elapsed().as_secs_f64(),
                    scn.id.letter(),
                    spec.name
                );
                results.push(&spec.name, scn.id, r);
            }
        }
    }

    if retried > 0 || contended > 0 {
        notes.push(format!(
            "{retried} cell(s) re-measured because other programs used the cores; {contended} cell(s) still had ≥ {:.0}% foreign load (see the foreign % column)",
            report::FOREIGN_PCT
        ));
    }
    let header = report::Header {
        date: format!("{started_at} (start)"),
        command: format!("wsbench {}", argv.join(" ")),
        machine: sys::machine_summary(),
        rounds: a.rounds,
        warmup_s: a.warmup.as_secs_f64(),
        measure_s: a.duration.as_secs_f64(),
        pinned: pin,
        notes,
    };
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let mut md = report::render(&header, &names, &scenarios, &results);
    md.push_str(&format!(
        "_Run took {:.0} s._\n",
        started.elapsed().as_secs_f64()
    ));
    println!("{md}");
    if let Err(e) = std::fs::write(&a.out, &md) {
        eprintln!("could not write {}: {e}", a.out.display());
        return ExitCode::FAILURE;
    }
    eprintln!("wrote {}", a.out.display());
    ExitCode::SUCCESS
}
