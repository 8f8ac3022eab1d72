"""HTTP fault catalogue: misbehaving loopback targets, each classified and finished within its deadline."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import faulty_http as fh
import pytest
from servers import make_check, run_all

from probes import http as http_probe
from probes.result import ProbeResult

TIMEOUT_S = 1.0
SLACK_S = 0.5  # the probe's own deadline handling; the runner's hard stop would be at +1 s


def run(url: str, **spec: Any) -> tuple[ProbeResult, float]:
    """Probe `url` once; the result and the wall time it took."""
    check = make_check({"name": "fault", "type": "http", "url": url, "timeout_s": TIMEOUT_S, **spec})
    started = time.monotonic()
    result = asyncio.run(http_probe.probe(check))
    return result, time.monotonic() - started


def failed(result: ProbeResult, cls: str) -> str:
    assert result.failure is not None, result
    assert result.failure.cls == cls, result.failure
    return result.failure.message


def test_slowloris_headers_is_timeout() -> None:
    """Headers arriving one byte per second: `timeout` at timeout_s, message names the headers."""
    with fh.raw_server(fh.slowloris) as s:
        r, elapsed = run(s.url())
    assert "no response headers" in failed(r, "timeout")
    assert "connect" in r.phases_ms and "ttfb" not in r.phases_ms
    assert TIMEOUT_S - 0.05 < elapsed < TIMEOUT_S + SLACK_S


def test_body_stops_early_is_assertion() -> None:
    """Content-Length 1000, 100 bytes sent, then FIN: `assertion` "body truncated", at once."""
    with fh.raw_server(fh.stops_mid_body) as s:
        r, elapsed = run(s.url())
    assert "truncated after 100 bytes" in failed(r, "assertion")
    assert r.details["status"] == 200 and elapsed < SLACK_S


def test_chunked_body_stops_early_is_assertion() -> None:
    """A chunked body cut inside a chunk (no final 0-chunk): `assertion` "body truncated"."""
    with fh.raw_server(fh.chunked_stops_mid_chunk) as s:
        r, elapsed = run(s.url())
    assert "truncated" in failed(r, "assertion") and elapsed < SLACK_S


def test_reset_after_headers_is_assertion() -> None:
    """Headers then RST (SO_LINGER 0): a response was started, so `assertion`, not `connect_refused`."""
    with fh.raw_server(fh.reset_after_headers) as s:
        r, elapsed = run(s.url())
    assert "reset" in failed(r, "assertion").lower()
    assert r.details["status"] == 200 and elapsed < SLACK_S


def test_reset_before_response_is_connect_refused() -> None:
    """RST before a byte of response: `connect_refused`."""
    with fh.raw_server(fh.reset_before_response) as s:
        r, elapsed = run(s.url())
    assert "reset" in failed(r, "connect_refused") and elapsed < SLACK_S


def test_empty_reply_is_connect_refused() -> None:
    """Accept, read the request, close without answering: `connect_refused`."""
    with fh.raw_server(fh.empty_reply) as s:
        r, elapsed = run(s.url())
    failed(r, "connect_refused")
    assert "ttfb" not in r.phases_ms and elapsed < SLACK_S


def test_two_gigabyte_length_that_never_comes_is_timeout() -> None:
    """A 2 GB Content-Length, 64 KiB sent, then silence: `timeout` naming the body, memory untouched."""
    with fh.raw_server(fh.two_gigabytes_never_come) as s:
        r, elapsed = run(s.url())
    assert "response body not complete" in failed(r, "timeout")
    assert r.details["status"] == 200 and "ttfb" in r.phases_ms
    assert TIMEOUT_S - 0.05 < elapsed < TIMEOUT_S + SLACK_S


def test_two_gigabyte_body_streamed_is_capped() -> None:
    """A 2 GB body at full speed: read up to max_body_bytes only, then judged (a 200 passes)."""
    with fh.raw_server(fh.two_gigabytes_streamed) as s:
        r, elapsed = run(s.url(), max_body_bytes=1 << 20)
    assert r.ok, r.failure
    assert r.details["body_bytes"] == 1 << 20 and r.details["body_truncated"] is True
    assert elapsed < TIMEOUT_S


def test_tls_handshake_that_never_finishes_is_timeout() -> None:
    """TCP accepted, ClientHello read, no ServerHello: `timeout` naming the TLS phase."""
    with fh.raw_server(fh.tls_never_finishes) as s:
        r, elapsed = run(s.url(scheme="https"))
    assert "TLS handshake did not finish" in failed(r, "timeout")
    assert "connect" in r.phases_ms and "tls" not in r.phases_ms
    assert TIMEOUT_S - 0.05 < elapsed < TIMEOUT_S + SLACK_S


def test_endless_redirect_loop_is_http_status() -> None:
    """A redirect loop with follow_redirects: `http_status` after max_redirects hops."""
    with fh.raw_server(fh.redirect_loop) as s:
        r, elapsed = run(s.url("/loop"), follow_redirects=True, max_redirects=5)
    assert failed(r, "http_status") == "more than 5 redirects"
    assert r.details["redirects"] == 5 and len(s.requests) == 6 and elapsed < SLACK_S


def test_slow_redirect_loop_shares_one_deadline() -> None:
    """Hops of 200 ms each under max_redirects 20: timeout_s bounds the whole chain, not each hop."""
    with fh.raw_server(fh.slow_redirect_loop) as s:
        r, elapsed = run(s.url("/loop"), follow_redirects=True, max_redirects=20)
    assert "no response headers" in failed(r, "timeout")
    assert 2 <= r.details["redirects"] < 6
    assert TIMEOUT_S - 0.05 < elapsed < TIMEOUT_S + SLACK_S


SECRET_HEADERS = {"Authorization": "Bearer tok-7f3a9", "Cookie": "sid=ck-51e2", "X-Api-Key": "key-c0ffee",
                  "X-Probe": "synthmon"}


def test_redirect_to_other_host_not_followed_by_default() -> None:
    """Without follow_redirects a 302 to another host is `http_status`; the other host sees nothing."""
    with fh.raw_server(fh.ok_json) as other:
        with fh.raw_server(fh.redirect_to(other.url("/landing", host="localhost"))) as s:
            r, elapsed = run(s.url("/start"), headers=SECRET_HEADERS)
    assert failed(r, "http_status") == "HTTP 302"
    assert other.requests == [] and elapsed < SLACK_S


def test_redirect_to_other_host_drops_secret_headers() -> None:
    """Followed only with follow_redirects; Authorization, Cookie and API-key headers never reach the other host."""
    with fh.raw_server(fh.ok_json) as other:
        with fh.raw_server(fh.redirect_to(other.url("/landing", host="localhost"))) as s:
            r, _ = run(s.url("/start"), headers=SECRET_HEADERS, follow_redirects=True,
                       expect={"json": {"status": "ok"}})
    assert r.ok, r.failure
    assert r.details["redirects"] == 1
    first, = (fh.headers_of(h) for h in s.requests)
    landed, = (fh.headers_of(h) for h in other.requests)
    assert first["authorization"] == "Bearer tok-7f3a9" and first["x-api-key"] == "key-c0ffee"
    assert landed["host"] == f"localhost:{other.port}" and landed["x-probe"] == "synthmon"
    assert not {"authorization", "cookie", "x-api-key"} & set(landed)


def test_redirect_to_other_port_is_another_origin() -> None:
    """Same address, another port is another origin (RFC 6454): secret headers are dropped there too."""
    with fh.raw_server(fh.ok_json) as other:
        with fh.raw_server(fh.redirect_to(other.url("/landing"))) as s:
            r, _ = run(s.url("/start"), headers=SECRET_HEADERS, follow_redirects=True)
    assert r.ok, r.failure
    landed, = (fh.headers_of(h) for h in other.requests)
    assert not {"authorization", "cookie", "x-api-key"} & set(landed)


def test_same_origin_redirect_keeps_headers() -> None:
    """A redirect within the same origin keeps every configured header."""
    def handler(conn: Any, server: fh.RawServer) -> None:
        (fh.redirect_to("/landing") if len(server.requests) == 0 else fh.ok_json)(conn, server)

    with fh.raw_server(handler) as s:
        r, _ = run(s.url("/start"), headers=SECRET_HEADERS, follow_redirects=True)
    assert r.ok, r.failure
    landed = fh.headers_of(s.requests[1])
    assert s.requests[1].startswith(b"GET /landing ") and landed["authorization"] == "Bearer tok-7f3a9"
    assert landed["x-api-key"] == "key-c0ffee"


def test_post_redirected_by_303_becomes_get() -> None:
    """A POST answered 303 is followed with a GET and no body; the body is not replayed elsewhere."""
    def handler(conn: Any, server: fh.RawServer) -> None:
        if not server.requests:
            server.read_head(conn)
            conn.sendall(fh.head_lines("303 See Other", "Location: /done", "Content-Length: 0"))
        else:
            fh.ok_json(conn, server)

    with fh.raw_server(handler) as s:
        r, _ = run(s.url("/submit"), method="POST", json={"q": 1}, follow_redirects=True)
    assert r.ok, r.failure
    assert s.requests[0].startswith(b"POST /submit ") and s.requests[1].startswith(b"GET /done ")
    assert "content-length" not in fh.headers_of(s.requests[1])


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return fh.gzip_bomb(100)


def _status_kib(field: str) -> int:
    m = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    assert m, field
    return int(m.group(1))


@contextlib.contextmanager
def peak_rss_growth() -> Iterator[list[float]]:
    """The most this process's resident set grew (MiB) inside the block, appended on exit.

    The process-wide peak (`ru_maxrss`, VmHWM) only ever grows, so an earlier test's peak would hide
    this one's; writing 5 to /proc/self/clear_refs resets VmHWM to the current RSS (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError as exc:
        pytest.skip(f"cannot reset the peak RSS here: {exc}")
    before = _status_kib("VmRSS")
    grown: list[float] = []
    yield grown
    grown.append((_status_kib("VmHWM") - before) / 1024)


