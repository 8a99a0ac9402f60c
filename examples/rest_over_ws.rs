//! REST over a WebSocket: a small in-memory snippets API served over HTTP and, through
//! the very same views and middleware, over the WebSocket at `/ws/api`
//! (django-websocket-request's example, done with wsview).
//!
//! ```text
//! cargo run --example rest_over_ws                    # listens on 127.0.0.1:8000
//! WSVIEW_DEMO_TOKEN=s3cret cargo run --example rest_over_ws -- 127.0.0.1:9000
//! ```
//!
//! - `GET /api/snippets/` lists, `POST /api/snippets/` creates (201);
//!   `GET /api/snippets/{id}/` shows one, `DELETE /api/snippets/{id}/` deletes it (204).
//! - `ws://…/ws/api` takes the same requests as JSON messages:
//!   `{"id": 1, "method": "POST", "url": "/api/snippets/", "data": {"code": "print(1)"}, "token": "demo-token"}`
//!   and answers `{"id": 1, "status": 201, "headers": {…}, "body": {…}}`.
//! - `/` is a page with a tiny browser client for the socket.
//!
//! Reads need no token; writes need `Authorization: JWT <token>` (over the socket, the
//! message's `token`), with the token from `WSVIEW_DEMO_TOKEN` (default `demo-token`).
//! The check is one middleware that both transports pass through.
//!
//! Settings come from the environment (`WSVIEW_…`). A browser page on another origin
//! cannot open `/ws/api` unless that origin is in `WSVIEW_ALLOWED_ORIGINS`.
//!
//! ```text
//! curl -i http://127.0.0.1:8000/api/snippets/
//! curl -i -X POST -H 'Authorization: JWT demo-token' -H 'Content-Type: application/json' \
//!      -d '{"title": "hi", "code": "print(1)"}' http://127.0.0.1:8000/api/snippets/
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Map, Value};
use wsview::http::{Method, StatusCode};
use wsview::{api_socket, App, IntoResponse, Next, Request, Response};

/// The default demo token, when `WSVIEW_DEMO_TOKEN` is not set.
pub const DEFAULT_TOKEN: &str = "demo-token";

/// The snippets, in memory.
#[derive(Default)]
struct Snippets {
    next_id: u64,
    items: BTreeMap<u64, Value>,
}

type Store = Arc<Mutex<Snippets>>;

fn lock(store: &Store) -> MutexGuard<'_, Snippets> {
    // A view that panicked while holding the lock left no half-written snippet.
    store.lock().unwrap_or_else(|e| e.into_inner())
}

/// The example's app: the snippets API, the socket that carries it, and the token check
/// both go through. The tests serve the same app.
pub fn app(token: String) -> App {
    let store = Store::default();
    let list_store = store.clone();
    let detail_store = store;
    // The page pre-fills the token this server checks, whatever WSVIEW_DEMO_TOKEN says.
    let page: Arc<str> = Arc::from(PAGE.replace("{{TOKEN}}", &html_attribute(&token)));
    let token: Arc<str> = Arc::from(token);
    App::new()
        .middleware(move |req: Request, next: Next| {
            let token = token.clone();
            async move { require_token_for_writes(req, next, &token).await }
        })
        .route("/", move |_req: Request| {
            let page = page.clone();
            async move { Response::html(&*page) }
        })
        .route("/api/snippets/", move |req: Request| {
            let store = list_store.clone();
            async move { snippet_list(req, &store).await }
        })
        .route("/api/snippets/{id}/", move |req: Request| {
            let store = detail_store.clone();
            async move { snippet_detail(req, &store) }
        })
        .route("/ws/api", api_socket())
}

