//! The REST-over-WebSocket message parser (`api_socket`), fuzzed: any text is parsed,
//! turned into a request, and run through an app with `handle_message`; every input gets
//! a JSON reply with a status, and nothing panics. Shared by the libFuzzer target and the
//! stable replay in `tests/fuzz_replay.rs`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::value::RawValue;
use wsview::api_socket::handle_message;
use wsview::http::{header, HeaderValue};
use wsview::{ApiContext, ApiMessage, App, AppService, Request};

fn runtime_and_app() -> &'static (tokio::runtime::Runtime, AppService, ApiContext) {
    static ONCE: OnceLock<(tokio::runtime::Runtime, AppService, ApiContext)> = OnceLock::new();
    ONCE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let app = App::new()
            .route("/", |req: Request| async move {
                format!("{} {}", req.method(), req.headers().len())
            })
            .route("/a/{id}", |mut req: Request| async move {
                // A message's body is there already: this never waits.
                let len = req.body().await.map_or(0, |b| b.len());
                format!("{:?} {len}", req.param("id"))
            })
            .build()
            .expect("app");
        let ctx = ApiContext::new()
            .with_header(header::COOKIE, HeaderValue::from_static("s=1"))
            .with_header(header::HOST, HeaderValue::from_static("h"));
        (rt, app, ctx)
    })
}

/// Runs one input; panics only if the parser or the app misbehaves.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (rt, app, ctx) = runtime_and_app();
    match ApiMessage::parse(&text) {
        Ok(msg) => drop(msg.clone().into_request(ctx)),
        Err(e) => assert!((400..500).contains(&e.status().as_u16())),
    }
    let reply = rt.block_on(handle_message(app, &text, ctx));
    // Raw members: an echoed id such as `1e400` is valid JSON no number type holds.
    let fields: BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(&reply).expect("the reply is a JSON object");
    let status: u16 = fields
        .get("status")
        .and_then(|s| s.get().parse().ok())
        .expect("the reply has a status");
    assert!((200..600).contains(&status));
}

/// Messages to start mutating from (the stable replay uses them; the fuzzer has its corpus).
#[allow(dead_code)]
pub const SEEDS: &[&str] = &[
    r#"{"id": 1, "method": "post", "url": "/a/7?x=1", "data": {"k": [1, "two", null]}, "token": "t", "headers": {"X-A": ["1", 2, true], "Connection": "x"}}"#,
    r#"{"id": {"n": 1}, "url": "/", "method": "GET", "data": {"q": "a b", "n": 1e3}}"#,
    r#"{"url": "/", "headers": {"x-1": "a", "x-2": "b", "x-3": "c"}}"#,
];
