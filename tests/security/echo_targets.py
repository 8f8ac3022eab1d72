"""Loopback targets that repeat what a probe sent them: request headers and body in a 503 body or a
JSON field, the WebSocket token in a close reason or an error event. They model a misbehaving
staging service, the worst case for keeping secrets out of synthmon's output."""

from __future__ import annotations

import asyncio
import contextlib
import http
import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

from demo_target import _ws_token
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response


class _EchoHandler(http.server.BaseHTTPRequestHandler):
    """`/echo/CODE`: answer CODE with every request header and the body, secret-looking headers
    first; `/cut/CODE?h=NAME&at=N` and `/json?h=NAME&at=N`: N filler characters, then header NAME
    (in the body, or in the JSON field `status`), so that a length limit cuts through the value;
    `&bare=1` drops the value's `Bearer ` prefix."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        length = int(self.headers.get("Content-Length") or 0)
        sent = self.rfile.read(length).decode(errors="replace") if length else ""
        value = self.headers.get(q.get("h", ""), "")
        if "bare" in q:  # the token alone, without its "Bearer " (which a pattern would mask anyway)
            value = value.removeprefix("Bearer ")
        filler = "x" * int(q.get("at", "0"))
        parts = url.path.strip("/").split("/")
        if parts[0] == "json":
            self._send(200, json.dumps({"status": filler + value}), "application/json")
        elif parts[0] == "cut":
            self._send(int(parts[1]), filler + value)
        else:
            items = sorted(self.headers.items(), key=lambda kv: kv[0].lower() in ("host", "accept", "user-agent"))
            echo = "; ".join(f"{k}: {v}" for k, v in items) + " | body: " + sent + " | url: " + self.path
            self._send(int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 503, echo)

    do_GET = do_POST = do_PUT = _answer

    def _send(self, status: int, body: str, ctype: str = "text/plain") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _select(conn: ServerConnection, offered: Any) -> str | None:
    """On `/error`, accept the `jwt.<token>` subprotocol itself: the token comes back in the handshake."""
    if conn.request is not None and conn.request.path.startswith("/error"):
        return next((p for p in offered if p.startswith("jwt.")), None)
    return "jwt-auth" if "jwt-auth" in offered else None


@contextlib.contextmanager
def echo_http() -> Iterator[str]:
    """An HTTP server that repeats the request back; yields its base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class EchoSocket:
    """A WebSocket server that accepts any token and gives it back: `/close` closes with code 4000
    and the token in the reason, `/close-1008` the same with 1008, `/error` answers the message with
    an error event naming the token and the request headers (and selects the `jwt.<token>`
    subprotocol, so the token is in the handshake answer too), `/error-cut` pads the token to the
    probe's 300-character limit for error messages. Any other path is a 404."""

    def __init__(self) -> None:
        self.tokens: set[str] = set()
        self.url = ""
        self._ready = threading.Event()
        self._stop: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)

    def _process(self, conn: ServerConnection, request: Request) -> Response | None:
        path = urllib.parse.urlsplit(request.path).path
        if path not in ("/close", "/close-1008", "/error", "/error-cut"):
            headers = "; ".join(f"{k}: {v}" for k, v in request.headers.raw_items())
            return conn.respond(http.HTTPStatus.NOT_FOUND, f"no route for {request.path} ({headers})\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        token = _ws_token(ws.request) or ""
        self.tokens.add(token)
        path = urllib.parse.urlsplit(ws.request.path).path
        headers = "; ".join(f"{k}: {v}" for k, v in ws.request.headers.raw_items())
        if path == "/close":
            await ws.close(4000, f"token {token} revoked")
            return
        if path == "/close-1008":
            await ws.close(1008, f"bad token {token}")
            return
        await ws.send(json.dumps({"type": "connection_established", "data": {"connection_id": "c1"}}))
        await ws.recv()
        message = ("x" * (300 - 12) + token) if path == "/error-cut" else f"invalid token {token}; request: {headers}"
        await ws.send(json.dumps({"type": "error", "message": message}))
        await ws.wait_closed()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        async with serve(self._handler, "127.0.0.1", 0, process_request=self._process,
                         select_subprotocol=_select,
                         ping_interval=None) as server:
            port = server.sockets[0].getsockname()[1]
            self.url = f"ws://127.0.0.1:{port}"
            self._ready.set()
            await self._stop

    def __enter__(self) -> EchoSocket:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)