/// Reads pass; anything else needs `Authorization: JWT <token>`, else 401. Over the
/// socket this runs for every message, as it does for every HTTP request.
async fn require_token_for_writes(req: Request, next: Next, token: &str) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let given = req
        .header("authorization")
        .and_then(|v| v.trim().split_once(' '))
        // The scheme is case-insensitive (RFC 9110 §11.1).
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("JWT"))
        .map(|(_, token)| token.trim());
    if safe || given.is_some_and(|g| same_secret(g, token)) {
        return next.run(req).await;
    }
    let detail = if given.is_some() {
        "Invalid token."
    } else {
        "Authentication credentials were not provided."
    };
    Response::json(&json!({ "detail": detail }))
        .with_status(StatusCode::UNAUTHORIZED)
        .with_header("www-authenticate", "JWT realm=\"api\"")
}

/// Compares without stopping at the first difference.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// `GET` lists, `POST` creates.
async fn snippet_list(mut req: Request, store: &Store) -> Response {
    match *req.method() {
        Method::GET | Method::HEAD => {
            let all: Vec<Value> = lock(store).items.values().cloned().collect();
            Response::json(&all)
        }
        Method::POST => {
            let fields = match req.json::<Map<String, Value>>().await {
                Ok(fields) => fields,
                Err(e) if e.is_json() => {
                    return Response::json(&json!({ "detail": "The body must be a JSON object." }))
                        .with_status(StatusCode::BAD_REQUEST)
                }
                Err(e) => return e.into_response(), // too large (413) or too slow (408)
            };
            let text = |name: &str, default: Option<&str>| match fields.get(name) {
                Some(Value::String(s)) => Ok(s.clone()),
                None | Some(Value::Null) => {
                    default.map(str::to_owned).ok_or("This field is required.")
                }
                Some(_) => Err("Must be a string."),
            };
            let (title, code, language) = match (
                text("title", Some("")),
                text("code", None),
                text("language", Some("text")),
            ) {
                (Ok(t), Ok(c), Ok(l)) => (t, c, l),
                (t, c, l) => {
                    let mut errors = Map::new();
                    for (name, result) in [("title", t), ("code", c), ("language", l)] {
                        if let Err(e) = result {
                            errors.insert(name.to_owned(), json!([e]));
                        }
                    }
                    return Response::json(&errors).with_status(StatusCode::BAD_REQUEST);
                }
            };
            let mut snippets = lock(store);
            snippets.next_id += 1;
            let id = snippets.next_id;
            let snippet = json!({ "id": id, "title": title, "code": code, "language": language });
            snippets.items.insert(id, snippet.clone());
            Response::json(&snippet)
                .with_status(StatusCode::CREATED)
                .with_header("location", format!("/api/snippets/{id}/"))
        }
        _ => method_not_allowed("GET, HEAD, POST"),
    }
}

/// `GET` shows one snippet, `DELETE` removes it.
fn snippet_detail(req: Request, store: &Store) -> Response {
    let id = req.param("id").and_then(|id| id.parse::<u64>().ok());
    let not_found =
        || Response::json(&json!({ "detail": "Not found." })).with_status(StatusCode::NOT_FOUND);
    let Some(id) = id else { return not_found() };
    match *req.method() {
        Method::GET | Method::HEAD => match lock(store).items.get(&id) {
            Some(snippet) => Response::json(snippet),
            None => not_found(),
        },
        Method::DELETE => match lock(store).items.remove(&id) {
            Some(_) => Response::new(StatusCode::NO_CONTENT),
            None => not_found(),
        },
        _ => method_not_allowed("GET, HEAD, DELETE"),
    }
}

fn method_not_allowed(allow: &'static str) -> Response {
    Response::json(&json!({ "detail": "Method not allowed." }))
        .with_status(StatusCode::METHOD_NOT_ALLOWED)
        .with_header("allow", allow)
}

