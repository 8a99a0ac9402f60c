//! The first bytes of a plain-TCP connection, read by the server itself: the HTTP/2
//! preface (h2c with prior knowledge), an HTTP/1.1 WebSocket upgrade request the server
//! answers without hyper, or anything else, handed to hyper with the bytes read.
//!
//! Serving the upgrade here saves hyper's connection machinery (its buffers, the
//! response encoding, the upgrade hand-off) on every WebSocket handshake: the request
//! runs through the same chain, and the 101 is written on the socket when the view
//! accepts. Only
//! the plainest requests take this path (complete in the first read, `GET`, HTTP/1.1,
//! no body); any other goes to hyper exactly as it came, and is answered as before.

use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Uri, Version};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;

use crate::handshake;

/// What every HTTP/2 client sends first (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Bytes taken in the first read: a WebSocket request head is a few hundred bytes
/// (more with cookies); a larger one goes to hyper.
const FIRST_READ: usize = 4096;

/// Header fields parsed here at most; a request with more goes to hyper.
const MAX_HEADERS: usize = 64;

/// What a connection opened with.
#[derive(Debug)]
pub(crate) enum First {
    /// It closed, failed, or sent nothing within the time allowed.
    Nothing,
    /// The HTTP/2 preface; everything read so far.
    Http2(Bytes),
    /// A complete HTTP/1.1 WebSocket upgrade request with no body. `raw` is everything
    /// read (the head is its first `head_len` bytes; the header values are slices of
    /// it).
    Upgrade {
        parts: Box<http::request::Parts>,
        raw: Bytes,
        head_len: usize,
    },
    /// Anything else, for hyper's HTTP/1.1: everything read so far.
    Http1(Bytes),
}

/// Reads what the connection opens with, within `timeout` (the header read timeout).
pub(crate) async fn read(tcp: &mut TcpStream, timeout: Option<Duration>) -> First {
    let mut acc = Vec::new();
    // Read through `AsyncRead`, not `try_read`: a short read then tells tokio the
    // socket is drained, so the engine's first read waits for new bytes instead of
    // making a call that finds none.
    let read = std::future::poll_fn(|cx| loop {
        // Only in this call, not in the connection's future.
        let mut buf = [0u8; FIRST_READ];
        let mut rb = ReadBuf::new(&mut buf);
        match Pin::new(&mut *tcp).poll_read(cx, &mut rb) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(_)) => return Poll::Ready(First::Nothing),
            Poll::Ready(Ok(())) => {
                if let Some(first) = classify(rb.filled(), &mut acc) {
                    return Poll::Ready(first);
                }
            }
        }
    });
    match timeout {
        Some(limit) => tokio::time::timeout(limit, read)
            .await
            .unwrap_or(First::Nothing),
        None => read.await,
    }
}

/// What the bytes read so far are; `None` while they are only the start of the HTTP/2
/// preface (kept in `acc`).
fn classify(got: &[u8], acc: &mut Vec<u8>) -> Option<First> {
    if got.is_empty() {
        return Some(First::Nothing);
    }
    if !acc.is_empty() {
        acc.extend_from_slice(got);
    }
    let read: &[u8] = if acc.is_empty() { got } else { acc };
    if read.len() < PREFACE.len() && PREFACE.starts_with(read) {
        // Clients write the preface in one piece; this is for one that splits it.
        if acc.is_empty() {
            acc.extend_from_slice(got);
        }
        return None;
    }
    let raw = Bytes::copy_from_slice(read);
    if raw.starts_with(PREFACE) {
        return Some(First::Http2(raw));
    }
    let Some((mut parts, head_len)) = upgrade_request(&raw) else {
        return Some(First::Http1(raw));
    };
    if head_len < raw.len() {
        // Frames came with the request: parse the head again from a copy of its own,
        // so the request (which the view may hold for the socket's life) keeps only
        // the head alive, not them.
        match upgrade_request(&Bytes::copy_from_slice(&raw[..head_len])) {
            Some((own, _)) => parts = own,
            None => return Some(First::Http1(raw)), // cannot differ; hyper decides
        }
    }
    Some(First::Upgrade {
        parts: Box::new(parts),
        raw,
        head_len,
    })
}

