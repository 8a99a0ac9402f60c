//! HTTP requests carried over a WebSocket (`api_socket`): the same views, middleware
//! and metadata as HTTP, id-matched concurrent replies, and error replies instead of
//! crashes. Real server, real sockets; nothing here sleeps to wait for a condition.

mod support;

#[path = "../examples/rest_over_ws.rs"]
#[allow(dead_code)]
mod example;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use support::{next_data, send_text, within, Client, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsview::http::StatusCode;
use wsview::{
    api_socket, App, IntoResponse, Next, Request, Response, VirtualRequest, WebSocketSender,
};

// ---------------------------------------------------------------------------------------
// The app under test
// ---------------------------------------------------------------------------------------

/// What the test shares with the app: a log of the requests middleware saw, gates that
/// hold a view until the test opens them, and a count of views still running.
#[derive(Default)]
struct State {
    /// (path, is_virtual, is_websocket) for every request the middleware saw.
    seen: Mutex<Vec<(String, bool, bool)>>,
    /// Events in the order they happened: "enter g1", "release g1", …
    events: Mutex<Vec<String>>,
    gates: Mutex<HashMap<String, Arc<Notify>>>,
    entered: Mutex<Option<mpsc::UnboundedSender<String>>>,
    live: AtomicUsize,
    /// Connections that asked for pushes.
    subscribers: Mutex<Vec<WebSocketSender>>,
}

impl State {
    fn gate(&self, name: &str) -> Arc<Notify> {
        lock(&self.gates)
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    fn event(&self, e: String) {
        lock(&self.events).push(e);
    }

    /// Lets the view waiting on gate `name` return.
    fn open(&self, name: &str) {
        self.event(format!("release {name}"));
        self.gate(name).notify_one(); // stores a permit if the view is not waiting yet
    }

    fn position(&self, e: &str) -> usize {
        lock(&self.events)
            .iter()
            .position(|x| x == e)
            .unwrap_or_else(|| panic!("no event {e:?}"))
    }

    fn virtual_paths(&self) -> Vec<String> {
        lock(&self.seen)
            .iter()
            .filter(|(_, v, _)| *v)
            .map(|(p, _, _)| p.clone())
            .collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Decrements the live-view count when a view ends, however it ends.
struct Live(Arc<State>);

impl Live {
    fn new(state: &Arc<State>) -> Self {
        state.live.fetch_add(1, Ordering::SeqCst);
        Live(state.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The origin of the page the tests' handshakes claim to come from.
const BROWSER_ORIGIN: &str = "https://app.example";

fn app(state: &Arc<State>) -> App {
    let seen = state.clone();
    let gates = state.clone();
    let counted = state.clone();
    let subscribing = state.clone();
    App::new()
        // The tests' handshakes carry a browser's Origin, as a page on that site would.
        .settings(wsview::Settings::default().allowed_origins([BROWSER_ORIGIN]))
        // Runs for every request, whatever the transport.
        .middleware(move |req: Request, next: Next| {
            let state = seen.clone();
            async move {
                lock(&state.seen).push((
                    req.path().to_owned(),
                    req.is_virtual(),
                    req.is_websocket(),
                ));
                next.run(req).await
            }
        })
        // An auth check both transports pass through: writes need `JWT good`.
        .middleware(|req: Request, next: Next| async move {
            let write = !matches!(req.method().as_str(), "GET" | "HEAD" | "OPTIONS");
            if req.path().starts_with("/api/")
                && write
                && req.header("authorization") != Some("JWT good")
            {
                return Response::json(
                    &json!({"detail": "Authentication credentials were not provided."}),
                )
                .with_status(401)
                .with_header("www-authenticate", "JWT");
            }
            next.run(req).await
        })
        .route("/api/items/", items)
        .route("/api/items/{id}/", item)
        .route("/text", |_req: Request| async {
            Response::text("plain text, é")
        })
        .route("/bytes", |_req: Request| async {
            Response::bytes("application/octet-stream", vec![0xff, 0xfe, 0, 1, 2])
        })
        .route("/inspect", inspect)
        .route("/panic", |_req: Request| async {
            if true {
                panic!("the view fell over");
            }
            Response::empty()
        })
        .route("/gate/{name}", move |req: Request| {
            let state = gates.clone();
            async move {
                let name = req.param("name").unwrap_or_default().to_owned();
                let gate = state.gate(&name);
                state.event(format!("enter {name}"));
                if let Some(tx) = lock(&state.entered).as_ref() {
                    let _ = tx.send(name.clone());
                }
                gate.notified().await;
                Response::text(name)
            }
        })
        .route("/count", move |req: Request| {
            let live = Live::new(&counted);
            async move {
                let _live = live;
                Response::text(req.query("n").unwrap_or_default())
            }
        })
        .route("/subscribe", move |req: Request| {
            let state = subscribing.clone();
            async move {
                let sender = req
                    .extensions()
                    .get::<VirtualRequest>()
                    .and_then(|v| v.sender())
                    .cloned();
                match sender {
                    Some(sender) => {
                        lock(&state.subscribers).push(sender);
                        Response::json(&json!({"subscribed": true}))
                    }
                    None => Response::bad_request("subscribe over the socket"),
                }
            }
        })
        .route("/ws/api", api_socket())
        .route("/ws/limited", api_socket().max_in_flight(2))
        .route(
            "/ws/hooked",
            api_socket()
                .token_scheme("Bearer")
                .defaults(|handshake, ctx| {
                    let ip = handshake
                        .remote_addr()
                        .map(|a| a.ip().to_string())
                        .unwrap_or_default();
                    if let Ok(v) = ip.parse() {
                        ctx.headers_mut().insert("x-forwarded-for", v);
                    }
                    ctx.headers_mut()
                        .insert("user-agent", "set-by-hook".parse().expect("static"));
                    ctx.headers_mut()
                        .insert("x-from-hook", "1".parse().expect("static"));
                }),
        )
}

async fn items(mut req: Request) -> Response {
    match req.method().as_str() {
        "GET" | "HEAD" => Response::json(&json!([{"id": 1, "name": "Acme Inc."}]))
            .with_header("x-total", "1")
            .with_header("set-cookie", "a=1")
            .with_header("set-cookie", "b=2"),
        "POST" => match req.json::<Value>().await {
            Ok(body) => Response::json(&json!({"id": 2, "created": body}))
                .with_status(201)
                .with_header("location", "/api/items/2/"),
            Err(_) => Response::bad_request("body must be JSON"),
        },
        _ => Response::text("Method Not Allowed")
            .with_status(405)
            .with_header("allow", "GET, HEAD, POST"),
    }
}

async fn item(req: Request) -> Response {
    let id = req.param("id").unwrap_or_default().to_owned();
    match req.method().as_str() {
        "GET" => Response::json(&json!({"id": id, "query": req.query_pairs()})),
        "DELETE" => Response::new(StatusCode::NO_CONTENT),
        _ => Response::new(StatusCode::METHOD_NOT_ALLOWED),
    }
}

/// Everything the view sees about its request.
async fn inspect(mut req: Request) -> Response {
    // Over the socket the body came in the message: this returns at once.
    let body = match req.body().await {
        Ok(body) => String::from_utf8_lossy(body).into_owned(),
        Err(e) => return e.into_response(),
    };
    let mut headers = BTreeMap::new();
    for (name, value) in req.headers() {
        headers
            .entry(name.as_str().to_owned())
            .or_insert_with(Vec::new)
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    Response::json(&json!({
        "method": req.method().as_str(),
        "path": req.path(),
        "query": req.query_pairs(),
        "headers": headers,
        "remote_addr": req.remote_addr().map(|a| a.to_string()),
        "is_virtual": req.is_virtual(),
        "is_websocket": req.is_websocket(),
        "body": body,
    }))
}

async fn start() -> (TestServer, Arc<State>) {
    let state = Arc::new(State::default());
    (support::start(app(&state)).await, state)
}

// ---------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------

/// An HTTP reply: status, headers (lower-case names, every value), body bytes.
#[derive(Debug)]
struct HttpReply {
    status: u16,
    headers: BTreeMap<String, Vec<String>>,
    body: Vec<u8>,
}

async fn http(
    server: &TestServer,
    method: &str,
    target: &str,
    extra: &[(&str, &str)],
    body: &str,
) -> HttpReply {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    let mut tcp = within(TcpStream::connect(server.addr))
        .await
        .expect("connect");
    within(tcp.write_all(req.as_bytes())).await.expect("write");
    let mut raw = Vec::new();
    within(tcp.read_to_end(&mut raw)).await.expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let mut headers = BTreeMap::new();
    for line in lines {
        let (k, v) = line.split_once(':').expect("header line");
        headers
            .entry(k.trim().to_ascii_lowercase())
            .or_insert_with(Vec::new)
            .push(v.trim().to_owned());
    }
    HttpReply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// Opens `path` with a browser's handshake headers.
async fn connect(server: &TestServer, path: &str) -> Client {
    let mut req = server.url(path).into_client_request().expect("request");
    let h = req.headers_mut();
    h.insert("cookie", "session=abc123".parse().expect("static"));
    h.insert("origin", BROWSER_ORIGIN.parse().expect("static"));
    h.insert("user-agent", "test-browser/1.0".parse().expect("static"));
    h.insert("authorization", "Basic handshake".parse().expect("static"));
    let (ws, resp) = within(tokio_tungstenite::connect_async(req))
        .await
        .expect("handshake");
    assert_eq!(resp.status(), 101);
    ws
}

/// Closes from the client side and waits for the server's close, so the server's
/// shutdown does not wait for a client nobody reads.
async fn close(mut ws: Client) {
    within(ws.send(WsMessage::Close(None)))
        .await
        .expect("close");
    while let Some(Ok(msg)) = within(ws.next()).await {
        if msg.is_close() {
            break;
        }
    }
}

async fn send(ws: &mut Client, msg: &Value) {
    send_text(ws, &msg.to_string()).await;
}

async fn recv(ws: &mut Client) -> Value {
    match next_data(ws).await {
        Some(WsMessage::Text(t)) => serde_json::from_str(t.as_str()).expect("reply is JSON"),
        other => panic!("expected a text reply, got {other:?}"),
    }
}

async fn call(ws: &mut Client, msg: Value) -> Value {
    send(ws, &msg).await;
    recv(ws).await
}

async fn call_text(ws: &mut Client, text: &str) -> Value {
    send_text(ws, text).await;
    recv(ws).await
}

/// The reply's headers as the HTTP client collects them.
fn reply_headers(reply: &Value) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (k, v) in reply["headers"].as_object().expect("headers object") {
        let values = match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().expect("text").to_owned())
                .collect(),
            other => panic!("bad header value {other}"),
        };
        out.insert(k.clone(), values);
    }
    out
}

/// The reply's body as bytes, whatever its encoding in the reply.
fn reply_body(reply: &Value) -> Vec<u8> {
    match (&reply["body"], reply.get("body_encoding")) {
        (Value::String(s), Some(enc)) => {
            assert_eq!(enc, "base64");
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .expect("base64")
        }
        (Value::String(s), None) => s.clone().into_bytes(),
        (json, None) => json.to_string().into_bytes(),
        other => panic!("bad body {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Same answers over both transports
// ---------------------------------------------------------------------------------------

/// (method, target, headers, body) over HTTP, and the same request as a message.
type Case = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
    &'static str,
    Value,
);

#[tokio::test]
async fn same_request_same_answer_over_http_and_websocket() {
    let (server, _state) = start().await;
    let mut ws = connect(&server, "/ws/api").await;
    let post = r#"{"name":"Acme Inc.","n":1}"#;
    let cases: Vec<Case> = vec![
        (
            "GET",
            "/api/items/",
            vec![],
            "",
            json!({"url": "/api/items/"}),
        ),
        (
            "HEAD",
            "/api/items/",
            vec![],
            "",
            json!({"method": "head", "url": "/api/items/"}),
        ),
        (
            "GET",
            "/api/items/7/?q=1&r=a+b",
            vec![],
            "",
            json!({"url": "/api/items/7/?q=1", "data": {"r": "a b"}}),
        ),
        (
            "POST",
            "/api/items/",
            vec![("Authorization", "JWT good")],
            post,
            json!({"method": "POST", "url": "/api/items/", "token": "good", "data": {"name": "Acme Inc.", "n": 1}}),
        ),
        (
            "POST",
            "/api/items/",
            vec![],
            post,
            json!({"method": "post", "url": "/api/items/", "data": {"name": "Acme Inc.", "n": 1}}),
        ),
        (
            "DELETE",
            "/api/items/7/",
            vec![("Authorization", "JWT good")],
            "",
            json!({"method": "DELETE", "url": "/api/items/7/", "headers": {"Authorization": "JWT good"}}),
        ),
        (
            "PUT",
            "/api/items/",
            vec![("Authorization", "JWT good")],
            post,
            json!({"method": "PUT", "url": "/api/items/", "token": "good", "data": {"name": "Acme Inc.", "n": 1}}),
        ),
        ("GET", "/text", vec![], "", json!({"url": "/text"})),
        ("GET", "/bytes", vec![], "", json!({"url": "/bytes"})),
        ("GET", "/ws/api", vec![], "", json!({"url": "/ws/api"})),
    ];
    let ignored = ["date", "content-length", "connection"];
    for (i, (method, target, headers, body, msg)) in cases.into_iter().enumerate() {
        let over_http = http(&server, method, target, &headers, body).await;
        let mut msg = msg;
        msg["id"] = json!(i);
        let reply = call(&mut ws, msg).await;
        assert_eq!(reply["id"], i, "{method} {target}");
        assert_eq!(reply["status"], over_http.status, "{method} {target}");
        let mut http_headers = over_http.headers.clone();
        http_headers.retain(|k, _| !ignored.contains(&k.as_str()));
        assert_eq!(reply_headers(&reply), http_headers, "{method} {target}");
        let is_json = http_headers
            .get("content-type")
            .is_some_and(|v| v[0].starts_with("application/json"));
        if is_json && !over_http.body.is_empty() {
            let http_json: Value = serde_json::from_slice(&over_http.body).expect("json body");
            assert_eq!(reply["body"], http_json, "{method} {target}");
        } else {
            assert_eq!(reply_body(&reply), over_http.body, "{method} {target}");
        }
    }
    // The binary body came as base64, flagged.
    let reply = call(&mut ws, json!({"url": "/bytes"})).await;
    assert_eq!(reply["body_encoding"], "base64");
    assert_eq!(reply_body(&reply), [0xff, 0xfe, 0, 1, 2]);
    // A view that answers 405 itself answers it over both.
    let reply = call(
        &mut ws,
        json!({"method": "PATCH", "url": "/api/items/", "token": "good"}),
    )
    .await;
    assert_eq!(reply["status"], 405);
    assert_eq!(reply["headers"]["allow"], "GET, HEAD, POST");
    close(ws).await;
    server.stop().await;
}

#[tokio::test]
async fn middleware_runs_for_both_transports() {
    let (server, state) = start().await;
    let over_http = http(&server, "GET", "/api/items/", &[], "").await;
    assert_eq!(over_http.status, 200);
    assert_eq!(lock(&state.seen).len(), 1);
    let mut ws = connect(&server, "/ws/api").await;
    // The handshake itself went through the chain, as a WebSocket request.
    assert_eq!(
        lock(&state.seen).last().cloned(),
        Some(("/ws/api".to_owned(), false, true))
    );
    for (i, url) in ["/api/items/", "/text", "/nowhere", "/api/items/3/"]
        .iter()
        .enumerate()
    {
        let reply = call(&mut ws, json!({"id": i, "url": url})).await;
        assert_eq!(reply["id"], i);
    }
    // The auth middleware refuses a write without a token over both transports, alike.
    let refused_http = http(&server, "POST", "/api/items/", &[], "{}").await;
    let refused_ws = call(
        &mut ws,
        json!({"id": "w", "method": "POST", "url": "/api/items/", "data": {}}),
    )
    .await;
    assert_eq!(refused_http.status, 401);
    assert_eq!(refused_ws["status"], 401);
    assert_eq!(refused_ws["headers"]["www-authenticate"], "JWT");
    assert_eq!(
        refused_ws["body"],
        serde_json::from_slice::<Value>(&refused_http.body).expect("json")
    );
    // A bad message never reaches the middleware: there is no request to run.
    call_text(&mut ws, "not json").await;
    let seen = lock(&state.seen).clone();
    assert_eq!(seen.len(), 1 + 1 + 4 + 1 + 1, "{seen:?}");
    assert_eq!(
        state.virtual_paths(),
        [
            "/api/items/",
            "/text",
            "/nowhere",
            "/api/items/3/",
            "/api/items/"
        ]
    );
    assert!(
        seen.iter()
            .all(|(_, is_virtual, is_ws)| !(*is_virtual && *is_ws)),
        "a virtual request is never a websocket request: {seen:?}"
    );
    close(ws).await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Errors are replies
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn every_error_is_a_reply_and_the_connection_stays_open() {
    let (server, _state) = start().await;
    let mut ws = connect(&server, "/ws/api").await;
    let cases: Vec<(&str, u16, Value, Value)> = vec![
        (
            "not json",
            400,
            json!("Invalid formatted message."),
            Value::Null,
        ),
        (
            "{\"url\": ",
            400,
            json!("Invalid formatted message."),
            Value::Null,
        ),
        (
            "[{\"url\": \"/text\"}]",
            400,
            json!("Invalid formatted message."),
            Value::Null,
        ),
        (
            "\"/text\"",
            400,
            json!("Invalid formatted message."),
            Value::Null,
        ),
        (
            "null",
            400,
            json!("Invalid formatted message."),
            Value::Null,
        ),
        ("{\"id\": 1}", 400, json!("Missing URL"), json!(1)),
        (
            "{\"id\": 2, \"url\": null}",
            400,
            json!("Missing URL"),
            json!(2),
        ),
        (
            "{\"id\": 3, \"url\": \"\"}",
            400,
            json!("Missing URL"),
            json!(3),
        ),
        (
            "{\"id\": 4, \"url\": \"text\"}",
            400,
            json!("Invalid URL"),
            json!(4),
        ),
        (
            "{\"id\": 5, \"url\": \"/nowhere/at/all\"}",
            404,
            json!("Resource not found."),
            json!(5),
        ),
        (
            "{\"id\": 6, \"url\": \"/text\", \"method\": \"FETCH\"}",
            405,
            json!("Method Not Allowed"),
            json!(6),
        ),
        (
            "{\"id\": 7, \"url\": \"/panic\"}",
            500,
            json!("Internal Server Error"),
            json!(7),
        ),
        (
            "{\"id\": 8, \"url\": \"/text\", \"data\": [1]}",
            400,
            json!("Invalid formatted message: \"data\" must be an object."),
            json!(8),
        ),
        (
            "{\"id\": 9, \"url\": \"/ws/api\"}",
            400,
            json!("This view requires a WebSocket request."),
            json!(9),
        ),
    ];
    for (text, status, body, id) in cases {
        let reply = call_text(&mut ws, text).await;
        assert_eq!(reply["status"], status, "{text}");
        assert_eq!(reply["body"], body, "{text}");
        assert_eq!(reply["id"], id, "{text}");
        // … and the connection still answers.
        let ok = call(&mut ws, json!({"id": "next", "url": "/text"})).await;
        assert_eq!(
            (ok["id"].clone(), ok["status"].clone()),
            (json!("next"), json!(200)),
            "after {text}"
        );
    }
    let reply = call_text(
        &mut ws,
        "{\"id\": 6, \"url\": \"/text\", \"method\": \"FETCH\"}",
    )
    .await;
    assert_eq!(
        reply["headers"]["allow"],
        "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"
    );
    // Over HTTP the router's 404 keeps its own text.
    assert_eq!(
        http(&server, "GET", "/nowhere/at/all", &[], "").await.body,
        b"Not Found"
    );
    // A binary frame is read as UTF-8 JSON too; one that is not UTF-8 is malformed.
    within(ws.send(WsMessage::binary(
        br#"{"id": "b", "url": "/text"}"#.to_vec(),
    )))
    .await
    .expect("send");
    assert_eq!(recv(&mut ws).await["status"], 200);
    within(ws.send(WsMessage::binary(vec![0xff, 0xfe])))
        .await
        .expect("send");
    assert_eq!(recv(&mut ws).await["body"], "Invalid formatted message.");
    // A huge id comes back byte for byte.
    let huge = "123456789012345678901234567890123456789012345678901234567890";
    send_text(&mut ws, &format!(r#"{{"id": {huge}, "url": "/text"}}"#)).await;
    match next_data(&mut ws).await {
        Some(WsMessage::Text(t)) => assert!(t.as_str().starts_with(&format!("{{\"id\":{huge},"))),
        other => panic!("{other:?}"),
    }
    // Plain HTTP to the socket view is refused.
    assert_eq!(http(&server, "GET", "/ws/api", &[], "").await.status, 400);
    close(ws).await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Request metadata
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn virtual_requests_carry_the_handshake_metadata() {
    let (server, _state) = start().await;
    let mut ws = connect(&server, "/ws/api").await;
    let local = match ws.get_ref() {
        tokio_tungstenite::MaybeTlsStream::Plain(tcp) => tcp.local_addr().expect("addr"),
        _ => unreachable!("plain ws"),
    };
    let reply = call(
        &mut ws,
        json!({"id": 1, "url": "/inspect?a=1", "data": {"b": 2}}),
    )
    .await;
    let seen = &reply["body"];
    assert_eq!(seen["is_virtual"], true);
    assert_eq!(seen["is_websocket"], false);
    assert_eq!(seen["remote_addr"], local.to_string());
    assert_eq!(seen["query"], json!([["a", "1"], ["b", "2"]]));
    let h = &seen["headers"];
    assert_eq!(h["cookie"], json!(["session=abc123"]));
    assert_eq!(h["origin"], json!(["https://app.example"]));
    assert_eq!(h["user-agent"], json!(["test-browser/1.0"]));
    assert_eq!(h["authorization"], json!(["Basic handshake"]));
    for gone in [
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "content-length",
    ] {
        assert!(h.get(gone).is_none(), "{gone} leaked: {h}");
    }

    // Message headers override the handshake's, the token overrides Authorization,
    // and Origin cannot be overridden.
    let reply = call(
        &mut ws,
        json!({"id": 2, "method": "post", "url": "/inspect", "token": "MY_JSON_WEB_TOKEN",
               "data": {"name": "Acme Inc."},
               "headers": {"User-Agent": "override/2", "Authorization": "Basic msg",
                           "Origin": "https://evil.example", "X-Extra": ["a", "b"]}}),
    )
    .await;
    let seen = &reply["body"];
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["body"], r#"{"name":"Acme Inc."}"#); // data's text, as sent
    let h = &seen["headers"];
    assert_eq!(h["authorization"], json!(["JWT MY_JSON_WEB_TOKEN"]));
    assert_eq!(h["user-agent"], json!(["override/2"]));
    assert_eq!(h["origin"], json!(["https://app.example"]));
    assert_eq!(h["x-extra"], json!(["a", "b"]));
    assert_eq!(h["cookie"], json!(["session=abc123"]));
    assert_eq!(h["content-type"], json!(["application/json"]));
    assert_eq!(h["content-length"], json!(["20"]));

    // The defaults hook adds and overrides; the message still wins; Bearer scheme.
    let mut hooked = connect(&server, "/ws/hooked").await;
    let reply = call(&mut hooked, json!({"url": "/inspect", "token": "t0k"})).await;
    let h = &reply["body"]["headers"];
    assert_eq!(h["x-forwarded-for"], json!([local.ip().to_string()]));
    assert_eq!(h["user-agent"], json!(["set-by-hook"]));
    assert_eq!(h["x-from-hook"], json!(["1"]));
    assert_eq!(h["authorization"], json!(["Bearer t0k"]));
    let reply = call(
        &mut hooked,
        json!({"url": "/inspect", "headers": {"x-from-hook": "msg"}}),
    )
    .await;
    assert_eq!(reply["body"]["headers"]["x-from-hook"], json!(["msg"]));
    close(hooked).await;
    close(ws).await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Concurrency, order and volume
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn concurrent_replies_are_matched_by_id_and_may_come_out_of_order() {
    let (server, state) = start().await;
    let (tx, mut entered) = mpsc::unbounded_channel();
    *lock(&state.entered) = Some(tx);
    let mut ws = connect(&server, "/ws/api").await;

    send(&mut ws, &json!({"id": "slow", "url": "/gate/slow"})).await;
    assert_eq!(within(entered.recv()).await.as_deref(), Some("slow"));
    // The slow request is provably still running: its gate is shut. A later request
    // overtakes it.
    let fast = call(&mut ws, json!({"id": "fast", "url": "/text"})).await;
    assert_eq!(fast["id"], "fast");
    assert_eq!(fast["body"], "plain text, é");
    // Interleave more: two gated requests opened in the reverse order of sending.
    send(&mut ws, &json!({"id": 1, "url": "/gate/one"})).await;
    send(&mut ws, &json!({"id": 2, "url": "/gate/two"})).await;
    let mut got = HashSet::new();
    got.insert(within(entered.recv()).await.expect("entered"));
    got.insert(within(entered.recv()).await.expect("entered"));
    assert_eq!(got, HashSet::from(["one".to_owned(), "two".to_owned()]));
    state.open("two");
    let reply = recv(&mut ws).await;
    assert_eq!(
        (reply["id"].clone(), reply["body"].clone()),
        (json!(2), json!("two"))
    );
    state.open("one");
    let reply = recv(&mut ws).await;
    assert_eq!(
        (reply["id"].clone(), reply["body"].clone()),
        (json!(1), json!("one"))
    );
    state.open("slow");
    let reply = recv(&mut ws).await;
    assert_eq!(
        (reply["id"].clone(), reply["body"].clone()),
        (json!("slow"), json!("slow"))
    );
    close(ws).await;
    server.stop().await;
}

#[tokio::test]
async fn in_flight_requests_are_bounded_per_connection() {
    let (server, state) = start().await;
    let (tx, mut entered) = mpsc::unbounded_channel();
    *lock(&state.entered) = Some(tx);
    let mut ws = connect(&server, "/ws/limited").await; // max_in_flight(2)
    for name in ["g1", "g2", "g3"] {
        send(
            &mut ws,
            &json!({"id": name, "url": format!("/gate/{name}")}),
        )
        .await;
    }
    let mut first = HashSet::new();
    first.insert(within(entered.recv()).await.expect("entered"));
    first.insert(within(entered.recv()).await.expect("entered"));
    assert_eq!(first, HashSet::from(["g1".to_owned(), "g2".to_owned()]));
    // g3 waits for a free slot: it runs only after g1 has been released and answered.
    state.open("g1");
    assert_eq!(recv(&mut ws).await["id"], "g1");
    assert_eq!(within(entered.recv()).await.as_deref(), Some("g3"));
    assert!(state.position("release g1") < state.position("enter g3"));
    state.open("g3");
    assert_eq!(recv(&mut ws).await["id"], "g3");
    state.open("g2");
    assert_eq!(recv(&mut ws).await["id"], "g2");
    close(ws).await;
    server.stop().await;
}

#[tokio::test]
async fn a_thousand_requests_on_one_connection() {
    const N: usize = 1000;
    let (server, state) = start().await;
    let ws = connect(&server, "/ws/api").await;
    let (mut sink, mut stream) = ws.split();
    // Send and read at once: a client that only sends would stall the server's writes.
    let sender = tokio::spawn(async move {
        for i in 0..N {
            let msg = json!({"id": i, "url": format!("/count?n={i}")}).to_string();
            sink.send(WsMessage::text(msg)).await.expect("send");
        }
        sink
    });
    let mut ids: HashMap<u64, usize> = HashMap::new();
    while ids.values().sum::<usize>() < N {
        let msg = within(stream.next())
            .await
            .expect("a reply, not the end")
            .expect("no error");
        let WsMessage::Text(text) = msg else { continue };
        let reply: Value = serde_json::from_str(text.as_str()).expect("json");
        let id = reply["id"].as_u64().expect("numeric id");
        assert_eq!(reply["status"], 200);
        assert_eq!(
            reply["body"],
            id.to_string(),
            "reply {id} has another's body"
        );
        *ids.entry(id).or_default() += 1;
    }
    assert_eq!(ids.len(), N, "every id back");
    assert!(ids.values().all(|&n| n == 1), "each exactly once");
    assert!(ids.keys().all(|&id| (id as usize) < N));
    // Every view has finished and been dropped; the middleware ran once per message.
    assert_eq!(state.live.load(Ordering::SeqCst), 0);
    assert_eq!(state.virtual_paths().len(), N);
    // The connection still closes cleanly.
    let mut sink = within(sender).await.expect("sender task");
    within(sink.send(WsMessage::Close(None)))
        .await
        .expect("close");
    loop {
        match within(stream.next()).await {
            Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => continue, // nothing should be left, but don't hang on it
        }
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// The example
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_example_serves_one_api_over_both_transports() {
    let settings = wsview::Settings::default().allowed_origins([BROWSER_ORIGIN]);
    let server = support::start(example::app("t0k".to_owned()).settings(settings)).await;
    let mut ws = connect(&server, "/ws/api").await;
    let listed = http(&server, "GET", "/api/snippets/", &[], "").await;
    assert_eq!((listed.status, listed.body.as_slice()), (200, &b"[]"[..]));

    // Writes need the token, over either transport.
    let data = json!({"title": "hi", "code": "print(1)"});
    let refused = call(
        &mut ws,
        json!({"id": 1, "method": "POST", "url": "/api/snippets/", "data": data}),
    )
    .await;
    assert_eq!(refused["status"], 401);
    let wrong = call(
        &mut ws,
        json!({"id": 2, "method": "POST", "url": "/api/snippets/", "data": data, "token": "nope"}),
    )
    .await;
    assert_eq!(wrong["status"], 401);
    assert_eq!(
        http(&server, "POST", "/api/snippets/", &[], &data.to_string())
            .await
            .status,
        401
    );
    let created = call(
        &mut ws,
        json!({"id": 3, "method": "POST", "url": "/api/snippets/", "data": data, "token": "t0k"}),
    )
    .await;
    assert_eq!(created["status"], 201);
    assert_eq!(created["headers"]["location"], "/api/snippets/1/");
    assert_eq!(
        created["body"],
        json!({"id": 1, "title": "hi", "code": "print(1)", "language": "text"})
    );
    let invalid = call(&mut ws, json!({"id": 4, "method": "POST", "url": "/api/snippets/", "data": {"title": 5}, "token": "t0k"})).await;
    assert_eq!(invalid["status"], 400);
    assert_eq!(
        invalid["body"],
        json!({"title": ["Must be a string."], "code": ["This field is required."]})
    );

    // What one transport wrote, the other reads.
    let listed = http(&server, "GET", "/api/snippets/", &[], "").await;
    assert_eq!(
        serde_json::from_slice::<Value>(&listed.body).expect("json"),
        json!([created["body"]])
    );
    let shown = call(&mut ws, json!({"id": 5, "url": "/api/snippets/1/"})).await;
    assert_eq!(shown["body"], created["body"]);
    let deleted = http(
        &server,
        "DELETE",
        "/api/snippets/1/",
        // The scheme is case-insensitive.
        &[("Authorization", "jwt t0k")],
        "",
    )
    .await;
    assert_eq!(deleted.status, 204);
    let gone = call(&mut ws, json!({"id": 6, "url": "/api/snippets/1/"})).await;
    assert_eq!(
        (gone["status"].clone(), gone["body"].clone()),
        (json!(404), json!({"detail": "Not found."}))
    );
    let nowhere = call(&mut ws, json!({"id": 7, "url": "/api/nothing/"})).await;
    assert_eq!(nowhere["body"], "Resource not found.");
    let page = http(&server, "GET", "/", &[], "").await;
    assert!(String::from_utf8_lossy(&page.body).contains("apiSocket"));
    close(ws).await;
    server.stop().await;
}

#[tokio::test]
async fn a_view_can_push_to_the_connection_a_request_came_over() {
    let (server, state) = start().await;
    let mut ws = connect(&server, "/ws/api").await;
    let reply = call(&mut ws, json!({"id": "sub", "url": "/subscribe"})).await;
    assert_eq!(reply["body"], json!({"subscribed": true}));
    let over_http = http(&server, "GET", "/subscribe", &[], "").await;
    assert_eq!(over_http.status, 400);
    let sender = lock(&state.subscribers).pop().expect("one subscriber");
    // Later, unprompted, from anywhere:
    within(sender.send(r#"{"event": "created", "data": {"id": 7}}"#))
        .await
        .expect("push");
    assert_eq!(
        recv(&mut ws).await,
        json!({"event": "created", "data": {"id": 7}})
    );
    // Requests and replies go on beside pushes.
    let reply = call(&mut ws, json!({"id": 2, "url": "/text"})).await;
    assert_eq!(reply["id"], 2);
    close(ws).await;
    server.stop().await; // waits for the connection to end
    assert!(sender.is_closed());
    assert!(sender.send("too late").await.is_err());
}

/// The example's page pre-fills the token the server was given (HTML-escaped), not
/// the default; served through the in-process test client, no port.
#[tokio::test]
async fn the_example_page_prefills_the_configured_token() {
    let client = wsview::test::TestClient::new(example::app("s3\"cret<".to_owned())).unwrap();
    let page = client.get("/").await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text();
    assert!(html.contains(r#"value="s3&quot;cret&lt;""#), "{html}");
    assert!(!html.contains(example::DEFAULT_TOKEN));
    assert!(!html.contains("{{TOKEN}}"));
}
