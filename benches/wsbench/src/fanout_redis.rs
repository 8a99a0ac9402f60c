//! The cross-process fan-out (`wsbench fanout --servers wsview-groups-redis`): a
//! redis-server started here (no persistence, a free port), two `wsview-groups` server
//! processes given its URL in `WSVIEW_REDIS_URL` (so their `Groups` carry the Redis
//! layer), and `redis-benchmark`'s PUBLISH rate on the same redis-server as the ceiling.

use std::process::Command;

use crate::bench::{self, ServerProc, ServerSpec};

// The test suite's redis-server helper (std only): same start, readiness and kill.
#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;

use redis_server::RedisServer;

/// Starts redis-server and two servers of `spec` on it, then runs `measure` with both
/// and the redis-server's pid (its CPU counts as server CPU).
pub fn measure_two<T>(
    spec: &ServerSpec,
    pin: bool,
    measure: impl FnOnce(&[&ServerProc], u32) -> Result<T, String>,
) -> Result<T, String> {
    let redis = RedisServer::start();
    let pid = redis.pid().ok_or("redis-server is not running")?;
    // Inherited by the server processes; set while nothing else runs on this thread's
    // behalf (the load generator runs on one thread).
    std::env::set_var("WSVIEW_REDIS_URL", redis.url());
    std::env::set_var("WSVIEW_REDIS_PREFIX", "wsbench");
    let procs = bench::start_server(spec, pin, false)
        .and_then(|a| Ok((a, bench::start_server(spec, pin, false)?)));
    std::env::remove_var("WSVIEW_REDIS_URL");
    std::env::remove_var("WSVIEW_REDIS_PREFIX");
    let (a, b) = procs?;
    measure(&[&a, &b], pid)
}

/// `redis-benchmark` publishing `payload`-byte messages to a channel with two
/// subscribers (as the two servers are): one connection with 16 commands in flight (as
/// the layer's pipelining publisher), and 50 connections. A Markdown paragraph.
pub fn ceiling(payload: usize) -> String {
    let redis = RedisServer::start();
    let port = redis.port().to_string();
    let mut subscribers: Vec<_> = (0..2)
        .filter_map(|_| {
            Command::new("redis-cli")
                .args(["-p", &port, "subscribe", "ceiling"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .ok()
        })
        .collect();
    let message = "x".repeat(payload);
    let mut out = String::from("### Ceiling: redis-benchmark PUBLISH on the same machine\n\n");
    out.push_str(&format!(
        "PUBLISH of {payload} B (a 64 B message and the layer's header) to a channel with {} subscribers, 200,000 requests:\n\n",
        subscribers.len()
    ));
    out.push_str("| redis-benchmark | PUBLISH/s |\n|---|---:|\n");
    for (label, args) in [
        (
            "1 connection, 16 in flight (-c 1 -P 16)",
            ["-c", "1", "-P", "16"],
        ),
        (
            "1 connection, 1 in flight (-c 1 -P 1)",
            ["-c", "1", "-P", "1"],
        ),
        (
            "50 connections, 16 in flight each (-c 50 -P 16)",
            ["-c", "50", "-P", "16"],
        ),
    ] {
        let rate = Command::new("redis-benchmark")
            .args(["-p", &port, "-q", "--csv", "-n", "200000"])
            .args(args)
            .args(["PUBLISH", "ceiling", &message])
            .output()
            .ok()
            .and_then(|o| parse_csv_rps(&String::from_utf8_lossy(&o.stdout)));
        let cell = rate.map_or("failed".to_owned(), |r| format!("{r:.0}"));
        eprintln!("redis-benchmark {label}: {cell} PUBLISH/s");
        out.push_str(&format!("| {label} | {cell} |\n"));
    }
    out.push('\n');
    for s in &mut subscribers {
        let _ = s.kill();
        let _ = s.wait();
    }
    out
}

/// The requests-per-second column of `redis-benchmark --csv` (second field of the
/// first data row).
fn parse_csv_rps(csv: &str) -> Option<f64> {
    csv.lines()
        .filter(|l| !l.starts_with("\"test\""))
        .find_map(|l| l.split(',').nth(1))
        .and_then(|f| f.trim_matches('"').parse().ok())
}
