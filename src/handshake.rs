//! The RFC 6455 opening handshake, as pure functions: no I/O.
//!
//! [`WebSocketMiddleware`](crate::WebSocketMiddleware) validates every
//! request whose `Upgrade` header names `websocket`; a failure becomes a 400 (or a 426
//! for an unsupported `Sec-WebSocket-Version`, a 403 for a refused origin) whose body is
//! the rejection's message and which carries the [`HandshakeRejection`] as an
//! extension. Nothing a client sends can make these functions panic.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use http::header::{self, HeaderMap, HeaderName};
use http::{Method, StatusCode, Version};
use sha1::{Digest, Sha1};

/// The GUID RFC 6455 §1.3 appends to the client's key.
const WS_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Why [`WebSocketMiddleware`](crate::WebSocketMiddleware) refused an upgrade request.
/// The refusal response carries it, for middleware that log or count refusals:
///
/// ```
/// use wsview::{BoxFuture, HandshakeRejection, Middleware, Next, Request, Response};
///
/// struct LogRefusals;
///
/// impl Middleware for LogRefusals {
///     fn call(&self, req: Request, next: Next) -> BoxFuture<'static, Response> {
///         Box::pin(async move {
///             let resp = next.run(req).await;
///             if let Some(why) = resp.extensions().get::<HandshakeRejection>() {
///                 eprintln!("refused a websocket ({}): {why}", why.status());
///             }
///             resp
///         })
///     }
/// }
/// # let _ = wsview::App::new().middleware(LogRefusals).middleware(wsview::WebSocketMiddleware);
/// ```
///
/// (The middleware that sees it runs before [`WebSocketMiddleware`](crate::WebSocketMiddleware),
/// so add both, in that order.)
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeRejection {
    /// The method was not `GET`.
    MethodNotGet,
    /// The request came over HTTP/1.0 or older.
    HttpVersionTooOld,
    /// `Connection` does not carry the `upgrade` token.
    ConnectionNotUpgrade,
    /// No `Host` header.
    MissingHost,
    /// No `Sec-WebSocket-Key` header.
    MissingKey,
    /// `Sec-WebSocket-Key` is repeated, not base64, or does not decode to 16 bytes.
    InvalidKey,
    /// `Sec-WebSocket-Version` is missing or not 13.
    UnsupportedVersion,
    /// A header that must be text holds bytes that are not.
    InvalidHeader(&'static str),
    /// A browser's `Origin` is neither the request's own host nor in
    /// [`Settings::allowed_origins`](crate::Settings::allowed_origins).
    OriginNotAllowed,
    /// The request is valid but its HTTP connection cannot be upgraded (it did not come
    /// from a hyper connection served with upgrades).
    NotUpgradable,
}

impl HandshakeRejection {
    /// The status the handshake is refused with: 426 for a version mismatch, 403 for a
    /// refused origin, 400 for everything else.
    pub fn status(&self) -> StatusCode {
        match self {
            HandshakeRejection::UnsupportedVersion => StatusCode::UPGRADE_REQUIRED,
            HandshakeRejection::OriginNotAllowed => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl std::fmt::Display for HandshakeRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            HandshakeRejection::MethodNotGet => "WebSocket upgrade requires the GET method",
            HandshakeRejection::HttpVersionTooOld => "WebSocket upgrade requires HTTP/1.1",
            HandshakeRejection::ConnectionNotUpgrade => {
                "WebSocket upgrade requires `Connection: upgrade`"
            }
            HandshakeRejection::MissingHost => "WebSocket upgrade requires a Host header",
            HandshakeRejection::MissingKey => "missing Sec-WebSocket-Key header",
            HandshakeRejection::InvalidKey => {
                "Sec-WebSocket-Key must be the base64 encoding of 16 bytes"
            }
            HandshakeRejection::UnsupportedVersion => "unsupported Sec-WebSocket-Version; use 13",
            HandshakeRejection::InvalidHeader(name) => {
                return write!(f, "the {name} header is not valid text")
            }
            HandshakeRejection::OriginNotAllowed => "origin not allowed",
            HandshakeRejection::NotUpgradable => {
                "This connection cannot be upgraded to a WebSocket."
            }
        };
        f.write_str(text)
    }
}

impl std::error::Error for HandshakeRejection {}

/// A validated upgrade request: what the 101 reply needs.
#[derive(Debug, Clone)]
pub(crate) struct Handshake {
    /// The `Sec-WebSocket-Accept` value.
    pub accept: String,
    /// The subprotocols the client offered, in its order of preference.
    pub offered_protocols: Vec<String>,
    /// The client's `Sec-WebSocket-Extensions` values, in order (its permessage-deflate
    /// offers are among them).
    pub offered_extensions: Vec<String>,
}

/// Whether the request asks for a WebSocket: its `Upgrade` header carries the token
/// `websocket`, in any case.
pub(crate) fn is_upgrade_request(headers: &HeaderMap) -> bool {
    has_token(headers, &header::UPGRADE, "websocket")
}

/// Which browser origins may open a WebSocket (see
/// [`Settings::allowed_origins`](crate::Settings::allowed_origins)).
#[derive(Debug, Clone, Copy)]
pub(crate) struct OriginPolicy<'a> {
    /// Origins allowed besides the request's own host.
    pub(crate) listed: &'a [String],
    /// Every origin passes (the explicit opt-out).
    pub(crate) any: bool,
}

