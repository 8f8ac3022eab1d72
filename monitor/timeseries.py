"""Turn a run report into metric samples and Cloud Monitoring TimeSeries; pure, no I/O.

Every sample is a metric of `monitor.metrics` with exactly that metric's labels, bounded values only
(check, type, phase, configured event names, failure class): never a URL or a message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from monitor.metrics import BY_NAME, NAMESPACE, RESOURCE_TYPE, Metric
from probes.result import ProbeResult, RunReport

MAX_SERIES_PER_CALL = 200  # CreateTimeSeries limit
MAX_EVENTS = 20  # event labels per check, when the check's configured events are unknown
NO_FAILURE = "none"  # failure_class label of a passing check
# Cloud Monitoring's write rules for one series: one point each 5 s at most, no point older than 25 h.
MIN_SPACING = dt.timedelta(seconds=5)
MAX_AGE = dt.timedelta(hours=25)


@dataclasses.dataclass(frozen=True)
class Sample:
    metric: Metric
    labels: tuple[tuple[str, str], ...]
    value: float | int

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.metric.type, self.labels


def _sample(name: str, value: float | int, **labels: str) -> Sample:
    metric = BY_NAME[name]
    assert set(labels) == set(metric.labels), (name, labels)
    value = int(value) if metric.value_type == "INT64" else float(value)
    return Sample(metric, tuple(sorted(labels.items())), value)


def samples(report: RunReport, checks: Mapping[str, Any] | None = None,
            firing: Sequence[tuple[str, str, str, int]] = ()) -> list[Sample]:
    """One sample per (metric, labels) for the report; `checks` (name → Check) bounds event labels
    and gives the VPC threshold; `firing` is (check, severity, scope, 0/1) of every check for
    alert/firing. Later duplicates of a series are dropped (one point per call)."""
    out: list[Sample] = []
    for r in report.results:
        out.extend(result_samples(r, (checks or {}).get(r.name)))
    for check, severity, scope, value in firing:
        out.append(_sample("alert/firing", value, check=check, severity=severity, scope=scope))
    if not report.partial:  # run/duration_ms is the heartbeat: once per run
        out.append(_sample("run/duration_ms", report.duration_ms))
    seen: set[Any] = set()
    unique = []
    for s in out:
        if s.key not in seen:
            seen.add(s.key)
            unique.append(s)
    return unique


def result_samples(r: ProbeResult, check: Any = None) -> Iterator[Sample]:
    c, t = r.name, r.type
    yield _sample("check/success", 1 if r.ok else 0, check=c, type=t,
                  failure_class=r.failure.cls if r.failure else NO_FAILURE)
    if r.latency_ms is not None:
        yield _sample("check/latency_ms", r.latency_ms, check=c, type=t)
    for phase, ms in r.phases_ms.items():
        yield _sample("check/phase_latency_ms", ms, check=c, type=t, phase=phase)
    if t == "websocket":
        yield from _event_samples(r, check)
    if t == "dns" and "resolve" in r.phases_ms:
        yield _sample("dns/resolve_ms", r.phases_ms["resolve"], check=c)
    if t == "postgres" and "query" in r.phases_ms:
        yield _sample("postgres/query_latency_ms", r.phases_ms["query"], check=c)
    rtt = _number(r.details.get("vpc_rtt_ms"))
    if rtt is not None:
        yield _sample("vpc/rtt_ms", rtt, check=c)
        threshold = getattr(check, "vpc_latency_threshold_ms", None)
        over = rtt > threshold if threshold is not None else (r.failure is not None
                                                              and r.failure.cls == "vpc_latency")
        yield _sample("vpc/over_threshold", int(over), check=c)
    days = _number(r.details.get("cert_days_left"))
    if days is not None:
        yield _sample("tls/cert_days_left", days, check=c)


def _event_samples(r: ProbeResult, check: Any) -> Iterator[Sample]:
    """First arrival of each event, from `details.events` = [{"event", "at_ms"}, ...]."""
    events = getattr(check, "events", None)
    allowed = set(events.required) | set(events.fail_on) | set(events.terminal) if events else None
    seen: set[str] = set()
    for e in r.details.get("events") or []:
        if not isinstance(e, dict):
            continue
        name, at = e.get("event"), _number(e.get("at_ms"))
        if not isinstance(name, str) or at is None or name in seen:
            continue
        if (allowed is not None and name not in allowed) or (allowed is None and len(seen) >= MAX_EVENTS):
            continue
        seen.add(name)
        yield _sample("websocket/event_latency_ms", at, check=r.name, event=name)


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def resource_labels(project_id: str, location: str, job: str, task_id: str) -> dict[str, str]:
    return {"project_id": project_id, "location": location, "namespace": NAMESPACE,
            "job": job, "task_id": task_id}


def parse_time(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))


Point = tuple[Sample, dt.datetime]  # a sample and the end time it is written at


class Ledger:
    """Per process and task_id: the end time last written per series, and the newest point held back.

    Cloud Monitoring refuses a point that is not newer than its series' latest, or less than 5 s after
    it; a `/probe` right after a run, or two overlapping runs, produce exactly such points. `take`
    decides, for one write, which points go out now: a point at least 5 s after its series' last one
    goes at its own end time; one older than (or equal to) the last written is dropped, since a newer
    value is already stored (latest wins); one less than 5 s after it is held, the newest held value
    per series winning, and goes out with a later write: at the earliest allowed time (last + 5 s, so
    at most 5 s after it was measured) unless that write carries a newer value of the series itself.
    A held point dies with the process, and after 25 h.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[Any, dt.datetime] = {}
        self._held: dict[Any, Point] = {}

    def take(self, found: Sequence[Sample], end: dt.datetime) -> list[Point]:
        """The points to write now for `found` measured at `end`, marked as written."""
        with self._lock:
            candidates = dict(self._held)
            for s in found:
                held = candidates.get(s.key)
                if held is None or held[1] < end:
                    candidates[s.key] = (s, end)
            out: list[Point] = []
            self._held = {}
            for key, (s, at) in candidates.items():
                last = self._last.get(key)
                if last is not None and at <= last:
                    continue  # a newer point of the series is written already
                if at < end - MAX_AGE:
                    continue
                if last is None or at >= last + MIN_SPACING:
                    out.append((s, at))
                elif last + MIN_SPACING <= end:
                    out.append((s, last + MIN_SPACING))
                else:
                    self._held[key] = (s, at)
                    continue
                self._last[key] = out[-1][1]
            return out

    def hold(self, found: Sequence[Sample], end: dt.datetime) -> None:
        """Keep `found` for a later write (this one could not be made), newest value winning."""
        with self._lock:
            for s in found:
                held = self._held.get(s.key)
                if (held is None or held[1] < end) and end > self._last.get(s.key, end - MIN_SPACING):
                    self._held[s.key] = (s, end)

    @property
    def held(self) -> dict[Any, Point]:
        with self._lock:
            return dict(self._held)


