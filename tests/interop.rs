//! Interop with Python's `websockets` client against the echo example's views.
//!
//! Needs a Python with `websockets`: `scripts/test` makes the venv `.venv` and runs
//! this with it; `WSVIEW_PYTHON` names another interpreter.

mod support;

use std::path::PathBuf;

use support::{start, within};

#[path = "../examples/echo.rs"]
#[allow(dead_code)]
mod echo;

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("WSVIEW_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no Python venv at {}: run scripts/test (it creates it) or set WSVIEW_PYTHON",
        venv.display()
    );
    venv
}

#[tokio::test]
async fn python_websockets_client_interoperates() {
    let srv = start(echo::app(wsview::Settings::default())).await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/interop.py");
    let out = within(
        tokio::process::Command::new(python())
            .arg(script)
            .arg(format!("ws://{}", srv.addr))
            .kill_on_drop(true) // a hung script dies with the timed-out test
            .output(),
    )
    .await
    .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python interop failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
    srv.stop().await;
}
