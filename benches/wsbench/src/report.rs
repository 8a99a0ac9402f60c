//! Medians over rounds, ratios, targets, and the markdown report.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::bench::{Idle, Outcome, Scenario, ScenarioId, Tput};

pub const WSVIEW: &str = "wsview";
pub const WSVIEW_MW: &str = "wsview-mw";
pub const TT_DEFAULT: &str = "tt-default";
pub const TT_TUNED: &str = "tt-tuned";
pub const AXUM: &str = "axum";
pub const FASTWS: &str = "fastwebsockets";
pub const PY_WEBSOCKETS: &str = "py-websockets";

/// A core busy at or above this share counts as saturated.
const SATURATED_PCT: f64 = 90.0;
/// Foreign load (other programs on the two cores, % of one core) at or above this marks a
/// cell contended: a few % is enough, since a preempted server also idles the load
/// generator and vice versa.
pub const FOREIGN_PCT: f64 = 5.0;

fn pct(x: f64) -> String {
    format!("{x:.0}")
}

#[derive(Default)]
pub struct Results {
    cells: HashMap<(String, ScenarioId), Vec<Result<Outcome, String>>>,
}

impl Results {
    pub fn push(&mut self, server: &str, scn: ScenarioId, r: Result<Outcome, String>) {
        self.cells
            .entry((server.to_string(), scn))
            .or_default()
            .push(r);
    }

    fn cell(&self, server: &str, scn: ScenarioId) -> &[Result<Outcome, String>] {
        self.cells
            .get(&(server.to_string(), scn))
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    }

    fn tputs(&self, server: &str, scn: ScenarioId) -> Vec<&Tput> {
        self.cell(server, scn)
            .iter()
            .filter_map(|r| match r {
                Ok(Outcome::Tput(t)) => Some(t),
                _ => None,
            })
            .collect()
    }

    fn idles(&self, server: &str, scn: ScenarioId) -> Vec<&Idle> {
        self.cell(server, scn)
            .iter()
            .filter_map(|r| match r {
                Ok(Outcome::Idle(t)) => Some(t),
                _ => None,
            })
            .collect()
    }

    fn errors(&self, server: &str, scn: ScenarioId) -> Vec<&str> {
        self.cell(server, scn)
            .iter()
            .filter_map(|r| r.as_ref().err().map(|s| s.as_str()))
            .collect()
    }

    /// Median of one throughput field, if any round succeeded.
    fn med_t(&self, server: &str, scn: ScenarioId, f: impl Fn(&Tput) -> f64) -> Option<f64> {
        median(self.tputs(server, scn).into_iter().map(f).collect())
    }

    fn med_i(&self, server: &str, scn: ScenarioId, f: impl Fn(&Idle) -> f64) -> Option<f64> {
        median(self.idles(server, scn).into_iter().map(f).collect())
    }
}

