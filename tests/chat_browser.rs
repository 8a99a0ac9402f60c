//! Two real browsers in one chat room: Debian's headless Chromium (two instances,
//! driven by chromedriver through Selenium) uses the chat example's page; each page
//! shows the other's line, the room counts both, and a page that goes away leaves.
//!
//! Needs `/usr/bin/chromium`, `/usr/bin/chromedriver` and a Python with `selenium`:
//! `scripts/test` installs all three when missing.

mod support;

use std::time::Duration;

use support::{require_browser, run_script, start};

#[path = "../examples/chat.rs"]
#[allow(dead_code)]
mod chat;

#[tokio::test]
async fn two_chromium_pages_in_one_room_see_each_other() {
    require_browser();
    let groups = wsview::groups::Groups::new();
    let srv = start(chat::app(wsview::Settings::default(), groups.clone())).await;
    // Two browsers start and each waits on its own events (20 s bound each): allow more
    // than one event's bound for the whole script.
    let limit = Duration::from_secs(120);
    run_script("chat_browser.py", [format!("http://{}", srv.addr)], limit).await;
    // Both pages are gone: the room is empty and nothing was dropped.
    let snap = groups.snapshot();
    assert_eq!(snap.total.dropped, 0, "{snap:?}");
    srv.stop().await;
}
