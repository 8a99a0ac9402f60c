"""Two real browsers in one chat room: Debian's headless Chromium, driven by
chromedriver through Selenium, against the chat example.

Usage: chat_browser.py BASE_URL [BASE_URL2]   (for example http://127.0.0.1:8000)
With BASE_URL2 the second browser uses that server (another process sharing rooms
through Redis), and the room counts are checked on both.
Opens the page in two separate Chromium instances, joins both to the same room under
two names, sends a line from each and checks that each page shows the other's line,
that GET /rooms/ROOM counts both, and that the first page sees the second leave.
Exits 0 when every check passes.
"""
import json
import sys
import tempfile
import urllib.request

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from browser import LIMIT, browser

ROOM = "browser-room"


def log_text(driver):
    return driver.find_element(By.ID, "log").text


def join(driver, base, name):
    driver.get(base + "/")
    driver.find_element(By.ID, "name").send_keys(name)
    room = driver.find_element(By.ID, "room")
    room.clear()
    room.send_keys(ROOM)
    driver.find_element(By.ID, "join-button").click()
    WebDriverWait(driver, LIMIT).until(
        lambda d: d.find_element(By.ID, "status").text == "connected to " + ROOM)


def say(driver, text):
    box = driver.find_element(By.ID, "text")
    box.send_keys(text)
    driver.find_element(By.ID, "send").click()


def members(driver):
    return driver.find_element(By.ID, "members").text


def main(base, base2=None):
    base2 = base2 or base
    with tempfile.TemporaryDirectory() as p1, tempfile.TemporaryDirectory() as p2:
        alice = browser(p1)
        bob = None
        try:
            bob = browser(p2)
            join(alice, base, "alice")
            join(bob, base2, "bob")
            # Alice was there first: she sees Bob join and the count go to 2.
            WebDriverWait(alice, LIMIT).until(lambda d: "bob joined" in log_text(d))
            WebDriverWait(alice, LIMIT).until(lambda d: members(d) == "2")
            WebDriverWait(bob, LIMIT).until(lambda d: members(d) == "2")
            # A late joiner sees nothing sent before it joined.
            assert "alice joined" not in log_text(bob), log_text(bob)

            for b in {base, base2}:
                with urllib.request.urlopen(f"{b}/rooms/{ROOM}", timeout=LIMIT) as r:
                    body = json.load(r)
                assert body == {"room": ROOM, "members": 2}, (b, body)

            say(alice, "hello from alice")
            say(bob, "hello from bob")
            for d in (alice, bob):
                WebDriverWait(d, LIMIT).until(lambda d: "alice: hello from alice" in log_text(d))
                WebDriverWait(d, LIMIT).until(lambda d: "bob: hello from bob" in log_text(d))

            # Bob closes his browser: Alice sees him leave, the room has one member.
            bob.quit()
            bob = None
            WebDriverWait(alice, LIMIT).until(lambda d: "bob left" in log_text(d))
            WebDriverWait(alice, LIMIT).until(lambda d: members(d) == "1")
        finally:
            alice.quit()
            if bob is not None:
                bob.quit()
    print("chat browser: all checks passed")


if __name__ == "__main__":
    main(*sys.argv[1:3])
