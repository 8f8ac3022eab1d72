"""The one failure-class table of every probe: libcurl codes, TLS alerts, HTTP/2 resets, errno
values, exception types and PostgreSQL errors, each mapped deliberately, most specific first.

A failure is classified where it happened, never by which probe saw it: the same refused port,
unreachable address or TLS alert is the same class in the HTTP, login, WebSocket and PostgreSQL
probes. Exceptions are classified like httpx's `map_httpcore_exceptions`, walking `__cause__` and
`__context__`: an `ssl.SSLError` wrapped in a connection error is `tls`, not `connect_refused`.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import socket
import ssl

# errno of a failed connect → class. Unreachable (no route, host or network down) is a path
# problem like a silent drop, so `connect_timeout` whether the kernel says so at once or after
# retransmits; `connect_refused` is "reached, but nothing accepts": RST, refusal, no socket file.
ERRNO: dict[int, str] = {
    errno.ECONNREFUSED: "connect_refused",
    errno.ECONNRESET: "connect_refused",
    errno.ECONNABORTED: "connect_refused",
    errno.EPIPE: "connect_refused",
    errno.ENOENT: "connect_refused",  # a unix socket path with no server (Cloud SQL Auth Proxy down)
    errno.ETIMEDOUT: "connect_timeout",
    errno.EHOSTUNREACH: "connect_timeout",
    errno.ENETUNREACH: "connect_timeout",
    errno.EHOSTDOWN: "connect_timeout",
    errno.ENETDOWN: "connect_timeout",
}

# Exception type → class, most specific first (the first type any link of the chain matches wins).
EXCEPTIONS: tuple[tuple[type[BaseException], str], ...] = (
    (socket.gaierror, "dns"),
    (ssl.SSLCertVerificationError, "tls"),
    (ssl.SSLError, "tls"),  # also an alert received right after the handshake (TLS 1.3 client cert)
    (ConnectionRefusedError, "connect_refused"),
    (ConnectionResetError, "connect_refused"),
    (ConnectionAbortedError, "connect_refused"),
    (BrokenPipeError, "connect_refused"),
    (TimeoutError, "connect_timeout"),
    (asyncio.TimeoutError, "connect_timeout"),
)

# libcurl codes (curl/curl.h) with a fixed class. Codes whose class depends on how far the transfer
# got are in _CONTEXT, and every other code is in UNMAPPED with the reason it can not happen here.
_E = {name: code for name, code in (
    ("UNSUPPORTED_PROTOCOL", 1), ("URL_MALFORMAT", 3), ("COULDNT_RESOLVE_PROXY", 5),
    ("COULDNT_RESOLVE_HOST", 6), ("COULDNT_CONNECT", 7), ("WEIRD_SERVER_REPLY", 8), ("HTTP2", 16),
    ("PARTIAL_FILE", 18), ("HTTP_RETURNED_ERROR", 22), ("WRITE_ERROR", 23), ("UPLOAD_FAILED", 25),
    ("OPERATION_TIMEDOUT", 28), ("SSL_CONNECT_ERROR", 35), ("TOO_MANY_REDIRECTS", 47),
    ("GOT_NOTHING", 52), ("SEND_ERROR", 55), ("RECV_ERROR", 56), ("SSL_CERTPROBLEM", 58),
    ("SSL_CIPHER", 59), ("PEER_FAILED_VERIFICATION", 60), ("BAD_CONTENT_ENCODING", 61),
    ("USE_SSL_FAILED", 64), ("SSL_CACERT_BADFILE", 77), ("SSL_SHUTDOWN_FAILED", 80),
    ("SSL_CRL_BADFILE", 82), ("SSL_ISSUER_ERROR", 83), ("SSL_PINNEDPUBKEYNOTMATCH", 90),
    ("SSL_INVALIDCERTSTATUS", 91), ("HTTP2_STREAM", 92), ("AUTH_ERROR", 94), ("SSL_CLIENTCERT", 98),
    ("TOO_LARGE", 100), ("ECH_REQUIRED", 101),
)}
# (pycurl 7.49 has no constants for 92 and above; libcurl 8 returns them, so they go by number.)
CURL: dict[int, str] = {
    _E["COULDNT_RESOLVE_HOST"]: "dns",
    _E["COULDNT_RESOLVE_PROXY"]: "dns",  # proxies are off (no_proxy_options), kept for completeness
    _E["SSL_CONNECT_ERROR"]: "tls",  # includes an alert the server sent during the handshake
    _E["PEER_FAILED_VERIFICATION"]: "tls",  # untrusted, expired, wrong host
    _E["SSL_CERTPROBLEM"]: "tls",
    _E["SSL_CIPHER"]: "tls",
    _E["SSL_CACERT_BADFILE"]: "tls",  # the check's ca_file is not a usable bundle
    _E["SSL_CRL_BADFILE"]: "tls",
    _E["SSL_ISSUER_ERROR"]: "tls",
    _E["SSL_PINNEDPUBKEYNOTMATCH"]: "tls",
    _E["SSL_INVALIDCERTSTATUS"]: "tls",
    _E["SSL_SHUTDOWN_FAILED"]: "tls",
    _E["USE_SSL_FAILED"]: "tls",
    _E["SSL_CLIENTCERT"]: "tls",  # the server demands a client certificate
    _E["ECH_REQUIRED"]: "tls",
    _E["UNSUPPORTED_PROTOCOL"]: "http_status",  # e.g. an HTTP/0.9 answer, a redirect to ftp://
    _E["WEIRD_SERVER_REPLY"]: "http_status",  # not an HTTP status line
    _E["HTTP_RETURNED_ERROR"]: "http_status",  # FAILONERROR is off; a status is judged, not raised
    _E["TOO_MANY_REDIRECTS"]: "http_status",  # libcurl does not follow; as the probe's own limit
    _E["BAD_CONTENT_ENCODING"]: "assertion",  # answered, but the body does not decode
    _E["PARTIAL_FILE"]: "assertion",  # answered, body shorter than announced
    _E["TOO_LARGE"]: "assertion",  # answered, headers over libcurl's limit
    _E["AUTH_ERROR"]: "auth",
    _E["URL_MALFORMAT"]: "internal",  # URLs are validated at config load
    _E["WRITE_ERROR"]: "internal",  # only the probes' own body caps stop a write; they handle it
}
# Class before the response headers → class after them, for codes that break a transfer midway:
# before headers nothing was answered (as a reset before a status line: connection level), after
# them the answer was started and is broken (`assertion`, as a body cut short).
_CONTEXT: dict[int, tuple[str, str]] = {
    _E["COULDNT_CONNECT"]: ("connect_refused", "connect_refused"),  # refined by OS_ERRNO (ERRNO)
    _E["OPERATION_TIMEDOUT"]: ("connect_timeout", "timeout"),  # before/after TCP connected
    _E["GOT_NOTHING"]: ("connect_refused", "assertion"),
    _E["SEND_ERROR"]: ("connect_refused", "assertion"),
    _E["RECV_ERROR"]: ("connect_refused", "assertion"),
    _E["UPLOAD_FAILED"]: ("connect_refused", "assertion"),
    _E["HTTP2"]: ("connect_refused", "assertion"),  # framing error, GOAWAY
    _E["HTTP2_STREAM"]: ("connect_refused", "assertion"),  # RST_STREAM on the probe's stream
}
_OBSOLETE = "obsolete: libcurl no longer returns it"
_NOT_HTTP = "a code of another protocol: PROTOCOLS allows only HTTP and HTTPS"
_UNUSED = "an option or callback the probes never set"
_BUG = "a misuse of libcurl or a failing host, i.e. a bug in synthmon: classified `internal`"
# Codes chosen not to map, and why; each is classified `internal` should it ever appear.
UNMAPPED: dict[int, str] = {
    **dict.fromkeys((20, 24, 29, 32, 40, 44, 46, 50, 51, 57, 75, 76), _OBSOLETE),
    **dict.fromkeys((9, 10, 11, 12, 13, 14, 15, 17, 19, 21, 30, 31, 37, 38, 39, 62, 67, 68, 69, 70,
                     71, 72, 73, 74, 78, 79, 84, 85, 86, 87, 88, 95, 96), _NOT_HTTP),
    **dict.fromkeys((33, 36, 42, 45, 48, 49, 53, 54, 63, 65, 66, 89, 97), _UNUSED),
    **dict.fromkeys((2, 4, 26, 27, 34, 41, 43, 81, 93, 99), _BUG),
}
_TLS_ALERT = re.compile(r"\balert\b", re.IGNORECASE)


def curl_class(code: int, message: str, *, status: int, connected: bool, os_errno: int) -> str:
    """The class of a failed libcurl transfer: `status` is the response status (0 before any
    headers), `connected` whether TCP was up, `os_errno` libcurl's OS_ERRNO."""
    if code in _CONTEXT:
        if code == _E["OPERATION_TIMEDOUT"]:
            return _CONTEXT[code][connected]
        if _TLS_ALERT.search(message) and "SSL" in message:
            return "tls"  # an alert after the handshake, read as a receive error (RFC 8446 4.4.2.4)
        if code == _E["COULDNT_CONNECT"]:
            return ERRNO.get(os_errno, "connect_refused")
        return _CONTEXT[code][bool(status)]
    return CURL.get(code, "internal")


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
    for kind, cls in EXCEPTIONS:
        for link in links:
            if isinstance(link, kind):
                return cls
    for link in links:
        if isinstance(link, OSError) and link.errno in ERRNO:
            return ERRNO[link.errno]
    return None


