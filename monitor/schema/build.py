"""Validated check models into the frozen dataclasses of probes.checks: defaults filled in, rules that span
several keys checked, and the values that are secrets collected (credential headers and query
parameters, login and message bodies, DSN passwords).
"""

from __future__ import annotations

import dataclasses
import json as jsonlib
import urllib.parse
from pathlib import Path as FsPath
from typing import Any

from monitor.yamldoc import Path
from probes.checks import (
    SECRET_KEY,
    SECRET_PARAM,
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
from probes.redact import dsn_password


@dataclasses.dataclass
class Context:
    base_dir: FsPath  # `ca_file` is relative to the config file
    defaults: Defaults
    secrets: set[str]
    problems: list[tuple[Path, str]]  # (path in the document, what is wrong)


Raw = dict[str, Any]  # one validated mapping of the document: absent and null keys are both None


def defaults(raw: Raw | None) -> Defaults:
    return Defaults(**{k: v for k, v in (raw or {}).items() if v is not None})


def check(model: Raw, path: Path, ctx: Context) -> Check | None:
    """The dataclass of one check, or None when a rule spanning several keys is broken (in ctx.problems)."""
    d = ctx.defaults
    timeout_s = _or(model.get("timeout_s"), d.timeout_s)
    common: dict[str, Any] = dict(
        name=model["name"], type=model["type"], timeout_s=timeout_s,
        interval_s=_or(model.get("interval_s"), d.interval_s),
        failure_threshold=_or(model.get("failure_threshold"), d.failure_threshold),
        success_threshold=_or(model.get("success_threshold"), d.success_threshold),
        renotify_s=_or(model.get("renotify_s"), d.renotify_s), severity=_or(model.get("severity"), d.severity),
        retries=_or(model.get("retries"), d.retries), retry_delay_s=_or(model.get("retry_delay_s"), d.retry_delay_s),
        depends_on=model.get("depends_on") or (), degraded_latency_ms=model.get("degraded_latency_ms"),
        slo=_slo(model.get("slo")),
    )
    before = len(ctx.problems)
    if model["type"] == "http":
        built: Check = _http(model, common, path, ctx)
    elif model["type"] == "websocket":
        built = _websocket(model, common, path, ctx)
    elif model["type"] == "postgres":
        built = _postgres(model, common, path, ctx)
    else:
        built = _dns(model, common)
    return built if len(ctx.problems) == before else None


def _dns(model: Raw, common: dict[str, Any]) -> DnsCheck:
    e = model.get("expect") or {}
    expect = DnsExpect(contains=e.get("contains") or (), equals=e.get("equals"),
                       min_answers=_or(e.get("min_answers"), 1), max_latency_ms=e.get("max_latency_ms"))
    return DnsCheck(**common, host=model["host"], record=_or(model.get("record"), "A"),
                    nameserver=model.get("nameserver"), expect=expect)


def _slo(raw: Raw | None) -> Slo | None:
    return Slo(raw["objective"], _or(raw.get("window_days"), 28)) if raw else None


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _url_secrets(url: str, secrets: set[str]) -> None:
    for pair in urllib.parse.urlsplit(url).query.split("&"):
        name, _, raw = pair.partition("=")
        if raw and SECRET_PARAM.search(urllib.parse.unquote_plus(name)):
            value = urllib.parse.unquote_plus(raw)  # as written, as decoded, as a client re-encodes it
            secrets.update((raw, value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)))


def _header_secrets(headers: tuple[tuple[str, str], ...], secrets: set[str]) -> None:
    for k, v in headers:
        if SECRET_KEY.search(k):
            secrets.add(v)
            if k.lower() == "authorization" and " " in v:
                secrets.add(v.split(" ", 1)[1])


