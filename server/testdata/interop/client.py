"""Interoperability client for c1m's echo handler, on Python's `websockets`.

Run by server/interop_python_linux_test.go with Debian's interpreter:

    /usr/bin/python3 client.py ws://127.0.0.1:PORT/ws 0,125,126,65535,65536

The sizes come from the Go test's echoSizes. For each size it sends a text
and a binary message, whole and then fragmented, and checks the echo; then a
ping whose pong must carry the same payload; then the close handshake (we
send 1000, the server must answer 1000). It prints one line per check and
exits non-zero on the first mismatch.

Debian 12 ships websockets 10.4, whose client is asyncio only (the sync
client, websockets.sync.client, arrived in 11.0), so this uses asyncio.
"""

import asyncio
import sys

import websockets

TIMEOUT = 10  # seconds for any one step


def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)


def ok(msg):
    print("ok   " + msg, flush=True)


def payload(text, n):
    """n bytes to echo; the same content as interopPayload in the Go test."""
    if text:
        return "\u00e9" * (n // 2) + "a" * (n % 2)
    return bytes(i % 251 for i in range(n))


def fragments(p):
    """Split p like interopFragments in the Go test: a first fragment of one
    unit, then halves of the rest, or 4093-unit pieces past 8 KiB. Units are
    bytes for binary and code points for text: websockets takes text
    fragments as str, so it cannot split a code point. An empty p gives two
    empty fragments (websockets sends nothing at all for an empty iterable).
    websockets then ends the message with an empty FIN frame of its own."""
    if len(p) == 0:
        return [p, p]
    frags = [p[:1]]
    rest = p[1:]
    size = 4093 if len(p) > 8192 else max(1, (len(rest) + 1) // 2)
    while rest:
        frags.append(rest[:size])
        rest = rest[size:]
    return frags


async def expect_echo(ws, want, how):
    kind = "text" if isinstance(want, str) else "binary"
    n = len(want.encode()) if isinstance(want, str) else len(want)
    try:
        got = await asyncio.wait_for(ws.recv(), TIMEOUT)
    except Exception as e:  # noqa: BLE001 - report any failure as a mismatch
        fail(f"{how} {kind} echo of {n} bytes: {type(e).__name__}: {e}")
    if type(got) is not type(want):
        fail(f"{how} {kind} echo of {n} bytes: got a {type(got).__name__} message")
    if got != want:
        fail(f"{how} {kind} echo of {n} bytes: payload differs ({len(got)} units back)")
    ok(f"{how} {kind} echo of {n} bytes")


async def main(url, sizes):
    print(f"websockets {websockets.__version__}, python {sys.version.split()[0]}", flush=True)
    # max_size: the largest echo is 64 KiB, so the limit must exceed 65,536
    # (websockets' default is 1 MiB; set it so a change of default cannot
    # break this). ping_interval=None: no keepalive pings of our own, so the
    # one ping below is the only one outstanding and only a pong with its
    # exact payload can complete it. The default compression offers
    # permessage-deflate, which the server must decline.
    async with websockets.connect(url, max_size=1 << 20, ping_interval=None,
                                  open_timeout=TIMEOUT, close_timeout=TIMEOUT) as ws:
        ok(f"handshake, extensions {[type(e).__name__ for e in ws.extensions] or 'none'}")
        for n in sizes:
            for text in (True, False):
                msg = payload(text, n)
                await ws.send(msg)
                await expect_echo(ws, msg, "whole")
                frags = fragments(msg)
                await ws.send(frags)
                await expect_echo(ws, msg, f"fragmented ({len(frags) + 1} frames)")

        # websockets completes a ping's waiter only on a pong whose payload
        # equals the ping's (or one of a later ping's; there is none).
        data = b"c1m-python-ping"
        waiter = await ws.ping(data)
        try:
            await asyncio.wait_for(waiter, TIMEOUT)
        except Exception as e:  # noqa: BLE001
            fail(f"no pong with payload {data!r}: {type(e).__name__}: {e}")
        ok(f"pong with payload {data!r}")

        await ws.send("after ping")
        await expect_echo(ws, "after ping", "whole")

        await ws.close(code=1000, reason="bye")
        if ws.close_sent is None or ws.close_sent.code != 1000:
            fail(f"close: sent {ws.close_sent}, want code 1000")
        if ws.close_rcvd is None:
            fail("close: the server sent no close frame")
        if ws.close_rcvd.code != 1000:
            fail(f"close: server answered {ws.close_rcvd.code} {ws.close_rcvd.reason!r}, want 1000")
        if ws.close_rcvd_then_sent is not False:
            fail("close: the server's close frame came before ours")
        ok(f"close handshake: sent 1000, received {ws.close_rcvd.code}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        fail(f"usage: {sys.argv[0]} WS_URL SIZES (comma-separated byte counts)")
    asyncio.run(main(sys.argv[1], [int(s) for s in sys.argv[2].split(",")]))
