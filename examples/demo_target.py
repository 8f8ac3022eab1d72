"""A fake staging on loopback for `synthmon demo` and the tests: health routes, login and the agent
WebSocket on one port, with faults that can be switched while it runs.

Healthy means: every health route answers 200, login works for DEMO_EMAIL/DEMO_PASSWORD, and `/ws`
streams the five agent events and an answer. docs/demo.md lists the fault modes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import http
import json
import secrets
import ssl
import threading
import urllib.parse
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

DEMO_EMAIL = "probe@example.com"
DEMO_PASSWORD = "demo-password"
FIVE_EVENTS = ("agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed")
FAULTS: dict[str, str] = {
    "ws_wrapped": "events in system_message envelopes ({type, event, payload})",
    "ws_handshake": "newer hello: handshake_response → handshake_acknowledged → handshake_complete",
    "ws_no_hello": "no hello at all; the server waits for the client's message",
    "ws_heartbeats": "heartbeat, ping and an unknown frame before every event",
    "ws_missing_event": "tool_completed is never sent",
    "ws_out_of_order": "tool_executing arrives before agent_thinking",
    "ws_agent_error": "agent_started, then agent_error",
    "ws_empty_answer": "agent_completed with an empty final_response",
    "ws_stall": "agent_started, then nothing (the socket stays open)",
    "ws_close_1008": "the socket is accepted, then closed with 1008 (authentication failed)",
    "ws_close_1011": "the socket is accepted, then closed with 1011 (service not ready)",
    "ws_close_1003": "the socket is accepted, then closed with 1003 (subprotocol refused)",
    "ws_upgrade_503": "the upgrade is answered 503",
    "ws_upgrade_401": "the upgrade is answered 401",
    "db_down": "/api/health/ready answers 503; /auth/health says unhealthy (still 200)",
    "auth_down": "every /auth route answers 503",
    "auth_verify_invalid": "login still works, but /auth/verify rejects every token (401 {\"valid\": false})",
    "service_503": "every route answers 503, as when the container cannot import a module",
}


class _BodyConnection(ServerConnection):
    """websockets' request parser refuses bodies; set the body aside so that POST /auth/login works."""

    body = b""
    _pending = b""
    _head_seen = False

    def data_received(self, data: bytes) -> None:
        if self._head_seen:
            super().data_received(data)
            return
        self._pending += data
        head, sep, rest = self._pending.partition(b"\r\n\r\n")
        if not sep and len(self._pending) < 65536:
            return
        lines = head.split(b"\r\n")
        length = next((int(v) for k, _, v in (line.partition(b":") for line in lines[1:])
                       if k.strip().lower() == b"content-length" and v.strip().isdigit()), 0)
        if len(rest) < length:
            return
        self.body, self._head_seen = rest[:length], True
        kept = [line for line in lines if not line.lower().startswith(b"content-length:")]
        super().data_received(b"\r\n".join(kept) + sep + rest[length:])


