"""Every HTTP, login and WebSocket request carries the probe's trace context (W3C traceparent and,
when configured, X-Cloud-Trace-Context), and the result names the trace."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request

from probes import http as http_probe
from probes import websocket as websocket_probe
from probes.checks import HttpCheck, Login, WebSocketCheck
from tests.recording_server import Recorder

TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01")
COMMON: dict[str, Any] = dict(timeout_s=5, interval_s=60, failure_threshold=1, success_threshold=1,
                              renotify_s=3600, severity="critical")


@pytest.fixture()
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


def _one(headers: dict[str, list[str]], name: str) -> str:
    values = headers.get(name.lower(), [])
    assert len(values) == 1, (name, headers)
    return values[0]


def test_http_request_carries_traceparent(recorder: Recorder) -> None:
    """The request's traceparent names the result's trace id; no X-Cloud-Trace-Context unless asked;
    a configured traceparent is replaced, not sent twice."""
    check = HttpCheck(name="api", type="http", url=recorder.url("/health"), **COMMON,
                      headers=(("traceparent", "00-" + "1" * 32 + "-" + "2" * 16 + "-01"),))
    r = asyncio.run(http_probe.probe(check))
    assert r.ok, r.to_dict()
    (got,) = recorder.headers("/health")
    m = TRACEPARENT.fullmatch(_one(got, "traceparent"))
    assert m and m.group(1) == r.details["trace_id"]
    assert "x-cloud-trace-context" not in got


def test_fresh_trace_per_attempt(recorder: Recorder) -> None:
    """Two probes of one check are two traces."""
    check = HttpCheck(name="api", type="http", url=recorder.url("/health"), **COMMON)
    ids = {asyncio.run(http_probe.probe(check)).details["trace_id"] for _ in range(2)}
    sent = {_one(h, "traceparent").split("-")[1] for h in recorder.headers("/health")}
    assert len(ids) == 2 and sent == ids


def test_login_shares_the_trace_with_its_own_span(recorder: Recorder) -> None:
    """Login and main request: one trace id, two span ids; X-Cloud-Trace-Context on both, span in decimal."""
    login = Login(url=recorder.url("/login"), json={"email": "probe@example.test"})
    check = HttpCheck(name="verify", type="http", url=recorder.url("/verify"), **COMMON, login=login,
                      cloud_trace_context=True)
    r = asyncio.run(http_probe.probe(check))
    assert r.ok, r.to_dict()
    spans = []
    for path in ("/login", "/verify"):
        (got,) = recorder.headers(path)
        m = TRACEPARENT.fullmatch(_one(got, "traceparent"))
        assert m and m.group(1) == r.details["trace_id"], path
        assert _one(got, "x-cloud-trace-context") == f"{m.group(1)}/{int(m.group(2), 16)};o=1"
        spans.append(m.group(2))
    assert spans[0] != spans[1]


def test_websocket_upgrade_and_login_carry_the_trace(recorder: Recorder) -> None:
    """The WebSocket upgrade request carries the trace of details.trace_id; its login a sibling span."""
    upgrades: list[Request] = []

    def record(conn: ServerConnection, request: Request) -> None:
        upgrades.append(request)

    async def chat(ws: ServerConnection) -> None:
        await ws.recv()
        for event in ("agent_started", "agent_completed"):
            await ws.send(json.dumps({"type": event}))
        await ws.wait_closed()

    async def main() -> Any:
        async with serve(chat, "127.0.0.1", 0, process_request=record) as server:
            port = server.sockets[0].getsockname()[1]
            check = WebSocketCheck(name="golden", type="websocket", url=f"ws://127.0.0.1:{port}/ws", **COMMON,
                                   handshake="none", token_in="header", cloud_trace_context=True,
                                   login=Login(url=recorder.url("/login")))
            return await websocket_probe.probe(check)

    r = asyncio.run(main())
    assert r.ok, r.to_dict()
    (upgrade,) = upgrades
    m = TRACEPARENT.fullmatch(upgrade.headers["traceparent"])
    assert m and m.group(1) == r.details["trace_id"]
    assert upgrade.headers["X-Cloud-Trace-Context"] == f"{m.group(1)}/{int(m.group(2), 16)};o=1"
    (login,) = recorder.headers("/login")
    lm = TRACEPARENT.fullmatch(_one(login, "traceparent"))
    assert lm and lm.group(1) == m.group(1) and lm.group(2) != m.group(2)
