"""A fake `google.monitoring.v3.MetricService`: descriptors, CreateTimeSeries and ListTimeSeries, in memory."""

from __future__ import annotations

from typing import Any

import grpc
from google.cloud.monitoring_v3.types import metric_service
from google.protobuf import empty_pb2

from fakes.grpc_fake import Abort, FakeService


class FakeMetricService(FakeService):
    def __init__(self) -> None:
        self.descriptors: dict[str, Any] = {}
        self.stored: dict[str, list[Any]] = {}  # metric type: the TimeSeries ListTimeSeries answers
        super().__init__("google.monitoring.v3.MetricService", {
            "CreateTimeSeries": (metric_service.CreateTimeSeriesRequest, lambda r: empty_pb2.Empty()),
            "GetMetricDescriptor": (metric_service.GetMetricDescriptorRequest, self._get),
            "CreateMetricDescriptor": (metric_service.CreateMetricDescriptorRequest, self._create),
            "ListTimeSeries": (metric_service.ListTimeSeriesRequest, self._list),
        })

    def _get(self, request: Any) -> Any:
        if request.name not in self.descriptors:
            raise Abort(grpc.StatusCode.NOT_FOUND)
        return self.descriptors[request.name]

    def _create(self, request: Any) -> Any:
        d = request.metric_descriptor
        self.descriptors[f"{request.name}/metricDescriptors/{d.type}"] = d
        return d

    def _list(self, request: Any) -> Any:
        """The stored series of the metric type named in the filter (the rest of it is not applied)."""
        found = [ts for t, series in self.stored.items() if f'metric.type = "{t}"' in request.filter
                 for ts in series]
        return metric_service.ListTimeSeriesResponse(time_series=found)

    def series(self) -> list[Any]:
        """Every TimeSeries received, in order."""
        return [ts for req in self.calls_to("CreateTimeSeries") for ts in req.time_series]
