"""The chat golden path: log in, open the WebSocket, say hello, send a message, judge the agent's events.

Success: login (when configured) yields a token, the upgrade is accepted, the hello completes (or
none is sent), and the event stream meets `events` (probes/agent_events.py) within `timeout_s`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import time
import urllib.parse
from typing import Any

import certifi
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from probes import errors
from probes.agent_events import EventMatcher, hello_ids, parse_frame, render_message
from probes.certs import CertInfo, first_expiring, from_ssl
from probes.checks import WebSocketCheck
from probes.diagnosis import cert_expiring_diagnosis
from probes.login import LoginFailed, fetch_token
from probes.redact import Redactor
from probes.result import ProbeResult
from probes.trace import new_trace, with_trace

DEFAULT_SEND: dict[str, Any] = {"type": "user_message", "payload": {
    "content": "synthetic probe: reply with OK", "thread_id": "{thread_id}", "run_id": "{run_id}"}}
# Close codes the staging backend uses on purpose (docs/websocket.md); any other early close is ws_closed.
_CLOSE_CLASS: dict[int, tuple[str, str]] = {
    1008: ("auth", "authentication failed"),
    1011: ("unavailable", "server not ready"),
    1003: ("auth", "subprotocol refused"),
}
Frame = tuple[str | None, dict[str, Any], dict[str, Any]]


class _Failed(Exception):
    """A stage failed: carries the failure class, message and details for the result."""

    def __init__(self, cls: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.cls, self.message, self.details = cls, message, details


class _Run:
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


async def probe(check: WebSocketCheck) -> ProbeResult:
    """Run the golden path once; returns within `check.timeout_s`.

    Failure classes: dns, connect_refused, connect_timeout, tls, cert_expiring, unavailable,
    http_status, timeout, auth, ws_closed, ws_event_missing, ws_event_order, agent_error, assertion.
    """
    run = _Run(check)
    result = run.result
    try:
        async with asyncio.timeout_at(run.deadline) as budget:
            await _golden_path(run)
    except _Failed as exc:
        result.details.update(exc.details)
        _fail(run, exc.cls, exc.message)
    except TimeoutError:
        if not budget.expired():
            raise
        _fail(run, "timeout", f"no result within {check.timeout_s:g} s")
    result.latency_ms = ((run.verdict_at or run.now()) - run.start) * 1000
    if run.cert is not None:
        days = run.cert.days_left()
        result.details["cert"] = run.cert.details()
        result.details["cert_days_left"] = round(days, 2)
        if days < check.cert_min_days:
            result.fail("cert_expiring", f"certificate {run.cert.subject} expires in {days:.1f} days "
                                         f"(cert_min_days {check.cert_min_days:g})",
                        cert_expiring_diagnosis(run.cert.subject, run.cert.not_after, run.cert.depth))
    result.details = Redactor(run.secrets).scrub(result.details)
    return result


def _fail(run: _Run, cls: str, message: str) -> None:
    run.result.fail(cls, Redactor(run.secrets).text(message))


async def _golden_path(run: _Run) -> None:
    token = await _login(run) if run.check.login else None
    ws = await _connect(run, token)
    try:
        ids = await _hello(run, ws)
        sent_at = run.now()
        await _send(run, ws, render_message(run.check.send if run.check.send is not None else DEFAULT_SEND, ids))
        try:
            await _converse(run, ws, sent_at)
        finally:
            _record_events(run)
    finally:
        run.verdict_at = run.now()
        await _close(run, ws)


async def _login(run: _Run) -> str:
    assert run.check.login is not None
    t0 = run.now()
    try:
        token = await fetch_token(run.check.login, run.check.ca_file,
                                  min(run.check.login.timeout_s, run.left()),
                                  run.trace.child().headers(run.check.cloud_trace_context))
    except LoginFailed as exc:
        details = {"login_status": exc.status} if exc.status else {}
        raise _Failed(exc.cls, exc.message, **details) from None
    finally:
        run.phase("login", t0)
    encoded = base64.urlsafe_b64encode(token.encode()).rstrip(b"=").decode()
    run.secrets += [token, encoded, urllib.parse.quote(token, safe="")]
    return token


def _credentials(check: WebSocketCheck, token: str | None) -> tuple[str, list[tuple[str, str]], list[Any] | None]:
    """(URL, headers, subprotocols) carrying the token the way `token_in` says."""
    url, headers = check.url, list(check.headers)
    if token is None:
        return url, headers, None
    if check.token_in == "header":
        return url, headers + [("Authorization", f"Bearer {token}")], None
    if check.token_in == "query":
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qsl(parts.query) + [(check.token_query_param, token)]
        return parts._replace(query=urllib.parse.urlencode(query)).geturl(), headers, None
    # Staging reads `jwt.<base64url(token)>` next to the `jwt-auth` marker (it also accepts the raw token).
    encoded = base64.urlsafe_b64encode(token.encode()).rstrip(b"=").decode()
    return url, headers, ["jwt-auth", f"jwt.{encoded}"]


async def _connect(run: _Run, token: str | None) -> ClientConnection:
    check = run.check
    url, headers, subprotocols = _credentials(check, token)
    headers = list(with_trace(tuple(headers), run.trace, check.cloud_trace_context))
    transport_up: list[float] = []
    lost: list[BaseException] = []

    class Connection(ClientConnection):
        # connection_made fires once TCP (and TLS) are up: a timeout after it is the upgrade's.
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            transport_up.append(time.monotonic())
            super().connection_made(transport)

        # Why the transport died (a TLS alert after the handshake is an SSLError here); websockets
        # reports only an EOF in the handshake.
        def connection_lost(self, exc: Exception | None) -> None:
            if exc is not None:
                lost.append(exc)
            super().connection_lost(exc)

    t0 = run.now()
    try:
        ws = await connect(
            url, additional_headers=headers, subprotocols=subprotocols, open_timeout=run.left(),
            max_size=check.max_frame_bytes, proxy=None, close_timeout=1.0, user_agent_header="synthmon",
            ssl=_ssl_context(check) if url.startswith("wss:") else None, create_connection=Connection)
    except InvalidStatus as exc:
        status = exc.response.status_code
        cls = ("unavailable" if status in (502, 503, 504) else "auth" if status in (401, 403)
               else "http_status")
        raise _Failed(cls, f"WebSocket upgrade answered HTTP {status}", status=status) from None
    except TimeoutError:
        if transport_up:
            raise _Failed("timeout", "no answer to the WebSocket upgrade in time") from None
        raise _Failed("connect_timeout", "no connection within the deadline") from None
    except (InvalidHandshake, OSError) as exc:
        # A connection dropped before the upgrade answer (EOF, reset) is connect_refused; a
        # malformed answer is the server's fault at the HTTP level.
        cause = lost[0] if lost else exc
        dropped = any(isinstance(link, (EOFError, OSError)) for link in errors.chain(exc))
        cls = errors.classify(cause) or ("connect_refused" if dropped else "http_status")
        raise _Failed(cls, f"WebSocket connect: {errors.describe(cause)}") from None
    finally:
        run.phase("connect", t0)
    run.result.details["subprotocol"] = ws.subprotocol
    ssl_object = ws.transport.get_extra_info("ssl_object")
    if ssl_object is not None:
        run.cert = _first_expiring_cert(ssl_object)
    return ws


def _ssl_context(check: WebSocketCheck) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=check.ca_file or certifi.where())


def _first_expiring_cert(ssl_object: Any) -> CertInfo | None:
    """The served chain's first certificate to expire, read from the handshake that just happened.

    Python 3.11's ssl has no public chain accessor (SSLObject.get_unverified_chain() is 3.13+ and
    returns DER only), but its C object has had `get_unverified_chain()` returning certificates with
    `get_info()` since 3.10, and 3.13's public method wraps that same call. A second handshake per
    probe only to read the chain would double the TLS cost, so: the private call when present, the
    leaf (`getpeercert()`) when not.
    """
    chain = getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
    certs = chain() if callable(chain) else None
    if certs:
        return first_expiring(from_ssl(cert.get_info() for cert in certs))
    return first_expiring(from_ssl([ssl_object.getpeercert() or {}]))


async def _recv(run: _Run, ws: ClientConnection, until: float) -> Frame | None:
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
        raise _closed(exc) from None
    return parse_frame(data) or (None, {}, {})


def _closed(exc: ConnectionClosed) -> _Failed:
    code = exc.rcvd.code if exc.rcvd else 1006
    reason = exc.rcvd.reason[:200] if exc.rcvd else ""
    details: dict[str, Any] = {"close_code": code, "close_reason": reason}
    if exc.rcvd is None and exc.sent is not None:
        details["close_sent"] = int(exc.sent.code)
        if exc.sent.code == 1009:  # websockets refused a frame at its header, before reading it
            return _Failed("ws_closed", "a frame was larger than max_frame_bytes: closed with 1009", **details)
    cls, what = _CLOSE_CLASS.get(code, ("ws_closed", "closed early"))
    suffix = f": {reason}" if reason else ""
    return _Failed(cls, f"WebSocket closed with {code} ({what}){suffix}", **details)


async def _send(run: _Run, ws: ClientConnection, message: str) -> None:
    try:
        await ws.send(message)
    except ConnectionClosed as exc:
        raise _closed(exc) from None


async def _hello(run: _Run, ws: ClientConnection) -> dict[str, str]:
    """Wait for the server's hello; returns the thread_id/run_id it carried (may be empty)."""
    check, t0 = run.check, run.now()
    if check.handshake == "none":
        run.result.details["hello"] = "none"
        return {}
    auto = check.handshake == "auto"
    until = t0 + (check.hello_wait_s if auto else check.handshake_timeout_s)
    while (frame := await _recv(run, ws, until)) is not None:
        name, _, whole = frame
        if name == "handshake_response" and check.handshake in ("auto", "handshake"):
            ids = hello_ids(whole)
            await _send(run, ws, json.dumps({"type": "handshake_acknowledged", "thread_id": ids.get("thread_id")}))
            await _await_frame(run, ws, "handshake_complete", run.now() + check.handshake_timeout_s)
            return _hello_done(run, "handshake", t0, ids)
        if name == "connection_established" and check.handshake in ("auto", "connection_established"):
            return _hello_done(run, "connection_established", t0, hello_ids(whole))
        run.matcher.ignored[name or "unparsed"] += 1
    if not auto:
        first = "handshake_response" if check.handshake == "handshake" else "connection_established"
        raise _Failed("timeout", f"no {first} within {check.handshake_timeout_s:g} s")
    return _hello_done(run, "none", t0, {})


