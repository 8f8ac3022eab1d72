"""The demo target's HTTP routes and fault switches (its WebSocket side is pinned in test_websocket.py)."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import demo_target as demo
import pytest


@pytest.fixture(scope="module")
def target() -> Iterator[demo.DemoTarget]:
    t = demo.start(spacing_s=0)
    yield t
    t.stop()


@pytest.fixture(autouse=True)
def healed(target: demo.DemoTarget) -> Iterator[None]:
    target.set_fault()
    yield
    target.set_fault()


def call(target: demo.DemoTarget, method: str, path: str, body: Any = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    url = urllib.parse.urlsplit(target.http_url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=5)
    try:
        data = None if body is None else json.dumps(body)
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def login(target: demo.DemoTarget, password: str = demo.DEMO_PASSWORD) -> tuple[int, Any]:
    return call(target, "POST", "/auth/login", {"email": demo.DEMO_EMAIL, "password": password})


def test_health_routes_when_healthy(target: demo.DemoTarget) -> None:
    """Every health route answers 200 with the staging bodies."""
    assert call(target, "GET", "/health") == (200, {"status": "ok"})
    status, ready = call(target, "GET", "/api/health/ready?force=true")
    assert status == 200 and ready["checks"]["postgresql"]["status"] == "healthy"
    assert call(target, "GET", "/auth/health")[1]["status"] == "healthy"


def test_login_and_verify(target: demo.DemoTarget) -> None:
    """Login mints a bearer token that /auth/verify accepts; a wrong password is 401."""
    status, body = login(target)
    assert status == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 900
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert call(target, "GET", "/auth/verify", headers=headers) == (200, {"valid": True, "email": demo.DEMO_EMAIL})
    assert call(target, "GET", "/auth/verify")[0] == 401
    assert login(target, "wrong")[0] == 401


def test_db_down(target: demo.DemoTarget) -> None:
    """db_down makes the ready route 503 while /auth/health stays 200 with an unhealthy body."""
    target.set_fault("db_down")
    assert call(target, "GET", "/api/health/ready")[0] == 503
    assert call(target, "GET", "/auth/health") == (200, {"status": "unhealthy", "database_status": "disconnected"})
    assert call(target, "GET", "/health")[0] == 200


def test_service_503_covers_every_route(target: demo.DemoTarget) -> None:
    """service_503 answers 503 everywhere, login included, but the control route still works."""
    target.set_fault("service_503")
    for path in ("/health", "/api/health/ready", "/auth/health", "/ws"):
        assert call(target, "GET", path)[0] == 503
    assert login(target)[0] == 503
    assert call(target, "POST", "/_demo/fault?mode=none")[0] == 200
    assert call(target, "GET", "/health")[0] == 200


def test_control_route_switches_faults(target: demo.DemoTarget) -> None:
    """POST /_demo/fault sets one or several modes and the spacing; unknown modes are 400."""
    status, body = call(target, "POST", "/_demo/fault?mode=ws_stall,ws_wrapped&spacing_ms=7")
    assert status == 200 and body["faults"] == ["ws_stall", "ws_wrapped"] and body["spacing_ms"] == 7
    assert target.faults == {"ws_stall", "ws_wrapped"}
    status, body = call(target, "POST", "/_demo/fault?mode=nope")
    assert status == 400 and "nope" in body["detail"]
    assert call(target, "GET", "/_demo/fault")[1]["faults"] == ["ws_stall", "ws_wrapped"]


def test_set_fault_rejects_unknown_modes(target: demo.DemoTarget) -> None:
    with pytest.raises(ValueError, match="bogus"):
        target.set_fault("bogus")


def test_port_in_use_raises() -> None:
    """Starting on a busy port raises instead of returning a dead target."""
    first = demo.start()
    try:
        port = int(first.http_url.rsplit(":", 1)[1])
        with pytest.raises(OSError):
            demo.start(port=port)
    finally:
        first.stop()
