//! The load generator's client side: a plain RFC 6455 opening handshake, then our own
//! minimal framing. Requests are pre-built masked frames written with one `write`
//! per batch; replies are only delimited (header + length), never copied or validated.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::hist::Hist;

/// The RFC 6455 sample key and its accept value.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// An open WebSocket connection: the socket plus any bytes read past the handshake.
pub struct WsConn {
    pub stream: TcpStream,
    pub leftover: Vec<u8>,
}

/// Connects and performs the opening handshake. Bounded by `timeout`.
pub async fn connect(addr: SocketAddr, path: &str, timeout: Duration) -> io::Result<WsConn> {
    connect_with(addr, path, timeout, false).await
}

/// The permessage-deflate offer of scenario (e): no client context takeover, so one
/// pre-built compressed frame is valid for every message.
const DEFLATE_OFFER: &str =
    "permessage-deflate; client_no_context_takeover; client_max_window_bits";

/// As [`connect`], offering permessage-deflate when `deflate` (and failing unless the
/// server accepts it).
pub async fn connect_with(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
    deflate: bool,
) -> io::Result<WsConn> {
    tokio::time::timeout(timeout, connect_inner(addr, path, deflate))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "handshake timed out"))?
}

async fn connect_inner(addr: SocketAddr, path: &str, deflate: bool) -> io::Result<WsConn> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    // Close with RST: tens of thousands of client sockets per run would otherwise sit in
    // TIME_WAIT and make every later connect() search longer for a free port.
    stream.set_zero_linger()?;
    let offer = if deflate {
        format!("Sec-WebSocket-Extensions: {DEFLATE_OFFER}\r\n")
    } else {
        String::new()
    };
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
    );
    stream.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed during handshake",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 16 * 1024 {
            return Err(io::Error::other("handshake response too large"));
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let status_ok = head.starts_with("HTTP/1.1 101");
    let accept_ok = head.lines().any(|l| {
        let mut kv = l.splitn(2, ':');
        let k = kv.next().unwrap_or("").trim();
        let v = kv.next().unwrap_or("").trim();
        k.eq_ignore_ascii_case("sec-websocket-accept") && v == ACCEPT
    });
    let deflate_ok = !deflate
        || head.lines().any(|l| {
            let mut kv = l.splitn(2, ':');
            let k = kv.next().unwrap_or("").trim();
            let v = kv.next().unwrap_or("").trim();
            k.eq_ignore_ascii_case("sec-websocket-extensions")
                && v.starts_with("permessage-deflate")
        });
    if status_ok && accept_ok && !deflate_ok {
        return Err(io::Error::other(
            "the server did not accept permessage-deflate",
        ));
    }
    if !status_ok || !accept_ok {
        let first = head.lines().next().unwrap_or("").to_string();
        return Err(io::Error::other(format!(
            "bad handshake response: {first:?} (accept ok: {accept_ok})"
        )));
    }
    Ok(WsConn {
        stream,
        leftover: buf[head_end..].to_vec(),
    })
}

/// One masked client frame (FIN set) carrying `len` bytes of text (`a..z`) or binary.
pub fn client_frame(len: usize, binary: bool) -> Vec<u8> {
    let mut f = Vec::with_capacity(len + 14);
    f.push(if binary { 0x82 } else { 0x81 });
    if len < 126 {
        f.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        f.push(0x80 | 126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(len as u64).to_be_bytes());
    }
    f.extend_from_slice(&MASK);
    for i in 0..len {
        let b = if binary {
            (i * 7 + 3) as u8
        } else {
            b'a' + (i % 26) as u8
        };
        f.push(b ^ MASK[i % 4]);
    }
    f
}

