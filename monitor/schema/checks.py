"""The shape of each `checks:` entry and of `defaults:` as pydantic models (unknown keys rejected).

A model holds only what is written (None where a key is absent); monitor.schema.build turns it into
the frozen dataclasses of probes.checks, filling defaults and checking what spans several keys.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from monitor.schema.values import (
    ONE_OR_MANY,
    AnyUrl,
    Bool,
    Event,
    Headers,
    HostPort,
    Integer,
    Json,
    JsonMapping,
    Method,
    MillisOrOff,
    Name,
    Number,
    OneOf,
    Regex,
    Severity,
    Status,
    Str,
    VpcConnector,
)
from probes.checks import DNS_RECORDS

Seconds = Annotated[float, Number(0.1, 3600)]
Millis = Annotated[float, Number(0, None)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DefaultsModel(Model):
    timeout_s: Seconds | None = None
    interval_s: Annotated[float, Number(1, 86400)] | None = None
    retries: Annotated[int, Integer(0, 5)] | None = None
    retry_delay_s: Annotated[float, Number(0, 600)] | None = None
    failure_threshold: Annotated[int, Integer(1, 100)] | None = None
    success_threshold: Annotated[int, Integer(1, 100)] | None = None
    renotify_s: Annotated[float, Number(0, 7 * 86400)] | None = None
    severity: Severity | None = None
    cert_min_days: Annotated[float, Number(0, 3650)] | None = None


class SloModel(Model):
    objective: Annotated[float, Number(0.5, 0.99999)]
    window_days: Annotated[int, Integer(1, 90)] | None = None


class CheckModel(DefaultsModel):
    """What every check type takes; `defaults:` supplies what a check leaves out."""

    name: Name
    type: Str
    depends_on: Annotated[tuple[Str, ...], ONE_OR_MANY] | None = None
    degraded_latency_ms: Annotated[float, Number(0, 3_600_000)] | None = None
    slo: SloModel | None = None


class LoginModel(Model):
    url: Annotated[str, AnyUrl("http", "https")]
    method: Method | None = None
    json_: Json = Field(default=None, alias="json")
    headers: Headers | None = None
    token_field: Str | None = None
    timeout_s: Annotated[float, Number(0.1, 600)] | None = None


class TlsModel(CheckModel):
    headers: Headers | None = None
    ca_file: Str | None = None
    login: LoginModel | None = None
    cloud_trace_context: Bool | None = None


class HttpExpectModel(Model):
    status: Status | None = None
    body_contains: Str | None = None
    body_not_contains: Str | None = None
    body_regex: Regex | None = None
    json_: JsonMapping | None = Field(default=None, alias="json")
    max_latency_ms: Millis | None = None


class HttpModel(TlsModel):
    url: Annotated[str, AnyUrl("http", "https")]
    method: Method | None = None
    body: Str | None = None
    json_: Json = Field(default=None, alias="json")
    follow_redirects: Bool | None = None
    max_redirects: Annotated[int, Integer(0, 20)] | None = None
    max_body_bytes: Annotated[int, Integer(1, 1 << 30)] | None = None
    expect: HttpExpectModel | None = None


class EventsModel(Model):
    required: Annotated[tuple[Event, ...], ONE_OR_MANY] | None = None
    ordered: Bool | None = None
    fail_on: Annotated[tuple[Event, ...], ONE_OR_MANY] | None = None
    terminal: Annotated[tuple[Event, ...], ONE_OR_MANY] | None = None
    first_event_timeout_s: Seconds | None = None
    tools_balanced: Bool | None = None
    answer_field: Str | None = None


class WebSocketModel(TlsModel):
    url: Annotated[str, AnyUrl("ws", "wss")]
    token_in: Annotated[str, OneOf("subprotocol", "header", "query")] | None = None
    token_query_param: Str | None = None
    handshake: Annotated[str, OneOf("auto", "handshake", "connection_established", "none")] | None = None
    handshake_timeout_s: Annotated[float, Number(0.1, 600)] | None = None
    hello_wait_s: Annotated[float, Number(0, 60)] | None = None
    send: Json = None
    events: EventsModel | None = None
    max_frame_bytes: Annotated[int, Integer(1024, 1 << 30)] | None = None


class PostgresExpectModel(Model):
    max_latency_ms: Millis | None = None
    rows: Annotated[int, Integer(0, None)] | None = None


class PostgresModel(CheckModel):
    dsn: Str | None = None
    host: Str | None = None
    port: Annotated[int, Integer(1, 65535)] | None = None
    user: Str | None = None
    password: Str | None = None
    dbname: Str | None = None
    sslmode: Annotated[str, OneOf("disable", "allow", "prefer", "require", "verify-ca", "verify-full")] | None = None
    samples: Annotated[int, Integer(1, 1000)] | None = None
    vpc_latency_threshold_ms: MillisOrOff | None = None
    query: Str | None = None
    statement_timeout_ms: Annotated[int, Integer(1, None)] | None = None
    vpc_connector: VpcConnector | None = None
    expect: PostgresExpectModel | None = None


class DnsExpectModel(Model):
    contains: Annotated[tuple[Str, ...], ONE_OR_MANY] | None = None
    equals: Annotated[tuple[Str, ...], ONE_OR_MANY] | None = None
    min_answers: Annotated[int, Integer(0, 1000)] | None = None
    max_latency_ms: Millis | None = None


class DnsModel(CheckModel):
    host: Str
    record: Annotated[str, OneOf(*DNS_RECORDS)] | None = None
    nameserver: HostPort | None = None
    expect: DnsExpectModel | None = None


CHECK_MODELS: dict[str, type[CheckModel]] = {"http": HttpModel, "websocket": WebSocketModel,
                                             "postgres": PostgresModel, "dns": DnsModel}


def _check_type(raw: Any) -> str:
    kind = raw.get("type") if isinstance(raw, dict) else None
    return kind if isinstance(kind, str) else ""


AnyCheck = Annotated[
    Annotated[HttpModel, Tag("http")] | Annotated[WebSocketModel, Tag("websocket")]
    | Annotated[PostgresModel, Tag("postgres")] | Annotated[DnsModel, Tag("dns")],
    Discriminator(_check_type),
]
