//! Two real browsers in one chat room: Debian's headless Chromium (two instances,
//! driven by chromedriver through Selenium) uses the chat example's page; each page
//! shows the other's line, the room counts both, and a page that goes away leaves.
//!
//! Needs `/usr/bin/chromium`, `/usr/bin/chromedriver` and a Python with `selenium`:
//! `scripts/test` installs all three when missing.

mod support;

use std::path::{Path, PathBuf};

use std::time::Duration;

use support::start;

#[path = "../examples/chat.rs"]
#[allow(dead_code)]
mod chat;

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("WSVIEW_PYTHON") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")
}

#[tokio::test]
async fn two_chromium_pages_in_one_room_see_each_other() {
    for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: run scripts/test (it installs chromium and chromium-driver)"
        );
    }
    let groups = wsview::groups::Groups::new();
    let srv = start(chat::app(wsview::Settings::default(), groups.clone())).await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/chat_browser.py");
    // Two browsers start and each waits on its own events (20 s bound each): allow more
    // than one event's bound for the whole script.
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(python())
            .arg(script)
            .arg(format!("http://{}", srv.addr))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser script finished within 120 s")
    .expect("run the browser script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("all checks passed"),
        "chat browser check failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // Both pages are gone: the room is empty and nothing was dropped.
    let snap = groups.snapshot();
    assert_eq!(snap.total.dropped, 0, "{snap:?}");
    srv.stop().await;
}
