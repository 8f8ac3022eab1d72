"""Classify socket-level exceptions into DESIGN.md failure classes, most specific first.

Like httpx's `map_httpcore_exceptions`, it walks `__cause__`/`__context__`: an `ssl.SSLError`
wrapped in a connection error is `tls`, not `connect_refused`.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl

# (exception type, failure class), most specific first.
_TABLE: tuple[tuple[type[BaseException], str], ...] = (
    (socket.gaierror, "dns"),
    (ssl.SSLCertVerificationError, "tls"),
    (ssl.SSLError, "tls"),
    (ConnectionRefusedError, "connect_refused"),
    (ConnectionResetError, "connect_refused"),
    (TimeoutError, "connect_timeout"),
    (asyncio.TimeoutError, "connect_timeout"),
)
_ERRNO: dict[int, str] = {
    errno.ECONNREFUSED: "connect_refused",
    errno.ECONNRESET: "connect_refused",
    errno.ETIMEDOUT: "connect_timeout",
    errno.EHOSTUNREACH: "connect_timeout",
    errno.ENETUNREACH: "connect_timeout",
}


def chain(exc: BaseException) -> list[BaseException]:
    """The exception and everything it was raised from, outermost first, without cycles."""
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def classify(exc: BaseException) -> str | None:
    """The failure class of a connection-level exception, or None when it is not one."""
    links = chain(exc)
    for kind, cls in _TABLE:
        for link in links:
            if isinstance(link, kind):
                return cls
    for link in links:
        if isinstance(link, OSError) and link.errno in _ERRNO:
            return _ERRNO[link.errno]
    return None


def describe(exc: BaseException) -> str:
    """A short message naming the innermost cause, e.g. `ConnectionRefusedError: [Errno 111] ...`."""
    inner = chain(exc)[-1]
    text = str(inner) or inner.__class__.__name__
    return f"{inner.__class__.__name__}: {text}"[:300]
