"""Mint a fresh bearer token for a probe run: one HTTP request, token read from a JSON field.

Success: a 2xx answer whose JSON body has a non-empty string at `token_field`. Tokens live 15
minutes on staging, so one is minted per run and never cached.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pycurl

from probes import curl as curl_setup
from probes.checks import Login

MAX_BODY_BYTES = 1 << 16


class LoginFailed(Exception):
    """Login did not produce a token; `cls` is its failure class (probes.result.FailureClass)."""

    def __init__(self, cls: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.cls, self.message, self.status = cls, message, status


async def fetch_token(login: Login, ca_file: str | None, timeout_s: float,
                      extra_headers: tuple[tuple[str, str], ...] = ()) -> str:
    """The token, or LoginFailed with dns/connect_refused/connect_timeout/tls/timeout/auth/unavailable/
    http_status/assertion. The request runs on the event loop's AsyncCurlMulti, as the HTTP probe's.
    `extra_headers` (the probe's trace context) are sent after the login's own."""
    body = io.BytesIO()
    curl = _easy(login, ca_file, max(0.001, timeout_s), body, extra_headers)
    try:
        error = await curl_setup.perform(curl)
        if error is not None:
            raise _transfer_error(curl, error)
        status = int(curl.getinfo(pycurl.RESPONSE_CODE))
    finally:
        curl.close()
    return _token(login, status, body.getvalue())


def _easy(login: Login, ca_file: str | None, timeout_s: float, body: io.BytesIO,
          extra_headers: tuple[tuple[str, str], ...] = ()) -> pycurl.Curl:
    names = {k.lower() for k, _ in extra_headers}
    headers = [f"{k}: {v}" for k, v in login.headers if k.lower() not in names]
    headers += [f"{k}: {v}" for k, v in extra_headers]
    if login.json is not None and not any(k.lower() == "content-type" for k, _ in login.headers):
        headers.append("Content-Type: application/json")
    headers.append("Accept: application/json")
    curl = curl_setup.easy(login.url, timeout_s=timeout_s, ca_file=ca_file, headers=headers,
                           write=lambda chunk: _write(body, chunk))
    curl.setopt(pycurl.CUSTOMREQUEST, login.method)
    if login.json is not None:
        curl.setopt(pycurl.POSTFIELDS, json.dumps(login.json))
    elif login.method == "POST":
        curl.setopt(pycurl.POSTFIELDS, "")
    return curl


def _write(body: io.BytesIO, chunk: bytes) -> int | None:
    if body.tell() + len(chunk) > MAX_BODY_BYTES:
        return 0  # libcurl aborts the transfer with E_WRITE_ERROR
    body.write(chunk)
    return None


def _transfer_error(curl: pycurl.Curl, exc: pycurl.error) -> LoginFailed:
    code, text = exc.args[0], curl_setup.message(curl, exc)[:200]
    if code == pycurl.E_WRITE_ERROR:
        return LoginFailed("auth", f"login response over {MAX_BODY_BYTES} bytes")
    return LoginFailed(curl_setup.failure_class(curl, exc), f"login: {text}")


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
