"""Real loopback HTTP/HTTPS targets for probe tests: threaded servers on port 0 with trustme certificates."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import json
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import trustme
import yaml

from monitor import config as config_mod


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length)
        self._send(200, json.dumps({"method": "POST", "echo": data.decode()}).encode())

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        route = url.path
        if route == "/ok":
            self._send(200, b'{"status":"ok"}')
        elif route == "/ready":
            self._send(200, json.dumps({"status": "healthy", "checks": {"postgresql": {"status": "ok"}},
                                        "items": [1, 2]}).encode())
        elif route == "/unavailable":
            self._send(503, b"upstream connect error or disconnect/reset before headers. " + b"x" * 400,
                       "text/plain")
        elif route == "/status":
            self._send(int(q.get("code", "200")), b"{}")
        elif route == "/slow":
            time.sleep(float(q.get("ms", "300")) / 1000)
            self._send(200, b'{"status":"ok"}')
        elif route == "/big":
            size = int(q.get("bytes", str(10 * 1024 * 1024)))
            self._send(200, b"a" * size, "text/plain")
        elif route == "/headers":
            self._send(200, json.dumps(dict(self.headers.items())).encode())
        elif route == "/bearer":  # a target that leaks the bare token it was sent
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            self._send(int(q.get("code", "200")), json.dumps({"token": token}).encode())
        elif route == "/redirect":
            self._send(302, b"", headers={"Location": q.get("to", "/ok")})
        elif route == "/loop":
            self._send(302, b"", headers={"Location": "/loop"})
        else:
            self._send(404, b'{"error":"not found"}')


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # 50+ probes connect at once; the default backlog of 5 drops them

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A probe that stops reading at its body cap breaks the pipe: expected, not worth a traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class Server:
    def __init__(self, ctx: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self.httpd = _HTTPServer((host, 0), Handler)
        if ctx is not None:
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https" if ctx else "http"
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextlib.contextmanager
def serving(ctx: ssl.SSLContext | None = None) -> Iterator[Server]:
    server = Server(ctx)
    try:
        yield server
    finally:
        server.close()


class Tls:
    """A trustme CA and server contexts: good, expired, wrong host, expiring in 3 days."""

    def __init__(self) -> None:
        self.ca = trustme.CA()
        now = dt.datetime.now(dt.UTC)
        self.good = self._ctx(self.ca.issue_cert("localhost", "127.0.0.1"))
        self.expired = self._ctx(self.ca.issue_cert("localhost", "127.0.0.1", not_before=now - dt.timedelta(days=30),
                                                    not_after=now - dt.timedelta(days=1)))
        self.wrong_host = self._ctx(self.ca.issue_cert("other.example.test"))
        self.expiring = self._ctx(self.ca.issue_cert("localhost", "127.0.0.1", not_after=now + dt.timedelta(days=3)))

    @staticmethod
    def _ctx(cert: trustme.LeafCert) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        return ctx


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def blackhole() -> Iterator[int]:
    """A port whose kernel completes the TCP handshake but nobody ever reads or answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield int(s.getsockname()[1])


def make_check(spec: dict[str, Any], **top: Any) -> Any:
    """One validated check from a dict, through the real config loader (no retries unless asked for)."""
    top.setdefault("defaults", {"retries": 0})
    doc = {"checks": [spec], **top}
    return config_mod.loads(yaml.safe_dump(doc), "test.yaml", {}).checks[0]


def make_config(checks: list[dict[str, Any]], **top: Any) -> config_mod.Config:
    """A config of `checks`; no retries unless asked for (a test of one failure wants it at once)."""
    top.setdefault("defaults", {"retries": 0})
    return config_mod.loads(yaml.safe_dump({"checks": checks, **top}), "test.yaml", {})


async def run_all(checks: Any, probes: Any, bound_s: float | None = None) -> list[Any]:
    """The checks side by side under the runner (retries and deadlines), as Monitor.run starts them."""
    import asyncio

    from monitor.runner import run_check

    deadline = None if bound_s is None else asyncio.get_running_loop().time() + bound_s
    return list(await asyncio.gather(*(run_check(c, probes[c.type], deadline=deadline) for c in checks)))
