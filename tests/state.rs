//! App state from every place a view's code runs, the groups handle among it, through
//! the in-process client (the real-socket version for views and handlers is in
//! tests/hooks.rs).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use wsview::groups::Groups;
use wsview::prelude::*;
use wsview::test::TestClient;
use wsview::{blocking, Next};

#[derive(Clone)]
struct Motto(&'static str);

#[derive(Clone, Default)]
struct Seen(Arc<AtomicUsize>);

fn blocking_view(req: Request, ws: &mut blocking::WebSocket) -> Response {
    let motto = req.state::<Motto>().map_or("none", |m| m.0);
    let _ = ws.send(format!("blocking view: {motto}"));
    Response::empty()
}

/// Joins the room through the Groups handle found in the app state, and relays.
async fn room(mut req: Request) -> Response {
    let Some(groups) = req.state::<Groups>().cloned() else {
        return Response::text("no Groups in the state").with_status(500);
    };
    let ws = req.websocket().expect("require_websocket");
    groups.add("room", &ws.sender());
    let _ = ws.send("joined").await;
    while let Some(msg) = ws.wait().await {
        groups.send_except("room", ws.id(), msg);
    }
    Response::empty()
}

fn client(groups: Groups, seen: Seen) -> TestClient {
    let app = App::new()
        .state(Motto("carpe diem"))
        .state(groups)
        .state(seen)
        .middleware(|req: Request, next: Next| async move {
            if let Some(seen) = req.state::<Seen>() {
                seen.0.fetch_add(1, Ordering::Relaxed);
            }
            next.run(req).await
        })
        .route("/blocking", blocking::view(blocking_view))
        .route("/room", require_websocket(room));
    TestClient::new(app).expect("app builds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_view_and_a_middleware_reach_the_state() {
    let seen = Seen::default();
    let client = client(Groups::new(), seen.clone());
    let mut ws = client.connect("/blocking").await.unwrap();
    assert_eq!(ws.recv_text().await.unwrap(), "blocking view: carpe diem");
    assert_eq!(ws.closed().await.unwrap().code, CloseCode::Normal);
    assert_eq!(seen.0.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn the_groups_handle_in_the_state_is_the_one_the_app_was_given() {
    let groups = Groups::new();
    let client = client(groups.clone(), Seen::default());
    let mut a = client.connect("/room").await.unwrap();
    let mut b = client.connect("/room").await.unwrap();
    assert_eq!(a.recv_text().await.unwrap(), "joined");
    assert_eq!(b.recv_text().await.unwrap(), "joined");
    // The handle kept outside the app sees the members the views added...
    assert_eq!(groups.members("room"), 2);
    // ...and the views relay through it.
    a.send("hi from a").await.unwrap();
    assert_eq!(b.recv_text().await.unwrap(), "hi from a");
    a.expect_nothing(std::time::Duration::from_millis(30))
        .await
        .unwrap();
    // A push from outside the app reaches both.
    groups.send("room", "from outside");
    assert_eq!(a.recv_text().await.unwrap(), "from outside");
    assert_eq!(b.recv_text().await.unwrap(), "from outside");
}
