"""The shared failure-class table: every libcurl code decided, errno and SQLSTATE rules."""

from __future__ import annotations

import errno
import ssl

import pycurl
import pytest

from probes import errors
from probes.result import FAILURE_CLASSES

# curl/curl.h numbers every CURLcode from 1 to CURL_LAST - 1; 101 (CURLE_ECH_REQUIRED) is the last
# one libcurl 8 defines.
CURL_LAST = 102


def test_every_libcurl_code_is_mapped_or_listed_with_a_reason() -> None:
    """Each code 1..101, and every easy-interface E_* constant pycurl has, is in exactly one of the
    table, the context rules or UNMAPPED, and every mapped class is a FailureClass."""
    pycurl_codes = {getattr(pycurl, name) for name in dir(pycurl)
                    if name.startswith("E_") and not name.startswith(("E_MULTI_", "E_CALL_MULTI"))
                    and name not in ("E_OK", "E_ALREADY_COMPLETE")}
    decided = set(errors.CURL) | set(errors._CONTEXT)
    assert not decided & set(errors.UNMAPPED)
    assert pycurl_codes <= decided | set(errors.UNMAPPED)
    assert decided | set(errors.UNMAPPED) == set(range(1, CURL_LAST))
    assert all(errors.UNMAPPED.values())
    assert set(errors.CURL.values()) | {c for pair in errors._CONTEXT.values() for c in pair} <= set(FAILURE_CLASSES)


def test_unmapped_code_is_internal_not_connect_refused() -> None:
    """A code that should never occur (an FTP code) is `internal`: never a guess at the network."""
    assert errors.curl_class(pycurl.E_FTP_WEIRD_PASV_REPLY, "", status=0, connected=True, os_errno=0) == "internal"


@pytest.mark.parametrize(("code", "status", "connected", "cls"), [
    (pycurl.E_OPERATION_TIMEDOUT, 0, False, "connect_timeout"),
    (pycurl.E_OPERATION_TIMEDOUT, 0, True, "timeout"),
    (pycurl.E_RECV_ERROR, 0, True, "connect_refused"),
    (pycurl.E_RECV_ERROR, 200, True, "assertion"),
    (92, 0, True, "connect_refused"),
    (92, 200, True, "assertion"),
])
def test_context_before_and_after_headers(code: int, status: int, connected: bool, cls: str) -> None:
    assert errors.curl_class(code, "x", status=status, connected=connected, os_errno=0) == cls


def test_tls_alert_read_as_receive_error_is_tls() -> None:
    """OpenSSL's text for an alert after the handshake makes a receive error `tls`."""
    message = "OpenSSL SSL_read: OpenSSL/3.0.13: error:0A00045C:SSL routines::tlsv13 alert certificate required"
    assert errors.curl_class(pycurl.E_RECV_ERROR, message, status=0, connected=True, os_errno=0) == "tls"


@pytest.mark.parametrize(("os_errno", "cls"), [
    (errno.ECONNREFUSED, "connect_refused"), (errno.EHOSTUNREACH, "connect_timeout"),
    (errno.ENETUNREACH, "connect_timeout"), (errno.ETIMEDOUT, "connect_timeout"), (0, "connect_refused"),
])
def test_couldnt_connect_follows_the_errno_table(os_errno: int, cls: str) -> None:
    """libcurl's COULDNT_CONNECT, an OSError and a libpq message of one errno agree."""
    assert errors.curl_class(pycurl.E_COULDNT_CONNECT, "", status=0, connected=False, os_errno=os_errno) == cls
    if os_errno:
        import os

        assert errors.classify(OSError(os_errno, os.strerror(os_errno))) == cls
        assert errors.pg_connect_class(f"connection failed: {os.strerror(os_errno)}") == (cls, None)


def test_wrapped_ssl_error_is_tls() -> None:
    """An SSLError raised inside a connection error is `tls` (the chain is walked)."""
    try:
        try:
            raise ssl.SSLError(1, "TLSV13_ALERT_CERTIFICATE_REQUIRED")
        except ssl.SSLError as inner:
            raise ConnectionResetError("reset") from inner
    except ConnectionResetError as outer:
        assert errors.classify(outer) == "tls"


@pytest.mark.parametrize(("sqlstate", "at_login", "cls"), [
    ("28P01", True, "auth"), ("28000", True, "auth"), ("42501", True, "auth"), ("53300", True, "db_error"),
    ("57P03", True, "db_error"), ("3D000", True, "db_error"), ("42501", False, "db_error"),
    ("28000", False, "db_error"),
])
def test_sqlstate_classes(sqlstate: str, at_login: bool, cls: str) -> None:
    assert errors.sqlstate_class(sqlstate, at_login=at_login) == cls
