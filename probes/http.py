"""HTTP(S) probe on libcurl: one fresh connection per probe, curl-style phase timings, TLS expiry.

Success: the expected status (any 2xx by default), every body/JSON/latency expectation met, and a
certificate that does not expire within `cert_min_days`.
"""

from __future__ import annotations

import dataclasses
import time
import urllib.parse

import pycurl

from probes import curl as curl_setup
from probes.certs import CertInfo, first_expiring, from_curl
from probes.checks import SECRET_KEY, HttpCheck
from probes.diagnosis import cert_expiring_diagnosis, diagnose
from probes.http_expect import body_problem
from probes.login import LoginFailed, fetch_token
from probes.redact import CUT, Redactor
from probes.result import Failure, ProbeResult
from probes.trace import new_trace, with_trace

_SNIPPET_BYTES = 200


class _Body:
    """Collects at most `cap` bytes; asking libcurl to stop (write error) once the cap is reached."""

    def __init__(self, cap: int) -> None:
        self.cap, self.data, self.truncated = cap, bytearray(), False

    def write(self, chunk: bytes) -> int:
        room = self.cap - len(self.data)
        if len(chunk) > room:
            self.data += chunk[:room]
            self.truncated = True
            return 0  # != len(chunk): libcurl aborts the transfer with E_WRITE_ERROR
        self.data += chunk
        return len(chunk)


@dataclasses.dataclass(frozen=True)
class _Hop:
    """What one request of a redirect chain sends."""

    url: str
    method: str
    body: bytes | None
    headers: tuple[tuple[str, str], ...]


def _next_hop(check: HttpCheck, curl: pycurl.Curl, hop: _Hop) -> _Hop | None:
    """The request a followed redirect makes, or None when this answer is final.

    Redirects are followed here rather than by libcurl so that no secret header (Authorization,
    Cookie, API keys: checks.SECRET_KEY) reaches another origin; libcurl strips only Authorization
    and Cookie (CVE-2018-1000007, CVE-2022-27776). 301/302/303 turn into a GET without a body, as
    browsers do (RFC 9110 15.4); 307/308 repeat the request.
    """
    status = curl.getinfo(pycurl.RESPONSE_CODE)
    location = curl.getinfo(pycurl.REDIRECT_URL)
    if not check.follow_redirects or status not in (301, 302, 303, 307, 308) or not location:
        return None
    method, body = hop.method, hop.body
    if status in (301, 302, 303) and method != "HEAD":
        method, body = "GET", None
    headers = hop.headers
    if _origin(location) != _origin(hop.url):
        headers = tuple((k, v) for k, v in headers if not SECRET_KEY.search(k))
    return _Hop(location, method, body, headers)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def _easy(check: HttpCheck, hop: _Hop, body: _Body, timeout_s: float) -> pycurl.Curl:
    c = curl_setup.easy(hop.url, timeout_s=timeout_s, ca_file=check.ca_file,
                        headers=[f"{k}: {v}" for k, v in hop.headers], write=body.write)
    c.setopt(pycurl.ENCODING, "")  # accept what libcurl can decode; the cap applies to decoded bytes
    c.setopt(pycurl.OPT_CERTINFO, 1)
    if hop.method == "HEAD":
        c.setopt(pycurl.NOBODY, 1)
    elif hop.method != "GET":
        c.setopt(pycurl.CUSTOMREQUEST, hop.method)
    if hop.body is not None:
        c.setopt(pycurl.POSTFIELDS, hop.body)
    return c


