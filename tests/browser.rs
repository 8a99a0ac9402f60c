//! A real browser: Debian's headless Chromium, driven by chromedriver (Selenium), uses
//! the echo example's page and its `/echo` and `/lower` views.
//!
//! Needs `/usr/bin/chromium`, `/usr/bin/chromedriver` and a Python with `selenium`:
//! `scripts/test` installs all three when missing.

mod support;

use support::{require_browser, run_script, start, LIMIT};

#[path = "../examples/echo.rs"]
#[allow(dead_code)]
mod echo;

#[tokio::test]
async fn chromium_echoes_through_the_page_and_the_views() {
    require_browser();
    let srv = start(echo::app(wsview::Settings::default())).await;
    run_script("browser.py", [format!("http://{}", srv.addr)], LIMIT).await;
    srv.stop().await;
}
