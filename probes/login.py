"""Mint a fresh bearer token for a probe run: one HTTP request, token read from a JSON field.

Success: a 2xx answer whose JSON body has a non-empty string at `token_field`. Tokens live 15
minutes on staging, so one is minted per run and never cached.
"""

from __future__ import annotations

import asyncio
import errno
import io
import json
from typing import Any

import certifi
import pycurl

from probes.checks import Login
from probes.curl import CURL_CLASS

MAX_BODY_BYTES = 1 << 16
# As the HTTP probe, except that a broken connection during login is simply a failed login attempt.
_CURL_CLASS: dict[int, str] = {**CURL_CLASS, pycurl.E_RECV_ERROR: "connect_refused",
                               pycurl.E_SEND_ERROR: "connect_refused"}


class LoginFailed(Exception):
    """Login did not produce a token; `cls` is the DESIGN.md failure class."""

    def __init__(self, cls: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.cls, self.message, self.status = cls, message, status


async def fetch_token(login: Login, ca_file: str | None, timeout_s: float,
                      extra_headers: tuple[tuple[str, str], ...] = ()) -> str:
    """The token, or LoginFailed with dns/connect_refused/connect_timeout/tls/timeout/auth/unavailable/
    http_status. Blocking libcurl runs in a thread, bounded by its own timeout. `extra_headers`
    (the probe's trace context) are sent after the login's own."""
    return await asyncio.to_thread(_fetch, login, ca_file, max(0.001, timeout_s), extra_headers)


def _fetch(login: Login, ca_file: str | None, timeout_s: float,
           extra_headers: tuple[tuple[str, str], ...] = ()) -> str:
    body = io.BytesIO()
    curl = pycurl.Curl()
    try:
        _setup(curl, login, ca_file, timeout_s, body, extra_headers)
        try:
            curl.perform()
        except pycurl.error as exc:
            raise _transfer_error(curl, exc) from None
        status = int(curl.getinfo(pycurl.RESPONSE_CODE))
    finally:
        curl.close()
    return _token(login, status, body.getvalue())


def _setup(curl: pycurl.Curl, login: Login, ca_file: str | None, timeout_s: float,
           body: io.BytesIO, extra_headers: tuple[tuple[str, str], ...] = ()) -> None:
    names = {k.lower() for k, _ in extra_headers}
    headers = [f"{k}: {v}" for k, v in login.headers if k.lower() not in names]
    headers += [f"{k}: {v}" for k, v in extra_headers]
    if login.json is not None and not any(k.lower() == "content-type" for k, _ in login.headers):
        headers.append("Content-Type: application/json")
    headers.append("Accept: application/json")
    for opt, value in (
        (pycurl.URL, login.url), (pycurl.CUSTOMREQUEST, login.method),
        (pycurl.HTTPHEADER, headers), (pycurl.NOSIGNAL, 1), (pycurl.FRESH_CONNECT, 1),
        (pycurl.FORBID_REUSE, 1), (pycurl.DNS_CACHE_TIMEOUT, 0), (pycurl.PROXY, ""),
        (pycurl.TIMEOUT_MS, int(timeout_s * 1000)), (pycurl.CAINFO, ca_file or certifi.where()),
        (pycurl.WRITEFUNCTION, lambda chunk: _write(body, chunk)),
    ):
        curl.setopt(opt, value)
    if login.json is not None:
        curl.setopt(pycurl.POSTFIELDS, json.dumps(login.json))
    elif login.method == "POST":
        curl.setopt(pycurl.POSTFIELDS, "")


def _write(body: io.BytesIO, chunk: bytes) -> int | None:
    if body.tell() + len(chunk) > MAX_BODY_BYTES:
        return 0  # libcurl aborts the transfer with E_WRITE_ERROR
    body.write(chunk)
    return None


def _transfer_error(curl: pycurl.Curl, exc: pycurl.error) -> LoginFailed:
    code, text = exc.args[0], str(exc.args[1])[:200]
    if code == pycurl.E_OPERATION_TIMEDOUT:
        connected = curl.getinfo(pycurl.CONNECT_TIME) > 0
        return LoginFailed("timeout" if connected else "connect_timeout", f"login: {text}")
    if code == pycurl.E_WRITE_ERROR:
        return LoginFailed("auth", f"login response over {MAX_BODY_BYTES} bytes")
    cls = _CURL_CLASS.get(code, "connect_refused")
    if code == pycurl.E_COULDNT_CONNECT and curl.getinfo(pycurl.OS_ERRNO) in (
            errno.ETIMEDOUT, errno.EHOSTUNREACH, errno.ENETUNREACH):
        cls = "connect_timeout"
    return LoginFailed(cls, f"login: {text}")


def _token(login: Login, status: int, raw: bytes) -> str:
    if status in (401, 403):
        raise LoginFailed("auth", f"login answered HTTP {status}", status)
    if status in (502, 503, 504):
        raise LoginFailed("unavailable", f"login answered HTTP {status}: the auth service is not serving",
                          status)
    if not 200 <= status < 300:
        raise LoginFailed("http_status", f"login answered HTTP {status}", status)
    try:
        doc: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise LoginFailed("auth", "login answered 2xx but not JSON", status) from None
    for part in login.token_field.split("."):
        doc = doc.get(part) if isinstance(doc, dict) else None
    if not isinstance(doc, str) or not doc:
        raise LoginFailed("auth", f"login answer has no {login.token_field}", status)
    return doc