def test_gzip_bomb_is_capped(bomb: bytes) -> None:
    """100 MiB of zeros in a 100 KB gzip body: decoding stops at max_body_bytes, memory stays flat."""
    with fh.raw_server(fh.body(bomb, "Content-Encoding: gzip")) as s, peak_rss_growth() as grown:
        r, elapsed = run(s.url())
    assert r.ok, r.failure
    assert r.details["body_bytes"] == 1 << 20 and r.details["body_truncated"] is True
    assert grown[0] < 32 and elapsed < TIMEOUT_S


def test_gzip_bomb_with_json_expectation_is_assertion(bomb: bytes) -> None:
    """The same bomb where JSON is expected: `assertion`, never `internal`."""
    with fh.raw_server(fh.body(bomb, "Content-Encoding: gzip")) as s:
        r, _ = run(s.url(), max_body_bytes=65536, expect={"json": {"status": "ok"}})
    assert failed(r, "assertion") == "body is not JSON" and r.details["body_bytes"] == 65536


def test_corrupt_gzip_is_assertion() -> None:
    """Content-Encoding gzip over bytes that are not gzip: `assertion`."""
    with fh.raw_server(fh.body(b"plainly not gzip", "Content-Encoding: gzip")) as s:
        r, _ = run(s.url())
    assert "unencoding" in failed(r, "assertion")


