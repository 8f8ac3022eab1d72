"""What every libcurl-based probe shares: one AsyncCurlMulti per event loop and the libcurl error table."""

from __future__ import annotations

import asyncio
from typing import Any

import pycurl

# libcurl error codes (curl/curl.h) → failure class (also used by the WebSocket probe's login).
CURL_CLASS: dict[int, str] = {
    pycurl.E_COULDNT_RESOLVE_HOST: "dns",
    pycurl.E_COULDNT_RESOLVE_PROXY: "dns",
    pycurl.E_COULDNT_CONNECT: "connect_refused",
    pycurl.E_GOT_NOTHING: "connect_refused",
    pycurl.E_SSL_CONNECT_ERROR: "tls",
    pycurl.E_PEER_FAILED_VERIFICATION: "tls",
    pycurl.E_SSL_CERTPROBLEM: "tls",
    pycurl.E_SSL_CIPHER: "tls",
    pycurl.E_SSL_CACERT_BADFILE: "tls",
    pycurl.E_SSL_ISSUER_ERROR: "tls",
    pycurl.E_UNSUPPORTED_PROTOCOL: "http_status",
    pycurl.E_BAD_CONTENT_ENCODING: "assertion",
    pycurl.E_PARTIAL_FILE: "assertion",
}
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
