"""What every libcurl-based probe (HTTP and the login) shares: one AsyncCurlMulti per event loop,
one easy-handle setup and one way to turn a failed transfer into a failure class."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import certifi
import pycurl

from probes import errors

USER_AGENT = "synthmon/0.1"
# A plain dict, pruned of closed loops: an AsyncCurlMulti holds its loop, so a WeakKeyDictionary
# entry would never die and every `asyncio.run` would leak a multi handle and its buffers.
_multis: dict[asyncio.AbstractEventLoop, Any] = {}


def multi() -> Any:
    """One AsyncCurlMulti per event loop: libcurl drives every probe's sockets on that loop."""
    loop = asyncio.get_running_loop()
    found = _multis.get(loop)
    if found is None:
        for old in [lp for lp in _multis if lp.is_closed()]:
            del _multis[old]
        found = _multis[loop] = pycurl.AsyncCurlMulti()
    return found


def easy(url: str, *, timeout_s: float, ca_file: str | None, headers: list[str],
         write: Callable[[bytes], int | None]) -> pycurl.Curl:
    """A handle for one request as a new user makes it: a fresh connection (no reuse, no DNS
    cache), verified TLS against `ca_file` (else certifi), one deadline, and no proxy.

    Proxy environment variables (http_proxy, https_proxy, all_proxy, no_proxy) are ignored, as
    blackbox_exporter does: a synthetic probe measures the direct path to its target, and the
    WebSocket probe (`proxy=None`) and libpq do the same. An empty PROXY disables libcurl's own
    reading of them (CURLOPT_PROXY).
    """
    c = pycurl.Curl()
    timeout_ms = max(1, int(timeout_s * 1000))
    for opt, value in (
        (pycurl.URL, url),
        (pycurl.NOSIGNAL, 1),
        (pycurl.FRESH_CONNECT, 1),  # a probe measures a new user's connection, not a warm pool
        (pycurl.FORBID_REUSE, 1),
        (pycurl.DNS_CACHE_TIMEOUT, 0),
        (pycurl.TIMEOUT_MS, timeout_ms),
        (pycurl.CONNECTTIMEOUT_MS, timeout_ms),
        (pycurl.PROXY, ""),
        (pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS),
        (pycurl.FOLLOWLOCATION, 0),
        (pycurl.CAINFO, ca_file or certifi.where()),
        (pycurl.SSL_VERIFYPEER, 1),
        (pycurl.SSL_VERIFYHOST, 2),
        (pycurl.USERAGENT, USER_AGENT),
        (pycurl.HTTPHEADER, headers),
        (pycurl.WRITEFUNCTION, write),
    ):
        c.setopt(opt, value)
    return c


async def perform(curl: pycurl.Curl) -> pycurl.error | None:
    """Run the transfer on this loop's multi; the libcurl error, or None when it completed."""
    try:
        await multi().add_handle(curl)
    except pycurl.error as exc:
        return exc
    return None


def message(curl: pycurl.Curl, error: pycurl.error) -> str:
    """libcurl's message, with the OS error of a failed connect (which libcurl leaves out)."""
    text = str(error.args[1]) if len(error.args) > 1 else str(error)
    os_errno = int(curl.getinfo(pycurl.OS_ERRNO) or 0)
    if error.args[0] == pycurl.E_COULDNT_CONNECT and os_errno:
        text += f" ({os.strerror(os_errno)})"
    return text


def failure_class(curl: pycurl.Curl, error: pycurl.error) -> str:
    """The failure class of a failed transfer, from the shared table (probes/errors.py)."""
    code = error.args[0]
    message = str(error.args[1]) if len(error.args) > 1 else ""
    return errors.curl_class(code, message, status=int(curl.getinfo(pycurl.RESPONSE_CODE) or 0),
                             connected=curl.getinfo(pycurl.CONNECT_TIME_T) > 0,
                             os_errno=int(curl.getinfo(pycurl.OS_ERRNO) or 0))