@pytest.mark.parametrize(("payload", "expect", "message"), [
    (b"\xff\xfe status \xc3\x28 ok", {"body_contains": "ready"}, "body does not contain 'ready'"),
    (b"\xff\xfe status \xc3\x28 ok", {"json": {"status": "ok"}}, "body is not JSON"),
    (b'{"status": "\xff\xfe"}', {"json": {"status": "ok"}}, 'JSON path status is "\\ufffd\\ufffd", expected "ok"'),
    (b"<html><body>Service Unavailable</body></html>", {"json": {"status": "ok"}}, "body is not JSON"),
    (b"", {"json": {"status": "ok"}}, "body is not JSON"),
    (b"[" * 200_000, {"json": {"status": "ok"}}, "body is not JSON (nested too deeply)"),
    (b"9" * 10_000, {"json": {"status": "ok"}}, "body is not JSON"),
])
def test_undecodable_bodies_are_assertion(payload: bytes, expect: dict[str, Any], message: str) -> None:
    """Invalid UTF-8, HTML, empty, deeply nested or oversized-number bodies: `assertion`, never `internal`."""
    with fh.raw_server(fh.body(payload, "Content-Type: application/json")) as s:
        r, _ = run(s.url(), expect=expect)
    assert failed(r, "assertion") == message


