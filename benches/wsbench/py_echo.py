"""Python websockets' echo server for wsbench's compressed scenario (e): the library's
defaults, which negotiate permessage-deflate (with context takeover, 12-bit windows).

Usage: py_echo.py HOST:PORT
"""
import asyncio
import sys

import websockets


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main(addr):
    host, port = addr.rsplit(":", 1)
    async with websockets.serve(echo, host, int(port), max_size=None):
        print(f"listening on {addr}", flush=True)
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
