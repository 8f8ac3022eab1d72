"""HTTP checks that log in first (`login:`): a fresh token per probe, sent as `Authorization: Bearer`.

Against the demo target's real /auth/login and /auth/verify, and the loopback server's /headers
(which echoes the request headers) for what is sent and what is redacted.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import demo_target as demo
import pytest
from servers import Server, make_check, serving

from probes import http as http_probe
from probes.result import ProbeResult


@pytest.fixture(scope="module")
def echo() -> Iterator[Server]:
    with serving() as s:
        yield s


def login(target: demo.DemoTarget, password: str = demo.DEMO_PASSWORD) -> dict[str, Any]:
    return {"url": target.http_url + "/auth/login", "json": {"email": demo.DEMO_EMAIL, "password": password}}


def run(spec: dict[str, Any]) -> ProbeResult:
    return asyncio.run(http_probe.probe(make_check({"name": "auth-verify", "type": "http", **spec})))


def test_fresh_token_is_verified(target: demo.DemoTarget) -> None:
    """The minted token reaches /auth/verify, which accepts it; login is a phase and in the latency."""
    r = run({"url": target.http_url + "/auth/verify", "login": login(target),
             "expect": {"status": [200], "json": {"valid": True}}})
    assert r.ok, r.to_dict()
    assert list(r.phases_ms)[0] == "login" and "connect" in r.phases_ms
    assert r.latency_ms is not None and r.latency_ms >= r.phases_ms["login"] + r.phases_ms["connect"]


def test_two_probes_mint_two_tokens(target: demo.DemoTarget) -> None:
    """Never cached: each probe logs in again."""
    before = len(target.tokens)
    for _ in range(2):
        assert run({"url": target.http_url + "/auth/verify", "login": login(target)}).ok
    assert len(target.tokens) == before + 2


def test_rejected_token_is_auth(target: demo.DemoTarget) -> None:
    """Login works but the token is not accepted (a lenient WebSocket would not show it)."""
    target.set_fault("auth_verify_invalid")
    r = run({"url": target.http_url + "/auth/verify", "login": login(target),
             "expect": {"status": [200], "json": {"valid": True}}})
    assert r.failure is not None and r.failure.cls == "auth", r.to_dict()
    assert r.failure.message == "HTTP 401 Unauthorized"
    assert r.details["body_snippet"] == '{"valid": false}' and "login_status" not in r.details


def test_wrong_password_is_auth_before_the_request(target: demo.DemoTarget, echo: Server) -> None:
    r = run({"url": echo.url("/headers"), "login": login(target, password="wrong-password")})
    assert r.failure is not None and r.failure.cls == "auth", r.to_dict()
    # The login request carried the probe's trace: on-call can still find it.
    assert r.details == {"login_status": 401, "trace_id": r.details["trace_id"]}
    assert list(r.phases_ms) == ["login"]
    assert r.latency_ms == r.phases_ms["login"]


def test_auth_service_down_is_unavailable(target: demo.DemoTarget) -> None:
    target.set_fault("auth_down")
    r = run({"url": target.http_url + "/auth/verify", "login": login(target)})
    assert r.failure is not None and r.failure.cls == "unavailable", r.to_dict()
    assert r.details["login_status"] == 503
    assert r.failure.message == "login answered HTTP 503: the auth service is not serving"


def test_token_sent_as_bearer_and_redacted_when_echoed(target: demo.DemoTarget, echo: Server) -> None:
    """The target echoes the bare token: neither the failure message nor the body snippet shows it."""
    before = set(target.tokens)
    r = run({"url": echo.url("/bearer"), "login": login(target), "expect": {"json": {"token": "nothing"}}})
    (token,) = target.tokens - before
    assert r.failure is not None and r.failure.cls == "assertion"
    assert r.failure.message == 'JSON path token is "***", expected "nothing"'
    r = run({"url": echo.url("/bearer?code=500"), "login": login(target)})
    assert r.failure is not None and r.failure.cls == "http_status"
    assert r.details["body_snippet"] == '{"token": "***"}'
    assert token[:8] not in str(r.to_dict())


def test_token_not_sent_to_another_origin_on_redirect(target: demo.DemoTarget, echo: Server) -> None:
    """A followed redirect to another origin drops the minted Authorization header."""
    to = echo.url("/headers", host="localhost")
    r = run({"url": echo.url(f"/redirect?to={to}"), "follow_redirects": True, "login": login(target)})
    assert r.ok and r.details["redirects"] == 1, r.to_dict()
    r = run({"url": echo.url(f"/redirect?to={to}"), "follow_redirects": True, "login": login(target),
             "expect": {"json": {"Authorization": "x"}}})
    assert r.failure is not None and r.failure.message == "JSON path Authorization not found"


def test_login_runs_on_the_event_loop_not_a_thread(target: demo.DemoTarget) -> None:
    """The login shares the loop's AsyncCurlMulti with the request: no executor thread is started."""

    async def probe_and_list_threads() -> tuple[ProbeResult, list[str]]:
        check = make_check({"name": "auth-verify", "type": "http", "url": target.http_url + "/auth/verify",
                            "login": login(target)})
        result = await http_probe.probe(check)
        return result, [t.name for t in threading.enumerate()]

    r, threads = asyncio.run(probe_and_list_threads())
    assert r.ok, r.to_dict()
    assert not [name for name in threads if name.startswith("asyncio_")], threads