def describe(exc: BaseException) -> str:
    """A short message naming the innermost cause, e.g. `ConnectionRefusedError: [Errno 111] ...`."""
    inner = chain(exc)[-1]
    text = str(inner) or inner.__class__.__name__
    return f"{inner.__class__.__name__}: {text}"[:300]


def sqlstate_class(sqlstate: str, *, at_login: bool) -> str:
    """`auth` for the server refusing the login: class 28 (bad password, unknown role, pg_hba
    reject, NOLOGIN) and 42501 at startup (no CONNECT privilege on the database). Everything else,
    and any error once logged in, is `db_error`: 53300 (no free slot) and 57P03 (starting up) are
    the server's capacity or state, 3D000 (no such database) is answered after authentication."""
    if at_login and (sqlstate.startswith("28") or sqlstate == "42501"):
        return "auth"
    return "db_error"


# libpq reports connection-phase errors as text only (no SQLSTATE reaches the client), so the
# server's FATAL messages are matched to their SQLSTATE and libpq's own to a class; most specific
# first. (SQLSTATE or None, class when there is no SQLSTATE, pattern)
_PG_TEXT: tuple[tuple[str | None, str, str], ...] = (
    ("28P01", "", r"password authentication failed"),
    ("28000", "", r"no pg_hba\.conf entry|pg_hba\.conf rejects|role \".*\" does not exist"
                  r"|authentication failed for user|is not permitted to log in"),
    ("42501", "", r"permission denied for database"),
    (None, "auth", r"no password supplied|password is required|server requested .*authentication"
                   r"|SCRAM|channel binding"),
    ("53300", "", r"too many (clients|connections)|remaining connection slots are reserved"),
    ("57P03", "", r"the database system is (starting up|shutting down|in recovery|not )"),
    ("3D000", "", r"database \".*\" does not exist"),
    (None, "tls", r"SSL|certificate"),
    (None, "dns", r"could not translate host name"),
    *((None, cls, re.escape(os.strerror(code))) for code, cls in ERRNO.items()),
    (None, "connect_refused", r"server closed the connection unexpectedly"),
    (None, "connect_timeout", r"timeout expired|timed out"),
)
_PG_PATTERNS = tuple((s, c, re.compile(p, re.IGNORECASE)) for s, c, p in _PG_TEXT)


def pg_connect_class(message: str) -> tuple[str, str | None]:
    """(class, SQLSTATE or None) of a libpq connection error message."""
    for sqlstate, cls, pattern in _PG_PATTERNS:
        if pattern.search(message):
            return (sqlstate_class(sqlstate, at_login=True) if sqlstate else cls), sqlstate
    return "db_error", None