def _json_secrets(value: Any, secrets: set[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, str) and SECRET_KEY.search(str(k)):
                secrets.add(v)
            _json_secrets(v, secrets)
    elif isinstance(value, list):
        for v in value:
            _json_secrets(v, secrets)


def _ca_file(path_text: str | None, path: Path, ctx: Context) -> str | None:
    if not path_text:
        return None
    full = FsPath(path_text) if FsPath(path_text).is_absolute() else ctx.base_dir / path_text
    try:
        found = full.is_file()
    except (OSError, ValueError):  # name too long, NUL byte
        found = False
    if not found:
        ctx.problems.append(((*path, "ca_file"), f"no such file: {path_text}"))
    return str(full)


def _login(model: Raw | None, timeout_s: float, ctx: Context) -> Login | None:
    """The optional `login:` block: a request that mints a fresh token for this probe."""
    if model is None:
        return None
    _url_secrets(model["url"], ctx.secrets)
    _json_secrets(model.get("json"), ctx.secrets)
    headers = model.get("headers") or ()
    _header_secrets(headers, ctx.secrets)
    return Login(url=model["url"], method=_or(model.get("method"), "POST"), json=model.get("json"), headers=headers,
                 token_field=_or(model.get("token_field"), "access_token"),
                 timeout_s=_or(model.get("timeout_s"), min(10.0, timeout_s)))


def _http(model: Raw, common: dict[str, Any], path: Path, ctx: Context) -> HttpCheck:
    _url_secrets(model["url"], ctx.secrets)
    headers = model.get("headers") or ()
    _header_secrets(headers, ctx.secrets)
    body = model["body"].encode() if model.get("body") is not None else None
    if model.get("body") is not None and model.get("json") is not None:
        ctx.problems.append(((*path, "json"), "give body or json, not both"))
    elif model.get("json") is not None:
        body = jsonlib.dumps(model.get("json")).encode()
        if not any(k.lower() == "content-type" for k, _ in headers):
            headers += (("Content-Type", "application/json"),)
    login = _login(model.get("login"), common["timeout_s"], ctx)
    if login and any(k.lower() == "authorization" for k, _ in headers):
        ctx.problems.append(((*path, "login"), "sends the token as Authorization: give login or "
                                                "headers.Authorization, not both"))
    e = model.get("expect") or {}
    expect = HttpExpect(status=e.get("status") or (), body_contains=e.get("body_contains") or None,
                        body_not_contains=e.get("body_not_contains") or None, body_regex=e.get("body_regex"),
                        json=e.get("json") or (), max_latency_ms=e.get("max_latency_ms"))
    return HttpCheck(
        **common, url=model["url"], method=_or(model.get("method"), "GET"), headers=headers, body=body,
        follow_redirects=_or(model.get("follow_redirects"), False), max_redirects=_or(model.get("max_redirects"), 5),
        ca_file=_ca_file(model.get("ca_file"), path, ctx),
        cert_min_days=_or(model.get("cert_min_days"), ctx.defaults.cert_min_days),
        max_body_bytes=_or(model.get("max_body_bytes"), 1 << 20), expect=expect, login=login,
        cloud_trace_context=_or(model.get("cloud_trace_context"), False),
    )


def _websocket(model: Raw, common: dict[str, Any], path: Path, ctx: Context) -> WebSocketCheck:
    _url_secrets(model["url"], ctx.secrets)
    headers = model.get("headers") or ()
    _header_secrets(headers, ctx.secrets)
    timeout_s = common["timeout_s"]
    ev = model.get("events") or {}
    events = Events(
        required=_or(ev.get("required"), Events.required), ordered=_or(ev.get("ordered"), False),
        fail_on=_or(ev.get("fail_on"), Events.fail_on), terminal=_or(ev.get("terminal"), Events.terminal),
        first_event_timeout_s=_or(ev.get("first_event_timeout_s"), min(30.0, timeout_s)),
        tools_balanced=_or(ev.get("tools_balanced"), False), answer_field=ev.get("answer_field") or None,
    )
    if not events.terminal:
        ctx.problems.append(((*path, "events", "terminal"), "needs at least one event that ends the wait"))
    if model.get("send") is not None and not isinstance(model.get("send"), (dict, str)):
        ctx.problems.append(((*path, "send"), "must be a mapping (sent as JSON) or a string"))
    _json_secrets(model.get("send"), ctx.secrets)
    return WebSocketCheck(
        **common, url=model["url"], headers=headers, ca_file=_ca_file(model.get("ca_file"), path, ctx),
        cert_min_days=_or(model.get("cert_min_days"), ctx.defaults.cert_min_days),
        login=_login(model.get("login"), timeout_s, ctx), token_in=_or(model.get("token_in"), "subprotocol"),
        token_query_param=_or(model.get("token_query_param"), "token"), handshake=_or(model.get("handshake"), "auto"),
        handshake_timeout_s=_or(model.get("handshake_timeout_s"), min(10.0, timeout_s)),
        hello_wait_s=_or(model.get("hello_wait_s"), 2.0), send=model.get("send"), events=events,
        max_frame_bytes=_or(model.get("max_frame_bytes"), 1 << 20),
        cloud_trace_context=_or(model.get("cloud_trace_context"), False),
    )


def _postgres(model: Raw, common: dict[str, Any], path: Path, ctx: Context) -> PostgresCheck:
    dsn, host = model.get("dsn") or None, model.get("host") or None
    if dsn and host:
        ctx.problems.append(((*path, "host"), "give dsn or host/port/user/dbname, not both"))
    if not dsn and not host:
        ctx.problems.append(((*path, "dsn"), "required (or host, port, user, dbname)"))
    if dsn and "://" in dsn and not dsn.startswith(("postgresql://", "postgres://")):
        # The message never quotes the DSN: it may carry a password.
        ctx.problems.append(((*path, "dsn"), "must be a postgresql:// URL or a key=value connection string"))
    if dsn:
        ctx.secrets.add(dsn)
        password = dsn_password(dsn)
        if password:
            ctx.secrets.add(password)
    if model.get("password"):
        ctx.secrets.add(model["password"])
    threshold = _or(model.get("vpc_latency_threshold_ms"), 100.0)
    e = model.get("expect") or {}
    return PostgresCheck(
        **common, dsn=dsn, host=host, port=_or(model.get("port"), 5432), user=model.get("user") or None,
        password=model.get("password") or None, dbname=model.get("dbname") or None, sslmode=model.get("sslmode") or None,
        samples=_or(model.get("samples"), 5), vpc_latency_threshold_ms=None if threshold is False else threshold,
        query=model.get("query") or None, statement_timeout_ms=model.get("statement_timeout_ms"),
        vpc_connector=model.get("vpc_connector") or None, expect=PostgresExpect(max_latency_ms=e.get("max_latency_ms"), rows=e.get("rows")),
    )
