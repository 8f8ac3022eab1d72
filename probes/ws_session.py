"""One golden-path conversation's state and frames: the run's clock and budget, receiving and
sending frames with the close codes classified, and the two hello generations of the staging
backend (`handshake_response` … `handshake_complete`, or `connection_established`)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from probes.agent_events import EventMatcher, hello_ids, parse_frame
from probes.certs import CertInfo
from probes.checks import WebSocketCheck
from probes.result import ProbeResult
from probes.trace import new_trace

# Close codes the staging backend uses on purpose (docs/websocket.md); any other early close is ws_closed.
CLOSE_CLASS: dict[int, tuple[str, str]] = {
    1008: ("auth", "authentication failed"),
    1011: ("unavailable", "server not ready"),
    1003: ("auth", "subprotocol refused"),
}
Frame = tuple[str | None, dict[str, Any], dict[str, Any]]


class Failed(Exception):
    """A stage failed: carries the failure class, message and details for the result."""

    def __init__(self, cls: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.cls, self.message, self.details = cls, message, details


class Run:
    """The state of one probe run: clock, deadline, result, matcher and the token's forms to redact."""

    def __init__(self, check: WebSocketCheck) -> None:
        self.check = check
        self.result = ProbeResult(check.name, "websocket", check.target)
        self.trace = new_trace()  # the upgrade request's; the login is a sibling span
        self.result.details["trace_id"] = self.trace.trace_id
        self.matcher = EventMatcher(check.events)
        self.loop = asyncio.get_running_loop()
        self.start = self.loop.time()
        self.deadline = self.start + check.timeout_s
        # Leave a little of the budget for a clean close handshake.
        self.end = self.deadline - min(0.25, check.timeout_s * 0.05)
        self.secrets: list[str] = []
        self.cert: CertInfo | None = None  # the served chain's first to expire
        self.verdict_at: float | None = None  # the close handshake after it is not the golden path's latency

    def now(self) -> float:
        return self.loop.time()

    def left(self) -> float:
        return max(0.0, self.end - self.now())

    def phase(self, name: str, since: float) -> None:
        self.result.phases_ms[name] = (self.now() - since) * 1000


async def recv(run: Run, ws: ClientConnection, until: float) -> Frame | None:
    """The next frame, or None when `until` (loop time) passes first."""
    until = min(until, run.end)
    # recv() returns frames already received without suspending, so a flood (10,000 heartbeats/s)
    # would never let a timeout fire nor other checks run: check the clock and yield once per frame.
    if run.now() >= until:
        return None
    try:
        async with asyncio.timeout_at(until):
            await asyncio.sleep(0)
            data = await ws.recv()
    except TimeoutError:
        return None
    except ConnectionClosed as exc:
        raise closed(exc) from None
    return parse_frame(data) or (None, {}, {})


def closed(exc: ConnectionClosed) -> Failed:
    code = exc.rcvd.code if exc.rcvd else 1006
    reason = exc.rcvd.reason[:200] if exc.rcvd else ""
    details: dict[str, Any] = {"close_code": code, "close_reason": reason}
    if exc.rcvd is None and exc.sent is not None:
        details["close_sent"] = int(exc.sent.code)
        if exc.sent.code == 1009:  # websockets refused a frame at its header, before reading it
            return Failed("ws_closed", "a frame was larger than max_frame_bytes: closed with 1009", **details)
    cls, what = CLOSE_CLASS.get(code, ("ws_closed", "closed early"))
    suffix = f": {reason}" if reason else ""
    return Failed(cls, f"WebSocket closed with {code} ({what}){suffix}", **details)


async def send(run: Run, ws: ClientConnection, message: str) -> None:
    try:
        await ws.send(message)
    except ConnectionClosed as exc:
        raise closed(exc) from None


async def hello(run: Run, ws: ClientConnection) -> dict[str, str]:
    """Wait for the server's hello; returns the thread_id/run_id it carried (may be empty)."""
    check, t0 = run.check, run.now()
    if check.handshake == "none":
        run.result.details["hello"] = "none"
        return {}
    auto = check.handshake == "auto"
    until = t0 + (check.hello_wait_s if auto else check.handshake_timeout_s)
    while (frame := await recv(run, ws, until)) is not None:
        name, _, whole = frame
        if name == "handshake_response" and check.handshake in ("auto", "handshake"):
            ids = hello_ids(whole)
            await send(run, ws, json.dumps({"type": "handshake_acknowledged", "thread_id": ids.get("thread_id")}))
            await await_frame(run, ws, "handshake_complete", run.now() + check.handshake_timeout_s)
            return hello_done(run, "handshake", t0, ids)
        if name == "connection_established" and check.handshake in ("auto", "connection_established"):
            return hello_done(run, "connection_established", t0, hello_ids(whole))
        run.matcher.ignored[name or "unparsed"] += 1
    if not auto:
        first = "handshake_response" if check.handshake == "handshake" else "connection_established"
        raise Failed("timeout", f"no {first} within {check.handshake_timeout_s:g} s")
    return hello_done(run, "none", t0, {})


async def await_frame(run: Run, ws: ClientConnection, want: str, until: float) -> None:
    while (frame := await recv(run, ws, until)) is not None:
        if frame[0] == want:
            return
        run.matcher.ignored[frame[0] or "unparsed"] += 1
    raise Failed("timeout", f"no {want} within {run.check.handshake_timeout_s:g} s")


def hello_done(run: Run, kind: str, t0: float, ids: dict[str, str]) -> dict[str, str]:
    run.phase("handshake", t0)
    run.result.details["hello"] = kind
    return ids