async def _await_frame(run: _Run, ws: ClientConnection, want: str, until: float) -> None:
    while (frame := await _recv(run, ws, until)) is not None:
        if frame[0] == want:
            return
        run.matcher.ignored[frame[0] or "unparsed"] += 1
    raise _Failed("timeout", f"no {want} within {run.check.handshake_timeout_s:g} s")


def _hello_done(run: _Run, kind: str, t0: float, ids: dict[str, str]) -> dict[str, str]:
    run.phase("handshake", t0)
    run.result.details["hello"] = kind
    return ids


async def _converse(run: _Run, ws: ClientConnection, sent_at: float) -> None:
    """Read events until a terminal or fail_on event, the first-event timeout or the deadline."""
    spec, matcher = run.check.events, run.matcher
    first_until = sent_at + spec.first_event_timeout_s
    while not matcher.done:
        frame = await _recv(run, ws, first_until if matcher.first_event_ms is None else run.end)
        if frame is None:
            break
        matcher.feed(frame[0], frame[1], (run.now() - sent_at) * 1000)
    waited = run.check.timeout_s if matcher.events else min(spec.first_event_timeout_s, run.check.timeout_s)
    verdict = matcher.verdict(waited)
    if verdict is not None:
        raise _Failed(*verdict)


def _record_events(run: _Run) -> None:
    matcher, phases = run.matcher, run.result.phases_ms
    run.result.details.update(matcher.details())
    if matcher.first_event_ms is not None:
        phases["first_event"] = matcher.first_event_ms
        if matcher.terminal_ms is not None:
            phases["complete"] = matcher.terminal_ms - matcher.first_event_ms


async def _close(run: _Run, ws: ClientConnection) -> None:
    """Close politely within what is left of the budget; past it, drop the TCP connection."""
    # A hair under the deadline, so that the probe's own budget never fires first and hides the verdict.
    budget = run.deadline - run.now() - 0.02
    if budget <= 0:
        ws.transport.abort()
        return
    try:
        async with asyncio.timeout(budget):
            await ws.close()
    except TimeoutError:
        ws.transport.abort()
