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


async def main(base: str, ca: str | None) -> None:
    if base.startswith("wss://"):
        # Verifies the chain and the host name against the test's own certificate.
        context = ssl.create_default_context(cafile=ca)
        websockets.connect = functools.partial(websockets.connect, ssl=context)
    # Full echo at /: text, binary, a large message, ping.
    async with websockets.connect(base + "/", max_size=2**22) as ws:
        await ws.send("héllo")
        assert await ws.recv() == "héllo"
        await ws.send(b"\x00\x01\xff")
        assert await ws.recv() == b"\x00\x01\xff"
        big = "x" * 300_000
        await ws.send(big)
        assert await ws.recv() == big
        pong = await ws.ping(b"abc")
        await asyncio.wait_for(pong, 10)
    assert ws.close_code == 1000, ws.close_code

    # /echo: one message, then the server closes with 1000.
    async with websockets.connect(base + "/echo") as ws:
        await ws.send("once")
        assert await ws.recv() == "once"
        try:
            await asyncio.wait_for(ws.recv(), 10)
            raise AssertionError("expected the server to close")
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1000, closed

    # /lower: every message lower-cased, as an iterator.
    async with websockets.connect(base + "/lower") as ws:
        for text in ["ABC", "DeF", "ÉTÉ"]:
            await ws.send(text)
            assert await ws.recv() == text.lower()

    # Subprotocol negotiation is absent on these views: none is chosen.
    async with websockets.connect(base + "/", subprotocols=["chat"]) as ws:
        assert ws.subprotocol is None

    # A WebSocket request to a path that does not exist is refused with 404.
    try:
        async with websockets.connect(base + "/missing"):
            raise AssertionError("expected 404")
    except InvalidStatus as refused:
        assert refused.response.status_code == 404, refused.response.status_code

    print("interop: all checks passed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