pub fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn thousands(x: f64) -> String {
    let n = x.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn opt(x: Option<f64>, f: impl Fn(f64) -> String) -> String {
    x.map(f).unwrap_or_else(|| "–".into())
}

pub struct Header {
    pub date: String,
    pub command: String,
    pub machine: String,
    pub rounds: usize,
    pub warmup_s: f64,
    pub measure_s: f64,
    pub pinned: bool,
    pub notes: Vec<String>,
}

pub fn render(h: &Header, servers: &[String], scenarios: &[Scenario], res: &Results) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# wsbench results\n");
    let _ = writeln!(o, "- date: {}", h.date);
    let _ = writeln!(o, "- command: `{}`", h.command);
    let _ = writeln!(o, "- machine: {}", h.machine);
    let _ = writeln!(
        o,
        "- placement: {}",
        if h.pinned {
            "each server process pinned to core 0, load generator (one current-thread tokio runtime) pinned to core 1, over 127.0.0.1"
        } else {
            "NOT pinned (fewer than 2 cores available), over 127.0.0.1"
        }
    );
    let _ = writeln!(
        o,
        "- rounds: {} (server order rotated each round, a fresh server process per cell); medians shown; warm-up {:.1} s, measured window {:.1} s per throughput cell",
        h.rounds, h.warmup_s, h.measure_s
    );
    let _ = writeln!(o, "- servers: {}", servers.join(", "));
    for n in &h.notes {
        let _ = writeln!(o, "- note: {n}");
    }
    let _ = writeln!(o);

    for scn in scenarios {
        let _ = writeln!(o, "## ({}) {}\n", scn.id.letter(), scn.title);
        if scn.id == ScenarioId::D {
            let _ = writeln!(
                o,
                "| server | handshakes/s | server CPU µs/handshake | RSS per conn KiB | RSS/conn after one echo (KiB) | server RSS before → after → after echo MiB | server CPU % | loadgen CPU % | core 0 / core 1 busy % | foreign % |"
            );
            let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            for s in servers {
                let m = |f: &dyn Fn(&Idle) -> f64| res.med_i(s, scn.id, f);
                let _ = writeln!(
                    o,
                    "| {s} | {} | {} | {} | {} | {} → {} → {} | {} | {} | {} / {} | {} |",
                    opt(m(&|i| i.hs_per_s), thousands),
                    opt(m(&|i| i.srv_cpu_us_per_hs), |x| format!("{x:.1}")),
                    opt(m(&|i| i.rss_per_conn / 1024.0), |x| format!("{x:.1}")),
                    opt(m(&|i| i.rss_used_per_conn / 1024.0), |x| format!("{x:.1}")),
                    opt(m(&|i| i.rss_before as f64 / 1048576.0), |x| format!(
                        "{x:.1}"
                    )),
                    opt(m(&|i| i.rss_after as f64 / 1048576.0), |x| format!(
                        "{x:.1}"
                    )),
                    opt(m(&|i| i.rss_used as f64 / 1048576.0), |x| format!("{x:.1}")),
                    opt(m(&|i| i.srv_cpu_pct), pct),
                    opt(m(&|i| i.lg_cpu_pct), pct),
                    opt(m(&|i| i.core0_pct), pct),
                    opt(m(&|i| i.core1_pct), pct),
                    opt(m(&|i| i.foreign_pct), pct),
                );
            }
        } else {
            let _ = writeln!(
                o,
                "| server | msg/s | p50 µs | p99 µs | server CPU µs/msg | min–max | of which user | + softirq µs/msg | server CPU % | loadgen CPU % | core 0 / core 1 busy % | foreign % | limited by |"
            );
            let _ = writeln!(
                o,
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
            );
            for s in servers {
                let m = |f: &dyn Fn(&Tput) -> f64| res.med_t(s, scn.id, f);
                let cpus: Vec<f64> = res
                    .tputs(s, scn.id)
                    .iter()
                    .map(|t| t.srv_cpu_us_per_msg)
                    .collect();
                let spread = if cpus.len() > 1 {
                    let lo = cpus.iter().cloned().fold(f64::INFINITY, f64::min);
                    let hi = cpus.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    format!("{lo:.2}–{hi:.2}")
                } else {
                    "–".into()
                };
                let c0 = m(&|t| t.core0_pct);
                let c1 = m(&|t| t.core1_pct);
                let foreign = m(&|t| t.foreign_pct);
                let mut limited = match (c0, c1) {
                    (Some(a), Some(b)) if a >= SATURATED_PCT && b >= SATURATED_PCT => {
                        "both".to_string()
                    }
                    (Some(a), _) if a >= SATURATED_PCT => "server".to_string(),
                    (Some(_), Some(b)) if b >= SATURATED_PCT => "**loadgen**".to_string(),
                    (Some(_), Some(_)) => "neither".to_string(),
                    _ => "–".to_string(),
                };
                if foreign.is_some_and(|f| f >= FOREIGN_PCT) {
                    limited.push_str(", **contended**");
                }
                let _ = writeln!(
                    o,
                    "| {s} | {} | {} | {} | {} | {spread} | {} | {} | {} | {} | {} / {} | {} | {limited} |",
                    opt(m(&|t| t.msg_per_s), thousands),
                    opt(m(&|t| t.p50_us), |x| format!("{x:.0}")),
                    opt(m(&|t| t.p99_us), |x| format!("{x:.0}")),
                    opt(m(&|t| t.srv_cpu_us_per_msg), |x| format!("{x:.2}")),
                    opt(m(&|t| t.srv_user_us_per_msg), |x| format!("{x:.2}")),
                    opt(m(&|t| t.softirq_us_per_msg), |x| format!("{x:.2}")),
                    opt(m(&|t| t.srv_cpu_pct), pct),
                    opt(m(&|t| t.lg_cpu_pct), pct),
                    opt(c0, pct),
                    opt(c1, pct),
                    opt(foreign, pct),
                );
            }
        }
        let _ = writeln!(o);
    }

    render_ratios(&mut o, servers, scenarios, res);
    render_targets(&mut o, servers, scenarios, res);

    let mut problems = Vec::new();
    for scn in scenarios {
        for s in servers {
            for e in res.errors(s, scn.id) {
                problems.push(format!("({}) {s}: {e}", scn.id.letter()));
            }
        }
    }
    if !problems.is_empty() {
        let _ = writeln!(o, "## Problems\n");
        for p in problems {
            let _ = writeln!(o, "- {p}");
        }
        let _ = writeln!(o);
    }
    o
}

