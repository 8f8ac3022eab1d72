"""Loopback HTTP/HTTPS target for the benchmarks: holds each response `?ms=N` and says how long it held.

It runs as its own process (`python -m bench.target DIR`) so that its CPU is not counted against the
prober, and prints one JSON line with its ports and CA file once both listeners are up. Every
response carries `X-Held-Ms`: the time from the end of the request head to the response write. With
`?id=KEY` that figure is also kept, and `GET /held` returns the kept figures and forgets them, so that
clients which do not show response headers (blackbox_exporter) can be compared on the same footing.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

_BODY = b'{"status":"ok"}'


class _Conn(asyncio.Protocol):
    """One client connection; requests are answered one at a time, in order (no pipelining needed)."""

    def __init__(self, held: dict[str, float]) -> None:
        self.held = held
        self.buf = b""
        self.busy = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._next()

    def _next(self) -> None:
        if self.busy or self.transport is None or self.transport.is_closing():
            return
        head, sep, rest = self.buf.partition(b"\r\n\r\n")
        if not sep:
            return
        self.buf, self.busy = rest, True
        started = time.monotonic()
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        url = urllib.parse.urlsplit(parts[1] if len(parts) > 1 else "/")
        query = dict(urllib.parse.parse_qsl(url.query))
        close = any(line.lower().replace(" ", "") == "connection:close" for line in lines[1:])
        if url.path == "/hold":
            hold_s = float(query.get("ms", "0")) / 1000
            args = (200, _BODY, started, query.get("id"), close)
            if hold_s > 0:
                asyncio.get_running_loop().call_later(hold_s, self._respond, *args)
            else:
                self._respond(*args)
        elif url.path == "/held":
            body = json.dumps(self.held).encode()
            self.held.clear()
            self._respond(200, body, started, None, close)
        else:
            self._respond(404, b'{"error":"not found"}', started, None, close)

    def _respond(self, status: int, body: bytes, started: float, key: str | None, close: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        held_ms = (time.monotonic() - started) * 1000
        if key:
            self.held[key] = held_ms
        reason = "OK" if status == 200 else "Not Found"
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nX-Held-Ms: {held_ms:.3f}\r\n"
                f"{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n")
        self.transport.write(head.encode() + body)
        self.busy = False
        if close:
            self.transport.close()
        else:
            self._next()


async def _serve(directory: Path) -> None:
    import trustme

    ca = trustme.CA()
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    loop = asyncio.get_running_loop()
    held: dict[str, float] = {}
    plain = await loop.create_server(lambda: _Conn(held), "127.0.0.1", 0, backlog=4096)
    tls = await loop.create_server(lambda: _Conn(held), "127.0.0.1", 0, backlog=4096, ssl=ctx)
    ports = {"http": plain.sockets[0].getsockname()[1], "https": tls.sockets[0].getsockname()[1]}
    print(json.dumps({**ports, "ca_file": str(ca_file)}), flush=True)
    stop = loop.create_future()
    # The driver keeps our stdin open; when it goes away (even killed), so do we.
    loop.add_reader(sys.stdin.fileno(), lambda: stop.done() or (sys.stdin.buffer.read1(1) or stop.set_result(None)))
    await stop


class Target:
    """The target process, seen from the driver: URLs, kept hold times, its CPU."""

    def __init__(self, directory: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.target", str(directory)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     cwd=Path(__file__).resolve().parent.parent)
        assert self.proc.stdout is not None
        info: dict[str, Any] = json.loads(self.proc.stdout.readline())
        self.ports: dict[str, int] = {"http": info["http"], "https": info["https"]}
        self.ca_file: str = info["ca_file"]

    def url(self, scheme: str, hold_ms: float = 0, key: str | None = None) -> str:
        query = f"ms={hold_ms:g}" + (f"&id={key}" if key else "")
        return f"{scheme}://127.0.0.1:{self.ports[scheme]}/hold?{query}"

    def held(self) -> dict[str, float]:
        """Hold times (ms) of the requests sent with an id since the last call."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ports['http']}/held", timeout=10) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    asyncio.run(_serve(Path(sys.argv[1])))
