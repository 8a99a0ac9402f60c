//! The core hooks other layers build on, over real sockets: connection ids, typed app
//! state, a sender's `is_closed`, `close_now` and `on_end` (exactly once, whatever ends
//! the connection).

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures_util::StreamExt;
use support::{close_code, next_data, send_text, start, upgrade_request, within};
use tokio::sync::{mpsc, oneshot, Mutex as AsyncMutex};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsview::{
    blocking, require_websocket, App, CloseCode, ConnectionId, Handler, HandlerContext,
    HandlerError, Message, Namespaces, NodeId, Request, Response, Settings, TrySendError,
    WebSocketSender,
};

/// Every id a connection reports is the same, and two connections differ.
#[tokio::test]
async fn ids_are_per_connection_and_shared_by_its_handles() {
    async fn report_id(mut req: Request) -> Response {
        let ws = req.websocket().expect("websocket");
        let sender = ws.sender();
        let text = format!("{} {}", ws.id(), sender.id());
        let _ = ws.send(text).await;
        while ws.wait().await.is_some() {}
        Response::empty()
    }
    let srv = start(App::new().route("/", require_websocket(report_id))).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let mut ws = srv.connect("/").await;
        let msg = next_data(&mut ws).await.expect("id report");
        let text = msg.to_text().expect("text").to_owned();
        let (view, sender) = text.split_once(' ').expect("two ids");
        assert_eq!(view, sender, "the view's and the sender's ids differ");
        let id: ConnectionId = view.parse().expect("the text form parses");
        assert_eq!(id.node(), NodeId::local());
        ids.push(id);
        within(ws.close(None)).await.expect("close");
    }
    assert_ne!(ids[0], ids[1]);
    srv.stop().await;
}