async def probe(check: HttpCheck) -> ProbeResult:
    """Request `check.url` once on a fresh connection and judge the answer; with `login`, first mint
    a token and send it as `Authorization: Bearer` (phase `login`, counted in the latency). Every
    request carries a fresh trace (`details.trace_id`); the login is a span of the same trace.

    Failure classes: dns, connect_refused, connect_timeout, tls, cert_expiring, unavailable, auth
    (401/403, or a login that failed), http_status, assertion, timeout.
    """
    result = ProbeResult(check.name, "http", check.url)
    trace = new_trace()
    result.details["trace_id"] = trace.trace_id
    traced = with_trace(check.headers, trace, check.cloud_trace_context)
    if check.login is None:
        return await _request(check, result, traced, check.timeout_s, None)

    started = time.perf_counter()
    try:
        token = await fetch_token(check.login, check.ca_file, min(check.login.timeout_s, check.timeout_s),
                                  trace.child().headers(check.cloud_trace_context))
    except LoginFailed as exc:
        result.latency_ms = round((time.perf_counter() - started) * 1000, 3)
        result.phases_ms = {"login": result.latency_ms}
        if exc.status:
            result.details["login_status"] = exc.status
        return result.fail(exc.cls, exc.message, diagnose(exc.cls, check.login.url))
    login_ms = (time.perf_counter() - started) * 1000
    headers = (*traced, ("Authorization", f"Bearer {token}"))
    await _request(check, result, headers, check.timeout_s - login_ms / 1000, login_ms)
    # The target may echo the token (a body snippet, a JSON value in a failure message).
    redact = Redactor([token, urllib.parse.quote(token, safe="")])
    result.details = redact.scrub(result.details)
    if result.failure is not None:
        result.failure = Failure(result.failure.cls, redact.text(result.failure.message))
    return result


async def _request(check: HttpCheck, result: ProbeResult, headers: tuple[tuple[str, str], ...],
                   timeout_s: float, login_ms: float | None) -> ProbeResult:
    hop = _Hop(check.url, check.method, check.body, headers)
    started, redirects = time.perf_counter(), 0
    while True:
        body = _Body(check.max_body_bytes)
        hop_started = time.perf_counter()
        # One deadline for the whole redirect chain.
        curl = _easy(check, hop, body, timeout_s - (hop_started - started))
        error = await curl_setup.perform(curl)
        try:
            next_hop = None if error is not None else _next_hop(check, curl, hop)
            if next_hop is not None and redirects < check.max_redirects:
                hop, redirects = next_hop, redirects + 1
                continue
            _timings(curl, result, (time.perf_counter() - hop_started) * 1000)
            if redirects:
                result.details["redirects"] = redirects
                result.details["redirect_ms"] = round((hop_started - started) * 1000, 3)
                result.latency_ms = (result.latency_ms or 0) + result.details["redirect_ms"]
            if login_ms is not None:
                result.phases_ms = {"login": round(login_ms, 3), **result.phases_ms}
                result.latency_ms = (result.latency_ms or 0) + login_ms
            if error is not None and not (error.args[0] == pycurl.E_WRITE_ERROR and body.truncated):
                return _transfer_error(check, curl, result, error, body)
            if next_hop is not None:
                return result.fail("http_status", f"more than {check.max_redirects} redirects")
            _judge(check, curl, result, body)
            return result
        finally:
            curl.close()


def _timings(curl: pycurl.Curl, result: ProbeResult, wall_ms: float) -> None:
    """Phases as `curl -w` and blackbox_exporter report them; a phase not reached is left out."""
    t = {k: curl.getinfo(getattr(pycurl, k + "_TIME_T")) / 1000.0
         for k in ("NAMELOOKUP", "CONNECT", "APPCONNECT", "PRETRANSFER", "STARTTRANSFER", "TOTAL")}
    phases: dict[str, float] = {}
    if t["NAMELOOKUP"]:
        phases["dns"] = t["NAMELOOKUP"]
    if t["CONNECT"]:
        phases["connect"] = max(0.0, t["CONNECT"] - t["NAMELOOKUP"])
    if t["APPCONNECT"]:
        phases["tls"] = max(0.0, t["APPCONNECT"] - t["CONNECT"])
    if t["STARTTRANSFER"] and curl.getinfo(pycurl.RESPONSE_CODE):
        phases["ttfb"] = max(0.0, t["STARTTRANSFER"] - max(t["PRETRANSFER"], t["APPCONNECT"], t["CONNECT"]))
        phases["transfer"] = max(0.0, t["TOTAL"] - t["STARTTRANSFER"])
    result.phases_ms = phases
    result.latency_ms = t["TOTAL"] or wall_ms


