"""Interop check with a client nobody here wrote: Python's `websockets`.

Usage: interop.py BASE_URL [CA_PEM]   (for example ws://127.0.0.1:8000, or
wss://localhost:8443 cert.pem to trust the server's test certificate)
Exits 0 when every check passes; prints what failed otherwise.
"""
import asyncio
import functools
import ssl
import sys

import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus


def check(ok, what):
    """An explicit check: `assert` is stripped under `python -O`."""
    if not ok:
        raise SystemExit(f"interop check failed: {what}")


async def main(base: str, ca: str | None) -> None:
    if base.startswith("wss://"):
        # Verifies the chain and the host name against the test's own certificate.
        context = ssl.create_default_context(cafile=ca)
        websockets.connect = functools.partial(websockets.connect, ssl=context)
    # Full echo at /: text, binary, a large message, ping.
    async with websockets.connect(base + "/", max_size=2**22) as ws:
        await ws.send("héllo")
        check(await ws.recv() == "héllo", "text echo")
        await ws.send(b"\x00\x01\xff")
        check(await ws.recv() == b"\x00\x01\xff", "binary echo")
        big = "x" * 300_000
        await ws.send(big)
        check(await ws.recv() == big, "300 kB echo")
        pong = await ws.ping(b"abc")
        await asyncio.wait_for(pong, 10)
    check(ws.close_code == 1000, f"close code {ws.close_code}, expected 1000")

    # /echo: one message, then the server closes with 1000.
    async with websockets.connect(base + "/echo") as ws:
        await ws.send("once")
        check(await ws.recv() == "once", "/echo echoes once")
        try:
            await asyncio.wait_for(ws.recv(), 10)
            check(False, "/echo: expected the server to close after one message")
        except ConnectionClosed as closed:
            check(closed.rcvd is not None and closed.rcvd.code == 1000,
                  f"/echo closes with 1000: {closed}")

    # /lower: every message lower-cased, as an iterator.
    async with websockets.connect(base + "/lower") as ws:
        for text in ["ABC", "DeF", "ÉTÉ"]:
            await ws.send(text)
            check(await ws.recv() == text.lower(), f"/lower of {text!r}")

    # Subprotocol negotiation is absent on these views: none is chosen.
    async with websockets.connect(base + "/", subprotocols=["chat"]) as ws:
        check(ws.subprotocol is None, f"no subprotocol chosen, got {ws.subprotocol!r}")

    # A WebSocket request to a path that does not exist is refused with 404.
    try:
        async with websockets.connect(base + "/missing"):
            check(False, "/missing: expected 404, the handshake succeeded")
    except InvalidStatus as refused:
        check(refused.response.status_code == 404,
              f"/missing: status {refused.response.status_code}, expected 404")

    print("interop: all checks passed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