fn render_ratios(o: &mut String, servers: &[String], scenarios: &[Scenario], res: &Results) {
    let subjects: Vec<&str> = [WSVIEW, WSVIEW_MW]
        .into_iter()
        .filter(|s| servers.iter().any(|x| x == s))
        .collect();
    if subjects.is_empty() {
        return;
    }
    let mut peers: Vec<&str> = [TT_DEFAULT, TT_TUNED, AXUM, FASTWS, PY_WEBSOCKETS]
        .into_iter()
        .filter(|s| servers.iter().any(|x| x == s))
        .collect();
    if subjects.len() == 2 {
        peers.push(WSVIEW);
    }
    let _ = writeln!(o, "## Ratios\n");
    let _ = writeln!(
        o,
        "Each cell: subject ÷ peer. For CPU µs/msg (and RSS/conn) lower is better; for msg/s (and handshakes/s) higher is better.\n"
    );
    let _ = write!(o, "| scenario | subject | metric |");
    for p in &peers {
        let _ = write!(o, " ÷ {p} |");
    }
    let _ = writeln!(o);
    let _ = write!(o, "|---|---|---|");
    for _ in &peers {
        let _ = write!(o, "---:|");
    }
    let _ = writeln!(o);
    for scn in scenarios {
        for subj in &subjects {
            let metrics: Vec<Metric> = if scn.id == ScenarioId::D {
                vec![
                    (
                        "handshakes/s",
                        Box::new(|s: &str| res.med_i(s, scn.id, |i| i.hs_per_s)),
                    ),
                    (
                        "RSS/conn",
                        Box::new(|s: &str| res.med_i(s, scn.id, |i| i.rss_per_conn)),
                    ),
                    (
                        "RSS/conn after one echo",
                        Box::new(|s: &str| res.med_i(s, scn.id, |i| i.rss_used_per_conn)),
                    ),
                ]
            } else {
                vec![
                    (
                        "CPU µs/msg",
                        Box::new(|s: &str| res.med_t(s, scn.id, |t| t.srv_cpu_us_per_msg)),
                    ),
                    (
                        "msg/s",
                        Box::new(|s: &str| res.med_t(s, scn.id, |t| t.msg_per_s)),
                    ),
                ]
            };
            for (name, f) in metrics {
                let _ = write!(o, "| ({}) | {subj} | {name} |", scn.id.letter());
                for p in &peers {
                    let cell = if p == subj {
                        "–".to_string()
                    } else {
                        match (f(subj), f(p)) {
                            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
                            _ => "–".into(),
                        }
                    };
                    let _ = write!(o, " {cell} |");
                }
                let _ = writeln!(o);
            }
        }
    }
    let _ = writeln!(o);
}

/// A named metric: server name to its median, if measured.
type Metric<'a> = (&'static str, Box<dyn Fn(&str) -> Option<f64> + 'a>);

struct Check {
    what: String,
    value: String,
    met: Option<bool>,
    /// Not one of the targets: shown for insight, in italics.
    informational: bool,
}