class DemoTarget:
    """One server for HTTP and WebSocket; `set_fault` may be called from any thread."""

    def __init__(self) -> None:
        self.faults: frozenset[str] = frozenset()
        self.spacing_s = 0.05
        self.tokens: set[str] = set()
        self.http_url = self.ws_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    def set_fault(self, mode: str | None = None, *more: str) -> None:
        """Switch faults: `set_fault("ws_stall")`, several at once, or `set_fault()`/"none" to heal."""
        modes = {m for part in (mode or "", *more) for m in part.split(",") if m and m != "none"}
        unknown = modes - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault mode(s): {', '.join(sorted(unknown))}")
        self.faults = frozenset(modes)

    def stop(self) -> None:
        if self._loop is None or self._server is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._server.close)
        self._thread.join(timeout=5)

    # HTTP side: everything that is not the /ws upgrade is answered here.
    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        url = urllib.parse.urlsplit(request.path)
        if url.path.startswith("/_demo/"):
            return self._control(conn, url, request)
        if "service_503" in self.faults:
            return _json(conn, 503, {"detail": "Service Unavailable"})
        if url.path == "/ws":
            if "ws_upgrade_503" in self.faults:
                return _json(conn, 503, {"detail": "Service Unavailable"})
            if "ws_upgrade_401" in self.faults:
                return _json(conn, 401, {"detail": "Not authenticated"})
            return None
        if url.path.startswith("/auth/") and "auth_down" in self.faults:
            return _json(conn, 503, {"detail": "Service Unavailable"})
        return self._route(conn, url.path, request)

    def _route(self, conn: ServerConnection, path: str, request: Request) -> Response:
        db_ok = "db_down" not in self.faults
        body: dict[str, Any]
        if path in ("/health", "/health/live"):
            return _json(conn, 200, {"status": "ok"})
        if path == "/health/ready":
            return _json(conn, 200, {"status": "ready"})
        if path == "/api/health/ready":
            pg = ({"status": "healthy", "response_time_ms": 1.3} if db_ok
                  else {"status": "unhealthy", "error": "connection timeout after 5.0s"})
            body = {"status": "healthy" if db_ok else "unhealthy", "checks": {"postgresql": pg}}
            return _json(conn, 200 if db_ok else 503, body)
        if path == "/ws/health":
            return _json(conn, 200, {"status": "healthy", "connections": 0})
        if path == "/auth/health":
            return _json(conn, 200, {"status": "healthy" if db_ok else "unhealthy",
                                     "database_status": "connected" if db_ok else "disconnected"})
        if path == "/auth/login" and request.method == "POST":
            return self._login(conn)
        if path == "/auth/verify":
            token = _bearer(request.headers)
            valid = token in self.tokens and "auth_verify_invalid" not in self.faults
            return _json(conn, 200 if valid else 401, {"valid": valid, "email": DEMO_EMAIL} if valid
                         else {"valid": False})
        return _json(conn, 404, {"detail": "Not Found"})

    def _login(self, conn: ServerConnection) -> Response:
        try:
            creds = json.loads(getattr(conn, "body", b"") or b"{}")
        except ValueError:
            return _json(conn, 422, {"detail": "body must be JSON"})
        if not isinstance(creds, dict) or creds.get("email") != DEMO_EMAIL or creds.get("password") != DEMO_PASSWORD:
            return _json(conn, 401, {"detail": "Invalid credentials"})
        token = "demo." + secrets.token_urlsafe(24)
        self.tokens.add(token)
        return _json(conn, 200, {"access_token": token, "refresh_token": secrets.token_urlsafe(16),
                                 "token_type": "Bearer", "expires_in": 900})

    def _control(self, conn: ServerConnection, url: urllib.parse.SplitResult, request: Request) -> Response:
        query = urllib.parse.parse_qs(url.query)
        if url.path != "/_demo/fault":
            return _json(conn, 404, {"detail": "Not Found"})
        if request.method == "POST":
            try:
                self.set_fault(*query.get("mode", ["none"]))
                if "spacing_ms" in query:
                    self.spacing_s = max(0.0, float(query["spacing_ms"][0]) / 1000)
            except ValueError as exc:
                return _json(conn, 400, {"detail": str(exc), "modes": sorted(FAULTS)})
        return _json(conn, 200, {"faults": sorted(self.faults), "spacing_ms": self.spacing_s * 1000,
                                 "modes": FAULTS})

    # WebSocket side: the agent-event protocol of docs/websocket.md.
    async def _chat(self, ws: ServerConnection) -> None:
        faults = self.faults
        if _ws_token(ws.request) not in self.tokens:
            await ws.close(1008, "authentication failed")
            return
        for code, reason in ((1008, "authentication failed"), (1011, "service not ready"),
                             (1003, "subprotocol not accepted")):
            if f"ws_close_{code}" in faults:
                await ws.close(code, reason)
                return
        thread_id, run_id = "thread_" + secrets.token_hex(6), "run_" + secrets.token_hex(6)
        try:
            if "ws_handshake" in faults:
                await ws.send(json.dumps({"type": "handshake_response", "thread_id": thread_id,
                                          "run_id": run_id, "request_id": secrets.token_hex(4)}))
                ack = json.loads(await ws.recv())
                if ack.get("type") != "handshake_acknowledged" or ack.get("thread_id") != thread_id:
                    await ws.close(1002, "handshake not acknowledged")
                    return
                await ws.send(json.dumps({"type": "handshake_complete", "thread_id": thread_id}))
            if "ws_no_hello" not in faults:
                await ws.send(json.dumps({"type": "connection_established",
                                          "data": {"connection_id": secrets.token_hex(6)}}))
            async for raw in ws:
                await self._answer(ws, faults, raw, thread_id, run_id)
        except ConnectionClosed:
            return

    async def _answer(self, ws: ServerConnection, faults: frozenset[str], raw: str | bytes,
                      thread_id: str, run_id: str) -> None:
        try:
            msg = json.loads(raw)
        except ValueError:
            msg = {}
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind == "ping":
            await ws.send(json.dumps({"type": "pong"}))
        elif kind in ("user_message", "start_agent", "chat_message"):
            payload = msg.get("payload") if isinstance(msg.get("payload"), dict) else {}
            if "ws_handshake" in faults and payload.get("thread_id") != thread_id:
                await ws.send(json.dumps({"type": "error", "message": "unknown thread_id"}))
                return
            await self._stream(ws, faults, payload.get("thread_id", thread_id), run_id)
        else:
            await ws.send(json.dumps({"type": "ack", "received": kind}))

    async def _stream(self, ws: ServerConnection, faults: frozenset[str], thread_id: str, run_id: str) -> None:
        names = list(FIVE_EVENTS)
        if "ws_missing_event" in faults:
            names.remove("tool_completed")
        if "ws_out_of_order" in faults:
            names[1], names[2] = names[2], names[1]
        if "ws_agent_error" in faults:
            names = ["agent_started", "agent_error"]
        if "ws_stall" in faults:
            names = ["agent_started"]
        for name in names:
            await asyncio.sleep(self.spacing_s)
            if "ws_heartbeats" in faults:
                for extra in ({"type": "heartbeat"}, {"type": "ping"}, {"type": "server_stats", "load": 0.1}):
                    await ws.send(json.dumps(extra))
            body = _event_body(name, faults)
            if "ws_wrapped" in faults:
                frame = {"type": "system_message", "event": name,
                         "payload": {"thread_id": thread_id, "run_id": run_id, **body}}
            else:
                frame = {"type": name, "thread_id": thread_id, "run_id": run_id, **body}
            await ws.send(json.dumps(frame))
        if "ws_stall" in faults:
            await ws.wait_closed()