/// `text` escaped for an HTML attribute value in double quotes.
fn html_attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Logs (the server's address, a view's panic, a bad setting) go to stderr;
    // RUST_LOG filters them (`RUST_LOG=wsview=debug`), info by default.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8000".to_owned());
    let token = std::env::var("WSVIEW_DEMO_TOKEN").unwrap_or_else(|_| DEFAULT_TOKEN.to_owned());
    let token_note = if token == DEFAULT_TOKEN {
        format!("the default, {DEFAULT_TOKEN}")
    } else {
        "from WSVIEW_DEMO_TOKEN".to_owned()
    };
    // WSVIEW_ALLOWED_ORIGINS and the other limits come from the environment.
    let settings = wsview::Settings::from_env()?;
    let server = app(token)
        .settings(settings)
        .tls_from_env()?
        .bind(addr.as_str())
        .await?;
    let (http, ws) = if server.is_tls() {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    let at = server.local_addr();
    println!("wsview REST-over-WebSocket example serving on {http}://{at}");
    println!("  {http}://{at}/api/snippets/       GET lists, POST creates");
    println!("  {http}://{at}/api/snippets/{{id}}/  GET shows, DELETE deletes");
    println!("  {ws}://{at}/ws/api                the same API as JSON messages");
    println!("  {http}://{at}/                    a page with a browser client");
    println!("Writes need `Authorization: JWT <token>` (over the socket: \"token\"); token: {token_note}.");
    println!("Ctrl-C stops it.");
    server.run_until(wsview::shutdown_signal()).await?;
    println!("stopped");
    Ok(())
}

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>wsview: REST over a WebSocket</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; }
input, textarea { width: 100%; box-sizing: border-box; margin-bottom: .4rem; }
#log { border: 1px solid #ccc; padding: .5rem; white-space: pre-wrap; font-family: monospace; }
</style></head>
<body>
<h1>Snippets over <code>/ws/api</code></h1>
<p id="status">connecting…</p>
<form id="create">
  <input id="title" placeholder="title">
  <textarea id="code" rows="3" placeholder="code (required)"></textarea>
  <input id="token" placeholder="token (needed to create or delete)" value="{{TOKEN}}">
  <button>Create</button> <button type="button" id="list">List</button>
</form>
<div id="log"></div>
<script>
// A tiny client: every request gets an id, and its promise resolves with the reply
// that echoes that id, whatever order replies come back in.
function apiSocket(url) {
  const pending = new Map();
  let nextId = 1;
  const ws = new WebSocket(url);
  const open = new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error('websocket error'));
  });
  ws.onmessage = (event) => {
    const reply = JSON.parse(event.data);
    const waiter = pending.get(reply.id);
    if (waiter) { pending.delete(reply.id); waiter.resolve(reply); }
  };
  ws.onclose = () => {
    for (const waiter of pending.values()) waiter.reject(new Error('connection closed'));
    pending.clear();
  };
  async function request(method, url, options = {}) {
    await open;
    const id = nextId++;
    const reply = new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
    ws.send(JSON.stringify({ id, method, url, ...options }));
    return reply;
  }
  return { ws, open, request };
}

const log = (line) => { document.getElementById('log').textContent += line + "\n"; };
const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
const api = apiSocket(scheme + location.host + '/ws/api');
api.open.then(() => { document.getElementById('status').textContent = 'connected'; });
api.ws.addEventListener('close', (e) => {
  document.getElementById('status').textContent = 'closed (' + e.code + ')';
});

async function list() {
  const reply = await api.request('GET', '/api/snippets/');
  log('GET /api/snippets/ → ' + reply.status + ' ' + JSON.stringify(reply.body));
}
document.getElementById('list').onclick = list;
document.getElementById('create').onsubmit = async (e) => {
  e.preventDefault();
  const data = { title: document.getElementById('title').value,
                 code: document.getElementById('code').value };
  const token = document.getElementById('token').value || undefined;
  const reply = await api.request('POST', '/api/snippets/', { data, token });
  log('POST /api/snippets/ → ' + reply.status + ' ' + JSON.stringify(reply.body));
};
api.open.then(list);
</script>
</body>
</html>
"#;
