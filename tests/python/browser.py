"""A real browser against the echo example: Debian's headless Chromium, driven by
chromedriver through Selenium.

Usage: browser.py BASE_URL [SPKI_SHA256]   (for example http://127.0.0.1:8000, or
https://localhost:8443 and the base64 SHA-256 of the test certificate's public key,
which Chromium then trusts for this run)
Checks the page at / (type a message, see its echo), then /echo and /lower from the
page's own JavaScript WebSocket. Exits 0 when every check passes.
"""
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

LIMIT = 20  # seconds, an upper bound for each awaited event


def check(ok, what):
    """An explicit check: `assert` is stripped under `python -O`."""
    if not ok:
        raise SystemExit(f"browser check failed: {what}")


def browser(profile, spki=None):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    if spki:
        options.add_argument(f"--ignore-certificate-errors-spki-list={spki}")
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


# Runs in the page: opens a WebSocket, sends each message, collects the replies and
# the close code, and hands them back to Selenium.
SCRIPT = """
const [url, messages, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
const got = [];
const ws = new WebSocket(url);
ws.onopen = () => messages.forEach((m) => ws.send(m));
ws.onmessage = (e) => {
  got.push(e.data);
  if (got.length === messages.length && url.endsWith('/lower')) ws.close(1000);
};
ws.onclose = (e) => done({got, code: e.code});
ws.onerror = () => got.push('error');
"""


def main(base, spki=None):
    ws_base = "wss://" + base[len("https://"):] if base.startswith("https://") \
        else base.replace("http://", "ws://")
    with tempfile.TemporaryDirectory() as profile:
        driver = browser(profile, spki)
        try:
            driver.set_script_timeout(LIMIT)
            driver.get(base + "/")
            wait = WebDriverWait(driver, LIMIT)
            wait.until(lambda d: d.find_element(By.ID, "status").text == "connected")
            box = driver.find_element(By.ID, "text")
            box.send_keys("hello from a browser")
            box.submit()
            wait.until(lambda d: "echo: hello from a browser"
                       in d.find_element(By.ID, "log").text)

            once = driver.execute_async_script(SCRIPT, ws_base + "/echo", ["once"])
            check(once == {"got": ["once"], "code": 1000}, f"/echo from the page: {once}")

            lower = driver.execute_async_script(SCRIPT, ws_base + "/lower", ["HeLLo", "ÉTÉ"])
            check(lower["got"] == ["hello", "été"], f"/lower from the page: {lower}")
        finally:
            driver.quit()
    print("browser: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
