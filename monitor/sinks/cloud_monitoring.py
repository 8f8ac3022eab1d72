"""Write each run's samples to Cloud Monitoring as custom GAUGE metrics on a `generic_task` resource.

Success is every series accepted. Descriptors are created once per process (existing ones are fine);
UNAVAILABLE and DEADLINE_EXCEEDED are retried with backoff inside the run deadline; any other error
is logged with how many series it really rejected (from the partial-failure summary) and the run
goes on. Writes are serialised per process and every point passes `timeseries.Ledger`, so no series
gets two points less than 5 s apart or out of order (a `/probe` right after or during a run). With MONITORING_EMULATOR_HOST set, the
client talks plaintext gRPC to that address, without credentials.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from monitor import timeseries
from monitor.metrics import METRICS
from probes.result import RunReport

log = logging.getLogger("synthmon.sinks.cloud_monitoring")
BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 4.0)
IN_ORDER = "Points must be written in order"  # Cloud Monitoring's message for a point not newer than the last


class CloudMonitoringSink:
    def __init__(self, project_id: str, job: str, *, emulator_host: str | None = None,
                 checks: Mapping[str, Any] | None = None, client: Any = None) -> None:
        self.project_id, self.job, self.checks = project_id, job, checks
        self.emulator_host = emulator_host
        # Unique per process: a restarted Cloud Run instance must not write into an earlier
        # instance's series (points must be newer than the series' last point).
        self.task_id = uuid.uuid4().hex[:16]
        self._client = client
        self._described = False
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self.ledger = timeseries.Ledger()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = make_client(self.emulator_host)
            return self._client

    def close(self) -> None:
        """Close the client's channel; a later write builds a new client."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.transport.close()

    def write(self, report: RunReport, *, deadline: float, firing: Sequence[tuple[str, str, str, int]] = ()) -> bool:
        """Write the report's series and alert/firing (`firing`); True when nothing was rejected or
        dropped (points held back for a later write, see `timeseries.Ledger`, are not a failure)."""
        from google.api_core import exceptions
        from google.auth.exceptions import GoogleAuthError

        found = timeseries.samples(report, self.checks, firing)
        end = timeseries.parse_time(report.finished_at)
        # One write at a time: two requests in flight could reach Cloud Monitoring out of order.
        if not self._writing.acquire(timeout=max(0.0, deadline - time.monotonic())):
            self.ledger.hold(found, end)
            log.warning("Cloud Monitoring: another write held the client until the run deadline; "
                        "%d series kept for the next write", len(found), extra={"run_id": report.run_id})
            return False
        try:
            return self._write(report, found, end, deadline, exceptions)
        except GoogleAuthError as exc:  # no credentials on this machine: nothing can be written
            log.error("Cloud Monitoring: no usable credentials: %s", exc, extra={"run_id": report.run_id})
            return False
        finally:
            self._writing.release()

    def _write(self, report: RunReport, found: Sequence[timeseries.Sample], end: Any, deadline: float,
               exceptions: Any) -> bool:
        if not self._described:
            self._describe(deadline, exceptions)
        resource = timeseries.resource_labels(self.project_id, report.location, self.job, self.task_id)
        ok = True
        for batch in timeseries.batches(self.ledger.take(found, end)):
            series = timeseries.time_series(batch, resource)
            ok = self._create(series, batch, report.run_id, deadline, exceptions) and ok
        return ok

    def _create(self, series: list[Any], batch: Sequence[timeseries.Point], run_id: str,
                deadline: float, exceptions: Any) -> bool:
        name = f"projects/{self.project_id}"
        attempts = 0

        def send(timeout: float) -> Any:
            nonlocal attempts
            attempts += 1
            return self.client.create_time_series(name=name, time_series=series, retry=None,
                                                  timeout=timeout)

        try:
            _with_retry(send, deadline, exceptions)
            return True
        except exceptions.GoogleAPICallError as exc:
            rejected = rejected_points(exc, len(batch), retried=attempts > 1)
            if rejected == 0:  # every refusal was of a point the ambiguous attempt had stored
                return True
            log.error("Cloud Monitoring rejected %d of %d series: %s %s", rejected, len(batch), exc.code,
                      exc.message, extra={"run_id": run_id, "rejected": rejected,
                                          "series": [_describe_sample(s) for s, _ in batch]})
        except exceptions.RetryError as exc:
            log.error("Cloud Monitoring unavailable until the run deadline; %d series dropped: %s",
                      len(batch), exc, extra={"run_id": run_id,
                                              "series": [_describe_sample(s) for s, _ in batch]})
        return False

    def _describe(self, deadline: float, exceptions: Any) -> None:
        """Create any missing metric descriptor; done once per process, retried next run on error."""
        try:
            for metric in METRICS:
                d = timeseries.descriptor(metric, self.project_id)
                try:
                    _with_retry(lambda t, d=d: self.client.get_metric_descriptor(
                        name=d.name, retry=None, timeout=t), deadline, exceptions)
                except exceptions.NotFound:
                    try:
                        _with_retry(lambda t, d=d: self.client.create_metric_descriptor(
                            name=f"projects/{self.project_id}", metric_descriptor=d, retry=None,
                            timeout=t), deadline, exceptions)
                    except exceptions.AlreadyExists:
                        pass  # another instance created it in between: same definition
            self._described = True
        except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
            # Writes still work: Cloud Monitoring infers a descriptor from the first point.
            log.warning("cannot create metric descriptors: %s", exc)


