//! Unit tests of message parsing, contexts and replies.

use std::net::SocketAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::Method;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::api_socket::context::ApiContext;
use crate::api_socket::error::{MessageError, MessageErrorKind, ALLOWED_METHODS};
use crate::api_socket::message::ApiMessage;
use crate::api_socket::reply::{encode_reply, is_json};
use crate::api_socket::run::{handle_message, NOT_FOUND_BODY};
use crate::api_socket::socket::api_socket;
use crate::request::Request;
use crate::response::Response;

/// A message's request carries its body: reading it never waits.
fn body_of(req: &mut Request) -> bytes::Bytes {
    use futures_util::FutureExt;
    let read = req
        .body()
        .now_or_never()
        .expect("a virtual request's body is there");
    read.expect("and readable").clone()
}

fn parse(text: &str) -> Result<ApiMessage, MessageError> {
    ApiMessage::parse(text)
}

fn kind(text: &str) -> MessageErrorKind {
    parse(text).expect_err(text).kind()
}

fn reply_of(err: &MessageError) -> Value {
    serde_json::from_str(&err.reply()).expect("reply is JSON")
}

#[test]
fn not_json_or_not_an_object() {
    for text in [
        "",
        " ",
        "nope",
        "{",
        "{\"url\": \"/a\"",
        "[]",
        "[{\"url\": \"/a\"}]",
        "null",
        "true",
        "42",
        "\"/a\"",
        "{\"url\": \"/a\"} trailing",
    ] {
        assert_eq!(kind(text), MessageErrorKind::Malformed, "{text:?}");
    }
    let err = parse("[1, 2]").unwrap_err();
    let reply = reply_of(&err);
    assert_eq!(reply["status"], 400);
    assert_eq!(reply["body"], "Invalid formatted message.");
    assert_eq!(reply["id"], Value::Null);
}

