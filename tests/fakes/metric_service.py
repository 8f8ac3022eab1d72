"""A fake `google.monitoring.v3.MetricService`: descriptors and CreateTimeSeries, recorded in memory."""

from __future__ import annotations

from typing import Any

import grpc
from google.cloud.monitoring_v3.types import metric_service
from google.protobuf import empty_pb2

from fakes.grpc_fake import Abort, FakeService


class FakeMetricService(FakeService):
    def __init__(self) -> None:
        self.descriptors: dict[str, Any] = {}
        super().__init__("google.monitoring.v3.MetricService", {
            "CreateTimeSeries": (metric_service.CreateTimeSeriesRequest, lambda r: empty_pb2.Empty()),
            "GetMetricDescriptor": (metric_service.GetMetricDescriptorRequest, self._get),
            "CreateMetricDescriptor": (metric_service.CreateMetricDescriptorRequest, self._create),
        })

    def _get(self, request: Any) -> Any:
        if request.name not in self.descriptors:
            raise Abort(grpc.StatusCode.NOT_FOUND)
        return self.descriptors[request.name]

    def _create(self, request: Any) -> Any:
        d = request.metric_descriptor
        self.descriptors[f"{request.name}/metricDescriptors/{d.type}"] = d
        return d

    def series(self) -> list[Any]:
        """Every TimeSeries received, in order."""
        return [ts for req in self.calls_to("CreateTimeSeries") for ts in req.time_series]