#[derive(Clone)]
struct Motto(&'static str);

#[derive(Default)]
struct StateHandler;

impl Handler for StateHandler {
    async fn on_message(
        &mut self,
        ctx: &mut HandlerContext,
        _message: Message,
    ) -> Result<(), HandlerError> {
        let motto = ctx.state::<Motto>().map_or("none", |m| m.0);
        let reply = format!("async {motto} {}", ctx.id());
        ctx.send(reply).await?;
        Ok(())
    }
}

#[derive(Default)]
struct BlockingStateHandler;

impl blocking::Handler for BlockingStateHandler {
    fn on_message(
        &mut self,
        ctx: &mut blocking::Context,
        _message: Message,
    ) -> Result<(), HandlerError> {
        let motto = ctx.state::<Motto>().map_or("none", |m| m.0);
        let reply = format!("blocking {motto} {}", ctx.id());
        ctx.send(reply)?;
        Ok(())
    }
}

/// `App::state` reaches plain views, WebSocket views, async and blocking handlers;
/// a type never added is `None`.
#[tokio::test]
async fn app_state_reaches_views_and_handlers() {
    async fn plain(req: Request) -> String {
        let motto = req.state::<Motto>().map_or("none", |m| m.0);
        let missing = req.state::<u64>().is_none();
        format!("{motto} missing={missing}")
    }
    async fn socket(mut req: Request) -> Response {
        let motto = req.state::<Motto>().map_or("none", |m| m.0).to_owned();
        let ws = req.websocket().expect("websocket");
        let _ = ws.send(format!("view {motto} {}", ws.id())).await;
        while ws.wait().await.is_some() {}
        Response::empty()
    }
    let handlers = Namespaces::new()
        .add("default", StateHandler::default)
        .add_blocking("threaded", BlockingStateHandler::default);
    let app = App::new()
        .state(Motto("carpe diem"))
        .route("/plain", plain)
        .route("/ws", require_websocket(socket));
    let srv = start(handlers.mount(app, "/socket")).await;

    assert_eq!(
        srv.get("/plain").await,
        (200, "carpe diem missing=true".to_owned())
    );
    let mut ws = srv.connect("/ws").await;
    let text = next_data(&mut ws).await.expect("view report");
    let text = text.to_text().expect("text");
    assert!(text.starts_with("view carpe diem "), "{text}");
    within(ws.close(None)).await.expect("close");

    for (path, kind) in [("/socket", "async"), ("/socket/threaded", "blocking")] {
        let mut ws = srv.connect(path).await;
        send_text(&mut ws, "hi").await;
        let reply = next_data(&mut ws).await.expect("handler reply");
        let reply = reply.to_text().expect("text");
        let rest = reply
            .strip_prefix(&format!("{kind} carpe diem "))
            .unwrap_or_else(|| panic!("{reply}"));
        assert_eq!(
            rest.parse::<ConnectionId>().expect("an id").node(),
            NodeId::local()
        );
        within(ws.close(None)).await.expect("close");
    }
    srv.stop().await;
}

/// What each view under test reports: its sender, and one event per `on_end` call.
#[derive(Clone)]
struct Probe {
    senders: mpsc::UnboundedSender<(&'static str, WebSocketSender)>,
    ended: mpsc::UnboundedSender<(&'static str, ConnectionId)>,
    release: Arc<AsyncMutex<Option<oneshot::Receiver<()>>>>,
}

impl Probe {
    fn watch(&self, case: &'static str, sender: &WebSocketSender) {
        let ended = self.ended.clone();
        sender.on_end(move |id| {
            let _ = ended.send((case, id));
        });
        let _ = self.senders.send((case, sender.clone()));
    }
}

/// `on_end` runs exactly once for each way a connection ends: the peer's close, a
/// dropped network, the view returning, the view panicking, server shutdown, and an
/// upgrade refused before it was accepted.
#[tokio::test]
async fn on_end_runs_once_whatever_ends_the_connection() {
    let (senders_tx, mut senders) = mpsc::unbounded_channel();
    let (ended_tx, mut ended) = mpsc::unbounded_channel();
    let (release_tx, release_rx) = oneshot::channel();
    let probe = Probe {
        senders: senders_tx,
        ended: ended_tx,
        release: Arc::new(AsyncMutex::new(Some(release_rx))),
    };
    let view = |case: &'static str, probe: &Probe| {
        let probe = probe.clone();
        require_websocket(move |mut req: Request| {
            let probe = probe.clone();
            async move {
                let ws = req.websocket().expect("websocket");
                probe.watch(case, &ws.sender());
                match case {
                    // Refuse before accepting: the upgrade never completes.
                    "refused" => return Response::text("no").with_status(403),
                    "returns" => {
                        let _ = ws.send("bye").await;
                        return Response::empty();
                    }
                    "panics" => {
                        ws.accept().await.expect("accept");
                        panic!("the view fails");
                    }
                    _ => {}
                }
                // The peer's close or a dropped network ends the connection while the
                // view still runs: wait until the test lets go.
                while ws.wait().await.is_some() {}
                if case == "peer-close" {
                    if let Some(release) = probe.release.lock().await.take() {
                        let _ = release.await;
                    }
                }
                Response::empty()
            }
        })
    };
    let mut app = App::new();
    for case in [
        "peer-close",
        "network-drop",
        "returns",
        "panics",
        "shutdown",
        "refused",
    ] {
        app = app.route(&format!("/{case}"), view(case, &probe));
    }
    let srv = start(app).await;

    // The peer closes; the view is still running when the connection ends.
    let mut ws = srv.connect("/peer-close").await;
    let (case, sender) = within(senders.recv()).await.expect("sender");
    assert_eq!(case, "peer-close");
    within(ws.close(None)).await.expect("close");
    assert_eq!(
        within(ended.recv()).await,
        Some(("peer-close", sender.id()))
    );
    assert!(sender.is_closed());
    assert!(sender.has_ended());
    // Once ended, on_end runs at once, in the caller.
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    sender.on_end(move |_| flag.store(true, Ordering::SeqCst));
    assert!(
        ran.load(Ordering::SeqCst),
        "on_end after the end runs at once"
    );
    assert!(!sender.close_now(CloseCode::Normal, "too late"));
    drop(release_tx); // let the view return: no second on_end

    // The network drops: raw TCP, no close frame.
    let (head, _, tcp) = srv.raw_head(&upgrade_request("/network-drop", "")).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let (_, sender) = within(senders.recv()).await.expect("sender");
    drop(tcp);
    assert_eq!(
        within(ended.recv()).await,
        Some(("network-drop", sender.id()))
    );

    // The view returns: it closes with 1000 and the client answers.
    let mut ws = srv.connect("/returns").await;
    let (_, sender) = within(senders.recv()).await.expect("sender");
    assert_eq!(next_data(&mut ws).await, Some(WsMessage::text("bye")));
    assert_eq!(close_code(&mut ws).await, Some(1000));
    drop(ws); // no need to wait out the closing handshake
    assert_eq!(within(ended.recv()).await, Some(("returns", sender.id())));

    // The view panics: 1011.
    let mut ws = srv.connect("/panics").await;
    let (_, sender) = within(senders.recv()).await.expect("sender");
    assert_eq!(close_code(&mut ws).await, Some(1011));
    drop(ws);
    assert_eq!(within(ended.recv()).await, Some(("panics", sender.id())));

    // Refused before the 101.
    let (status, _) = srv.connect_err("/refused").await;
    assert_eq!(status, 403);
    let (_, sender) = within(senders.recv()).await.expect("sender");
    assert_eq!(within(ended.recv()).await, Some(("refused", sender.id())));

    // Server shutdown: 1001, answered by the client while the server waits.
    let mut ws = srv.connect("/shutdown").await;
    let (_, sender) = within(senders.recv()).await.expect("sender");
    let client = tokio::spawn(async move { close_code(&mut ws).await });
    srv.stop().await;
    assert_eq!(within(client).await.expect("client"), Some(1001));
    assert_eq!(within(ended.recv()).await, Some(("shutdown", sender.id())));

    // Exactly once each: nothing more is reported once every connection is over.
    drop(probe);
    assert_eq!(within(ended.recv()).await, None, "an on_end ran twice");
}

/// `close_now` closes at once even with the send queue full, discarding what is queued;
/// it works once, and `is_closed` tells senders to stop.
#[tokio::test]
async fn close_now_closes_past_a_full_queue() {
    let (senders_tx, mut senders) = mpsc::unbounded_channel::<WebSocketSender>();
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let go = Arc::new(AsyncMutex::new(Some(go_rx)));
    let mut settings = Settings::default();
    settings.sender_capacity = 2;
    let app = App::new().settings(settings).route(
        "/",
        require_websocket(move |mut req: Request| {
            let (senders_tx, go) = (senders_tx.clone(), go.clone());
            async move {
                let ws = req.websocket().expect("websocket");
                // Not accepted yet: what senders queue waits in the queue.
                let _ = senders_tx.send(ws.sender());
                if let Some(go) = go.lock().await.take() {
                    let _ = go.await;
                }
                while ws.wait().await.is_some() {}
                Response::empty()
            }
        }),
    );
    let srv = start(app).await;
    let url = srv.url("/");
    let client = tokio::spawn(async move {
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("handshake");
        let mut data = Vec::new();
        loop {
            match ws.next().await {
                Some(Ok(WsMessage::Close(frame))) => {
                    return (
                        data,
                        frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                    )
                }
                Some(Ok(m)) if m.is_text() => data.push(m.into_text().expect("text")),
                Some(Ok(_)) => {}
                _ => return (data, None),
            }
        }
    });
    let sender = within(senders.recv()).await.expect("sender");
    assert!(sender.try_send("one").is_ok());
    assert!(sender.try_send("two").is_ok());
    assert!(matches!(
        sender.try_send("three"),
        Err(TrySendError::Full(_))
    ));
    assert!(!sender.is_closed());
    assert!(sender.close_now(CloseCode::from(4000), "too slow"));
    assert!(sender.is_closed(), "senders see the close at once");
    assert!(!sender.close_now(CloseCode::from(4001), "again"));
    assert!(!sender.close_now(CloseCode::from(1005), "never sendable"));
    let _ = go_tx.send(()); // the view accepts now
    let (data, close) = within(client).await.expect("client");
    assert!(data.is_empty(), "queued messages were discarded: {data:?}");
    assert_eq!(close, Some((4000, "too slow".to_owned())));
    srv.stop().await;
}
