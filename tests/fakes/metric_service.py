"""A fake `google.monitoring.v3.MetricService` that enforces Cloud Monitoring's documented write rules.

CreateTimeSeries answers as the API does (https://cloud.google.com/monitoring/quotas,
https://cloud.google.com/monitoring/api/ref_v3/rpc/google.monitoring.v3#createtimeseriesrequest):
at most 200 series per request (else the whole request is refused); per series exactly one point,
a series at most once per request, its point newer than the series' stored latest ("Points must be
written in order") and at least 5 s after it ("written more frequently than the maximum sampling
period"), GAUGE start time unset or equal to the end time, end time not older than 25 h nor more
than 5 min ahead, metric kind and value type those of the descriptor (created, pre-registered, or
auto-created from the first point), only declared metric labels, label keys of at most 100
characters matching `[a-zA-Z][a-zA-Z0-9_]*`, values of at most 1024 bytes, at most 30 labels, and a
`generic_task` resource with exactly its five labels, the request's project and a known region or
zone as `location`. A partly invalid request stores its valid series and answers INVALID_ARGUMENT
with a `CreateTimeSeriesSummary` in the status details (total, success, errors grouped by status).
`ambiguous(n)` makes the next n CreateTimeSeries store what they can and then answer UNAVAILABLE.
"""

from __future__ import annotations

import collections
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
from google.cloud.monitoring_v3.types import metric_service
from google.protobuf import empty_pb2

from fakes.grpc_fake import Abort, FakeService

MAX_SERIES = 200
MIN_SPACING_S = 5.0
MAX_AGE_S = 25 * 3600
MAX_AHEAD_S = 5 * 60
MAX_LABELS = 30  # user-defined metrics: labels per metric descriptor
MAX_KEY_CHARS, MAX_VALUE_BYTES = 100, 1024
LABEL_KEY = re.compile(r"[a-zA-Z][a-zA-Z0-9_]*\Z")
GENERIC_TASK_LABELS = frozenset({"project_id", "location", "namespace", "job", "task_id"})
IN_ORDER = ("Points must be written in order. One or more of the points specified had an older start "
            "time than the most recent point.")
TOO_FREQUENT = ("One or more points were written more frequently than the maximum sampling period "
                "configured for the metric.")
# Google Cloud regions (the fake's own list; zones are a region plus "-a" .. "-f").
REGIONS = frozenset("""
africa-south1 asia-east1 asia-east2 asia-northeast1 asia-northeast2 asia-northeast3 asia-south1
asia-south2 asia-southeast1 asia-southeast2 australia-southeast1 australia-southeast2
europe-central2 europe-north1 europe-north2 europe-southwest1 europe-west1 europe-west2 europe-west3
europe-west4 europe-west6 europe-west8 europe-west9 europe-west10 europe-west12 me-central1
me-central2 me-west1 northamerica-northeast1 northamerica-northeast2 northamerica-south1
southamerica-east1 southamerica-west1 us-central1 us-east1 us-east4 us-east5 us-south1 us-west1
us-west2 us-west3 us-west4
""".split())
KINDS = {1: "GAUGE", 2: "DELTA", 3: "CUMULATIVE"}
VALUE_FIELDS = {"bool_value": 1, "int64_value": 2, "double_value": 3, "string_value": 4,
                "distribution_value": 5}  # TypedValue field → MetricDescriptor.ValueType number

SeriesKey = tuple[str, tuple[tuple[str, str], ...], str, tuple[tuple[str, str], ...]]


