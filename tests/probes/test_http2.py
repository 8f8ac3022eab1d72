"""The HTTP probe over HTTP/2 (TLS with ALPN h2) against a real h2 server: stream resets before and
after the response headers, GOAWAY and a framing error, each classified from the shared table."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from h2server import H2Server
from servers import Tls, make_check

from probes import http as http_probe
from probes.result import ProbeResult


def run(server: H2Server, ca_file: str, **spec: Any) -> ProbeResult:
    check = make_check({"name": "h2", "type": "http", "url": server.url(), "ca_file": ca_file,
                        "timeout_s": 2, **spec})
    return asyncio.run(http_probe.probe(check))


def serve(tls: Tls, mode: str) -> H2Server:
    return H2Server(Tls._ctx(tls.ca.issue_cert("localhost", "127.0.0.1")), mode)


def test_h2_ok(tls: Tls, ca_file: str) -> None:
    """ALPN picks h2 and a 200 over HTTP/2 passes with every phase."""
    with serve(tls, "ok") as s:
        r = run(s, ca_file, expect={"body_contains": '"status"'})
    assert r.ok, r.to_dict()
    assert s.alpn == ["h2"] and s.requests == 1
    assert set(r.phases_ms) == {"dns", "connect", "tls", "ttfb", "transfer"}


@pytest.mark.parametrize("mode", ["reset_before_headers", "refused_stream"])
def test_stream_reset_before_headers_is_connect_refused(tls: Tls, ca_file: str, mode: str) -> None:
    """RST_STREAM before any response headers: nothing was answered, `connect_refused` (as a TCP
    reset before a status line), with no ttfb phase. (libcurl retries a REFUSED_STREAM itself.)"""
    with serve(tls, mode) as s:
        r = run(s, ca_file)
    assert r.failure is not None and r.failure.cls == "connect_refused", r.to_dict()
    assert s.requests >= 1 and "ttfb" not in r.phases_ms and "status" not in r.details


def test_stream_reset_after_headers_is_assertion(tls: Tls, ca_file: str) -> None:
    """Headers (200) and part of the body, then RST_STREAM: the answer started and broke, `assertion`."""
    with serve(tls, "reset_after_headers") as s:
        r = run(s, ca_file)
    assert r.failure is not None and r.failure.cls == "assertion", r.to_dict()
    assert r.details["status"] == 200


def test_goaway_before_headers_is_connect_refused(tls: Tls, ca_file: str) -> None:
    """GOAWAY with PROTOCOL_ERROR instead of an answer: `connect_refused`."""
    with serve(tls, "goaway_before_headers") as s:
        r = run(s, ca_file)
    assert r.failure is not None and r.failure.cls == "connect_refused", r.to_dict()
    assert "ttfb" not in r.phases_ms


def test_framing_error_before_headers_is_connect_refused(tls: Tls, ca_file: str) -> None:
    """An invalid frame (PING on a stream) instead of an answer: a connection error, `connect_refused`."""
    with serve(tls, "bad_frame") as s:
        r = run(s, ca_file)
    assert r.failure is not None and r.failure.cls == "connect_refused", r.to_dict()


def test_stream_never_answered_is_timeout(tls: Tls, ca_file: str) -> None:
    """The h2 connection is up but the stream is never answered: `timeout` at timeout_s."""
    with serve(tls, "no_answer") as s:
        started = time.monotonic()
        r = run(s, ca_file, timeout_s=0.5)
        elapsed = time.monotonic() - started
    assert r.failure is not None and r.failure.cls == "timeout", r.to_dict()
    assert "no response headers" in r.failure.message and "tls" in r.phases_ms
    assert elapsed < 1.5
