"""The golden-path probe against the demo target on loopback, one test per fault mode."""

from __future__ import annotations

import asyncio
import datetime
import json
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import demo_target as demo
import pytest
import trustme
import yaml

from monitor.config import loads
from probes import websocket as websocket_probe
from probes.checks import WebSocketCheck
from probes.result import ProbeResult

FIVE = list(demo.FIVE_EVENTS)


def make_check(target: demo.DemoTarget, *, ws_url: str | None = None, login: Any = "demo",
               **overrides: Any) -> WebSocketCheck:
    """A golden-path check against `target`; `login=None` opens the socket without logging in."""
    if login == "demo":
        login = {"url": target.http_url + "/auth/login",
                 "json": {"email": demo.DEMO_EMAIL, "password": demo.DEMO_PASSWORD}}
    raw: dict[str, Any] = {
        "name": "golden-path", "type": "websocket", "url": ws_url or target.ws_url, "timeout_s": 5,
        "events": {"required": FIVE, "ordered": True, "tools_balanced": True,
                   "answer_field": "final_response", "first_event_timeout_s": 3},
    }
    if login is not None:
        raw["login"] = login
    raw.update(overrides)
    check = loads(yaml.safe_dump({"checks": [raw]})).checks[0]
    assert isinstance(check, WebSocketCheck)
    return check


def run(check: WebSocketCheck) -> tuple[ProbeResult, float]:
    t0 = time.monotonic()
    result = asyncio.run(websocket_probe.probe(check))
    return result, time.monotonic() - t0


def names(result: ProbeResult) -> list[str]:
    return [e["event"] for e in result.details["events"]]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("token_in", ["subprotocol", "header", "query"])
def test_all_five_events_pass(target: demo.DemoTarget, token_in: str) -> None:
    """Each way of carrying the token reaches the chat; all five events pass with every phase timed."""
    result, _ = run(make_check(target, token_in=token_in))
    assert result.ok, result.failure
    assert set(result.phases_ms) == {"login", "connect", "handshake", "first_event", "complete"}
    assert names(result) == FIVE
    assert list(result.details["event_latency_ms"]) == FIVE
    assert result.details["hello"] == "connection_established"
    assert [g["to"] for g in result.details["gaps_ms"]] == FIVE[1:]


def test_token_never_in_result(target: demo.DemoTarget) -> None:
    """The minted token appears nowhere in the result, even when it travels in the query string."""
    target.tokens.clear()
    result, _ = run(make_check(target, token_in="query"))
    text = json.dumps(result.to_dict())
    assert result.ok and target.tokens
    assert not any(token in text for token in target.tokens)


def test_wrapped_envelopes_pass(target: demo.DemoTarget) -> None:
    """Events in system_message envelopes (name in `event`, body in `payload`) are recognised."""
    target.set_fault("ws_wrapped")
    result, _ = run(make_check(target))
    assert result.ok, result.failure
    assert names(result) == FIVE


def test_handshake_variant_carries_thread_id(target: demo.DemoTarget) -> None:
    """The newer hello is acknowledged and its thread_id reaches the message (the server checks it)."""
    target.set_fault("ws_handshake")
    result, _ = run(make_check(target, handshake="handshake"))
    assert result.ok, result.failure
    assert result.details["hello"] == "handshake"
    assert "handshake" in result.phases_ms


def test_auto_detects_handshake_and_wrapped_together(target: demo.DemoTarget) -> None:
    """`handshake: auto` handles the newer hello with wrapped envelopes and heartbeats."""
    target.set_fault("ws_handshake,ws_wrapped,ws_heartbeats")
    result, _ = run(make_check(target))
    assert result.ok, result.failure
    assert result.details["hello"] == "handshake"


def test_no_hello_sends_after_wait(target: demo.DemoTarget) -> None:
    """With no hello from the server, the message goes out after hello_wait_s."""
    target.set_fault("ws_no_hello")
    result, _ = run(make_check(target, hello_wait_s=0.2))
    assert result.ok, result.failure
    assert result.details["hello"] == "none"
    assert 200 <= result.phases_ms["handshake"] < 1000


def test_explicit_hello_missing_is_timeout(target: demo.DemoTarget) -> None:
    """`handshake: handshake` against a server that sends none fails as timeout at handshake_timeout_s."""
    target.set_fault("ws_no_hello")
    result, elapsed = run(make_check(target, handshake="handshake", handshake_timeout_s=0.3))
    assert result.failure and result.failure.cls == "timeout"
    assert "handshake_response" in result.failure.message
    assert elapsed < 2


