//! `WEBSOCKET_ACCEPT_ALL` from the environment. Its own test binary: it sets a process
//! environment variable, which must not race with other tests.

mod support;

use support::{next_data, send_text, start};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsview::{App, Request, Response, Settings};

async fn plain_view(mut req: Request) -> Response {
    match req.websocket() {
        None => Response::text("plain"),
        Some(ws) => {
            while let Some(m) = ws.wait().await {
                let _ = ws.send(m).await;
            }
            Response::empty()
        }
    }
}

#[tokio::test]
async fn accept_all_from_environment() {
    for (value, accepted) in [("yes", true), ("TRUE", true), ("1", true), ("0", false)] {
        // Safe here: this binary has one test and sets the variable before any thread
        // reads the environment.
        unsafe_free_set_env("WEBSOCKET_ACCEPT_ALL", value);
        let settings = Settings::from_env().expect("a valid value");
        assert_eq!(settings.websocket_accept_all, accepted, "{value}");
        let srv = start(App::new().settings(settings).route("/", plain_view)).await;
        if accepted {
            let mut ws = srv.connect("/").await;
            send_text(&mut ws, value).await;
            assert_eq!(next_data(&mut ws).await, Some(WsMessage::text(value)));
            drop(ws);
        } else {
            assert_eq!(srv.connect_err("/").await.0, 400);
        }
        srv.stop().await;
    }
    // A value that is not a boolean is an error, not `false`.
    unsafe_free_set_env("WEBSOCKET_ACCEPT_ALL", "maybe");
    let err = Settings::from_env().expect_err("maybe is not a boolean");
    assert_eq!(
        (err.variable(), err.value()),
        ("WEBSOCKET_ACCEPT_ALL", "maybe")
    );
}

/// `std::env::set_var` is safe on edition 2021; named so its one use stands out.
fn unsafe_free_set_env(key: &str, value: &str) {
    std::env::set_var(key, value);
}