fn render_targets(o: &mut String, servers: &[String], scenarios: &[Scenario], res: &Results) {
    let has = |s: &str| servers.iter().any(|x| x == s);
    let subjects: Vec<&str> = [WSVIEW, WSVIEW_MW].into_iter().filter(|s| has(s)).collect();
    let _ = writeln!(o, "## Targets\n");
    if subjects.is_empty() {
        let _ = writeln!(
            o,
            "wsview was not measured in this run: no target can be checked.\n"
        );
        return;
    }
    let mut checks = Vec::new();
    let cpu = |s: &str, id: ScenarioId| res.med_t(s, id, |t| t.srv_cpu_us_per_msg);
    for subj in &subjects {
        for scn in scenarios {
            let id = scn.id;
            let l = id.letter();
            match id {
                ScenarioId::A | ScenarioId::C => {
                    let me = cpu(subj, id);
                    checks.push(ratio_check(
                        format!("({l}) {subj} CPU/msg ≤ 0.95 × fastwebsockets"),
                        me,
                        cpu(FASTWS, id),
                        0.95,
                    ));
                    // Informational: the earlier bar, and the same ratio on user time
                    // alone (the servers' own code without the kernel's TCP work).
                    let mut info = ratio_check(
                        format!("({l}) {subj} CPU/msg ≤ 1.10 × tt-tuned (informational)"),
                        me,
                        cpu(TT_TUNED, id),
                        1.10,
                    );
                    info.informational = true;
                    checks.push(info);
                    let user = |s: &str| res.med_t(s, id, |t| t.srv_user_us_per_msg);
                    let mut info = ratio_check(
                        format!("({l}) {subj} user µs/msg ≤ 0.95 × fastwebsockets (informational)"),
                        user(subj),
                        user(FASTWS),
                        0.95,
                    );
                    info.informational = true;
                    checks.push(info);
                }
                ScenarioId::E => {
                    let mut info = ratio_check(
                        format!("({l}) {subj} CPU/msg ≤ 1.00 × py-websockets (informational)"),
                        cpu(subj, id),
                        cpu(PY_WEBSOCKETS, id),
                        1.0,
                    );
                    info.informational = true;
                    checks.push(info);
                }
                ScenarioId::B => {
                    let me = cpu(subj, id);
                    checks.push(Check {
                        what: format!("({l}) {subj} CPU ≤ 1.5 µs per pipelined message"),
                        value: opt(me, |x| format!("{x:.2} µs")),
                        met: me.map(|x| x <= 1.5),
                        informational: false,
                    });
                }
                ScenarioId::D => {
                    let rss = res.med_i(subj, id, |i| i.rss_per_conn);
                    checks.push(Check {
                        what: format!("({l}) {subj} RSS ≤ 4 KiB per idle connection"),
                        value: opt(rss, |x| format!("{:.1} KiB", x / 1024.0)),
                        met: rss.map(|x| x <= 4.0 * 1024.0),
                        informational: false,
                    });
                    // The same connections once each has echoed one small message and
                    // gone idle again.
                    let used = res.med_i(subj, id, |i| i.rss_used_per_conn);
                    checks.push(Check {
                        what: format!("({l}) {subj} RSS ≤ 5 KiB per connection after one echo"),
                        value: opt(used, |x| format!("{:.1} KiB", x / 1024.0)),
                        met: used.map(|x| x <= 5.0 * 1024.0),
                        informational: false,
                    });
                    let me = res.med_i(subj, id, |i| i.hs_per_s);
                    let peer = res.med_i(FASTWS, id, |i| i.hs_per_s);
                    checks.push(Check {
                        what: format!("({l}) {subj} handshakes/s ≥ fastwebsockets"),
                        value: match (me, peer) {
                            (Some(a), Some(b)) => {
                                format!("{} vs {} ({:.2}x)", thousands(a), thousands(b), a / b)
                            }
                            _ => "–".into(),
                        },
                        met: match (me, peer) {
                            (Some(a), Some(b)) => Some(a >= b),
                            _ => None,
                        },
                        informational: false,
                    });
                }
            }
        }
    }
    let _ = writeln!(o, "| target | measured (medians) | met |");
    let _ = writeln!(o, "|---|---|---|");
    for c in checks {
        let met = match (c.met, c.informational) {
            (Some(true), false) => "met",
            (Some(false), false) => "**not met**",
            (Some(true), true) => "_would be met_",
            (Some(false), true) => "_would not be met_",
            (None, _) => "not measured",
        };
        let _ = writeln!(o, "| {} | {} | {met} |", c.what, c.value);
    }
    let _ = writeln!(
        o,
        "\nThe targets are the engine issue's: (a) and (c) at most 0.95 × fastwebsockets' server CPU per message, (b) no worse than before (≤ 1.5 µs), (d) at most 4 KiB per idle connection and 5 KiB once each has echoed one {}-byte message, and handshakes/s ≥ fastwebsockets'. Rows marked informational are not targets: the earlier tt-tuned bar, the (a)/(c) ratio on user time alone, and (e) against python websockets.",
        crate::bench::IDLE_ECHO_BYTES
    );
    if has(WSVIEW) && has(WSVIEW_MW) {
        let _ = writeln!(
            o,
            "\nFeatures must not tax the hot path: wsview-mw (three no-op middlewares, a route with a path parameter) ÷ wsview, CPU µs/msg:"
        );
        for scn in scenarios.iter().filter(|s| s.id != ScenarioId::D) {
            let r = match (cpu(WSVIEW_MW, scn.id), cpu(WSVIEW, scn.id)) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
                _ => "–".into(),
            };
            let _ = write!(o, " ({}) {r};", scn.id.letter());
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o);
}