#[test]
fn missing_url() {
    for text in [
        r#"{}"#,
        r#"{"url": null}"#,
        r#"{"url": ""}"#,
        r#"{"method": "POST", "data": {}}"#,
    ] {
        assert_eq!(kind(text), MessageErrorKind::MissingUrl, "{text}");
    }
    let err = parse(r#"{"id": "x1", "url": null}"#).unwrap_err();
    assert_eq!(err.to_string(), "Missing URL");
    assert_eq!(reply_of(&err)["id"], "x1");
}

#[test]
fn bad_urls() {
    for url in [
        "api/items/",
        "http://example.com/api/",
        "//example.com/api/",
        "/a b",
        "/a#frag",
        "*",
    ] {
        let text = json!({ "url": url }).to_string();
        assert_eq!(kind(&text), MessageErrorKind::InvalidUrl, "{url}");
    }
    assert!(matches!(
        kind(r#"{"url": 5}"#),
        MessageErrorKind::InvalidField { field: "url", .. }
    ));
    assert!(matches!(
        kind(r#"{"url": ["/a"]}"#),
        MessageErrorKind::InvalidField { field: "url", .. }
    ));
    let ok = parse(r#"{"url": "/caf%C3%A9/?q=1&r=%20"}"#).unwrap();
    assert_eq!(ok.uri().path(), "/caf%C3%A9/");
    assert_eq!(ok.uri().query(), Some("q=1&r=%20"));
}

#[test]
fn methods() {
    for (given, want) in [
        ("get", Method::GET),
        ("Post", Method::POST),
        ("PUT", Method::PUT),
        ("patch", Method::PATCH),
        ("delete", Method::DELETE),
        ("head", Method::HEAD),
        ("oPtIoNs", Method::OPTIONS),
    ] {
        let msg = parse(&json!({ "url": "/", "method": given }).to_string()).unwrap();
        assert_eq!(msg.method(), want);
    }
    assert_eq!(parse(r#"{"url": "/"}"#).unwrap().method(), Method::GET);
    assert_eq!(
        parse(r#"{"url": "/", "method": null}"#).unwrap().method(),
        Method::GET
    );
    for bad in [
        "FETCH", "", "get ", "CONNECT", "TRACE", "G\u{e9}T", "POST\n",
    ] {
        let text = json!({ "url": "/", "method": bad, "id": 3 }).to_string();
        let err = parse(&text).unwrap_err();
        assert_eq!(err.kind(), MessageErrorKind::UnknownMethod, "{bad:?}");
        assert_eq!(err.status(), 405);
        let reply = reply_of(&err);
        assert_eq!(reply["status"], 405);
        assert_eq!(reply["id"], 3);
        assert_eq!(reply["headers"]["allow"], ALLOWED_METHODS);
    }
    assert!(matches!(
        kind(r#"{"url": "/", "method": 1}"#),
        MessageErrorKind::InvalidField {
            field: "method",
            ..
        }
    ));
}

#[test]
fn ids_are_echoed_byte_for_byte() {
    for id in [
        "1",
        "123456789012345678901234567890123456789012345678901234567890",
        "-0.000000000000000000000000000000000001e-400",
        "1e400",
        "\"a\\u00e9\\\"b\"",
        "{\"n\": [1, 2, {\"deep\": null}]}",
        "true",
        "[]",
    ] {
        let err = parse(&format!(r#"{{"id": {id}, "url": 7}}"#)).unwrap_err();
        assert_eq!(err.id(), Some(id));
        assert!(err.reply().starts_with(&format!("{{\"id\":{id},")), "{id}");
        let msg = parse(&format!(r#"{{"id": {id}, "url": "/"}}"#)).unwrap();
        assert_eq!(msg.id(), Some(id));
    }
    assert_eq!(parse(r#"{"id": null, "url": "/"}"#).unwrap().id(), None);
    // An id the size of a message still round-trips.
    let big = format!("\"{}\"", "x".repeat(100_000));
    let msg = parse(&format!(r#"{{"id": {big}, "url": "/"}}"#)).unwrap();
    assert_eq!(msg.id().map(str::len), Some(100_002));
}

#[test]
fn deep_nesting_does_not_overflow() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let text = format!(r#"{{"id": {deep}, "url": "/", "data": {{"a": {deep}}}}}"#);
    // Either accepted or refused, never a stack overflow.
    let _ = ApiMessage::parse(&text);
    assert_eq!(kind(&"[".repeat(100_000)), MessageErrorKind::Malformed);
}

#[test]
fn data_becomes_query_for_get_head_delete() {
    let msg = parse(
        r#"{"url": "/s/?page=1", "data": {"q": "a b&c", "n": 12345678901234567890123, "ok": true,
            "none": null, "tags": ["x", 2], "obj": {"k": 1}}}"#,
    )
    .unwrap();
    let mut req = msg.into_request(&ApiContext::new());
    assert_eq!(req.path(), "/s/");
    assert_eq!(
        req.query_pairs(),
        vec![
            ("page".into(), "1".into()),
            ("q".into(), "a b&c".into()),
            ("n".into(), "12345678901234567890123".into()),
            ("ok".into(), "true".into()),
            ("none".into(), "".into()),
            ("tags".into(), "x".into()),
            ("tags".into(), "2".into()),
            ("obj".into(), r#"{"k": 1}"#.into()),
        ]
    );
    assert!(body_of(&mut req).is_empty());
    assert!(req.headers().get("content-type").is_none());
    for method in ["HEAD", "DELETE"] {
        let text = json!({"url": "/x", "method": method, "data": {"a": 1}}).to_string();
        let req = parse(&text).unwrap().into_request(&ApiContext::new());
        assert_eq!(req.query("a").as_deref(), Some("1"), "{method}");
    }
    let empty = parse(r#"{"url": "/x", "data": {}}"#).unwrap();
    assert_eq!(empty.uri(), "/x");
}

#[test]
fn data_becomes_json_body_otherwise() {
    for method in ["POST", "PUT", "PATCH", "OPTIONS"] {
        let text = format!(
            r#"{{"url": "/x", "method": "{method}", "data": {{"big": 1e400, "name": "Acme Inc."}}}}"#
        );
        let mut req = parse(&text).unwrap().into_request(&ApiContext::new());
        assert_eq!(req.method(), method);
        let body = body_of(&mut req);
        assert_eq!(body.as_ref(), br#"{"big": 1e400, "name": "Acme Inc."}"#);
        assert_eq!(req.headers()["content-type"], "application/json");
        assert_eq!(req.headers()["content-length"], body.len().to_string());
        assert_eq!(req.query_string(), None);
    }
    let none = parse(r#"{"url": "/x", "method": "POST"}"#).unwrap();
    let mut req = none.into_request(&ApiContext::new());
    assert!(body_of(&mut req).is_empty());
    assert!(req.headers().get("content-type").is_none());
    let typed = parse(
        r#"{"url": "/x", "method": "PATCH", "data": {}, "headers": {"Content-Type": "application/merge-patch+json"}}"#,
    )
    .unwrap()
    .into_request(&ApiContext::new());
    assert_eq!(
        typed.headers()["content-type"],
        "application/merge-patch+json"
    );
    for bad in ["[]", "\"s\"", "1", "true"] {
        let text = format!(r#"{{"url": "/x", "data": {bad}}}"#);
        assert!(
            matches!(
                kind(&text),
                MessageErrorKind::InvalidField { field: "data", .. }
            ),
            "{bad}"
        );
    }
    assert!(parse(r#"{"url": "/x", "data": null}"#).is_ok());
}

#[test]
fn tokens_and_headers() {
    let ctx = ApiContext::new()
        .with_header(header::AUTHORIZATION, HeaderValue::from_static("Basic old"))
        .with_header(header::COOKIE, HeaderValue::from_static("s=1"))
        .with_header(
            header::ORIGIN,
            HeaderValue::from_static("https://good.example"),
        )
        .with_header(header::USER_AGENT, HeaderValue::from_static("ua/1"));
    let msg = parse(
        r#"{"url": "/", "token": "MY_JSON_WEB_TOKEN", "headers": {"User-Agent": "ua/2", "X-Many": ["a", "b"],
           "X-Num": 5, "Origin": "https://evil.example", "Upgrade": "websocket",
           "Connection": "upgrade", "Sec-WebSocket-Key": "k", "Content-Length": "9",
           "Authorization": "Basic new"}}"#,
    )
    .unwrap();
    let req = msg.into_request(&ctx);
    let h = req.headers();
    assert_eq!(h["authorization"], "JWT MY_JSON_WEB_TOKEN");
    assert_eq!(h["cookie"], "s=1");
    assert_eq!(h["user-agent"], "ua/2");
    assert_eq!(h["origin"], "https://good.example");
    assert_eq!(h["x-num"], "5");
    let many: Vec<_> = h.get_all("x-many").iter().collect();
    assert_eq!(many, ["a", "b"]);
    for gone in [
        "upgrade",
        "connection",
        "sec-websocket-key",
        "content-length",
    ] {
        assert!(h.get(gone).is_none(), "{gone}");
    }
    assert!(!req.is_websocket());
    assert!(req.is_virtual());

    let bearer = ApiContext::new().with_token_scheme("Bearer");
    let req = parse(r#"{"url": "/", "token": "t"}"#)
        .unwrap()
        .into_request(&bearer);
    assert_eq!(req.headers()["authorization"], "Bearer t");
    let bare = ApiContext::new().with_token_scheme("");
    let req = parse(r#"{"url": "/", "token": "t"}"#)
        .unwrap()
        .into_request(&bare);
    assert_eq!(req.headers()["authorization"], "t");
    assert_eq!(
        ApiContext::new().with_token_scheme("a b").token_scheme(),
        "JWT"
    );
    let req = parse(r#"{"url": "/", "token": ""}"#)
        .unwrap()
        .into_request(&ctx);
    assert_eq!(req.headers()["authorization"], "Basic old");

    for bad in [
        r#"{"url": "/", "token": 5}"#,
        r#"{"url": "/", "token": "a\nb"}"#,
        r#"{"url": "/", "headers": []}"#,
        r#"{"url": "/", "headers": "x"}"#,
        r#"{"url": "/", "headers": {"bad name": "v"}}"#,
        r#"{"url": "/", "headers": {"x": "line\nbreak"}}"#,
        r#"{"url": "/", "headers": {"x": null}}"#,
        r#"{"url": "/", "headers": {"x": {"y": 1}}}"#,
        r#"{"url": "/", "headers": {"x": [["y"]]}}"#,
    ] {
        let e = kind(bad);
        assert!(
            matches!(e, MessageErrorKind::InvalidField { .. }),
            "{bad}: {e:?}"
        );
    }
}

#[test]
fn handshake_headers_are_filtered() {
    let mut hs = HeaderMap::new();
    for (k, v) in [
        ("host", "h"),
        ("cookie", "s=1"),
        ("origin", "https://o"),
        ("user-agent", "ua"),
        ("upgrade", "websocket"),
        ("connection", "Upgrade, X-Hop"),
        ("x-hop", "1"),
        ("keep-alive", "timeout=5"),
        ("sec-websocket-key", "k"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-extensions", "permessage-deflate"),
        ("sec-websocket-protocol", "p"),
        ("content-length", "0"),
        ("x-forwarded-for", "1.2.3.4"),
    ] {
        hs.append(HeaderName::from_static(k), HeaderValue::from_static(v));
    }
    let addr: SocketAddr = "10.1.2.3:4567".parse().unwrap();
    let req = Request::builder().headers(hs).remote_addr(addr).build();
    let ctx = ApiContext::from_request(&req);
    let mut kept: Vec<_> = ctx
        .headers()
        .keys()
        .map(|k| k.as_str().to_owned())
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        ["cookie", "host", "origin", "user-agent", "x-forwarded-for"]
    );
    assert_eq!(ctx.remote_addr(), Some(addr));
    let req = parse(r#"{"url": "/"}"#).unwrap().into_request(&ctx);
    assert_eq!(req.remote_addr(), Some(addr));
    assert!(!req.is_secure());
    // A socket that came over TLS gives its requests the same scheme.
    let tls = Request::builder().secure(true).build();
    let ctx = ApiContext::from_request(&tls);
    assert!(ctx.is_secure());
    let req = parse(r#"{"url": "/"}"#).unwrap().into_request(&ctx);
    assert!(req.is_secure());
    assert_eq!(req.scheme(), http::uri::Scheme::HTTPS);
}

#[test]
fn reply_encoding() {
    let id = RawValue::from_string("9".into()).unwrap();
    let json_resp = Response::json(&json!({"a": [1, 2]}))
        .with_status(201)
        .with_header("set-cookie", "a=1")
        .with_header("set-cookie", "b=2");
    let reply: Value = serde_json::from_str(&encode_reply(Some(&id), &json_resp, false)).unwrap();
    assert_eq!(
        reply,
        json!({"id": 9, "status": 201, "headers": {"content-type": "application/json",
               "set-cookie": ["a=1", "b=2"]}, "body": {"a": [1, 2]}})
    );
    let problem = Response::bytes("application/problem+json; charset=utf-8", r#"{"t": 1}"#);
    let reply: Value = serde_json::from_str(&encode_reply(None, &problem, false)).unwrap();
    assert_eq!(reply["body"], json!({"t": 1}));
    let lying = Response::bytes("application/json", "not json");
    let reply: Value = serde_json::from_str(&encode_reply(None, &lying, false)).unwrap();
    assert_eq!(reply["body"], "not json");
    let text = Response::text("héllo \"q\"\n");
    let reply: Value = serde_json::from_str(&encode_reply(None, &text, false)).unwrap();
    assert_eq!(reply["body"], "héllo \"q\"\n");
    assert!(reply.get("body_encoding").is_none());
    let binary = Response::bytes("application/octet-stream", vec![0xff, 0, 1]);
    let reply: Value = serde_json::from_str(&encode_reply(None, &binary, false)).unwrap();
    assert_eq!(reply["body"], "/wAB");
    assert_eq!(reply["body_encoding"], "base64");
    let reply: Value = serde_json::from_str(&encode_reply(None, &text, true)).unwrap();
    assert_eq!(reply["body"], "");
    let gone = Response::text("ignored").with_status(204);
    let reply: Value = serde_json::from_str(&encode_reply(None, &gone, false)).unwrap();
    assert_eq!(reply["body"], "");
    assert_eq!(reply["id"], Value::Null);
}

#[test]
fn json_content_types() {
    let ct = |v: &'static str| {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(v));
        is_json(&h)
    };
    assert!(ct("application/json"));
    assert!(ct("Application/JSON; charset=utf-8"));
    assert!(ct("application/vnd.api+json"));
    assert!(!ct("text/json+html"));
    assert!(!ct("text/plain"));
    assert!(!is_json(&HeaderMap::new()));
}

#[tokio::test]
async fn unknown_paths_get_the_original_404_text() {
    let app = crate::app::App::new()
        .route("/own404", |_r: Request| async {
            Response::text("Not Found").with_status(404)
        })
        .build()
        .unwrap();
    let ctx = ApiContext::new();
    let reply: Value =
        serde_json::from_str(&handle_message(&app, r#"{"url": "/nowhere"}"#, &ctx).await).unwrap();
    assert_eq!(reply["status"], 404);
    assert_eq!(reply["body"], NOT_FOUND_BODY);
    let reply: Value =
        serde_json::from_str(&handle_message(&app, r#"{"url": "/own404"}"#, &ctx).await).unwrap();
    assert_eq!(reply["body"], "Not Found");
}

#[test]
fn invalid_scheme_fails_the_build() {
    let err = crate::app::App::new()
        .route("/ws", api_socket().token_scheme("two words"))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("token scheme"), "{err}");
    assert!(crate::app::App::new()
        .route("/ws", api_socket().token_scheme("Bearer"))
        .build()
        .is_ok());
}

/// `n` distinct header names, as the `headers` object of a message.
fn many_headers(n: usize) -> String {
    let fields: Vec<String> = (0..n).map(|i| format!("\"x-h{i}\": \"v\"")).collect();
    format!(
        r#"{{"id": 1, "url": "/", "headers": {{{}}}}}"#,
        fields.join(",")
    )
}

#[test]
fn header_count_and_bytes_are_bounded() {
    use crate::api_socket::message::{MAX_HEADERS, MAX_HEADER_BYTES};
    assert!(parse(&many_headers(MAX_HEADERS)).is_ok());
    assert_eq!(
        kind(&many_headers(MAX_HEADERS + 1)),
        MessageErrorKind::TooManyHeaders
    );
    // The message of issue 10: about 24,600 names used to panic in `HeaderMap::append`.
    let err = parse(&many_headers(24_600)).expect_err("too many");
    assert_eq!(err.kind(), MessageErrorKind::TooManyHeaders);
    assert_eq!(err.status(), 400);
    assert_eq!(reply_of(&err)["body"], "Too many headers.");
    assert_eq!(reply_of(&err)["id"], 1);
    // Repeated values of one name count one each.
    let values: Vec<String> = (0..=MAX_HEADERS).map(|i| format!("\"{i}\"")).collect();
    let repeated = format!(
        r#"{{"url": "/", "headers": {{"x": [{}]}}}}"#,
        values.join(",")
    );
    assert_eq!(kind(&repeated), MessageErrorKind::TooManyHeaders);
    let big = "a".repeat(MAX_HEADER_BYTES);
    let large = format!(r#"{{"url": "/", "headers": {{"x": "{big}"}}}}"#);
    assert_eq!(kind(&large), MessageErrorKind::HeadersTooLarge);
}

#[test]
fn replaced_names_keep_every_value_of_the_message() {
    let ctx = ApiContext::new()
        .with_header(header::ACCEPT, HeaderValue::from_static("old/1"))
        .with_header(header::ACCEPT, HeaderValue::from_static("old/2"));
    let req = parse(
        r#"{"url": "/", "headers": {"Accept": ["a/1", "a/2"], "X-A": "1", "accept": "a/3"}}"#,
    )
    .unwrap()
    .into_request(&ctx);
    let accept: Vec<_> = req.headers().get_all("accept").iter().collect();
    assert_eq!(accept, ["a/1", "a/2", "a/3"]);
    assert_eq!(req.headers()["x-a"], "1");
}

/// A small deterministic generator (xorshift64*): the property test needs no crate, and a
/// failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// A random JSON-ish value: often well formed, sometimes not.
fn random_value(rng: &mut Rng, depth: usize) -> String {
    const ATOMS: &[&str] = &[
        "null",
        "true",
        "false",
        "0",
        "-1",
        "1e400",
        "12345678901234567890123",
        "\"\"",
        "\"x\"",
        "\"/\"",
        "\"/a?b=c\"",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "\"é\"",
        "\"GET\"",
        "\"post\"",
        "\"BREW\"",
        "\"a\\nb\"",
        "\"//h/x\"",
        "\"/x#f\"",
    ];
    match rng.below(if depth > 3 { 1 } else { 4 }) {
        0 => rng.pick(ATOMS).to_owned(),
        1 => {
            let n = rng.below(4);
            let items: Vec<String> = (0..n).map(|_| random_value(rng, depth + 1)).collect();
            format!("[{}]", items.join(","))
        }
        _ => random_object(rng, depth + 1),
    }
}

fn random_object(rng: &mut Rng, depth: usize) -> String {
    const KEYS: &[&str] = &[
        "id",
        "url",
        "method",
        "data",
        "token",
        "headers",
        "x",
        "Connection",
        "Origin",
        "content-length",
        "bad name",
        "",
    ];
    let n = rng.below(6);
    let fields: Vec<String> = (0..n)
        .map(|_| format!("\"{}\": {}", rng.pick(KEYS), random_value(rng, depth)))
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// Property: whatever a client sends, `handle_message` answers with a JSON reply that has
/// a status, and never panics. Messages are random objects, random fields of every kind,
/// truncations and byte flips of them, and huge `headers`.
#[tokio::test]
async fn every_random_message_gets_a_reply() {
    let app = crate::app::App::new()
        .route("/", |_r: Request| async { "root" })
        .route("/a", |r: Request| async move {
            Response::text(format!("{} {}", r.method(), r.headers().len()))
        })
        .build()
        .unwrap();
    let ctx = ApiContext::new().with_header(header::COOKIE, HeaderValue::from_static("s=1"));
    let seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut rng = Rng(seed);
    for case in 0..3000 {
        let mut text = match case % 5 {
            0 => many_headers(rng.below(300)),
            1 => format!(
                r#"{{"id": {}, "url": "/a", "method": "{}", "headers": {}, "data": {}}}"#,
                rng.below(100),
                rng.pick(&["get", "POST", "put", "delete", "head", "options", "x"]),
                random_object(&mut rng, 1),
                random_object(&mut rng, 1)
            ),
            _ => random_object(&mut rng, 0),
        };
        match rng.below(4) {
            0 if !text.is_empty() => {
                let at = rng.below(text.len());
                let cut = (0..=at)
                    .rev()
                    .find(|i| text.is_char_boundary(*i))
                    .unwrap_or(0);
                text.truncate(cut);
            }
            1 if !text.is_empty() => {
                // Flip one ASCII byte to another ASCII byte.
                let mut bytes = text.into_bytes();
                let at = rng.below(bytes.len());
                if bytes[at].is_ascii() {
                    bytes[at] = b"{}[]\",:\\ a0"[rng.below(11)];
                }
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            _ => {}
        }
        let reply = handle_message(&app, &text, &ctx).await;
        // Raw members: an echoed id such as `1e400` is valid JSON no `Value` can hold.
        let fields: std::collections::BTreeMap<String, Box<RawValue>> =
            serde_json::from_str(&reply)
                .unwrap_or_else(|e| panic!("seed {seed:#x}, case {case}: {e}: {text}"));
        let status: u64 = fields
            .get("status")
            .and_then(|s| s.get().parse().ok())
            .unwrap_or(0);
        assert!(
            (200..600).contains(&status),
            "seed {seed:#x}, case {case}: {reply} for {text}"
        );
    }
}
