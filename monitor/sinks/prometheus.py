"""Prometheus text exposition for `GET /metrics`: gauges of the latest results (from `monitor.metrics`)
and, since the process started, counters and histograms of every published result.

Gauge names are the registry's `prometheus_name` (e.g. `synthmon_check_success`); labels are the
metric's labels plus `location`, in a fresh registry per call, so a removed check does not linger.
`Counters` (a metric sink) adds `synthmon_check_total{check,result}` (result: `ok` or the failure
class) and the histograms `synthmon_probe_latency_ms{check}` and `synthmon_probe_phase_latency_ms
{check,phase}`, and the gauge `synthmon_alert_firing{check,severity,scope}`, so availability is `rate(synthmon_check_total{result="ok"}[1h]) /
rate(synthmon_check_total[1h])` from scrapes. They count what this process published (one gunicorn
worker, monitor/gunicorn_conf.py); a restart starts them at 0, which `rate()` handles.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from monitor import timeseries
from monitor.metrics import METRICS
from probes.result import ProbeResult, RunReport

BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Counters:
    """A metric sink: counts and latency histograms of every published result, for /metrics."""

    def __init__(self, location: str) -> None:
        self.location = location
        self._lock = threading.Lock()
        self.registry: Any = None  # built on the first write: prometheus_client is not a cold-start cost

    def _build(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=False)
        self.total = Counter("synthmon_check", "published results by check and result (ok or failure class)",
                             ("check", "result", "location"), registry=self.registry)
        self.latency = Histogram("synthmon_probe_latency_ms", "latency of published results, ms",
                                 ("check", "location"), buckets=BUCKETS_MS, registry=self.registry)
        self.phases = Histogram("synthmon_probe_phase_latency_ms", "phase latency of published results, ms",
                                ("check", "phase", "location"), buckets=BUCKETS_MS, registry=self.registry)
        self.firing = Gauge("synthmon_alert_firing", "synthmon's own alert decision, 1 while firing in that scope",
                            ("check", "severity", "scope", "location"), registry=self.registry)

    def write(self, report: RunReport, *, deadline: float, firing: Sequence[tuple[str, str, str, int]] = ()) -> bool:
        with self._lock:
            if self.registry is None:
                self._build()
            for check, severity, scope, value in firing:
                self.firing.labels(check=check, severity=severity, scope=scope, location=self.location).set(value)
            for r in report.results:
                result = "ok" if r.ok or r.failure is None else r.failure.cls
                self.total.labels(check=r.name, result=result, location=self.location).inc()
                if r.latency_ms is not None:
                    self.latency.labels(check=r.name, location=self.location).observe(r.latency_ms)
                for phase, v in r.phases_ms.items():
                    self.phases.labels(check=r.name, phase=phase, location=self.location).observe(v)
        return True

    def text(self) -> bytes:
        from prometheus_client import generate_latest

        with self._lock:
            return b"" if self.registry is None else generate_latest(self.registry)


def render(results: Iterable[ProbeResult], location: str, *, duration_ms: float | None = None,
           checks: Mapping[str, Any] | None = None, counters: Counters | None = None) -> bytes:
    """The exposition text for `results` (one per check), plus the last run's duration if given.

    `checks` (name -> Check, e.g. `{c.name: c for c in config.checks}`) bounds the event labels to
    each check's configured events and gives the VPC threshold.
    """
    from prometheus_client import CollectorRegistry, Gauge, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    gauges = {m.type: Gauge(m.prometheus_name, m.description, (*m.labels, "location"), registry=registry)
              for m in METRICS}
    samples = [s for r in results for s in timeseries.result_samples(r, (checks or {}).get(r.name))]
    if duration_ms is not None:
        samples.append(timeseries.Sample(timeseries.BY_NAME["run/duration_ms"], (), duration_ms))
    for s in samples:
        gauges[s.metric.type].labels(**dict(s.labels), location=location).set(s.value)
    return generate_latest(registry) + (counters.text() if counters is not None else b"")
