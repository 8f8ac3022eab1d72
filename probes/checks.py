"""The check types of synthmon.yaml as frozen dataclasses (the service parses and validates them)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
EVENT = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
VPC_CONNECTOR = re.compile(r"projects/[^/\s]+/locations/[^/\s]+/connectors/[^/\s]+")
SEVERITIES = ("critical", "warning", "info")
# Header names and JSON keys whose values are secrets wherever they appear.
SECRET_KEY = re.compile(r"authorization|cookie|token|secret|password|passwd|api[-_]?key|bypass|-key$",
                        re.IGNORECASE)
# Query parameters that carry credentials in URLs: the above, plus `key` (Google API keys) and
# signatures of signed URLs.
SECRET_PARAM = re.compile(rf"{SECRET_KEY.pattern}|^(key|sig|signature|x-goog-signature|x-amz-signature)$",
                          re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Defaults:
    timeout_s: float = 10.0
    interval_s: float = 60.0
    retries: int = 1
    retry_delay_s: float = 5.0
    failure_threshold: int = 1
    success_threshold: int = 1
    renotify_s: float = 3600.0
    severity: str = "critical"
    cert_min_days: float = 14.0


@dataclasses.dataclass(frozen=True)
class Slo:
    """An availability objective over a rolling window (Terraform SLO, burn-rate alerts, /status budget)."""

    objective: float  # e.g. 0.995
    window_days: int = 28


@dataclasses.dataclass(frozen=True)
class CheckBase:
    name: str
    type: str
    timeout_s: float
    interval_s: float
    failure_threshold: int
    success_threshold: int
    renotify_s: float
    severity: str
    # Keyword-only, so that the subclasses' own required fields may follow.
    retries: int = dataclasses.field(default=1, kw_only=True)  # probed again this often before it fails
    retry_delay_s: float = dataclasses.field(default=5.0, kw_only=True)
    depends_on: tuple[str, ...] = dataclasses.field(default=(), kw_only=True)
    degraded_latency_ms: float | None = dataclasses.field(default=None, kw_only=True)
    slo: Slo | None = dataclasses.field(default=None, kw_only=True)

    @property
    def target(self) -> str:
        raise NotImplementedError

    @property
    def budget_s(self) -> float:
        """The longest this check can take with its retries: what a run and its lease must allow."""
        return (self.retries + 1) * self.timeout_s + self.retries * self.retry_delay_s


@dataclasses.dataclass(frozen=True)
class HttpExpect:
    status: tuple[int, ...] = ()  # empty: any 2xx
    body_contains: str | None = None
    body_not_contains: str | None = None
    body_regex: re.Pattern[str] | None = None
    json: tuple[tuple[str, Any], ...] = ()  # (dotted path, expected value)
    max_latency_ms: float | None = None


@dataclasses.dataclass(frozen=True)
class Login:
    url: str
    method: str = "POST"
    json: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    token_field: str = "access_token"
    timeout_s: float = 10.0


@dataclasses.dataclass(frozen=True)
class HttpCheck(CheckBase):
    url: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    follow_redirects: bool = False
    max_redirects: int = 5
    ca_file: str | None = None
    cert_min_days: float = 14.0
    max_body_bytes: int = 1 << 20
    expect: HttpExpect = HttpExpect()
    login: Login | None = None  # a fresh token per probe, sent as Authorization: Bearer

    cloud_trace_context: bool = False  # also send x-cloud-trace-context (older Google backends)

    @property
    def target(self) -> str:
        return self.url


@dataclasses.dataclass(frozen=True)
class Events:
    required: tuple[str, ...] = ("agent_started", "agent_completed")
    ordered: bool = False
    fail_on: tuple[str, ...] = ("agent_error", "error")
    terminal: tuple[str, ...] = ("agent_completed", "agent_error")
    first_event_timeout_s: float = 30.0
    tools_balanced: bool = False  # tool_executing count == tool_completed count
    answer_field: str | None = None  # e.g. final_response: must be non-empty in the terminal event


@dataclasses.dataclass(frozen=True)
class WebSocketCheck(CheckBase):
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    ca_file: str | None = None
    cert_min_days: float = 14.0
    login: Login | None = None
    token_in: str = "subprotocol"  # subprotocol | header | query
    token_query_param: str = "token"
    handshake: str = "auto"  # auto | handshake | connection_established | none
    handshake_timeout_s: float = 10.0
    hello_wait_s: float = 2.0
    send: Any = None
    events: Events = Events()
    max_frame_bytes: int = 1 << 20

    cloud_trace_context: bool = False  # also send x-cloud-trace-context (older Google backends)

    @property
    def target(self) -> str:
        return self.url


@dataclasses.dataclass(frozen=True)
class PostgresExpect:
    max_latency_ms: float | None = None
    rows: int | None = None


@dataclasses.dataclass(frozen=True)
class PostgresCheck(CheckBase):
    dsn: str | None = None
    host: str | None = None
    port: int = 5432
    user: str | None = None
    password: str | None = None
    dbname: str | None = None
    sslmode: str | None = None
    samples: int = 5
    vpc_latency_threshold_ms: float | None = 100.0
    query: str | None = None
    statement_timeout_ms: int | None = None
    vpc_connector: str | None = None  # projects/P/locations/R/connectors/N: its metrics go in details
    expect: PostgresExpect = PostgresExpect()

    @property
    def target(self) -> str:
        """Where it connects, without credentials: postgres://host:port/dbname."""
        if self.dsn:
            from probes.redact import dsn_target

            return dsn_target(self.dsn)
        return f"postgres://{self.host}:{self.port}/{self.dbname or ''}"


DNS_RECORDS = ("A", "AAAA", "CNAME", "TXT", "NS", "CAA")


@dataclasses.dataclass(frozen=True)
class DnsExpect:
    contains: tuple[str, ...] = ()  # every one of these must be among the answers
    equals: tuple[str, ...] | None = None  # the answers, as a set, must be exactly these
    min_answers: int = 1
    max_latency_ms: float | None = None


@dataclasses.dataclass(frozen=True)
class DnsCheck(CheckBase):
    """A resolver probe: one query for `record` of `host`, through `nameserver` or the system resolver."""

    host: str
    record: str = "A"
    nameserver: str | None = None  # host[:port]; None: the system resolver (/etc/resolv.conf)
    expect: DnsExpect = DnsExpect()

    @property
    def target(self) -> str:
        return f"dns://{self.nameserver or ''}/{self.host}?type={self.record}"


Check = HttpCheck | WebSocketCheck | PostgresCheck | DnsCheck