/// The 2 KiB JSON-like text message of scenario (e): an array of records with repeated
/// keys and varied values, as an API or a game state update would send.
pub fn json_message() -> String {
    let mut s = String::from("[");
    let mut i = 0u32;
    while s.len() < 2048 - 120 {
        if i > 0 {
            s.push(',');
        }
        let x = i.wrapping_mul(2_654_435_761) % 10_000;
        s.push_str(&format!(
            "{{\"id\":{i},\"user\":\"user-{}\",\"action\":\"move\",\"x\":{},\"y\":{},\"ok\":{}}}",
            x % 97,
            x % 640,
            x % 480,
            i % 3 == 0
        ));
        i += 1;
    }
    s.push(']');
    s
}

/// One masked client frame with RSV1 set carrying `text` raw-deflated (RFC 7692: sync
/// flush, the final 4 bytes stripped), compressed on its own (no context).
pub fn compressed_frame(text: &str) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let mut c = Compress::new(Compression::default(), false);
    let mut payload = Vec::with_capacity(text.len() + 64);
    // Capacity suffices for one call: deflate output of 2 KiB text is far shorter.
    let _ = c.compress_vec(text.as_bytes(), &mut payload, FlushCompress::Sync);
    if payload.ends_with(&[0, 0, 0xff, 0xff]) {
        payload.truncate(payload.len() - 4);
    }
    let mut f = client_frame(payload.len(), false);
    f[0] |= 0x40;
    let hdr = f.len() - payload.len();
    f.truncate(hdr);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    f
}

/// The text of a server frame's payload, inflated if RSV1 says it is compressed.
fn inflate_reply(b0: u8, payload: &[u8]) -> io::Result<Vec<u8>> {
    if b0 & 0x40 == 0 {
        return Ok(payload.to_vec());
    }
    use flate2::{Decompress, FlushDecompress};
    let mut d = Decompress::new(false);
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(64 * 1024);
    d.decompress_vec(&input, &mut out, FlushDecompress::Sync)
        .map_err(|e| io::Error::other(format!("reply does not inflate: {e}")))?;
    Ok(out)
}

