"""The chat golden path: log in, open the WebSocket, say hello, send a message, judge the agent's events.

Success: login (when configured) yields a token, the upgrade is accepted, the hello completes (or
none is sent), and the event stream meets `events` (probes/agent_events.py) within `timeout_s`.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
import urllib.parse
from typing import Any

import certifi
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from probes import errors
from probes.agent_events import render_message
from probes.certs import CertInfo, first_expiring, from_ssl
from probes.checks import WebSocketCheck
from probes.diagnosis import cert_expiring_diagnosis
from probes.login import LoginFailed, fetch_token
from probes.redact import Redactor
from probes.result import ProbeResult
from probes.trace import with_trace
from probes.ws_session import Failed, Run, hello, recv, send

DEFAULT_SEND: dict[str, Any] = {"type": "user_message", "payload": {
    "content": "synthetic probe: reply with OK", "thread_id": "{thread_id}", "run_id": "{run_id}"}}


async def probe(check: WebSocketCheck) -> ProbeResult:
    """Run the golden path once; returns within `check.timeout_s`.

    Failure classes: dns, connect_refused, connect_timeout, tls, cert_expiring, unavailable,
    http_status, timeout, auth, ws_closed, ws_event_missing, ws_event_order, agent_error, assertion.
    """
    run = Run(check)
    result = run.result
    try:
        async with asyncio.timeout_at(run.deadline) as budget:
            await _golden_path(run)
    except Failed as exc:
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


def _fail(run: Run, cls: str, message: str) -> None:
    run.result.fail(cls, Redactor(run.secrets).text(message))


async def _golden_path(run: Run) -> None:
    token = await _login(run) if run.check.login else None
    ws = await _connect(run, token)
    try:
        ids = await hello(run, ws)
        sent_at = run.now()
        await send(run, ws, render_message(run.check.send if run.check.send is not None else DEFAULT_SEND, ids))
        try:
            await _converse(run, ws, sent_at)
        finally:
            _record_events(run)
    finally:
        run.verdict_at = run.now()
        await _close(run, ws)


async def _login(run: Run) -> str:
    assert run.check.login is not None
    t0 = run.now()
    try:
        token = await fetch_token(run.check.login, run.check.ca_file,
                                  min(run.check.login.timeout_s, run.left()),
                                  run.trace.child().headers(run.check.cloud_trace_context))
    except LoginFailed as exc:
        details = {"login_status": exc.status} if exc.status else {}
        raise Failed(exc.cls, exc.message, **details) from None
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


async def _connect(run: Run, token: str | None) -> ClientConnection:
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
        raise Failed(cls, f"WebSocket upgrade answered HTTP {status}", status=status) from None
    except TimeoutError:
        if transport_up:
            raise Failed("timeout", "no answer to the WebSocket upgrade in time") from None
        raise Failed("connect_timeout", "no connection within the deadline") from None
    except (InvalidHandshake, OSError) as exc:
        # A connection dropped before the upgrade answer (EOF, reset) is connect_refused; a
        # malformed answer is the server's fault at the HTTP level.
        cause = lost[0] if lost else exc
        dropped = any(isinstance(link, (EOFError, OSError)) for link in errors.chain(exc))
        cls = errors.classify(cause) or ("connect_refused" if dropped else "http_status")
        raise Failed(cls, f"WebSocket connect: {errors.describe(cause)}") from None
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


async def _converse(run: Run, ws: ClientConnection, sent_at: float) -> None:
    """Read events until a terminal or fail_on event, the first-event timeout or the deadline."""
    spec, matcher = run.check.events, run.matcher
    first_until = sent_at + spec.first_event_timeout_s
    while not matcher.done:
        frame = await recv(run, ws, first_until if matcher.first_event_ms is None else run.end)
        if frame is None:
            break
        matcher.feed(frame[0], frame[1], (run.now() - sent_at) * 1000)
    waited = run.check.timeout_s if matcher.events else min(spec.first_event_timeout_s, run.check.timeout_s)
    verdict = matcher.verdict(waited)
    if verdict is not None:
        raise Failed(*verdict)


def _record_events(run: Run) -> None:
    matcher, phases = run.matcher, run.result.phases_ms
    run.result.details.update(matcher.details())
    if matcher.first_event_ms is not None:
        phases["first_event"] = matcher.first_event_ms
        if matcher.terminal_ms is not None:
            phases["complete"] = matcher.terminal_ms - matcher.first_event_ms


async def _close(run: Run, ws: ClientConnection) -> None:
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