def _event_body(name: str, faults: frozenset[str]) -> dict[str, Any]:
    bodies: dict[str, dict[str, Any]] = {
        "agent_started": {"agent_name": "supervisor"},
        "agent_thinking": {"thought": "The user asked for OK."},
        "tool_executing": {"tool_name": "echo"},
        "tool_completed": {"tool_name": "echo", "result": "OK"},
        "agent_completed": {"status": "completed",
                            "final_response": "" if "ws_empty_answer" in faults else "OK"},
        "agent_error": {"error": "LLM provider returned 500", "message": "LLM provider returned 500"},
    }
    return bodies[name]


def _json(conn: ServerConnection, status: int, body: dict[str, Any]) -> Response:
    response = conn.respond(http.HTTPStatus(status), json.dumps(body))
    response.headers["Content-Type"] = "application/json"
    return response


def _bearer(headers: Headers) -> str | None:
    value = headers.get("Authorization", "")
    return value[7:] if value.startswith("Bearer ") else None


def _ws_token(request: Request | None) -> str | None:
    """The token from the Bearer header, the `jwt.<token>` subprotocol (base64url or raw), or ?token=."""
    if request is None:
        return None
    if token := _bearer(request.headers):
        return token
    offered = [p.strip() for h in request.headers.get_all("Sec-WebSocket-Protocol") for p in h.split(",")]
    for proto in offered:
        if proto.startswith("jwt."):
            raw = proto[4:]
            try:
                decoded = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = raw
            return decoded if decoded.startswith("demo.") else raw
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
    return query.get("token", [None])[0]


def _select_subprotocol(conn: ServerConnection, offered: Any) -> Any:
    return "jwt-auth" if "jwt-auth" in offered else None


def start(host: str = "127.0.0.1", port: int = 0, *, spacing_s: float = 0.05,
          ssl_context: ssl.SSLContext | None = None) -> DemoTarget:
    """Start the demo target in a background thread with its own event loop; returns once it listens.

    With `ssl_context` it serves https:// and wss:// instead.
    """
    target = DemoTarget()
    target.spacing_s = spacing_s
    ready = threading.Event()
    failure: list[BaseException] = []

    async def main() -> None:
        try:
            server = await serve(target._chat, host, port, process_request=target._process_request,
                                 select_subprotocol=_select_subprotocol, create_connection=_BodyConnection,
                                 ping_interval=None, server_header="synthmon-demo",
                                 ssl=ssl_context)
        except OSError as exc:
            failure.append(exc)
            ready.set()
            return
        target._loop, target._server = asyncio.get_running_loop(), server
        bound = server.sockets[0].getsockname()
        netloc = f"[{bound[0]}]:{bound[1]}" if ":" in bound[0] else f"{bound[0]}:{bound[1]}"
        secure = "s" if ssl_context is not None else ""
        target.http_url, target.ws_url = f"http{secure}://{netloc}", f"ws{secure}://{netloc}/ws"
        ready.set()
        await server.wait_closed()

    target._thread = threading.Thread(target=asyncio.run, args=(main(),), name="synthmon-demo", daemon=True)
    target._thread.start()
    ready.wait(timeout=10)
    if failure:
        raise failure[0]
    return target
