"""The shape of each `checks:` entry and of `defaults:` as pydantic-core schemas (unknown keys rejected).

A validated check is a dict of what is written (a key is absent or None where not given);
monitor.schema.build turns it into the frozen dataclasses of probes.checks, filling defaults and
checking what spans several keys.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import core_schema as cs

from monitor.schema.values import (
    BOOL,
    DNS_NAME,
    EVENT_,
    HEADERS,
    JSON,
    JSON_MAPPING,
    METHOD,
    MILLIS_OR_OFF,
    NAME_,
    NAMESERVER,
    REGEX,
    SEVERITY,
    STATUS,
    STR,
    VPC_CONNECTOR_,
    any_url,
    integer,
    many,
    num,
    one_of,
    section,
)
from probes.checks import DNS_RECORDS

DEFAULT_KEYS: dict[str, cs.CoreSchema] = {
    "timeout_s": num(0.1, 3600),
    "interval_s": num(1, 86400),
    "retries": integer(0, 5),
    "retry_delay_s": num(0, 600),
    "failure_threshold": integer(1, 100),
    "success_threshold": integer(1, 100),
    "renotify_s": num(0, 7 * 86400),
    "severity": SEVERITY,
    "cert_min_days": num(0, 3650),
}
DEFAULTS = section(DEFAULT_KEYS)

_COMMON: dict[str, cs.CoreSchema] = {
    **DEFAULT_KEYS,
    "name": NAME_,
    "type": STR,
    "depends_on": many(STR),
    "degraded_latency_ms": num(0, 3_600_000),
    "slo": section({"objective": num(0.5, 0.99999), "window_days": integer(1, 90)}, required=("objective",)),
}
_LOGIN = section({
    "url": any_url("http", "https"),
    "method": METHOD,
    "json": JSON,
    "headers": HEADERS,
    "token_field": STR,
    "timeout_s": num(0.1, 600),
}, required=("url",))
_TLS: dict[str, cs.CoreSchema] = {
    "headers": HEADERS,
    "ca_file": STR,
    "login": _LOGIN,
    "cloud_trace_context": BOOL,
}

HTTP = section({
    **_COMMON, **_TLS,
    "url": any_url("http", "https"),
    "method": METHOD,
    "body": STR,
    "json": JSON,
    "follow_redirects": BOOL,
    "max_redirects": integer(0, 20),
    "max_body_bytes": integer(1, 1 << 30),
    "expect": section({
        "status": STATUS,
        "body_contains": STR,
        "body_not_contains": STR,
        "body_regex": REGEX,
        "json": JSON_MAPPING,
        "max_latency_ms": num(0),
    }),
}, required=("name", "type", "url"))

WEBSOCKET = section({
    **_COMMON, **_TLS,
    "url": any_url("ws", "wss"),
    "token_in": one_of("subprotocol", "header", "query"),
    "token_query_param": STR,
    "handshake": one_of("auto", "handshake", "connection_established", "none"),
    "handshake_timeout_s": num(0.1, 600),
    "hello_wait_s": num(0, 60),
    "send": JSON,
    "events": section({
        "required": many(EVENT_),
        "ordered": BOOL,
        "fail_on": many(EVENT_),
        "terminal": many(EVENT_),
        "first_event_timeout_s": num(0.1, 3600),
        "tools_balanced": BOOL,
        "answer_field": STR,
    }),
    "max_frame_bytes": integer(1024, 1 << 30),
}, required=("name", "type", "url"))

POSTGRES = section({
    **_COMMON,
    "dsn": STR,
    "host": STR,
    "port": integer(1, 65535),
    "user": STR,
    "password": STR,
    "dbname": STR,
    "sslmode": one_of("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "samples": integer(1, 1000),
    "vpc_latency_threshold_ms": MILLIS_OR_OFF,
    "query": STR,
    "statement_timeout_ms": integer(1),
    "vpc_connector": VPC_CONNECTOR_,
    "expect": section({"max_latency_ms": num(0), "rows": integer(0)}),
}, required=("name", "type"))

DNS = section({
    **_COMMON,
    "host": DNS_NAME,
    "record": one_of(*DNS_RECORDS),
    "nameserver": NAMESERVER,
    "expect": section({
        "contains": many(STR),
        "equals": many(STR),
        "min_answers": integer(0, 1000),
        "max_latency_ms": num(0),
    }),
}, required=("name", "type", "host"))

CHECK_SCHEMAS: dict[str, cs.CoreSchema] = {"http": HTTP, "websocket": WEBSOCKET, "postgres": POSTGRES, "dns": DNS}


def _check_type(raw: Any) -> str:
    kind = raw.get("type") if isinstance(raw, dict) else None
    return kind if isinstance(kind, str) else ""


CHECK = cs.tagged_union_schema(CHECK_SCHEMAS, _check_type)
