//! Errors as responses: `?` in views on wsview's errors and the user's, with the
//! documented status mapping, over the in-process client.

use wsview::prelude::*;
use wsview::test::TestClient;

#[derive(Debug)]
struct Unavailable;

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("database is down (secret detail)")
    }
}

impl std::error::Error for Unavailable {}

/// A user's own error type with its own status: usable with `?` directly.
enum AppError {
    NoSuchRoom(String),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::NoSuchRoom(room) => {
                Response::text(format!("no room {room}")).with_status(404)
            }
        }
    }
}

async fn room(req: Request) -> Result<Response, AppError> {
    let room = req.param("room").unwrap_or_default();
    if room != "lobby" {
        return Err(AppError::NoSuchRoom(room.to_owned()));
    }
    Ok(Response::text("welcome"))
}

async fn fails(mut req: Request) -> Result<Response, ViewError> {
    match req.query("how").as_deref() {
        Some("other") => Err(Unavailable)?,
        Some("json") => {
            let v: serde_json::Value = req.json().await.or_status(422)?;
            Ok(Response::json(&v))
        }
        Some("missing") => {
            let name = req.query("name").or_status(400)?;
            Ok(Response::text(name))
        }
        _ => Ok(Response::text("fine")),
    }
}

/// `?` on the WebSocket's own error inside a view returning ViewError: the socket is
/// closed by the view's return after the error.
async fn ws_then_fail(mut req: Request) -> Result<Response, ViewError> {
    let ws = req.websocket().expect("require_websocket");
    ws.send("first").await?;
    ws.close(1005, "").await?; // 1005 may never be sent: an error
    Ok(Response::empty())
}

fn client() -> TestClient {
    TestClient::new(
        App::new()
            .route("/rooms/{room}", room)
            .route("/fails", fails)
            .route("/ws", require_websocket(ws_then_fail)),
    )
    .unwrap()
}

#[tokio::test]
async fn a_users_error_type_answers_with_its_own_status() {
    let c = client();
    assert_eq!(c.get("/rooms/lobby").await.unwrap().text(), "welcome");
    let resp = c.get("/rooms/attic").await.unwrap();
    assert_eq!(
        (resp.status().as_u16(), resp.text()),
        (404, "no room attic".to_owned())
    );
}

#[tokio::test]
async fn any_error_by_question_mark_is_a_500_that_hides_its_text() {
    let resp = client().get("/fails?how=other").await.unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.text(), "Internal Server Error");
}

#[tokio::test]
async fn or_status_picks_the_status_and_keeps_the_reason() {
    let c = client();
    let resp = c.post("/fails?how=json").body("{nope").await.unwrap();
    assert_eq!(resp.status(), 422);
    assert!(
        resp.text().contains("key must be a string"),
        "{}",
        resp.text()
    );
    let resp = c.get("/fails?how=missing").await.unwrap();
    assert_eq!(
        (resp.status().as_u16(), resp.text()),
        (400, "Bad Request".to_owned())
    );
    assert_eq!(
        c.get("/fails?how=missing&name=ada").await.unwrap().text(),
        "ada"
    );
}

#[tokio::test]
async fn a_wsview_error_keeps_its_status_and_an_accepted_socket_closes_normally() {
    let mut ws = client().connect("/ws").await.unwrap();
    assert_eq!(ws.recv_text().await.unwrap(), "first");
    assert_eq!(ws.closed().await.unwrap().code, CloseCode::Normal);
}

/// A wsview error before accepting: the refusal carries its status and its own text
/// (not hidden like a foreign error's), so the mapping is wsview::Error::status.
async fn bad_close_first(mut req: Request) -> Result<Response, ViewError> {
    let ws = req.websocket().expect("require_websocket");
    ws.close(1005, "").await?;
    Ok(Response::empty())
}

#[tokio::test]
async fn a_wsview_error_converted_by_question_mark_keeps_its_text() {
    let c = TestClient::new(App::new().route("/bad", require_websocket(bad_close_first))).unwrap();
    let resp = c.connect("/bad").refused().await.unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.text(), "close code 1005 may not be sent");
}
