"""Prometheus text exposition of the latest results, for `GET /metrics`; built from `monitor.metrics`.

Names are the registry's `prometheus_name` (e.g. `synthmon_check_success`); labels are the metric's
labels plus `location`. A fresh registry per call, so a removed check does not linger.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from monitor import timeseries
from monitor.metrics import METRICS
from probes.result import ProbeResult

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def render(results: Iterable[ProbeResult], location: str, *, duration_ms: float | None = None,
           checks: Mapping[str, Any] | None = None) -> bytes:
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
    return generate_latest(registry)