impl OriginPolicy<'_> {
    /// Whether a request with this `Origin` passes: any origin when opted out, a listed
    /// one, or the origin of the request's own `Host`.
    pub(crate) fn allows(&self, origin: &str, headers: &HeaderMap) -> bool {
        if self.any || self.listed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
            return true;
        }
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        host.is_some_and(|host| same_host(origin, host))
    }
}

/// Whether `origin` (`scheme://host[:port]`) names the same host and port as a `Host`
/// header. A `Host` without a port matches the origin scheme's default port; `null` and
/// anything that is not `http`, `https`, `ws` or `wss` match nothing.
pub(crate) fn same_host(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => "80",
        "https" | "wss" => "443",
        _ => return false,
    };
    if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
        return false;
    }
    let split = |a: &'_ str| -> (String, String) {
        // `[::1]:8000`, `host:8000`, `host`.
        let (name, port) = match a.rfind(':') {
            Some(i) if !a[i..].contains(']') => (&a[..i], &a[i + 1..]),
            _ => (a, ""),
        };
        let port = if port.is_empty() { default_port } else { port };
        (name.to_ascii_lowercase(), port.to_owned())
    };
    split(authority) == split(host.trim())
}

/// Checks an upgrade request against RFC 6455 §4.2.1.
pub(crate) fn validate(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
    origins: &OriginPolicy<'_>,
) -> Result<Handshake, HandshakeRejection> {
    if method != Method::GET {
        return Err(HandshakeRejection::MethodNotGet);
    }
    if version < Version::HTTP_11 {
        return Err(HandshakeRejection::HttpVersionTooOld);
    }
    if !has_token(headers, &header::CONNECTION, "upgrade") {
        return Err(HandshakeRejection::ConnectionNotUpgrade);
    }
    if !headers.contains_key(header::HOST) {
        return Err(HandshakeRejection::MissingHost);
    }
    let mut keys = headers.get_all(header::SEC_WEBSOCKET_KEY).iter();
    let key = keys.next().ok_or(HandshakeRejection::MissingKey)?;
    if keys.next().is_some() {
        return Err(HandshakeRejection::InvalidKey);
    }
    let key = key.as_bytes().trim_ascii();
    match BASE64.decode(key) {
        Ok(raw) if raw.len() == 16 => {}
        _ => return Err(HandshakeRejection::InvalidKey),
    }
    let mut versions = headers.get_all(header::SEC_WEBSOCKET_VERSION).iter();
    match (versions.next(), versions.next()) {
        (Some(v), None) if v.as_bytes().trim_ascii() == b"13" => {}
        _ => return Err(HandshakeRejection::UnsupportedVersion),
    }
    let origin = headers
        .get(header::ORIGIN)
        .map(|o| o.to_str())
        .transpose()
        .map_err(|_| HandshakeRejection::InvalidHeader("Origin"))?;
    // Non-browser clients send no Origin; only a browser's claim can be refused.
    if let Some(origin) = origin {
        if !origins.allows(origin, headers) {
            return Err(HandshakeRejection::OriginNotAllowed);
        }
    }
    let mut offered_protocols = Vec::new();
    for value in headers.get_all(header::SEC_WEBSOCKET_PROTOCOL) {
        let value = value
            .to_str()
            .map_err(|_| HandshakeRejection::InvalidHeader("Sec-WebSocket-Protocol"))?;
        offered_protocols.extend(
            value
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
        );
    }
    // Values that are not text cannot hold an offer we accept: skipped, not refused.
    let offered_extensions = headers
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect();
    Ok(Handshake {
        accept: accept_key(key),
        offered_protocols,
        offered_extensions,
    })
}

/// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`:
/// base64(sha1(key + GUID)), RFC 6455 §4.2.2.
pub(crate) fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(WS_GUID);
    BASE64.encode(sha1.finalize())
}

/// Picks the first subprotocol the client offered that the view supports.
pub(crate) fn select_protocol(offered: &[String], supported: &[String]) -> Option<String> {
    offered
        .iter()
        .find(|o| supported.iter().any(|s| s == *o))
        .cloned()
}

/// Whether any of the header's values holds `token` in its comma-separated list.
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|b| *b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn good() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("x"));
        h.insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        h.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        h.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        h
    }

    const DEFAULT: OriginPolicy<'static> = OriginPolicy {
        listed: &[],
        any: false,
    };

    fn check(h: &HeaderMap) -> Result<Handshake, HandshakeRejection> {
        validate(&Method::GET, Version::HTTP_11, h, &DEFAULT)
    }

    #[test]
    fn rfc_example_accept() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let hs = check(&good()).expect("valid");
        assert_eq!(hs.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn rejects_each_rule() {
        assert_eq!(
            validate(&Method::POST, Version::HTTP_11, &good(), &DEFAULT).unwrap_err(),
            HandshakeRejection::MethodNotGet
        );
        assert_eq!(
            validate(&Method::GET, Version::HTTP_10, &good(), &DEFAULT).unwrap_err(),
            HandshakeRejection::HttpVersionTooOld
        );
        let mut h = good();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        assert_eq!(
            check(&h).unwrap_err(),
            HandshakeRejection::ConnectionNotUpgrade
        );
        let mut h = good();
        h.remove(header::HOST);
        assert_eq!(check(&h).unwrap_err(), HandshakeRejection::MissingHost);
        let mut h = good();
        h.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("c2hvcnQ="),
        );
        assert_eq!(check(&h).unwrap_err(), HandshakeRejection::InvalidKey);
        let mut h = good();
        h.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
        assert_eq!(
            check(&h).unwrap_err(),
            HandshakeRejection::UnsupportedVersion
        );
        assert_eq!(HandshakeRejection::UnsupportedVersion.status(), 426);
    }

    #[test]
    fn binary_garbage_never_panics() {
        let mut h = good();
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_bytes(b"\xff\xfe").expect("opaque bytes are a valid value"),
        );
        assert!(matches!(
            check(&h),
            Err(HandshakeRejection::InvalidHeader(_))
        ));
    }

    #[test]
    fn origin_must_match_host_by_default() {
        for (origin, host) in [
            ("http://x", "x"),
            ("https://X", "x"),
            ("http://127.0.0.1:8000", "127.0.0.1:8000"),
            ("https://a.example", "a.example:443"),
            ("http://a.example:80", "a.example"),
            ("http://[::1]:9", "[::1]:9"),
            ("ws://h:1", "H:1"),
        ] {
            assert!(same_host(origin, host), "{origin} {host}");
        }
        for (origin, host) in [
            ("http://evil.example", "a.example"),
            ("http://a.example:81", "a.example"),
            ("https://a.example", "a.example:80"),
            ("null", "a.example"),
            ("file://a.example", "a.example"),
            ("http://a.example@evil", "a.example"),
            ("http://", ""),
            ("http://[::1]", "[::1]:9"),
        ] {
            assert!(!same_host(origin, host), "{origin} {host}");
        }
        let mut h = good();
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert_eq!(check(&h).unwrap_err(), HandshakeRejection::OriginNotAllowed);
        let listed = ["https://EVIL.example".to_owned()];
        let list = OriginPolicy {
            listed: &listed,
            any: false,
        };
        assert!(validate(&Method::GET, Version::HTTP_11, &h, &list).is_ok());
        let any = OriginPolicy {
            listed: &[],
            any: true,
        };
        assert!(validate(&Method::GET, Version::HTTP_11, &h, &any).is_ok());
        h.insert(header::ORIGIN, HeaderValue::from_static("http://x"));
        assert!(check(&h).is_ok());
        h.remove(header::ORIGIN);
        assert!(check(&h).is_ok());
    }

    #[test]
    fn protocol_choice_follows_client_order() {
        let offered = vec!["b".to_owned(), "a".to_owned()];
        let supported = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(select_protocol(&offered, &supported).as_deref(), Some("b"));
        assert_eq!(select_protocol(&offered, &[]), None);
    }
}
