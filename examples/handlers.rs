//! django-ws's handler model: handler objects picked by a namespace from the URL, and a
//! threaded view for blocking code.
//!
//! ```text
//! cargo run --example handlers                  # listens on 127.0.0.1:8000
//! cargo run --example handlers -- 127.0.0.1:9002
//! ```
//!
//! - `/socket`, `/socket/`, `/socket/default`: `RandomCounter`, django-ws's README
//!   handler. After the first message it pushes a random integer every second until
//!   the peer closes.
//! - `/socket/shout`: answers each message upper-cased.
//! - `/socket/anything-else`: refused with 404 at the handshake.
//! - `/blocking`: a threaded view that echoes each message after 100 ms of blocking
//!   work (the thread sleeps), on a pool of 16 workers.
//!
//! Try it with any WebSocket client, e.g. `websocat ws://127.0.0.1:8000/socket/shout`.
//! Settings come from the environment (`WSVIEW_…`; browser pages on other origins need
//! `WSVIEW_ALLOWED_ORIGINS`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wsview::{
    blocking, App, CloseReason, Handler, HandlerContext, HandlerError, Message, Namespaces,
    Request, Response,
};

/// django-ws's `RandomCounter`: once the first message has arrived, a random integer
/// every second. The pushing runs in its own task, so the handler stays free to take
/// messages (and to hear about the close) while it pushes.
#[derive(Default)]
struct RandomCounter {
    pusher: Option<tokio::task::JoinHandle<()>>,
}

impl Handler for RandomCounter {
    async fn on_message(
        &mut self,
        ctx: &mut HandlerContext,
        _message: Message,
    ) -> Result<(), HandlerError> {
        if self.pusher.is_none() {
            let sender = ctx.sender();
            self.pusher = Some(tokio::spawn(async move {
                let mut random = XorShift::from_time();
                let mut every = tokio::time::interval(Duration::from_secs(1));
                loop {
                    every.tick().await;
                    let n = random.next() % 1000;
                    if sender.send(n.to_string()).await.is_err() {
                        break; // the connection is gone
                    }
                }
            }));
        }
        Ok(())
    }

    async fn on_close(&mut self, ctx: &mut HandlerContext, reason: CloseReason) {
        if let Some(pusher) = self.pusher.take() {
            pusher.abort();
        }
        let peer = ctx.remote_addr().map(|a| a.to_string()).unwrap_or_default();
        println!("RandomCounter for {peer} ended: {reason}");
    }
}

/// Answers each message upper-cased.
#[derive(Default)]
struct Shout;

impl Handler for Shout {
    async fn on_message(
        &mut self,
        ctx: &mut HandlerContext,
        message: Message,
    ) -> Result<(), HandlerError> {
        let loud = match message.as_text() {
            Some(text) => Message::from(text.to_uppercase()),
            None => message, // binary goes back as it came
        };
        ctx.send(loud).await?;
        Ok(())
    }
}

/// Blocking code: each message is echoed after the thread has slept 100 ms.
fn slow_echo(_req: Request, ws: &mut blocking::WebSocket) -> Response {
    while let Some(message) = ws.wait() {
        std::thread::sleep(Duration::from_millis(100));
        if ws.send(message).is_err() {
            break;
        }
    }
    Response::empty()
}

/// A tiny xorshift generator seeded from the clock: enough for a demo, no dependency.
struct XorShift(u64);

impl XorShift {
    fn from_time() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        // The state must never be zero.
        XorShift(nanos | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
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
    let handlers = Namespaces::new()
        .add("default", RandomCounter::default)
        .add("shout", Shout::default);
    let pool = blocking::Pool::global();
    // WSVIEW_ALLOWED_ORIGINS and the other limits come from the environment.
    let settings = wsview::Settings::from_env()?;
    let app = handlers
        .mount(App::new().settings(settings), "/socket")
        .route("/blocking", pool.view(slow_echo));
    let server = app.bind(addr.as_str()).await?;
    let at = server.local_addr();
    println!("wsview handlers example serving on http://{at}");
    println!("  ws://{at}/socket        RandomCounter: a random integer every second after your first message");
    println!("  ws://{at}/socket/shout  Shout: each message upper-cased");
    println!("  ws://{at}/socket/other  unknown namespace: 404 at the handshake");
    println!(
        "  ws://{at}/blocking      threaded echo after 100 ms of blocking work ({} workers)",
        pool.size()
    );
    println!("Ctrl-C stops it.");
    server.run_until(wsview::shutdown_signal()).await?;
    println!("stopped");
    Ok(())
}
