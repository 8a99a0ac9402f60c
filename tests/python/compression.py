"""permessage-deflate against wsview, from two independent implementations: Python's
`websockets` client (which offers compression by default), and raw frames built and
read with Python's own zlib over a plain socket, to see what is on the wire.

Usage: compression.py ECHO_URL LIMITED_URL PLAIN_URL
  ECHO_URL     an echo view with compression on (ws://host:port/)
  LIMITED_URL  the same with a 1 MiB message limit
  PLAIN_URL    an echo view with compression off
Exits 0 when every check passes.
"""
import asyncio
import base64
import os
import socket
import struct
import sys
import zlib
from urllib.parse import urlparse

import websockets

LIMIT = 20  # seconds, an upper bound for each awaited step
TAIL = b"\x00\x00\xff\xff"


async def with_websockets(echo, limited, plain):
    async with websockets.connect(echo, max_size=None) as ws:
        ext = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        assert ext.startswith("permessage-deflate"), ext
        json = '{"user":"ada","event":"move","x":12,"y":-3}' * 200
        for msg in ["tiny", b"\x00\x01", json, json.encode(), "é" * 70000, os.urandom(50000)]:
            await ws.send(msg)
            got = await asyncio.wait_for(ws.recv(), LIMIT)
            assert got == msg, (type(msg), len(msg))
        # A fragmented, compressed message.
        await ws.send(iter([json[:100], json[100:3000], json[3000:]]))
        assert await asyncio.wait_for(ws.recv(), LIMIT) == json
    # Offered but refused by the server's settings: plain frames.
    async with websockets.connect(plain) as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        await ws.send("plain")
        assert await asyncio.wait_for(ws.recv(), LIMIT) == "plain"
    # Not offered: plain frames.
    async with websockets.connect(echo, compression=None) as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        await ws.send("no offer")
        assert await asyncio.wait_for(ws.recv(), LIMIT) == "no offer"
    # A deflate bomb: 64 MiB of zeros, about 64 KiB compressed, against a 1 MiB limit.
    async with websockets.connect(limited, max_size=None) as ws:
        try:
            await ws.send(b"\x00" * (64 << 20))
            await asyncio.wait_for(ws.recv(), LIMIT)
            raise AssertionError("the bomb was echoed")
        except websockets.ConnectionClosed as e:
            assert e.rcvd is not None and e.rcvd.code == 1009, e


def frame(opcode, payload, rsv1=False, fin=True):
    key = os.urandom(4)
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "connection closed early"
        data += chunk
    return data


def read_frame(sock):
    b0, b1 = read_exact(sock, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", read_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", read_exact(sock, 8))[0]
    assert not b1 & 0x80, "a server frame must not be masked"
    return b0, read_exact(sock, n)


def deflate(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


def raw_wire(echo):
    url = urlparse(echo)
    sock = socket.create_connection((url.hostname, url.port), timeout=LIMIT)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (f"GET / HTTP/1.1\r\nHost: {url.netloc}\r\nUpgrade: websocket\r\n"
         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10; "
         "client_max_window_bits\r\n\r\n").encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += read_exact(sock, 1)
    head = head.decode()
    assert head.startswith("HTTP/1.1 101"), head
    ext = [l for l in head.split("\r\n") if l.lower().startswith("sec-websocket-extensions:")]
    assert ext and "server_max_window_bits=10" in ext[0], head

    # Compressed text in, compressed text out (with the server's 10-bit window).
    text = ("Habe nun, ach! Philosophie, Juristerei und Medizin, " * 100).encode()
    sock.sendall(frame(1, deflate(text), rsv1=True))
    b0, payload = read_frame(sock)
    assert b0 == 0xC1, hex(b0)  # FIN, RSV1, text
    assert len(payload) < len(text) // 10, len(payload)
    assert zlib.decompressobj(-10).decompress(payload + TAIL) == text

    # Compressed across three fragments, RSV1 on the first only.
    data = deflate(b"fragmented " * 500)
    sock.sendall(frame(2, data[:5], rsv1=True, fin=False) + frame(0, data[5:20], fin=False)
                 + frame(0, data[20:]))
    b0, payload = read_frame(sock)
    assert b0 == 0xC2, hex(b0)
    assert zlib.decompressobj(-10).decompress(payload + TAIL) == b"fragmented " * 500

    # A short message is sent uncompressed (under the threshold), whichever way it came.
    sock.sendall(frame(1, b"short"))
    assert read_frame(sock) == (0x81, b"short")
    sock.sendall(frame(1, deflate(b"short too"), rsv1=True))
    assert read_frame(sock) == (0x81, b"short too")

    # RSV1 on a continuation frame is a protocol error: 1002.
    sock.sendall(frame(1, deflate(b"abc"), rsv1=True, fin=False) + frame(0, b"", rsv1=True))
    b0, payload = read_frame(sock)
    assert b0 == 0x88 and payload[:2] == struct.pack("!H", 1002), (hex(b0), payload)
    sock.close()


def main(echo, limited, plain):
    asyncio.run(asyncio.wait_for(with_websockets(echo, limited, plain), 6 * LIMIT))
    raw_wire(echo)
    print("compression: all checks passed")


if __name__ == "__main__":
    main(*sys.argv[1:4])