class FakeMetricService(FakeService):
    def __init__(self, *, now: Callable[[], float] = time.time) -> None:
        self.now = now
        self.descriptors: dict[str, Any] = {}  # descriptor name → MetricDescriptor (pb)
        self.stored: dict[str, list[Any]] = {}  # metric type: the TimeSeries ListTimeSeries answers
        self.points: dict[SeriesKey, list[tuple[float, Any]]] = collections.defaultdict(list)
        self.rejected: list[tuple[int, str]] = []  # (index in its request, reason) of every rejection
        self._ambiguous = 0
        self._write = threading.Lock()
        super().__init__("google.monitoring.v3.MetricService", {
            "CreateTimeSeries": (metric_service.CreateTimeSeriesRequest, self._create_series),
            "GetMetricDescriptor": (metric_service.GetMetricDescriptorRequest, self._get),
            "CreateMetricDescriptor": (metric_service.CreateMetricDescriptorRequest, self._create),
            "ListTimeSeries": (metric_service.ListTimeSeriesRequest, self._list),
        })

    def ambiguous(self, count: int = 1) -> None:
        """The next `count` CreateTimeSeries store what is valid, then answer UNAVAILABLE."""
        with self._write:
            self._ambiguous += count

    def register(self, descriptor: Any) -> None:
        """Pre-register a `google.api.MetricDescriptor`, as if created earlier."""
        with self._write:
            self.descriptors[descriptor.name] = descriptor

    def _get(self, request: Any) -> Any:
        if request.name not in self.descriptors:
            raise Abort(grpc.StatusCode.NOT_FOUND)
        return self.descriptors[request.name]

    def _create(self, request: Any) -> Any:
        d = request.metric_descriptor
        self.register(d)
        return d

    def _list(self, request: Any) -> Any:
        """The stored series of the metric type named in the filter (the rest of it is not applied)."""
        found = [ts for t, series in self.stored.items() if f'metric.type = "{t}"' in request.filter
                 for ts in series]
        return metric_service.ListTimeSeriesResponse(time_series=found)

    def series(self) -> list[Any]:
        """Every TimeSeries received, in order (accepted or not)."""
        return [ts for req in self.calls_to("CreateTimeSeries") for ts in req.time_series]

    def values(self, metric_type: str) -> dict[tuple[tuple[str, str], ...], list[tuple[float, Any]]]:
        """The stored points of one metric: metric labels → [(end time, value)] in time order."""
        with self._write:
            return {k[1]: list(v) for k, v in self.points.items() if k[0] == metric_type}

    def _create_series(self, request: Any) -> Any:
        pb = metric_service.CreateTimeSeriesRequest.pb(request)
        if not re.fullmatch(r"projects/[^/]+", pb.name):
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid resource name: {pb.name!r}")
        if len(pb.time_series) > MAX_SERIES:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                        f"Field timeSeries had an invalid value: must contain at most {MAX_SERIES} elements")
        with self._write:
            errors = collections.Counter[str]()
            seen: set[SeriesKey] = set()
            for i, ts in enumerate(pb.time_series):
                key = _key(ts)
                reason = "Duplicate TimeSeries encountered. Only one point can be written per TimeSeries " \
                    "per request." if key in seen else self._invalid(pb.name.split("/")[1], ts, key)
                seen.add(key)
                if reason:
                    errors[reason] += 1
                    self.rejected.append((i, reason))
                else:
                    point = ts.points[0]
                    self.points[key].append((_seconds(point.interval.end_time), point.value))
            ambiguous, self._ambiguous = self._ambiguous > 0, max(0, self._ambiguous - 1)
        if ambiguous:
            raise Abort(grpc.StatusCode.UNAVAILABLE, "injected: stored, then the connection broke")
        if errors:
            summary = metric_service.CreateTimeSeriesSummary.pb()(
                total_point_count=len(pb.time_series),
                success_point_count=len(pb.time_series) - sum(errors.values()),
                errors=[{"status": {"code": grpc.StatusCode.INVALID_ARGUMENT.value[0], "message": reason},
                         "point_count": n} for reason, n in errors.items()])
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "One or more TimeSeries could not be written: "
                        + "; ".join(errors), [summary])
        return empty_pb2.Empty()

    def _invalid(self, project: str, ts: Any, key: SeriesKey) -> str | None:
        """Why Cloud Monitoring would refuse this series, or None."""
        if len(ts.points) != 1:
            return f"A TimeSeries must contain exactly one point, not {len(ts.points)}."
        if problem := _resource_problem(project, ts.resource):
            return problem
        for k, v in ts.metric.labels.items():
            if len(k) > MAX_KEY_CHARS or not LABEL_KEY.match(k):
                return f"Invalid label key {k!r}."
            if len(v.encode()) > MAX_VALUE_BYTES:
                return f"Label value of {k!r} is longer than {MAX_VALUE_BYTES} bytes."
        if len(ts.metric.labels) > MAX_LABELS:
            return f"More than {MAX_LABELS} labels."
        point = ts.points[0]
        kind_problem = self._kind_problem(project, ts, point)
        if kind_problem:
            return kind_problem
        end = _seconds(point.interval.end_time)
        if point.interval.HasField("start_time") and _seconds(point.interval.start_time) != end:
            return "The start time must be equal to the end time for the gauge metric."
        now = self.now()
        if end < now - MAX_AGE_S:
            return "The point's end time is older than 25 hours."
        if end > now + MAX_AHEAD_S:
            return "The point's end time is more than 5 minutes in the future."
        if previous := self.points.get(key):
            latest = previous[-1][0]
            if end <= latest:
                return IN_ORDER
            if end - latest < MIN_SPACING_S:
                return TOO_FREQUENT
        return None

    def _kind_problem(self, project: str, ts: Any, point: Any) -> str | None:
        """Metric kind, value type and labels against the descriptor; auto-creates one if missing."""
        value_field = point.value.WhichOneof("value")
        if value_field is None:
            return "The point has no value."
        name = f"projects/{project}/metricDescriptors/{ts.metric.type}"
        d = self.descriptors.get(name)
        if d is None:  # auto-created from the first point: GAUGE unless the series says CUMULATIVE
            from google.api import label_pb2, metric_pb2

            d = metric_pb2.MetricDescriptor(
                name=name, type=ts.metric.type, metric_kind=ts.metric_kind or 1,
                value_type=VALUE_FIELDS[value_field],
                labels=[label_pb2.LabelDescriptor(key=k) for k in ts.metric.labels])
            self.descriptors[name] = d
        if ts.metric_kind and ts.metric_kind != d.metric_kind:
            return f"The metric kind {KINDS.get(ts.metric_kind)} does not match the descriptor's " \
                f"{KINDS.get(d.metric_kind)}."
        if ts.value_type and ts.value_type != d.value_type:
            return "The value type of the series does not match the descriptor's."
        if VALUE_FIELDS[value_field] != d.value_type:
            return f"The point's value type {value_field} does not match the descriptor's."
        declared = {lbl.key for lbl in d.labels}
        if undeclared := set(ts.metric.labels) - declared:
            return f"Unrecognized metric labels: {sorted(undeclared)}."
        if KINDS.get(d.metric_kind) != "GAUGE" and not point.interval.HasField("start_time"):
            return "A non-gauge point needs a start time."
        return None


def _resource_problem(project: str, resource: Any) -> str | None:
    if resource.type != "generic_task":
        return f"The fake accepts only generic_task resources, not {resource.type!r}."
    labels = dict(resource.labels)
    if set(labels) != GENERIC_TASK_LABELS:
        return f"generic_task needs exactly the labels {sorted(GENERIC_TASK_LABELS)}, got {sorted(labels)}."
    if empty := sorted(k for k, v in labels.items() if not v):
        return f"Empty resource labels: {empty}."
    if labels["project_id"] != project:
        return f"Resource project_id {labels['project_id']!r} is not the request's project {project!r}."
    location = labels["location"]
    if location not in REGIONS and re.sub(r"-[a-f]\Z", "", location) not in REGIONS:
        return f"Invalid location {location!r}: not a Google Cloud region or zone."
    return None


def _key(ts: Any) -> SeriesKey:
    return (ts.metric.type, tuple(sorted(ts.metric.labels.items())), ts.resource.type,
            tuple(sorted(ts.resource.labels.items())))


def _seconds(ts: Any) -> float:
    return float(ts.seconds + ts.nanos / 1e9)
