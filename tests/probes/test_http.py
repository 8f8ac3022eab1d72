"""HTTP probe against real loopback servers: classes, phases, TLS, caps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from servers import Server, Tls, blackhole, closed_port, make_check, serving

from probes import http as http_probe
from probes.result import ProbeResult


@pytest.fixture(scope="module")
def plain() -> Iterator[Server]:
    with serving() as s:
        yield s



def run(spec: dict[str, Any]) -> ProbeResult:
    spec = {"name": "t", "type": "http", **spec}
    return asyncio.run(http_probe.probe(make_check(spec)))


def test_ok_has_every_plain_phase(plain: Server) -> None:
    """A 200 passes, with dns/connect/ttfb/transfer phases and no tls phase."""
    r = run({"url": plain.url("/ok"), "expect": {"status": [200], "body_contains": '"status"'}})
    assert r.ok and r.failure is None and r.details["status"] == 200
    assert set(r.phases_ms) == {"dns", "connect", "ttfb", "transfer"}
    assert r.latency_ms is not None and r.latency_ms >= r.phases_ms["ttfb"]


def test_503_is_unavailable_with_snippet(plain: Server) -> None:
    """502/503/504 is `unavailable`; the first 200 bytes of the body go to details."""
    r = run({"url": plain.url("/unavailable")})
    assert r.failure is not None and r.failure.cls == "unavailable"
    assert r.failure.message == "HTTP 503 Service Unavailable"
    assert r.details["body_snippet"].startswith("upstream connect error") and len(r.details["body_snippet"]) == 200
    assert "503" in (r.diagnosis or "")


def test_other_status_is_http_status(plain: Server) -> None:
    """A 404 where 200 is expected is `http_status`; an expected 404 passes."""
    assert run({"url": plain.url("/nope")}).failure.cls == "http_status"  # type: ignore[union-attr]
    assert run({"url": plain.url("/nope"), "expect": {"status": [404]}}).ok


@pytest.mark.parametrize("code", [401, 403])
def test_401_403_is_auth(plain: Server, code: int) -> None:
    """401/403 is `auth` (README failure classes), not `http_status`; an expected 401 passes."""
    r = run({"url": plain.url(f"/status?code={code}")})
    assert r.failure is not None and r.failure.cls == "auth", r.to_dict()
    assert r.details["status"] == code and "authentication" in (r.diagnosis or "")
    assert run({"url": plain.url(f"/status?code={code}"), "expect": {"status": [code]}}).ok


def test_body_assertions(plain: Server) -> None:
    """body_contains, body_regex and JSON paths fail as `assertion` with the reason."""
    r = run({"url": plain.url("/ok"), "expect": {"body_contains": "healthy"}})
    assert r.failure is not None and r.failure.cls == "assertion" and "healthy" in r.failure.message
    r = run({"url": plain.url("/ok"), "expect": {"body_regex": r'"status":\s*"ok"'}})
    assert r.ok
    r = run({"url": plain.url("/ready"), "expect": {"json": {"checks.postgresql.status": "ok", "items.1": 2}}})
    assert r.ok
    r = run({"url": plain.url("/ready"), "expect": {"json": {"status": "ok"}}})
    assert r.failure is not None and r.failure.message == 'JSON path status is "healthy", expected "ok"'
    r = run({"url": plain.url("/big?bytes=10"), "expect": {"json": {"status": "ok"}}})
    assert r.failure is not None and r.failure.message == "body is not JSON"


def test_latency_assertion(plain: Server) -> None:
    """A response slower than max_latency_ms is an `assertion` failure, ttfb shows the wait."""
    r = run({"url": plain.url("/slow?ms=120"), "expect": {"max_latency_ms": 50}})
    assert r.failure is not None and r.failure.cls == "assertion"
    assert r.phases_ms["ttfb"] >= 110


def test_slower_than_timeout_is_timeout(plain: Server) -> None:
    """Connected but no answer before timeout_s: `timeout`, at the deadline."""
    start = time.monotonic()
    r = run({"url": plain.url("/slow?ms=2000"), "timeout_s": 0.5})
    elapsed = time.monotonic() - start
    assert r.failure is not None and r.failure.cls == "timeout"
    assert "no response headers" in r.failure.message
    assert "connect" in r.phases_ms and elapsed < 1.5


def test_blackhole_never_answers_is_timeout() -> None:
    """A socket that accepts and never answers: TCP connects, so the class is `timeout`."""
    with blackhole() as port:
        start = time.monotonic()
        r = run({"url": f"http://127.0.0.1:{port}/", "timeout_s": 0.5})
        assert time.monotonic() - start < 1.5
    assert r.failure is not None and r.failure.cls == "timeout" and "connect" in r.phases_ms


def test_closed_port_is_connect_refused() -> None:
    """Nothing listening: `connect_refused`, no connect phase."""
    r = run({"url": f"http://127.0.0.1:{closed_port()}/"})
    assert r.failure is not None and r.failure.cls == "connect_refused"
    assert "connect" not in r.phases_ms and "ttfb" not in r.phases_ms


def test_invalid_name_is_dns() -> None:
    """A name under .invalid never resolves: `dns`."""
    r = run({"url": "http://synthmon-probe.invalid/health"})
    assert r.failure is not None and r.failure.cls == "dns"
    assert "connect" not in r.phases_ms


def test_unroutable_is_connect_timeout() -> None:
    """No route for TCP (a multicast address: the kernel says ENETUNREACH, no packet leaves the
    machine): `connect_timeout`, as in every probe (tests/probes/test_classification.py)."""
    r = run({"url": "http://224.0.0.1:81/", "timeout_s": 0.3})
    assert r.failure is not None and r.failure.cls == "connect_timeout"
    assert "ttfb" not in r.phases_ms


def test_big_body_is_capped(plain: Server) -> None:
    """A 10 MB body is read only up to max_body_bytes and still judged."""
    r = run({"url": plain.url("/big"), "max_body_bytes": 65536, "expect": {"body_contains": "aaa"}})
    assert r.ok and r.details["body_truncated"] is True and r.details["body_bytes"] == 65536


def test_big_body_default_cap(plain: Server) -> None:
    """The default cap is 1 MiB."""
    r = run({"url": plain.url("/big")})
    assert r.ok and r.details["body_bytes"] == 1 << 20


def test_https_ok_with_ca_file(tls: Tls, ca_file: str) -> None:
    """HTTPS with the check's ca_file: ok, a tls phase, and the certificate's days left."""
    with serving(tls.good) as s:
        r = run({"url": s.url("/ok"), "ca_file": ca_file})
    assert r.ok, r.failure
    assert set(r.phases_ms) == {"dns", "connect", "tls", "ttfb", "transfer"}
    assert r.details["cert_days_left"] > 300


def test_https_untrusted_is_tls(tls: Tls) -> None:
    """Without the private CA the chain is untrusted: `tls`."""
    with serving(tls.good) as s:
        r = run({"url": s.url("/ok")})
    assert r.failure is not None and r.failure.cls == "tls" and "tls" not in r.phases_ms


def test_https_expired_is_tls(tls: Tls, ca_file: str) -> None:
    """An expired certificate fails the handshake: `tls`, the message says expired."""
    with serving(tls.expired) as s:
        r = run({"url": s.url("/ok"), "ca_file": ca_file})
    assert r.failure is not None and r.failure.cls == "tls" and "expired" in r.failure.message


def test_https_wrong_host_is_tls(tls: Tls, ca_file: str) -> None:
    """A certificate for another name: `tls`."""
    with serving(tls.wrong_host) as s:
        r = run({"url": s.url("/ok"), "ca_file": ca_file})
    assert r.failure is not None and r.failure.cls == "tls"


def test_https_expiring_soon_is_cert_expiring(tls: Tls, ca_file: str) -> None:
    """A certificate valid for 3 more days, under cert_min_days 14: `cert_expiring`; 2 days: ok."""
    with serving(tls.expiring) as s:
        r = run({"url": s.url("/ok"), "ca_file": ca_file})
        assert r.failure is not None and r.failure.cls == "cert_expiring"
        assert 2.5 < r.details["cert_days_left"] < 3.1
        assert run({"url": s.url("/ok"), "ca_file": ca_file, "cert_min_days": 2}).ok


def test_method_headers_body(plain: Server) -> None:
    """POST with a JSON body and custom headers reaches the server as configured."""
    r = run({"url": plain.url("/echo"), "method": "POST", "json": {"ping": 1},
             "expect": {"json": {"method": "POST", "echo": '{"ping": 1}'}}})
    assert r.ok, r.failure
    r = run({"url": plain.url("/headers"), "headers": {"X-Probe": "synthmon"},
             "expect": {"json": {"X-Probe": "synthmon"}}})
    assert r.ok, r.failure


def test_redirects(plain: Server) -> None:
    """Redirects are not followed by default; followed when asked; a loop is `http_status`."""
    assert run({"url": plain.url("/redirect")}).failure.cls == "http_status"  # type: ignore[union-attr]
    r = run({"url": plain.url("/redirect"), "follow_redirects": True})
    assert r.ok and r.details["redirects"] == 1
    r = run({"url": plain.url("/loop"), "follow_redirects": True, "max_redirects": 3})
    assert r.failure is not None and r.failure.cls == "http_status"