fn ratio_check(what: String, me: Option<f64>, peer: Option<f64>, factor: f64) -> Check {
    match (me, peer) {
        (Some(a), Some(b)) if b > 0.0 => Check {
            what,
            value: format!("{a:.2} vs {b:.2} µs ({:.2}x)", a / b),
            met: Some(a <= factor * b),
            informational: false,
        },
        _ => Check {
            what,
            value: "–".into(),
            met: None,
            informational: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_tput(x: f64) -> Tput {
        Tput {
            msg_per_s: 1000.0 * x,
            p50_us: x,
            p99_us: 2.0 * x,
            srv_cpu_us_per_msg: x,
            srv_user_us_per_msg: x / 2.0,
            softirq_us_per_msg: 0.1,
            srv_cpu_pct: 99.0,
            lg_cpu_pct: 50.0,
            core0_pct: 99.0,
            core1_pct: 50.0,
            foreign_pct: 0.0,
        }
    }

    #[test]
    fn every_table_row_has_as_many_cells_as_its_header() {
        use crate::bench::scenario;
        let servers: Vec<String> = [WSVIEW, WSVIEW_MW, TT_DEFAULT, TT_TUNED, AXUM]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let scenarios: Vec<Scenario> = ScenarioId::ALL
            .iter()
            .map(|id| scenario(*id, 100))
            .collect();
        let mut res = Results::default();
        for (i, s) in servers.iter().enumerate() {
            for scn in &scenarios {
                let o = if scn.id == ScenarioId::D {
                    Outcome::Idle(Idle {
                        hs_per_s: 1000.0,
                        srv_cpu_us_per_hs: 50.0,
                        rss_before: 1 << 20,
                        rss_after: 2 << 20,
                        rss_per_conn: 10240.0,
                        rss_used: 3 << 20,
                        rss_used_per_conn: 20480.0,
                        srv_cpu_pct: 80.0,
                        lg_cpu_pct: 70.0,
                        core0_pct: 80.0,
                        core1_pct: 70.0,
                        foreign_pct: 0.0,
                    })
                } else {
                    Outcome::Tput(fake_tput(1.0 + i as f64))
                };
                res.push(s, scn.id, Ok(o));
            }
        }
        res.push(AXUM, ScenarioId::A, Err("boom".into()));
        let h = Header {
            date: "d".into(),
            command: "c".into(),
            machine: "m".into(),
            rounds: 1,
            warmup_s: 1.0,
            measure_s: 1.0,
            pinned: true,
            notes: vec![],
        };
        let md = render(&h, &servers, &scenarios, &res);
        let cells = |l: &str| l.trim().trim_matches('|').split('|').count();
        let mut tables = 0;
        let mut header: Option<usize> = None;
        for line in md.lines() {
            if line.starts_with('|') {
                match header {
                    None => {
                        header = Some(cells(line));
                        tables += 1;
                    }
                    Some(n) => assert_eq!(cells(line), n, "row {line:?}"),
                }
            } else {
                header = None;
            }
        }
        assert_eq!(tables, 7, "{md}");
        assert!(md.contains("## Problems"));
        assert!(md.contains("**not met**"));
    }

    #[test]
    fn medians_and_formatting() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
    }
}