def test_invalid_utf8_still_matches_ascii() -> None:
    """Invalid UTF-8 around the expected text: decoded with replacement, body_contains still passes."""
    with fh.raw_server(fh.body(b"\xff\xfe status: ok \xc3\x28")) as s:
        r, _ = run(s.url(), expect={"body_contains": "status: ok"})
    assert r.ok, r.failure


def test_http10_body_until_close_passes() -> None:
    """HTTP/1.0 without Content-Length: the body ends at close, and is judged whole."""
    with fh.raw_server(fh.http10_until_close) as s:
        r, elapsed = run(s.url(), expect={"json": {"status": "ok"}})
    assert r.ok, r.failure
    assert r.details["body_bytes"] == len(b'{"status":"ok"}') and elapsed < SLACK_S


def test_non_http_answer_is_http_status() -> None:
    """Another protocol's banner on the port (HTTP/0.9 is refused): `http_status`."""
    with fh.raw_server(fh.not_http) as s:
        r, elapsed = run(s.url())
    assert "HTTP/0.9" in failed(r, "http_status") and elapsed < SLACK_S


def test_endless_headers_are_cut() -> None:
    """Header lines that never end: libcurl stops at its 300 KB header limit, `assertion`, at once."""
    with fh.raw_server(fh.endless_headers) as s:
        r, elapsed = run(s.url())
    assert "Too large response headers" in failed(r, "assertion") and elapsed < TIMEOUT_S


def test_whole_catalogue_in_one_run() -> None:
    """Every fault at once through the runner: one result each, none `internal`, the run ends near timeout_s."""
    handlers = [fh.slowloris, fh.stops_mid_body, fh.reset_after_headers, fh.reset_before_response,
                fh.empty_reply, fh.two_gigabytes_never_come, fh.two_gigabytes_streamed, fh.redirect_loop,
                fh.slow_redirect_loop, fh.http10_until_close, fh.not_http, fh.endless_headers,
                fh.body(b"[" * 200_000)]
    with ExitStack() as stack:
        servers = [stack.enter_context(fh.raw_server(h)) for h in handlers]
        tls = stack.enter_context(fh.raw_server(fh.tls_never_finishes))
        checks = [make_check({"name": f"f{i}", "type": "http", "url": s.url("/loop"), "timeout_s": TIMEOUT_S,
                              "follow_redirects": True, "max_redirects": 20, "expect": {"json": {"a": 1}}})
                  for i, s in enumerate(servers)]
        checks.append(make_check({"name": "tls", "type": "http", "url": tls.url(scheme="https"),
                                  "timeout_s": TIMEOUT_S}))
        started = time.monotonic()
        results = asyncio.run(run_all(checks, {"http": http_probe.probe}))
        elapsed = time.monotonic() - started
    assert [r.name for r in results] == [c.name for c in checks]
    assert all(r.failure is not None and r.failure.cls != "internal" for r in results), results
    assert elapsed < TIMEOUT_S + SLACK_S


def test_json_path_with_non_decimal_digit_is_assertion() -> None:
    """A JSON path part such as "²" (a digit int() rejects) on a list is "not found", never `internal`."""
    with fh.raw_server(fh.body(b'{"items": [1, 2, 3]}')) as s:
        r, _ = run(s.url(), expect={"json": {"items.²": 1}})
    assert failed(r, "assertion") == "JSON path items.² not found"
