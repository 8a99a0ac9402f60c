//! Interop with Python's `websockets` client against the echo example's views.
//!
//! Needs a Python with `websockets`: `scripts/test` makes the venv `.venv` and runs
//! this with it; `WSVIEW_PYTHON` names another interpreter.

mod support;

use support::{run_script, start, LIMIT};

#[path = "../examples/echo.rs"]
#[allow(dead_code)]
mod echo;

#[tokio::test]
async fn python_websockets_client_interoperates() {
    let srv = start(echo::app(wsview::Settings::default())).await;
    run_script("interop.py", [format!("ws://{}", srv.addr)], LIMIT).await;
    srv.stop().await;
}
