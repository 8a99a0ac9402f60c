//! wsview's own public types at work over real sockets: `?` in a view, the router's
//! not-found marker, the handshake rejection a middleware can read.

mod support;

use std::sync::{Arc, Mutex};

use support::{start, upgrade_request};
use wsview::{
    accept_websocket, App, BoxFuture, BuildProblem, HandshakeRejection, Middleware, Next, Request,
    Response, RouteNotFound, WebSocketMiddleware,
};

/// An error a view returns with `?` answers the request: 500 with the error's text.
#[tokio::test]
async fn question_mark_in_a_view_answers_with_the_error() {
    async fn bad_close(mut req: Request) -> Result<Response, wsview::Error> {
        if let Some(ws) = req.websocket() {
            ws.close(1005, "never sendable").await?;
        }
        Ok(Response::text("plain"))
    }
    let srv = start(App::new().route("/", accept_websocket(bad_close))).await;
    let (status, body) = srv.connect_err("/").await;
    assert_eq!(status, 500);
    assert_eq!(body, "close code 1005 may not be sent");
    assert_eq!(srv.get("/").await, (200, "plain".to_owned()));
    srv.stop().await;
}

/// The router's 404 is marked; a view's own 404 is not.
#[tokio::test]
async fn the_routers_404_is_marked() {
    async fn fallback(req: Request, next: Next) -> Response {
        let resp = next.run(req).await;
        if resp.extensions().get::<RouteNotFound>().is_some() {
            return Response::text("no such page").with_status(404);
        }
        resp
    }
    let app = App::new()
        .middleware(fallback)
        .route("/gone", |_r: Request| async { Response::not_found() });
    let srv = start(app).await;
    assert_eq!(srv.get("/gone").await, (404, "Not Found".to_owned()));
    assert_eq!(srv.get("/nowhere").await, (404, "no such page".to_owned()));
    srv.stop().await;
}

/// A middleware placed before `WebSocketMiddleware` reads why it refused an upgrade.
#[tokio::test]
async fn handshake_refusals_carry_their_rejection() {
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<HandshakeRejection>>>);
    impl Middleware for Seen {
        fn call(&self, req: Request, next: Next) -> BoxFuture<'static, Response> {
            let seen = self.0.clone();
            Box::pin(async move {
                let resp = next.run(req).await;
                if let Some(why) = resp.extensions().get::<HandshakeRejection>() {
                    seen.lock().expect("lock").push(why.clone());
                }
                resp
            })
        }
    }
    let seen = Seen::default();
    let app = App::new()
        .middleware(seen.clone())
        .middleware(WebSocketMiddleware)
        .route("/", accept_websocket(|_r: Request| async { "hi" }));
    let srv = start(app).await;
    let reply = srv
        .raw(&upgrade_request(
            "/",
            "Sec-WebSocket-Version: 8\r\nConnection: close\r\n",
        ))
        .await;
    assert!(reply.starts_with("HTTP/1.1 426"), "{reply}");
    let reply = srv
        .raw(&upgrade_request("/", "Origin: x\r\nConnection: close\r\n").replace_method("POST"))
        .await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert_eq!(
        *seen.0.lock().expect("lock"),
        [
            HandshakeRejection::UnsupportedVersion,
            HandshakeRejection::MethodNotGet
        ]
    );
    srv.stop().await;
}

trait ReplaceMethod {
    fn replace_method(self, method: &str) -> Vec<u8>;
}

impl ReplaceMethod for Vec<u8> {
    fn replace_method(self, method: &str) -> Vec<u8> {
        let text = String::from_utf8(self).expect("ascii");
        text.replacen("GET", method, 1).into_bytes()
    }
}

/// Build problems are typed: a route conflict, a bad pattern, an invalid view.
#[test]
fn build_problems_are_typed() {
    let err = App::new()
        .route("/a/{id}", |_r: Request| async { "a" })
        .route("/a/{name}", |_r: Request| async { "b" })
        .route("b", |_r: Request| async { "c" })
        .route("/ws", wsview::api_socket().token_scheme("two words"))
        .build()
        .expect_err("misconfigured");
    let problems = err.problems();
    assert_eq!(problems.len(), 3, "{err}");
    assert!(problems[0].route_error().is_some_and(|e| e.is_conflict()));
    let bad = problems[1].route_error().expect("route error");
    assert!(bad.is_invalid_pattern());
    assert_eq!(bad.pattern(), "b");
    assert!(matches!(
        &problems[2],
        BuildProblem::InvalidView { pattern, reason }
            if pattern == "/ws" && reason.contains("token scheme")
    ));
    let source: &dyn std::error::Error = &err;
    assert!(source
        .to_string()
        .starts_with("the app is misconfigured: route"));
}