def _with_retry(call: Any, deadline: float, exceptions: Any) -> Any:
    """Call `call(timeout)`, retrying transient errors with backoff until `deadline` (monotonic)."""
    transient = (exceptions.ServiceUnavailable, exceptions.DeadlineExceeded)
    for attempt in range(len(BACKOFF_S) + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise exceptions.RetryError("run deadline reached", None)
        try:
            return call(min(remaining, 30.0))
        except transient as exc:
            pause = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
            if attempt == len(BACKOFF_S) or time.monotonic() + pause >= deadline:
                raise exceptions.RetryError(f"gave up after {attempt + 1} attempts", exc) from exc
            time.sleep(pause)
    raise AssertionError("unreachable")


def rejected_points(exc: Any, sent: int, *, retried: bool) -> int:
    """How many of `sent` points Cloud Monitoring refused, from the `CreateTimeSeriesSummary` in the
    error details (a partly invalid request stores its valid series); all of them without one. On a
    retry after an ambiguous error (UNAVAILABLE or DEADLINE_EXCEEDED, perhaps stored), "points must
    be written in order" means the earlier attempt stored that point: it is not counted."""
    from google.cloud.monitoring_v3.types import metric_service

    summary_pb = metric_service.CreateTimeSeriesSummary.pb()
    for detail in getattr(exc, "details", None) or ():
        if not (hasattr(detail, "Is") and detail.Is(summary_pb.DESCRIPTOR)):
            continue
        summary = summary_pb()
        detail.Unpack(summary)
        return sum(e.point_count for e in summary.errors
                   if not (retried and IN_ORDER in e.status.message))
    return sent


def _describe_sample(s: timeseries.Sample) -> dict[str, Any]:
    return {"metric": s.metric.type, "labels": dict(s.labels), "value": s.value}


def make_client(emulator_host: str | None) -> Any:
    """A MetricServiceClient; with `emulator_host`, plaintext gRPC to it and no credentials."""
    from google.cloud import monitoring_v3

    if not emulator_host:
        return monitoring_v3.MetricServiceClient()
    import grpc
    from google.cloud.monitoring_v3.services.metric_service.transports import MetricServiceGrpcTransport

    channel = grpc.insecure_channel(emulator_host)
    return monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(channel=channel))
