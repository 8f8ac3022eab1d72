"""Misbehaving WebSocket targets on loopback, speaking RFC 6455 by hand so that each fault is exact:
a heartbeat flood, a 50 MB frame, a close handshake that is never answered.

One server serves every mode on one port, picked by the URL path (`ws://127.0.0.1:PORT/heartbeats`).
`serving()` runs it as a child process (this file as a script, which prints its port on the first
line), so the target's CPU and memory are never counted as the probe's.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import struct
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator

HEARTBEATS_PER_S = 10_000
HUGE_FRAME_BYTES = 50 * 1024 * 1024
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
TEXT, CLOSE = 0x1, 0x8


def frame(payload: bytes, opcode: int = TEXT) -> bytes:
    """One unmasked, unfragmented server frame."""
    n = len(payload)
    if n < 126:
        length = bytes([n])
    elif n < 1 << 16:
        length = bytes([126]) + struct.pack("!H", n)
    else:
        length = bytes([127]) + struct.pack("!Q", n)
    return bytes([0x80 | opcode]) + length + payload


def event(name: str) -> bytes:
    return frame(json.dumps({"type": name}).encode())


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(opcode, unmasked payload) of the client's next frame."""
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if b1 & 0x80 else bytes(4)
    data = await reader.readexactly(n)
    return b0 & 0x0F, bytes(c ^ mask[i % 4] for i, c in enumerate(data))


async def until_message(reader: asyncio.StreamReader) -> None:
    """Wait for the probe's chat message (its first text frame)."""
    while (await read_frame(reader))[0] != TEXT:
        pass


async def answer_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A well-behaved end: echo the client's close frame, then close TCP."""
    while True:
        opcode, data = await read_frame(reader)
        if opcode == CLOSE:
            writer.write(frame(data[:2], CLOSE))
            return


async def heartbeats(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, started: bool,
                     per_s: int | None = HEARTBEATS_PER_S) -> None:
    """`per_s` heartbeat frames a second, paced by the clock (None: as fast as TCP takes them),
    until the probe closes. With `started`, the probe's message is answered by `agent_started` only.
    """
    loop = asyncio.get_running_loop()
    beat, sent, t0 = event("heartbeat"), 0, loop.time()
    closing = asyncio.ensure_future(_flood_until_close(reader, writer, started))
    while not closing.done():
        due = sent + 1000 if per_s is None else int((loop.time() - t0) * per_s)
        writer.write(beat * (due - sent))
        sent = due
        await writer.drain()
        await asyncio.sleep(0 if per_s is None else 0.001)
    await closing


async def _flood_until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, started: bool) -> None:
    if started:
        await until_message(reader)
        writer.write(event("agent_started"))
    await answer_close(reader, writer)


async def huge_frame(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer the message with one 50 MB text frame, streamed in 1 MiB pieces, then behave."""
    await until_message(reader)
    head = b'{"type": "agent_started", "pad": "'
    tail = b'"}'
    pad = HUGE_FRAME_BYTES - len(head) - len(tail)
    writer.write(bytes([0x80 | TEXT, 127]) + struct.pack("!Q", HUGE_FRAME_BYTES) + head)
    piece = b"a" * (1 << 20)
    while pad > 0:
        writer.write(piece[:pad])
        pad -= len(piece)
        await writer.drain()
    writer.write(tail)
    await answer_close(reader, writer)


async def never_answers_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                              echo: bool) -> None:
    """A complete run, then the close is ignored (or, with `echo`, answered but TCP is never closed)."""
    await until_message(reader)
    writer.write(event("agent_started") + event("agent_completed"))
    while True:
        opcode, data = await read_frame(reader)
        if opcode == CLOSE and echo:
            writer.write(frame(data[:2], CLOSE))


Mode = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
MODES: dict[str, Mode] = {
    "heartbeats": lambda r, w: heartbeats(r, w, started=False),
    "heartbeats-after-start": lambda r, w: heartbeats(r, w, started=True),
    "heartbeats-unpaced": lambda r, w: heartbeats(r, w, started=False, per_s=None),
    "huge-frame": huge_frame,
    "ignores-close": lambda r, w: never_answers_close(r, w, echo=False),
    "keeps-tcp-open": lambda r, w: never_answers_close(r, w, echo=True),
}


async def _upgrade(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
    """Accept the HTTP upgrade; the request path."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    lines = head.split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + _GUID).digest()).decode()
    writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
    return lines[0].split()[1]


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        mode = MODES[(await _upgrade(reader, writer)).strip("/")]
        writer.write(event("connection_established"))
        await mode(reader, writer)
    except (OSError, asyncio.IncompleteReadError, KeyError):
        pass
    finally:
        writer.close()


async def _main() -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


@contextlib.contextmanager
def serving() -> Iterator[int]:
    """The fault server in a child process; yields its port once it listens."""
    proc = subprocess.Popen([sys.executable, __file__], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the port is printed, or the child dies
        if not line.strip().isdigit():
            raise RuntimeError(f"WebSocket fault server did not start (exit {proc.poll()})")
        yield int(line)
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


if __name__ == "__main__":
    asyncio.run(_main())