def time_series(batch: Sequence[Sample | Point], resource: Mapping[str, str],
                end: dt.datetime | None = None) -> list[Any]:
    """`monitoring_v3.TimeSeries` for the samples: GAUGE, one point each, on generic_task. A sample
    is written at `end`; a (sample, time) point at its own time."""
    from google.api import metric_pb2, monitored_resource_pb2
    from google.cloud import monitoring_v3

    out = []
    for item in batch:
        s, at = item if isinstance(item, tuple) else (item, end)
        assert at is not None, "a bare sample needs `end`"
        value = monitoring_v3.TypedValue(int64_value=s.value) if s.metric.value_type == "INT64" \
            else monitoring_v3.TypedValue(double_value=s.value)
        out.append(monitoring_v3.TimeSeries(
            metric=metric_pb2.Metric(type=s.metric.type, labels=dict(s.labels)),
            resource=monitored_resource_pb2.MonitoredResource(type=RESOURCE_TYPE, labels=dict(resource)),
            metric_kind="GAUGE", value_type=s.metric.value_type,
            points=[monitoring_v3.Point(interval=monitoring_v3.TimeInterval(end_time=at), value=value)],
        ))
    return out


def batches(items: Sequence[Any], size: int = MAX_SERIES_PER_CALL) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def descriptor(metric: Metric, project_id: str) -> Any:
    """The `MetricDescriptor` of a registry metric."""
    from google.api import label_pb2, metric_pb2

    return metric_pb2.MetricDescriptor(
        name=f"projects/{project_id}/metricDescriptors/{metric.type}", type=metric.type,
        metric_kind=metric_pb2.MetricDescriptor.MetricKind.GAUGE,
        value_type=metric_pb2.MetricDescriptor.ValueType.Value(metric.value_type),
        unit=metric.unit, description=metric.description, display_name=metric.name,
        labels=[label_pb2.LabelDescriptor(key=k, value_type=label_pb2.LabelDescriptor.ValueType.STRING)
                for k in metric.labels],
    )
