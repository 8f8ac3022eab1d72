"""Parse and validate the `checks:` entries of synthmon.yaml into the dataclasses of probes.checks.

Every error names the file, the check and the field (monitor.fields); values that are secrets
(credential headers and query parameters, login bodies, DSN passwords) are collected on the way.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitor.fields import Fields
from probes.checks import (
    DNS_RECORDS,
    EVENT,
    NAME,
    SECRET_KEY,
    SECRET_PARAM,
    SEVERITIES,
    VPC_CONNECTOR,
    Check,
    Defaults,
    DnsCheck,
    DnsExpect,
    Events,
    HttpCheck,
    HttpExpect,
    Login,
    PostgresCheck,
    PostgresExpect,
    Slo,
    WebSocketCheck,
)


def parse_defaults(raw: Any, file: str) -> Defaults:
    f = Fields(raw, file, "", "defaults.")
    d = Defaults(
        timeout_s=f.number("timeout_s", 10.0, lo=0.1, hi=3600),
        interval_s=f.number("interval_s", 60.0, lo=1, hi=86400),
        retries=f.number("retries", 1, lo=0, hi=5, integer=True),
        retry_delay_s=f.number("retry_delay_s", 5.0, lo=0, hi=600),
        failure_threshold=f.number("failure_threshold", 1, lo=1, hi=100, integer=True),
        success_threshold=f.number("success_threshold", 1, lo=1, hi=100, integer=True),
        renotify_s=f.number("renotify_s", 3600.0, lo=0, hi=7 * 86400),
        severity=f.str("severity", "critical", choices=SEVERITIES),
        cert_min_days=f.number("cert_min_days", 14.0, lo=0, hi=3650),
    )
    f.done()
    return d


def parse_check(raw: Any, i: int, file: str, d: Defaults, base: Path, secrets: set[str]) -> Check:
    where = f"checks[{i}]"
    if isinstance(raw, dict) and isinstance(raw.get("name"), str):
        where = f'checks[{i}] "{raw["name"]}"'
    f = Fields(raw, file, where, "")
    name = f.str("name")
    if not NAME.fullmatch(name):
        raise f.error("name", f"must match {NAME.pattern} (it is a metric label), not {name!r}")
    kind = f.str("type", choices=tuple(_PARSERS))
    common = dict(
        name=name, type=kind,
        timeout_s=f.number("timeout_s", d.timeout_s, lo=0.1, hi=3600),
        interval_s=f.number("interval_s", d.interval_s, lo=1, hi=86400),
        failure_threshold=f.number("failure_threshold", d.failure_threshold, lo=1, hi=100, integer=True),
        success_threshold=f.number("success_threshold", d.success_threshold, lo=1, hi=100, integer=True),
        renotify_s=f.number("renotify_s", d.renotify_s, lo=0, hi=7 * 86400),
        severity=f.str("severity", d.severity, choices=SEVERITIES),
        retries=f.number("retries", d.retries, lo=0, hi=5, integer=True),
        retry_delay_s=f.number("retry_delay_s", d.retry_delay_s, lo=0, hi=600),
        depends_on=tuple(f.str_list("depends_on", [])),
        degraded_latency_ms=f.number("degraded_latency_ms", None, lo=0, hi=3_600_000),
        slo=_slo(f),
    )
    check = _PARSERS[kind](f, common, d, base, secrets)
    f.done()
    return check


def _slo(f: Fields) -> Slo | None:
    if not f.has("slo"):
        return None
    sf = Fields(f.mapping("slo"), f.file, f.where, "slo.")
    slo = Slo(objective=sf.number("objective", lo=0.5, hi=0.99999),
              window_days=sf.number("window_days", 28, lo=1, hi=90, integer=True))
    sf.done()
    return slo


def _url(f: Fields, key: str, schemes: tuple[str, ...], secrets: set[str]) -> str:
    """An absolute URL of one of `schemes`; credential query parameters are added to `secrets`."""
    url = f.str(key)
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # ValueError when out of 0-65535
    except ValueError:
        parts = None
    # libcurl refuses spaces and control characters (CURLE_URL_MALFORMAT), which would be `internal`.
    if (parts is None or parts.scheme not in schemes or not parts.hostname
            or any(c.isspace() or not c.isprintable() for c in url)):
        raise f.error(key, f"must be an absolute {' or '.join(schemes)} URL, not {url!r}")
    if parts.username or parts.password:
        raise f.error(key, "must not carry credentials; use headers or login")
    for pair in parts.query.split("&"):
        name, _, raw = pair.partition("=")
        if raw and SECRET_PARAM.search(urllib.parse.unquote_plus(name)):
            value = urllib.parse.unquote_plus(raw)  # as written, as decoded, as a client re-encodes it
            secrets.update((raw, value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)))
    return url


def _method(f: Fields, default: str) -> str:
    method: str = f.str("method", default).upper()
    if not re.fullmatch(r"[A-Z]{1,16}", method):
        raise f.error("method", f"invalid HTTP method {method!r}")
    return method


def _headers(f: Fields, key: str, secrets: set[str]) -> tuple[tuple[str, str], ...]:
    headers = f.str_map(key)
    for k, v in headers.items():
        if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", k) or "\n" in v or "\r" in v:
            raise f.error(key, f"invalid header {k!r}")
        if SECRET_KEY.search(k):
            secrets.add(v)
            if k.lower() == "authorization" and " " in v:
                secrets.add(v.split(" ", 1)[1])
    return tuple(headers.items())


def _ca_file(f: Fields, base: Path) -> str | None:
    path = f.opt_str("ca_file")
    if path is None:
        return None
    full = Path(path) if Path(path).is_absolute() else base / path
    try:
        found = full.is_file()
    except (OSError, ValueError):  # name too long, NUL byte
        found = False
    if not found:
        raise f.error("ca_file", f"no such file: {path}")
    return str(full)


def _http(f: Fields, common: dict[str, Any], d: Defaults, base: Path, secrets: set[str]) -> HttpCheck:
    url = _url(f, "url", ("http", "https"), secrets)
    method = _method(f, "GET")
    body: bytes | None = None
    if f.has("body") and f.has("json"):
        raise f.error("json", "give body or json, not both")
    if f.has("body"):
        body = f.str("body").encode()
    if f.has("json"):
        body = _json_text(f, "json", f.get("json")).encode()
    headers = _headers(f, "headers", secrets)
    if f.has("json") and not any(k.lower() == "content-type" for k, _ in headers):
        headers += (("Content-Type", "application/json"),)
    login = _login(f, common, secrets)
    if login and any(k.lower() == "authorization" for k, _ in headers):
        raise f.error("login", "sends the token as Authorization: give login or headers.Authorization, not both")
    e = Fields(f.mapping("expect"), f.file, f.where, "expect.")
    status = e.get("status", [])
    if isinstance(status, int):
        status = [status]
    if not isinstance(status, list) or not all(isinstance(s, int) and not isinstance(s, bool)
                                               and 100 <= s <= 599 for s in status):
        raise e.error("status", "must be a list of HTTP status codes (100-599)")
    regex = e.opt_str("body_regex")
    try:
        compiled = re.compile(regex) if regex else None
    except re.error as exc:
        raise e.error("body_regex", f"invalid regular expression: {exc}") from None
    except (OverflowError, RecursionError):  # `a{4294967296}`, thousands of nested groups
        raise e.error("body_regex", "invalid regular expression: too large") from None
    expect_json = e.mapping("json")
    _json_text(e, "json", dict(expect_json))
    expect = HttpExpect(
        status=tuple(status),
        body_contains=e.opt_str("body_contains"),
        body_not_contains=e.opt_str("body_not_contains"),
        body_regex=compiled,
        json=tuple((str(k), v) for k, v in expect_json.items()),
        max_latency_ms=e.number("max_latency_ms", None, lo=0),
    )
    e.done()
    return HttpCheck(
        **common, url=url, method=method, headers=headers, body=body,
        follow_redirects=f.bool("follow_redirects", False),
        max_redirects=f.number("max_redirects", 5, lo=0, hi=20, integer=True),
        ca_file=_ca_file(f, base),
        cert_min_days=f.number("cert_min_days", d.cert_min_days, lo=0, hi=3650),
        max_body_bytes=f.number("max_body_bytes", 1 << 20, lo=1, hi=1 << 30, integer=True),
        expect=expect, login=login, cloud_trace_context=f.bool("cloud_trace_context", False),
    )


def _json_text(f: Fields, key: str, value: Any) -> str:
    """`value` as JSON text; YAML-only values (dates, binary, sets, NaN) are config errors."""
    import json as jsonlib

    try:
        return jsonlib.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise f.error(key, f"must hold JSON values only: {exc}") from None


def _secret_json(value: Any, secrets: set[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, str) and SECRET_KEY.search(str(k)):
                secrets.add(v)
            _secret_json(v, secrets)
    elif isinstance(value, list):
        for v in value:
            _secret_json(v, secrets)


def _login(f: Fields, common: dict[str, Any], secrets: set[str]) -> Login | None:
    """The optional `login:` block: a request that mints a fresh token for this probe."""
    if not f.has("login"):
        return None
    lf = Fields(f.mapping("login"), f.file, f.where, "login.")
    login_json = lf.get("json", None)
    _json_text(lf, "json", login_json)
    _secret_json(login_json, secrets)
    login = Login(
        url=_url(lf, "url", ("http", "https"), secrets),
        method=_method(lf, "POST"),
        json=login_json,
        headers=_headers(lf, "headers", secrets),
        token_field=lf.str("token_field", "access_token"),
        timeout_s=lf.number("timeout_s", min(10.0, common["timeout_s"]), lo=0.1, hi=600),
    )
    lf.done()
    return login


def _websocket(f: Fields, common: dict[str, Any], d: Defaults, base: Path,
               secrets: set[str]) -> WebSocketCheck:
    url = _url(f, "url", ("ws", "wss"), secrets)
    login = _login(f, common, secrets)
    ef = Fields(f.mapping("events"), f.file, f.where, "events.")
    events = Events(
        required=tuple(ef.str_list("required", list(Events.required), pattern=EVENT)),
        ordered=ef.bool("ordered", False),
        fail_on=tuple(ef.str_list("fail_on", list(Events.fail_on), pattern=EVENT)),
        terminal=tuple(ef.str_list("terminal", list(Events.terminal), pattern=EVENT)),
        first_event_timeout_s=ef.number("first_event_timeout_s", min(30.0, common["timeout_s"]),
                                        lo=0.1, hi=3600),
        tools_balanced=ef.bool("tools_balanced", False),
        answer_field=ef.opt_str("answer_field"),
    )
    ef.done()
    if not events.terminal:
        raise ef.error("terminal", "needs at least one event that ends the wait")
    send = f.get("send", None)
    if send is not None and not isinstance(send, (dict, str)):
        raise f.error("send", "must be a mapping (sent as JSON) or a string")
    _json_text(f, "send", send)
    _secret_json(send, secrets)
    return WebSocketCheck(
        **common, url=url, headers=_headers(f, "headers", secrets), ca_file=_ca_file(f, base),
        cert_min_days=f.number("cert_min_days", d.cert_min_days, lo=0, hi=3650),
        login=login,
        token_in=f.str("token_in", "subprotocol", choices=("subprotocol", "header", "query")),
        token_query_param=f.str("token_query_param", "token"),
        handshake=f.str("handshake", "auto", choices=("auto", "handshake", "connection_established", "none")),
        handshake_timeout_s=f.number("handshake_timeout_s", min(10.0, common["timeout_s"]), lo=0.1, hi=600),
        hello_wait_s=f.number("hello_wait_s", 2.0, lo=0, hi=60),
        send=send, events=events,
        max_frame_bytes=f.number("max_frame_bytes", 1 << 20, lo=1024, hi=1 << 30, integer=True),
        cloud_trace_context=f.bool("cloud_trace_context", False),
    )


def _postgres(f: Fields, common: dict[str, Any], d: Defaults, base: Path,
              secrets: set[str]) -> PostgresCheck:
    from probes.redact import dsn_password

    dsn = f.opt_str("dsn")
    host = f.opt_str("host")
    if dsn and host:
        raise f.error("host", "give dsn or host/port/user/dbname, not both")
    if not dsn and not host:
        raise f.error("dsn", "required (or host, port, user, dbname)")
    if dsn and "://" in dsn and not dsn.startswith(("postgresql://", "postgres://")):
        # The message never quotes the DSN: it may carry a password.
        raise f.error("dsn", "must be a postgresql:// URL or a key=value connection string")
    if dsn:
        pw = dsn_password(dsn)
        if pw:
            secrets.add(pw)
        secrets.add(dsn)
    password = f.opt_str("password")
    if password:
        secrets.add(password)
    ef = Fields(f.mapping("expect"), f.file, f.where, "expect.")
    expect = PostgresExpect(max_latency_ms=ef.number("max_latency_ms", None, lo=0),
                            rows=ef.number("rows", None, lo=0, integer=True))
    ef.done()
    threshold = f.get("vpc_latency_threshold_ms", 100.0)
    if threshold is not False:
        threshold = f.number("vpc_latency_threshold_ms", 100.0, lo=0)
    connector = f.opt_str("vpc_connector")
    if connector is not None and not VPC_CONNECTOR.fullmatch(connector):
        raise f.error("vpc_connector", "must be projects/PROJECT/locations/REGION/connectors/NAME")
    return PostgresCheck(
        **common, dsn=dsn, host=host,
        port=f.number("port", 5432, lo=1, hi=65535, integer=True),
        user=f.opt_str("user"), password=password, dbname=f.opt_str("dbname"),
        sslmode=f.opt_str("sslmode", choices=("disable", "allow", "prefer", "require", "verify-ca",
                                              "verify-full")),
        samples=f.number("samples", 5, lo=1, hi=1000, integer=True),
        vpc_latency_threshold_ms=None if threshold is False else threshold,
        query=f.opt_str("query"),
        statement_timeout_ms=f.number("statement_timeout_ms", None, lo=1, integer=True),
        vpc_connector=connector, expect=expect,
    )


_HOSTNAME = re.compile(r"(?=.{1,254}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)*"
                       r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.?")


def _dns(f: Fields, common: dict[str, Any], d: Defaults, base: Path, secrets: set[str]) -> DnsCheck:
    from probes.dns import split_nameserver  # the module only; dnspython is imported when probing

    host = f.str("host")
    if not _HOSTNAME.fullmatch(host):
        raise f.error("host", f"must be a DNS name, not {host!r}")
    nameserver = f.opt_str("nameserver")
    if nameserver is not None:
        try:
            split_nameserver(nameserver)
        except ValueError:
            raise f.error("nameserver", f"must be an IP address with an optional :port, not {nameserver!r}") from None
    ef = Fields(f.mapping("expect"), f.file, f.where, "expect.")
    equals = ef.str_list("equals") if ef.has("equals") else None
    expect = DnsExpect(contains=tuple(ef.str_list("contains", [])),
                       equals=None if equals is None else tuple(equals),
                       min_answers=ef.number("min_answers", 1, lo=0, hi=1000, integer=True),
                       max_latency_ms=ef.number("max_latency_ms", None, lo=0))
    ef.done()
    return DnsCheck(**common, host=host, record=f.str("record", "A", choices=DNS_RECORDS),
                    nameserver=nameserver, expect=expect)


_PARSERS: dict[str, Callable[..., Check]] = {"http": _http, "websocket": _websocket, "postgres": _postgres,
                                             "dns": _dns}
