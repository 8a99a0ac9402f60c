//! Micro-benchmark of the protocol engine's receive path against tungstenite's, in
//! memory (no sockets): masking throughput, and decoding a buffer of masked client
//! frames into messages.
//!
//! ```text
//! cargo bench --bench engine            # a few seconds
//! ```
//!
//! Each figure is the best of 5 runs (the least disturbed on a shared machine).

use std::hint::black_box;
use std::io::{self, Cursor, Read, Write};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use tokio_tungstenite::tungstenite::protocol::{Role as TRole, WebSocket, WebSocketConfig};
use wsview::engine::{apply_mask, negotiate, Decoder, DeflateConfig, Encoder, Event, Limits, Role};
use wsview::Message;

fn best_of(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..runs).map(|_| f()).min().unwrap_or_default()
}

/// An in-memory socket: reads from the buffer in `chunk`-sized reads, discards writes.
struct Mem {
    data: Cursor<Vec<u8>>,
    chunk: usize,
}

impl Read for Mem {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.chunk);
        self.data.read(&mut buf[..n])
    }
}

impl Write for Mem {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn frames(msg: &Message, count: usize) -> Vec<u8> {
    let mut encoder = Encoder::new(Role::Client, None);
    let mut wire = Vec::new();
    for _ in 0..count {
        encoder.message(msg, &mut wire);
    }
    wire
}

fn wsview_decode(wire: &[u8], count: usize, read: usize) -> Duration {
    let limits = Limits {
        max_frame: 1 << 24,
        max_message: 1 << 24,
    };
    let start = Instant::now();
    let mut decoder = Decoder::new(Role::Server, limits, None);
    let mut got = 0;
    for chunk in wire.chunks(read) {
        decoder
            .decode(chunk, |e| {
                if let Event::Message(m) = e {
                    black_box(&m);
                    got += 1;
                }
                ControlFlow::Continue(())
            })
            .expect("valid frames");
    }
    assert_eq!(got, count);
    start.elapsed()
}

fn tungstenite_decode(wire: &[u8], count: usize, read: usize) -> Duration {
    let config = WebSocketConfig::default()
        .read_buffer_size(read)
        .max_message_size(Some(1 << 24))
        .max_frame_size(Some(1 << 24));
    let stream = Mem {
        data: Cursor::new(wire.to_vec()),
        chunk: read,
    };
    let start = Instant::now();
    let mut ws = WebSocket::from_raw_socket(stream, TRole::Server, Some(config));
    for _ in 0..count {
        black_box(ws.read().expect("valid frames"));
    }
    start.elapsed()
}

fn rss_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resident memory per connection's codec pair (server decoder + encoder) after one
/// compressed message each way, for each context-takeover choice and window size.
fn memory() {
    const CONNS: usize = 400;
    let json = br#"{"id":1234,"user":"ada","action":"move","pos":{"x":12.5,"y":-3.25},"tags":["a","b","c"],"ok":true}"#
        .repeat(20);
    let msg = Message::binary(json);
    println!("codec memory per connection after one 2 KiB JSON message each way ({CONNS} connections, VmRSS):");
    println!("| server context takeover | client context takeover | window bits | KiB per connection | compress µs/msg | inflate µs/msg | compressed bytes |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (server_takeover, client_takeover, bits) in [
        (false, false, 15),
        (true, false, 15),
        (false, true, 15),
        (true, true, 15),
        (true, true, 9),
    ] {
        let mut config = DeflateConfig::default();
        config.server_context_takeover = server_takeover;
        config.client_context_takeover = client_takeover;
        config.server_max_window_bits = bits;
        config.client_max_window_bits = bits;
        let (params, _) =
            negotiate(["permessage-deflate; client_max_window_bits"], &config).expect("acceptable");
        let limits = Limits {
            max_frame: 1 << 20,
            max_message: 1 << 20,
        };
        // The client side is one shared encoder: only the server's states are counted.
        let mut client = Encoder::new(Role::Client, Some((&params, &config)));
        let mut frame = Vec::new();
        client.message(&msg, &mut frame);
        let before = rss_kib();
        let mut conns = Vec::with_capacity(CONNS);
        for _ in 0..CONNS {
            let mut decoder = Decoder::new(Role::Server, limits, Some(&params));
            let mut encoder = Encoder::new(Role::Server, Some((&params, &config)));
            let mut got = None;
            decoder
                .decode(&frame, |e| {
                    got = Some(e);
                    ControlFlow::Continue(())
                })
                .expect("valid");
            let mut out = Vec::new();
            if let Some(Event::Message(m)) = got {
                encoder.message(&m, &mut out);
            }
            conns.push((decoder, encoder));
        }
        let after = rss_kib();
        drop(conns);
        // Speed, on one connection: compressing the server's reply, inflating the
        // client's message (from a stream of them, as context takeover needs).
        let (mut decoder, mut encoder) = (
            Decoder::new(Role::Server, limits, Some(&params)),
            Encoder::new(Role::Server, Some((&params, &config))),
        );
        let n = 2000;
        let mut out = Vec::new();
        let compress = best_of(3, || {
            let start = Instant::now();
            for _ in 0..n {
                out.clear();
                encoder.message(&msg, &mut out);
            }
            start.elapsed()
        });
        let size = out.len();
        let mut stream = Vec::new();
        let mut client = Encoder::new(Role::Client, Some((&params, &config)));
        for _ in 0..n {
            client.message(&msg, &mut stream);
        }
        let start = Instant::now();
        let mut got = 0;
        decoder
            .decode(&stream, |_| {
                got += 1;
                ControlFlow::Continue(())
            })
            .expect("valid");
        let inflate = start.elapsed();
        assert_eq!(got, n);
        let us = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
        println!(
            "| {server_takeover} | {client_takeover} | {bits} | {:.1} | {:.2} | {:.2} | {size} |",
            (after.saturating_sub(before)) as f64 / CONNS as f64,
            us(compress),
            us(inflate),
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "memory") {
        memory();
        return;
    }
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut buf = vec![0u8; 1 << 20];
    let rounds = 200;
    let t = best_of(5, || {
        let start = Instant::now();
        for i in 0..rounds {
            apply_mask(black_box(&mut buf), key, i);
        }
        start.elapsed()
    });
    let gbs = (rounds as f64 * buf.len() as f64) / t.as_secs_f64() / 1e9;
    let t = best_of(5, || {
        let start = Instant::now();
        for i in 0..rounds {
            for (j, b) in black_box(&mut buf).iter_mut().enumerate() {
                *b ^= key[(i + j) % 4];
            }
        }
        start.elapsed()
    });
    let naive = (rounds as f64 * buf.len() as f64) / t.as_secs_f64() / 1e9;
    println!("masking 1 MiB: wsview {gbs:.1} GB/s, byte-at-a-time {naive:.1} GB/s");

    println!("decode masked client frames from memory (ns per message, best of 5):");
    println!("| message | reads of | wsview | tungstenite | ratio |");
    println!("|---|---:|---:|---:|---:|");
    let cases: [(&str, Message, usize, usize); 4] = [
        ("64 B text", Message::from("x".repeat(64)), 200_000, 8 << 10),
        (
            "64 B binary",
            Message::binary(vec![7; 64]),
            200_000,
            8 << 10,
        ),
        (
            "16 KiB binary",
            Message::binary(vec![7; 16 << 10]),
            5_000,
            8 << 10,
        ),
        (
            "16 KiB text",
            Message::from("é".repeat(8 << 10)),
            5_000,
            64 << 10,
        ),
    ];
    // `cargo bench --bench engine -- 16` runs the cases whose name contains "16".
    let only = std::env::args().nth(1).filter(|a| a != "--bench");
    for (name, msg, count, read) in cases {
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        let wire = frames(&msg, count);
        let ours = best_of(5, || wsview_decode(&wire, count, read));
        let theirs = best_of(5, || tungstenite_decode(&wire, count, read));
        let per = |d: Duration| d.as_nanos() as f64 / count as f64;
        println!(
            "| {name} | {} KiB | {:.0} | {:.0} | {:.2} |",
            read >> 10,
            per(ours),
            per(theirs),
            per(ours) / per(theirs)
        );
    }
}
