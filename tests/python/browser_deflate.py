"""Headless Chromium against an echo view with compression on: the page's WebSocket
negotiates permessage-deflate (`ws.extensions`) and echoes short and long messages.

Usage: browser_deflate.py WS_URL   (for example ws://127.0.0.1:8000/)
"""
import sys
import tempfile

from browser import LIMIT, browser

SCRIPT = """
const [url, messages, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
const got = [];
const ws = new WebSocket(url);
ws.onopen = () => messages.forEach((m) => ws.send(m));
ws.onmessage = (e) => {
  got.push(e.data);
  if (got.length === messages.length) ws.close(1000);
};
ws.onclose = (e) => done({got, code: e.code, extensions: ws.extensions});
ws.onerror = () => got.push('error');
"""


def main(url):
    long = '{"user":"ada","event":"move","x":12,"y":-3}' * 300
    messages = ["short", long, "été " * 5000, long]
    with tempfile.TemporaryDirectory() as profile:
        driver = browser(profile)
        try:
            driver.set_script_timeout(LIMIT)
            driver.get(url.replace("ws://", "http://"))
            result = driver.execute_async_script(SCRIPT, url, messages)
        finally:
            driver.quit()
    assert result["extensions"].startswith("permessage-deflate"), result["extensions"]
    assert result["got"] == messages, [len(m) for m in result["got"]]
    assert result["code"] == 1000, result["code"]
    print("browser deflate: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
