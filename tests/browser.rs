//! A real browser: Debian's headless Chromium, driven by chromedriver (Selenium), uses
//! the echo example's page and its `/echo` and `/lower` views.
//!
//! Needs `/usr/bin/chromium`, `/usr/bin/chromedriver` and a Python with `selenium`:
//! `scripts/test` installs all three when missing.

mod support;

use std::path::{Path, PathBuf};

use support::{start, within};

#[path = "../examples/echo.rs"]
#[allow(dead_code)]
mod echo;

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("WSVIEW_PYTHON") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")
}

#[tokio::test]
async fn chromium_echoes_through_the_page_and_the_views() {
    for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: run scripts/test (it installs chromium and chromium-driver)"
        );
    }
    let srv = start(echo::app(wsview::Settings::default())).await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/browser.py");
    let out = within(
        tokio::process::Command::new(python())
            .arg(script)
            .arg(format!("http://{}", srv.addr))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("run the browser script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("all checks passed"),
        "browser check failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    srv.stop().await;
}
