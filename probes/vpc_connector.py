"""Read a Serverless VPC Access connector's latest instance count and CPU from Cloud Monitoring; an API or network error is returned as `{"error": ...}`, never raised."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from probes.redact import clip

# (details key, metric type); both are on the `vpc_access_connector` monitored resource.
METRICS = (("instances", "vpcaccess.googleapis.com/connector/instances"),
           ("cpu_utilization", "vpcaccess.googleapis.com/connector/cpu/utilizations"))
WINDOW_S = 300  # both metrics are sampled every 60 s; a saturated connector shows within this


async def read(connector: str, *, timeout_s: float, client_factory: Callable[[], Any]) -> dict[str, Any]:
    """`{"instances": 3, "cpu_utilization": 0.95}` for `projects/P/locations/R/connectors/N`.

    The latest point of each metric in the last 5 minutes (CPU is a distribution over the
    connector's instances: its mean); None when the metric has no point. Returns within `timeout_s`.
    `client_factory` builds a `MetricServiceClient` (the caller decides credentials and endpoint);
    the client is closed after the read.
    """
    from google.api_core import exceptions
    from google.auth.exceptions import GoogleAuthError

    try:
        async with asyncio.timeout(timeout_s):
            return await asyncio.to_thread(_read, connector, time.monotonic() + timeout_s, client_factory)
    except TimeoutError:
        return {"error": f"Cloud Monitoring did not answer within {timeout_s:g} s"}
    except exceptions.GoogleAPICallError as exc:
        return {"error": clip(f"Cloud Monitoring: {type(exc).__name__}: {exc.message}", 200)}
    except GoogleAuthError as exc:
        return {"error": clip(f"Cloud Monitoring: no usable credentials: {exc}", 200)}


def _read(connector: str, deadline: float, client_factory: Callable[[], Any]) -> dict[str, Any]:
    """Blocking: one ListTimeSeries per metric, each bounded by what is left of `deadline`."""
    from google.cloud import monitoring_v3

    _, project, _, location, _, name = connector.split("/")
    resource = (f'resource.type = "vpc_access_connector" AND resource.labels.project_id = "{project}" '
                f'AND resource.labels.location = "{location}" AND resource.labels.connector_name = "{name}"')
    now = time.time()
    interval = monitoring_v3.TimeInterval(end_time={"seconds": int(now) + 1},
                                          start_time={"seconds": int(now) - WINDOW_S})
    client = client_factory()
    try:
        found: dict[str, Any] = {}
        for key, metric_type in METRICS:
            # No client-side retry: the next run asks again, and the probe's deadline is short.
            pager = client.list_time_series(
                name=f"projects/{project}", filter=f'metric.type = "{metric_type}" AND {resource}',
                interval=interval, view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
                retry=None, timeout=max(0.1, deadline - time.monotonic()))
            found[key] = _latest([point for series in pager for point in series.points])
        return found
    finally:
        client.transport.close()


def _latest(points: list[Any]) -> float | int | None:
    """The newest point's value: an int or double, or a distribution's mean."""
    if not points:
        return None
    value = max(points, key=lambda p: p.interval.end_time.timestamp()).value
    kind = type(value).pb(value).WhichOneof("value")
    if kind == "distribution_value":
        return round(value.distribution_value.mean, 4)
    if kind in ("int64_value", "double_value"):
        return getattr(value, kind)
    return None