/// Sends one compressed message (scenario (e)) and checks the echo, inflated, is the same.
pub async fn echo_check_compressed(addr: SocketAddr, path: &str) -> io::Result<()> {
    let deadline = Duration::from_secs(5);
    let mut conn = connect_with(addr, path, deadline, true).await?;
    let text = json_message();
    conn.stream.write_all(&compressed_frame(&text)).await?;
    let mut buf = conn.leftover;
    let mut chunk = [0u8; 4096];
    tokio::time::timeout(deadline, async {
        loop {
            if let Front::Frame { total, opcode, .. } = parse_front(&buf) {
                let len7 = (buf[1] & 0x7f) as usize;
                let hdr = 2 + match len7 {
                    126 => 2,
                    127 => 8,
                    _ => 0,
                };
                let got = inflate_reply(buf[0], &buf[hdr..total])?;
                if opcode == 1 && got == text.as_bytes() {
                    return Ok(());
                }
                return Err(io::Error::other(format!(
                    "compressed echo mismatch: opcode {opcode}, {} bytes",
                    got.len()
                )));
            }
            let n = conn.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::Error::other("closed before echo"));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no echo within 5 s"))?
}

/// What the front of a buffer holds.
pub enum Front {
    /// A complete frame: its total length, FIN bit and opcode.
    Frame { total: usize, fin: bool, opcode: u8 },
    /// Not yet complete; at least this many bytes are needed.
    Need(usize),
}

pub fn parse_front(b: &[u8]) -> Front {
    if b.len() < 2 {
        return Front::Need(2);
    }
    let masked = b[1] & 0x80 != 0;
    let len7 = (b[1] & 0x7f) as usize;
    let (ext, len) = match len7 {
        126 => {
            if b.len() < 4 {
                return Front::Need(4);
            }
            (2, u16::from_be_bytes([b[2], b[3]]) as usize)
        }
        127 => {
            if b.len() < 10 {
                return Front::Need(10);
            }
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[2..10]);
            (8, u64::from_be_bytes(a).min(usize::MAX as u64 / 2) as usize)
        }
        n => (0, n),
    };
    let total = 2 + ext + if masked { 4 } else { 0 } + len;
    if b.len() < total {
        return Front::Need(total);
    }
    Front::Frame {
        total,
        fin: b[0] & 0x80 != 0,
        opcode: b[0] & 0x0f,
    }
}

/// Counts complete data messages at the front of `buf`. Returns (messages, bytes
/// consumed, bytes needed from the first incomplete frame on).
fn consume_frames(buf: &[u8]) -> io::Result<(usize, usize, usize)> {
    let mut pos = 0;
    let mut msgs = 0;
    loop {
        match parse_front(&buf[pos..]) {
            Front::Frame { total, fin, opcode } => {
                match opcode {
                    0..=2 if fin => msgs += 1,
                    0..=2 => {}
                    8 => {
                        return Err(io::Error::new(
                            io::ErrorKind::ConnectionAborted,
                            "server sent close",
                        ))
                    }
                    _ => {} // ping/pong: not expected, not counted
                }
                pos += total;
            }
            Front::Need(n) => return Ok((msgs, pos, n)),
        }
    }
}

/// The shared plan of one throughput measurement.
pub struct LoadPlan {
    /// `depth` copies of the request frame, back to back.
    pub frames: Arc<Vec<u8>>,
    pub frame_len: usize,
    pub depth: usize,
    pub warm_end: Instant,
    pub end: Instant,
}

/// What one connection measured inside the window.
pub struct ConnResult {
    pub msgs: u64,
    pub hist: Hist,
}

/// Keeps `depth` messages in flight on one connection until `plan.end`. Replies whose
/// arrival falls in `[warm_end, end)` are counted and their latency recorded.
pub async fn drive(conn: WsConn, plan: Arc<LoadPlan>) -> io::Result<ConnResult> {
    let WsConn {
        mut stream,
        leftover,
    } = conn;
    let mut buf = vec![0u8; (64 * 1024).max(plan.frame_len * 4)];
    let mut filled = leftover.len().min(buf.len());
    buf[..filled].copy_from_slice(&leftover[..filled]);
    let mut sent_at: VecDeque<Instant> = VecDeque::with_capacity(plan.depth + 1);
    let mut hist = Hist::new();
    let mut msgs = 0u64;

    let now = Instant::now();
    stream
        .write_all(&plan.frames[..plan.depth * plan.frame_len])
        .await?;
    sent_at.extend(std::iter::repeat_n(now, plan.depth));

    // Bounded: the caller wraps this in a timeout at `end` + grace; the loop itself
    // ends at the first reply after `end`.
    loop {
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        filled += n;
        let (done, used, need) = consume_frames(&buf[..filled])?;
        if used > 0 {
            buf.copy_within(used..filled, 0);
            filled -= used;
        }
        if need > buf.len() {
            buf.resize(need, 0);
        }
        if done == 0 {
            continue;
        }
        let now = Instant::now();
        let in_window = now >= plan.warm_end && now < plan.end;
        for _ in 0..done {
            let t = sent_at.pop_front().unwrap_or(now);
            if in_window {
                hist.record(now - t);
                msgs += 1;
            }
        }
        if now >= plan.end {
            break;
        }
        let k = done.min(plan.depth - sent_at.len().min(plan.depth));
        if k > 0 {
            stream.write_all(&plan.frames[..k * plan.frame_len]).await?;
            sent_at.extend(std::iter::repeat_n(now, k));
        }
    }
    Ok(ConnResult { msgs, hist })
}

/// Reads until `want` complete data messages have arrived on `conn` (counting from what
/// `conn.leftover` already holds); bytes past the last complete frame are kept in
/// `leftover`. Returns how many arrived (at least `want`: all complete ones are counted).
/// Unbounded in time: the caller wraps it in a timeout. Bounded in memory by the largest
/// frame the server sends.
pub async fn read_messages(conn: &mut WsConn, want: usize) -> io::Result<usize> {
    let mut got = 0;
    let mut chunk = [0u8; 1024];
    loop {
        let (done, used, _) = consume_frames(&conn.leftover)?;
        got += done;
        conn.leftover.drain(..used);
        if got >= want {
            return Ok(got);
        }
        let n = conn.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        conn.leftover.extend_from_slice(&chunk[..n]);
    }
}

/// Sends exactly `count` copies of `frame` on `conn`, at most `depth` unanswered at a
/// time, and reads every reply. Bounded: `count` messages; the caller adds a timeout.
pub async fn send_exactly(
    conn: &mut WsConn,
    frame: &[u8],
    count: usize,
    depth: usize,
) -> io::Result<()> {
    let depth = depth.max(1);
    let batch = frame.repeat(depth.min(count.max(1)));
    let (mut sent, mut answered) = (0usize, 0usize);
    let k = depth.min(count);
    conn.stream.write_all(&batch[..k * frame.len()]).await?;
    sent += k;
    while answered < count {
        let done = read_messages(conn, 1).await?;
        answered += done;
        let k = done.min(count - sent);
        if k > 0 {
            conn.stream.write_all(&batch[..k * frame.len()]).await?;
            sent += k;
        }
    }
    Ok(())
}

/// Sends one message and checks the echo is byte-identical (sanity check per server).
pub async fn echo_check(addr: SocketAddr, path: &str) -> io::Result<()> {
    let deadline = Duration::from_secs(5);
    let mut conn = connect(addr, path, deadline).await?;
    let payload = "wsbench sanity check";
    let frame = client_frame(payload.len(), false);
    // client_frame fills a..z; rebuild with the real payload to check content.
    let mut f = frame[..6].to_vec();
    f.extend(payload.bytes().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    conn.stream.write_all(&f).await?;
    let mut buf = conn.leftover;
    let mut chunk = [0u8; 256];
    tokio::time::timeout(deadline, async {
        loop {
            if let Front::Frame { total, opcode, .. } = parse_front(&buf) {
                let hdr = total.checked_sub(payload.len()).unwrap_or(total);
                if opcode == 1 && buf.get(hdr..total) == Some(payload.as_bytes()) {
                    return Ok(());
                }
                return Err(io::Error::other(format!(
                    "echo mismatch: opcode {opcode}, {total} bytes"
                )));
            }
            let n = conn.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::Error::other("closed before echo"));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no echo within 5 s"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sizes_and_parsing() {
        for (len, hdr) in [(64usize, 6usize), (16 * 1024, 8), (70_000, 14)] {
            let f = client_frame(len, len > 64);
            assert_eq!(f.len(), len + hdr);
            match parse_front(&f) {
                Front::Frame { total, fin, opcode } => {
                    assert_eq!(total, f.len());
                    assert!(fin);
                    assert_eq!(opcode, if len > 64 { 2 } else { 1 });
                }
                Front::Need(_) => panic!("complete frame not parsed"),
            }
            assert!(matches!(parse_front(&f[..f.len() - 1]), Front::Need(n) if n == f.len()));
        }
        // Two unmasked server frames back to back plus a partial third.
        let mut b = vec![0x81, 2, b'h', b'i', 0x82, 1, 0, 0x81];
        let (msgs, used, need) = consume_frames(&b).unwrap();
        assert_eq!((msgs, used, need), (2, 7, 2));
        b.push(0x88);
        b[7] = 0x88;
        b[8] = 0;
        assert!(consume_frames(&b).is_err());
    }

    #[tokio::test]
    async fn read_messages_counts_leftover_and_keeps_the_rest() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            // One message split over two writes, then the start of another.
            s.write_all(&[0x81, 3, b'a']).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            s.write_all(&[b'b', b'c', 0x81, 5]).await.unwrap();
            s
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        // One complete message already read past the handshake.
        let mut conn = WsConn {
            stream,
            leftover: vec![0x82, 1, 7],
        };
        let read = read_messages(&mut conn, 2);
        let got = tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, 2);
        assert_eq!(conn.leftover, vec![0x81, 5]);
        drop(server.await.unwrap());
    }
}
