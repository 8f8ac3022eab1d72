"""The one table of synthmon's custom metrics (docs/publishing.md); every sink and Terraform read it."""

from __future__ import annotations

import dataclasses

PREFIX = "custom.googleapis.com/synthmon/"


@dataclasses.dataclass(frozen=True)
class Metric:
    name: str  # relative to PREFIX, e.g. "check/success"
    value_type: str  # INT64 | DOUBLE
    unit: str  # UCUM, as Cloud Monitoring wants it
    description: str
    labels: tuple[str, ...]
    kind: str = "GAUGE"  # never CUMULATIVE: Cloud Run restarts break start times

    @property
    def type(self) -> str:
        return PREFIX + self.name

    @property
    def prometheus_name(self) -> str:
        return "synthmon_" + self.name.replace("/", "_")


METRICS: tuple[Metric, ...] = (
    Metric("check/success", "INT64", "1", "1 when the check passed, 0 when it failed",
           ("check", "type", "failure_class")),
    Metric("check/latency_ms", "DOUBLE", "ms", "Total latency of the check", ("check", "type")),
    Metric("check/phase_latency_ms", "DOUBLE", "ms", "Latency of one phase of the check",
           ("check", "type", "phase")),
    Metric("websocket/event_latency_ms", "DOUBLE", "ms",
           "Arrival of a required agent event, from the message send", ("check", "event")),
    Metric("postgres/query_latency_ms", "DOUBLE", "ms", "Median SELECT 1 round trip", ("check",)),
    Metric("vpc/rtt_ms", "DOUBLE", "ms", "Network round trip to the private endpoint", ("check",)),
    Metric("vpc/over_threshold", "INT64", "1", "1 when the VPC round trip is over the check's threshold",
           ("check",)),
    Metric("tls/cert_days_left", "DOUBLE", "d", "Days until the server certificate expires", ("check",)),
    Metric("dns/resolve_ms", "DOUBLE", "ms", "Resolution time of a DNS check's query", ("check",)),
    Metric("alert/firing", "INT64", "1",
           "1 while synthmon's own alert for the check is firing in that scope (thresholds, retries, "
           "dependencies, quorum, maintenance applied); written every run", ("check", "severity", "scope")),
    Metric("run/duration_ms", "DOUBLE", "ms", "Duration of a whole run; also the monitor's heartbeat", ()),
)

BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
BY_TYPE: dict[str, Metric] = {m.type: m for m in METRICS}

# Label keys that every series carries besides the metric's own (on the resource: location, job).
RESOURCE_TYPE = "generic_task"
NAMESPACE = "synthmon"