def test_heartbeats_are_ignored_and_counted(target: demo.DemoTarget) -> None:
    """Heartbeat, ping and unknown frames between events do not count as events but are counted."""
    target.set_fault("ws_heartbeats")
    result, _ = run(make_check(target))
    assert result.ok, result.failure
    assert names(result) == FIVE
    assert result.details["ignored"] == {"heartbeat": 5, "ping": 5, "server_stats": 5}


def test_missing_event(target: demo.DemoTarget) -> None:
    """A required event that never comes is ws_event_missing, named, with the last event seen."""
    target.set_fault("ws_missing_event")
    result, _ = run(make_check(target))
    assert result.failure and result.failure.cls == "ws_event_missing"
    assert result.details["missing"] == ["tool_completed"]
    assert result.details["last_event"] == "agent_completed"
    assert "complete" in result.phases_ms


def test_out_of_order(target: demo.DemoTarget) -> None:
    """Required events out of their configured order are ws_event_order when `ordered`."""
    target.set_fault("ws_out_of_order")
    result, _ = run(make_check(target))
    assert result.failure and result.failure.cls == "ws_event_order"
    assert result.failure.message == "tool_executing arrived before agent_thinking"
    assert "missing" not in result.details


def test_out_of_order_passes_unordered(target: demo.DemoTarget) -> None:
    """Without `ordered`, the same stream passes."""
    target.set_fault("ws_out_of_order")
    result, _ = run(make_check(target, events={"required": FIVE}))
    assert result.ok, result.failure


def test_agent_error(target: demo.DemoTarget) -> None:
    """An agent_error event fails at once with its message."""
    target.set_fault("ws_agent_error")
    result, _ = run(make_check(target))
    assert result.failure and result.failure.cls == "agent_error"
    assert "LLM provider returned 500" in result.failure.message
    assert result.details["last_event"] == "agent_error"


def test_empty_answer(target: demo.DemoTarget) -> None:
    """An agent_completed without a final_response fails the answer check as assertion."""
    target.set_fault("ws_empty_answer")
    result, _ = run(make_check(target))
    assert result.failure and result.failure.cls == "assertion"
    assert "final_response" in result.failure.message


def test_stall_fails_at_deadline(target: demo.DemoTarget) -> None:
    """A stall after agent_started is ws_event_missing at timeout_s, never later."""
    target.set_fault("ws_stall")
    result, elapsed = run(make_check(target, timeout_s=1.0))
    assert result.failure and result.failure.cls == "ws_event_missing"
    assert result.details["missing"] == FIVE[1:]
    assert result.details["last_event"] == "agent_started"
    assert "first_event" in result.phases_ms and "complete" not in result.phases_ms
    assert elapsed < 1.0 + 0.5
    assert result.latency_ms is not None and result.latency_ms <= 1000


def test_no_event_is_timeout(target: demo.DemoTarget) -> None:
    """No agent event within first_event_timeout_s is timeout, at that timeout."""
    events = {"required": FIVE, "first_event_timeout_s": 0.3}
    result, elapsed = run(make_check(target, send={"type": "noop"}, events=events))
    assert result.failure and result.failure.cls == "timeout"
    assert result.details["missing"] == FIVE
    assert result.details["ignored"] == {"ack": 1}
    assert elapsed < 1.5


@pytest.mark.parametrize(("fault", "cls", "code"), [
    ("ws_close_1008", "auth", 1008), ("ws_close_1011", "unavailable", 1011), ("ws_close_1003", "auth", 1003)])
def test_close_codes(target: demo.DemoTarget, fault: str, cls: str, code: int) -> None:
    """Closes after the upgrade map 1008/1003 → auth and 1011 → unavailable, code in details."""
    target.set_fault(fault)
    result, _ = run(make_check(target))
    assert result.failure and result.failure.cls == cls
    assert result.details["close_code"] == code
    assert "connect" in result.phases_ms and "first_event" not in result.phases_ms


def test_bad_token_closes_1008(target: demo.DemoTarget) -> None:
    """A socket opened without a valid token is closed 1008 by the server: auth."""
    result, _ = run(make_check(target, login=None, headers={"Authorization": "Bearer not-a-token"}))
    assert result.failure and result.failure.cls == "auth"
    assert result.details["close_code"] == 1008


@pytest.mark.parametrize(("fault", "cls", "status"), [
    ("ws_upgrade_503", "unavailable", 503), ("ws_upgrade_401", "auth", 401), ("service_503", "unavailable", 503)])