def _transfer_error(check: HttpCheck, curl: pycurl.Curl, result: ProbeResult, error: pycurl.error,
                    body: _Body) -> ProbeResult:
    code, message = error.args[0], curl_setup.message(curl, error)
    result.details["curl_error"] = code
    status = curl.getinfo(pycurl.RESPONSE_CODE)
    if status:
        result.details["status"] = status
    cls = curl_setup.failure_class(curl, error)
    if code == pycurl.E_OPERATION_TIMEDOUT:
        message = f"{_stalled_phase(check, result)} within {check.timeout_s:g} s"
    elif code == pycurl.E_PARTIAL_FILE:
        message = f"response body truncated after {len(body.data)} bytes: {message}"
    elif cls != "tls" and code in _BROKEN:
        message = ("connection broken during the response: " if status else "connection reset: ") + message
    return result.fail(cls, message[:300])


# Socket errors midway; the message says whether a response had started.
_BROKEN = frozenset((pycurl.E_RECV_ERROR, pycurl.E_SEND_ERROR))


def _stalled_phase(check: HttpCheck, result: ProbeResult) -> str:
    if "connect" not in result.phases_ms:
        return "no TCP connection"
    if check.url.startswith("https:") and "tls" not in result.phases_ms:
        return "TLS handshake did not finish"
    if "ttfb" not in result.phases_ms:
        return "no response headers"
    return "response body not complete"


def _judge(check: HttpCheck, curl: pycurl.Curl, result: ProbeResult, body: _Body) -> None:
    status = curl.getinfo(pycurl.RESPONSE_CODE)
    result.details["status"] = status
    result.details["body_bytes"] = len(body.data)
    if body.truncated:
        result.details["body_truncated"] = True
    cert = _first_expiring_cert(curl)
    days = cert.days_left() if cert is not None else None
    if cert is not None and days is not None:
        result.details["cert"] = cert.details()
        result.details["cert_days_left"] = round(days, 2)
    expect = check.expect
    text = body.data.decode("utf-8", errors="replace")
    ok_status = status in expect.status if expect.status else 200 <= status < 300
    if not ok_status:
        # Marked when cut: the cut may leave the start of an echoed secret (monitor/redact.py).
        data, cut = (body.data, "") if len(body.data) <= _SNIPPET_BYTES else (body.data[:_SNIPPET_BYTES - 1], CUT)
        result.details["body_snippet"] = data.decode("utf-8", errors="replace") + cut
        # 401/403 is `auth` (e.g. a token check such as /auth/verify), not a bare status.
        cls = "unavailable" if status in (502, 503, 504) else "auth" if status in (401, 403) else "http_status"
        reason = _REASONS.get(status, "")
        return _fail(result, check, cls, f"HTTP {status} {reason}".strip())
    problem = body_problem(expect, text)
    if problem:
        return _fail(result, check, "assertion", problem)
    if expect.max_latency_ms is not None and (result.latency_ms or 0) > expect.max_latency_ms:
        return _fail(result, check, "assertion",
                     f"latency {result.latency_ms:.0f} ms over max_latency_ms {expect.max_latency_ms:g}")
    if cert is not None and days is not None and days < check.cert_min_days:
        result.fail("cert_expiring", f"certificate {cert.subject} expires in {days:.1f} days "
                                     f"(cert_min_days {check.cert_min_days:g})",
                    cert_expiring_diagnosis(cert.subject, cert.not_after, cert.depth))


def _fail(result: ProbeResult, check: HttpCheck, cls: str, message: str) -> None:
    result.fail(cls, message)


def _first_expiring_cert(curl: pycurl.Curl) -> CertInfo | None:
    """The certificate of the served chain that expires first, from libcurl's CERTINFO (the whole
    chain the server sent, leaf first); None for plain HTTP."""
    try:
        chain = curl.getinfo(pycurl.INFO_CERTINFO)
    except pycurl.error:
        return None
    return first_expiring(from_curl(chain or []))


_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
