//! Linux process facts: CPU affinity, fd limits, CPU time and RSS from /proc.

use std::io;
use std::time::Duration;

/// Pins the calling thread (and everything it spawns afterwards) to one core.
pub fn pin_current_thread(core: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; sched_setaffinity only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Number of cores this process may run on.
pub fn online_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Raises the soft RLIMIT_NOFILE to at least `want` (up to the hard limit).
/// Returns the soft limit now in force.
pub fn raise_nofile(want: u64) -> io::Result<u64> {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(io::Error::last_os_error());
        }
        if lim.rlim_cur >= want {
            return Ok(lim.rlim_cur);
        }
        let new_soft = if lim.rlim_max == libc::RLIM_INFINITY {
            want
        } else {
            want.min(lim.rlim_max)
        };
        lim.rlim_cur = new_soft;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(new_soft)
    }
}

fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// (utime, stime) of a whole process (all threads), from /proc/PID/stat.
/// Resolution is one clock tick (usually 10 ms).
pub fn proc_cpu(pid: u32) -> io::Result<(Duration, Duration)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    let rest = text
        .rfind(')')
        .map(|i| &text[i + 1..])
        .ok_or_else(|| io::Error::other("malformed /proc/PID/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let num = |i: usize| -> io::Result<u64> {
        fields
            .get(i)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other("malformed /proc/PID/stat"))
    };
    let hz = clock_ticks_per_sec();
    let dur = |ticks: u64| Duration::from_nanos(ticks * 1_000_000_000 / hz);
    Ok((dur(num(11)?), dur(num(12)?)))
}

/// CPU time (user + system) of this process, microsecond resolution (getrusage).
pub fn self_cpu() -> Duration {
    // SAFETY: getrusage writes into a local struct.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut ru) != 0 {
            return Duration::ZERO;
        }
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }
}

/// Resident set size of a process in bytes, from VmRSS in /proc/PID/status.
pub fn proc_rss(pid: u32) -> io::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("VmRSS:") {
            let kib: u64 = v
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .map_err(|_| io::Error::other("malformed VmRSS"))?;
            return Ok(kib * 1024);
        }
    }
    Err(io::Error::other("no VmRSS in /proc/PID/status"))
}

/// Short description of the machine for the report header.
pub fn machine_summary() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map(|kib| format!("{:.0} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "? GiB".into());
    format!(
        "{} cores ({model}), {mem}, Linux {kernel}",
        online_cores_total()
    )
}

fn online_cores_total() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n > 0 {
        n as usize
    } else {
        online_cores()
    }
}

/// Today's date and time in UTC, `YYYY-MM-DD HH:MM UTC`, without a date crate.
pub fn utc_now_string() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// Time one core spent, from a /proc/stat `cpuN` line.
#[derive(Clone, Copy, Default, Debug)]
pub struct CoreTimes {
    /// Everything but idle and iowait (user, nice, system, irq, softirq, steal).
    pub busy: Duration,
    pub irq_softirq: Duration,
}

/// Per-core times for cores 0 and 1 (zeros for a core that does not exist).
pub fn core_times() -> [CoreTimes; 2] {
    let mut out = [CoreTimes::default(); 2];
    let Ok(text) = std::fs::read_to_string("/proc/stat") else {
        return out;
    };
    let hz = clock_ticks_per_sec();
    let dur = |ticks: u64| Duration::from_nanos(ticks * 1_000_000_000 / hz);
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let idx = match it.next() {
            Some("cpu0") => 0,
            Some("cpu1") => 1,
            _ => continue,
        };
        let v: Vec<u64> = it.filter_map(|s| s.parse().ok()).collect();
        // user nice system idle iowait irq softirq steal ...
        if v.len() < 8 {
            continue;
        }
        out[idx] = CoreTimes {
            busy: dur(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]),
            irq_softirq: dur(v[5] + v[6]),
        };
    }
    out
}

/// A snapshot of everything a measured window needs from /proc.
#[derive(Clone, Copy)]
pub struct Snapshot {
    pub at: std::time::Instant,
    pub server: Duration,
    pub server_user: Duration,
    pub loadgen: Duration,
    pub cores: [CoreTimes; 2],
}

impl Snapshot {
    pub fn take(server_pid: u32) -> io::Result<Snapshot> {
        let (user, sys) = proc_cpu(server_pid)?;
        Ok(Snapshot {
            server: user + sys,
            server_user: user,
            loadgen: self_cpu(),
            cores: core_times(),
            at: std::time::Instant::now(),
        })
    }
}

/// CPU use over a window between two snapshots.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    pub wall: Duration,
    /// Server process utime + stime.
    pub server: Duration,
    /// Server process utime alone: the code in the server, not the kernel's work for it.
    pub server_user: Duration,
    /// Load generator process utime + stime.
    pub loadgen: Duration,
    /// irq + softirq time on core 0 (the server's core), charged to no process.
    pub core0_irq: Duration,
    pub core0_busy_pct: f64,
    pub core1_busy_pct: f64,
    /// Busy time on cores 0 and 1 that neither process nor interrupts explain, as a
    /// percentage of one core: other programs competing for the cores.
    pub foreign_pct: f64,
}

pub fn usage(a: &Snapshot, b: &Snapshot) -> Usage {
    let wall = b.at.saturating_duration_since(a.at);
    let w = wall.as_secs_f64().max(1e-9);
    let d = |x: Duration, y: Duration| y.saturating_sub(x);
    let busy0 = d(a.cores[0].busy, b.cores[0].busy);
    let busy1 = d(a.cores[1].busy, b.cores[1].busy);
    let irq0 = d(a.cores[0].irq_softirq, b.cores[0].irq_softirq);
    let irq1 = d(a.cores[1].irq_softirq, b.cores[1].irq_softirq);
    let server = d(a.server, b.server);
    let loadgen = d(a.loadgen, b.loadgen);
    let explained = server + loadgen + irq0 + irq1;
    let foreign = (busy0 + busy1).saturating_sub(explained);
    Usage {
        wall,
        server,
        server_user: d(a.server_user, b.server_user),
        loadgen,
        core0_irq: irq0,
        core0_busy_pct: 100.0 * busy0.as_secs_f64() / w,
        core1_busy_pct: 100.0 * busy1.as_secs_f64() / w,
        foreign_pct: 100.0 * foreign.as_secs_f64() / w,
    }
}

/// How busy cores 0 and 1 are over `d`, in percent of one core (0..=200).
pub fn busy_pct_over(d: Duration) -> f64 {
    let a = core_times();
    let t = std::time::Instant::now();
    std::thread::sleep(d);
    let b = core_times();
    let busy = b[0].busy.saturating_sub(a[0].busy) + b[1].busy.saturating_sub(a[1].busy);
    100.0 * busy.as_secs_f64() / t.elapsed().as_secs_f64()
}