def test_upgrade_refused(target: demo.DemoTarget, fault: str, cls: str, status: int) -> None:
    """An upgrade answered with an HTTP status is classified by that status."""
    target.set_fault(fault)
    result, _ = run(make_check(target, login=None, handshake="none"))
    assert result.failure and result.failure.cls == cls
    assert result.details["status"] == status
    assert "connect" in result.phases_ms


def test_login_wrong_password(target: demo.DemoTarget) -> None:
    """Login answered 401 is auth; the socket is never opened."""
    login = {"url": target.http_url + "/auth/login", "json": {"email": demo.DEMO_EMAIL, "password": "wrong"}}
    result, _ = run(make_check(target, login=login))
    assert result.failure and result.failure.cls == "auth"
    assert result.details["login_status"] == 401
    assert list(result.phases_ms) == ["login"]
    assert "wrong" not in json.dumps(result.to_dict())


def test_login_service_down(target: demo.DemoTarget) -> None:
    """The auth service answering 503 is unavailable."""
    target.set_fault("auth_down")
    result, _ = run(make_check(target))
    assert result.failure and result.failure.cls == "unavailable"
    assert result.details["login_status"] == 503


def test_login_endpoint_refused(target: demo.DemoTarget) -> None:
    """A login endpoint with nothing listening is connect_refused."""
    login = {"url": f"http://127.0.0.1:{closed_port()}/auth/login", "json": {"email": "a", "password": "b"}}
    result, _ = run(make_check(target, login=login))
    assert result.failure and result.failure.cls == "connect_refused"
    assert "login" in result.phases_ms


def test_websocket_refused(target: demo.DemoTarget) -> None:
    """A chat URL with nothing listening is connect_refused."""
    result, _ = run(make_check(target, ws_url=f"ws://127.0.0.1:{closed_port()}/ws"))
    assert result.failure and result.failure.cls == "connect_refused"
    assert "connect" in result.phases_ms


def test_upgrade_never_answered_is_timeout(target: demo.DemoTarget) -> None:
    """A listener that accepts TCP but never answers the upgrade is timeout, within timeout_s."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"ws://127.0.0.1:{silent.getsockname()[1]}/ws"
        result, elapsed = run(make_check(target, ws_url=url, login=None, timeout_s=0.5))
    assert result.failure and result.failure.cls == "timeout"
    assert elapsed < 0.5 + 0.5


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[demo.DemoTarget, str]]:
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=5)
    ca.issue_cert("127.0.0.1", not_after=expires).configure_cert(ctx)
    ca_file = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    target = demo.start(spacing_s=0.002, ssl_context=ctx)
    yield target, str(ca_file)
    target.stop()


def test_wss_with_ca_file(tls_server: tuple[demo.DemoTarget, str]) -> None:
    """wss:// (and https login) with the private CA in ca_file passes and reports the days left."""
    target, ca_file = tls_server
    result, _ = run(make_check(target, ca_file=ca_file, cert_min_days=1))
    assert result.ok, result.failure
    assert 4 < result.details["cert_days_left"] <= 5


def test_wss_cert_expiring(tls_server: tuple[demo.DemoTarget, str]) -> None:
    """A certificate inside cert_min_days (default 14) is cert_expiring after an otherwise good run."""
    target, ca_file = tls_server
    result, _ = run(make_check(target, ca_file=ca_file))
    assert result.failure and result.failure.cls == "cert_expiring"
    assert names(result) == FIVE


def test_wss_untrusted(tls_server: tuple[demo.DemoTarget, str]) -> None:
    """wss:// with a certificate from an unknown CA is tls."""
    target, _ = tls_server
    result, _ = run(make_check(target, login=None))
    assert result.failure and result.failure.cls == "tls"


def test_upgrade_dropped_is_connect_refused(target: demo.DemoTarget) -> None:
    """A listener that closes the connection before answering the upgrade is connect_refused."""
    async def main() -> ProbeResult:
        async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        server = await asyncio.start_server(drop, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            return await websocket_probe.probe(make_check(target, ws_url=f"ws://127.0.0.1:{port}/ws", login=None))

    result = asyncio.run(main())
    assert result.failure and result.failure.cls == "connect_refused"


def test_cancellation_propagates(target: demo.DemoTarget) -> None:
    """Cancelling the probe (the runner's outer deadline) raises CancelledError, never a result."""
    target.set_fault("ws_stall")

    async def main() -> None:
        task = asyncio.create_task(websocket_probe.probe(make_check(target, timeout_s=5)))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