/// The request in `raw` and its head's length, if it is a complete HTTP/1.1 `GET`
/// asking for a WebSocket upgrade, with no body. `None` sends it to hyper, which
/// answers whatever it is (a malformed request gets hyper's 400).
fn upgrade_request(raw: &Bytes) -> Option<(http::request::Parts, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(head_len) = req.parse(raw).ok()? else {
        return None;
    };
    if req.method != Some("GET") || req.version != Some(1) {
        return None;
    }
    let uri = Uri::from_maybe_shared(raw.slice_ref(req.path?.as_bytes())).ok()?;
    let mut builder = http::Request::builder()
        .method(Method::GET)
        .version(Version::HTTP_11)
        .uri(uri);
    let map = builder.headers_mut()?;
    map.reserve(req.headers.len());
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        let value = HeaderValue::from_maybe_shared(raw.slice_ref(h.value)).ok()?;
        map.append(name, value);
    }
    let (parts, ()) = builder.body(()).ok()?.into_parts();
    let has_body = parts.headers.contains_key(http::header::TRANSFER_ENCODING)
        || parts
            .headers
            .get_all(http::header::CONTENT_LENGTH)
            .iter()
            .any(|v| v.as_bytes() != b"0");
    if has_body || !handshake::is_upgrade_request(&parts.method, &parts.headers, &parts.extensions)
    {
        return None;
    }
    Some((parts, head_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Option<(http::request::Parts, usize)> {
        upgrade_request(&Bytes::copy_from_slice(text.as_bytes()))
    }

    const UPGRADE: &str =
        "GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";

    #[test]
    fn a_plain_upgrade_is_parsed_with_its_head_length() {
        let framed = format!("{UPGRADE}\u{81}\u{0}");
        let (parts, len) = parse(&framed).expect("an upgrade");
        assert_eq!(len, UPGRADE.len());
        assert_eq!(parts.uri.path(), "/chat");
        assert_eq!(parts.uri.query(), Some("room=1"));
        assert_eq!(parts.version, Version::HTTP_11);
        assert_eq!(parts.headers["sec-websocket-version"], "13");
        assert_eq!(parts.headers.len(), 5);
    }

    #[test]
    fn anything_else_goes_to_hyper() {
        let cases = [
            // Not complete yet.
            UPGRADE.trim_end_matches("\r\n\r\n").to_string(),
            UPGRADE.replacen("GET", "POST", 1),
            UPGRADE.replacen("HTTP/1.1", "HTTP/1.0", 1),
            UPGRADE.replacen("websocket", "h2c", 1),
            UPGRADE.replacen("Host:", "Content-Length: 5\r\nHost:", 1),
            UPGRADE.replacen("Host:", "Transfer-Encoding: chunked\r\nHost:", 1),
            UPGRADE.replacen("Host: example.com", "Bad Header: x", 1),
            "GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
            "\u{0}\u{1}garbage\r\n\r\n".to_string(),
        ];
        for case in cases {
            assert!(parse(&case).is_none(), "{case:?}");
        }
        let zero = UPGRADE.replacen("Host:", "Content-Length: 0\r\nHost:", 1);
        assert!(parse(&zero).is_some());
    }

    /// Every prefix of a request head is incomplete; no single-byte change anywhere
    /// panics; and one in the method, the version, the `websocket` token or the head's
    /// last byte never passes for an upgrade (hyper gets those).
    #[test]
    fn cut_and_mangled_heads_never_pass_for_what_they_are_not() {
        for end in 0..UPGRADE.len() {
            assert!(parse(&UPGRADE[..end]).is_none(), "a head cut at {end}");
        }
        let span = |needle: &str| {
            let at = UPGRADE.find(needle).expect("in the head");
            at..at + needle.len()
        };
        let version = span("HTTP/1.1");
        let token = span("websocket");
        let must_refuse = |at: usize| {
            at < 3 || version.contains(&at) || token.contains(&at) || at == UPGRADE.len() - 1
        };
        let mut refused = 0;
        for at in 0..UPGRADE.len() {
            for byte in [0u8, b'\r', b'\n', b':', b' ', b'\t', 0x7f, 0xff, b'A'] {
                let mut bytes = UPGRADE.as_bytes().to_vec();
                if bytes[at] == byte || (byte == b'A' && token.contains(&at)) {
                    continue; // no change, or a case change (tokens are case-blind)
                }
                bytes[at] = byte;
                let got = upgrade_request(&Bytes::from(bytes.clone()));
                if must_refuse(at) {
                    assert!(got.is_none(), "{:?}", String::from_utf8_lossy(&bytes));
                    refused += 1;
                }
            }
        }
        assert!(refused > 100, "{refused}");
    }

    #[test]
    fn the_http2_preface_is_waited_for_then_recognised() {
        let mut acc = Vec::new();
        assert!(classify(&PREFACE[..5], &mut acc).is_none());
        assert!(classify(&PREFACE[5..20], &mut acc).is_none());
        let mut rest = PREFACE[20..].to_vec();
        rest.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        match classify(&rest, &mut acc) {
            Some(First::Http2(raw)) => assert_eq!(raw.len(), 24 + 9),
            other => panic!("{other:?}"),
        }
        let mut acc = Vec::new();
        assert!(classify(b"PRI", &mut acc).is_none());
        match classify(b"X / HTTP/1.1\r\n", &mut acc) {
            Some(First::Http1(raw)) => assert_eq!(&raw[..], b"PRIX / HTTP/1.1\r\n"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify(b"", &mut Vec::new()),
            Some(First::Nothing)
        ));
    }

    #[test]
    fn too_many_headers_go_to_hyper() {
        let many: String = (0..MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        let text = UPGRADE.replacen("Host:", &format!("{many}Host:"), 1);
        assert!(parse(&text).is_none());
    }
}
