"""The strict MetricService fake refuses what Cloud Monitoring refuses, through the real client library."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.types import metric_service

from fakes import metric_service as fake_module
from fakes.metric_service import FakeMetricService
from monitor import timeseries
from monitor.metrics import BY_NAME
from monitor.sinks.cloud_monitoring import make_client

NOW = 1_800_000_000.0
RESOURCE = {"project_id": "proj", "location": "us-central1", "namespace": "synthmon", "job": "j", "task_id": "t"}
LATENCY = "custom.googleapis.com/synthmon/check/latency_ms"


@pytest.fixture
def fake() -> Iterator[FakeMetricService]:
    service = FakeMetricService(now=lambda: NOW)
    yield service
    service.stop()


@pytest.fixture
def client(fake: FakeMetricService) -> Iterator[Any]:
    c = make_client(fake.host)
    yield c
    c.transport.close()


def series(end: float = NOW, *, metric: str = LATENCY, labels: dict[str, str] | None = None,
           resource: dict[str, str] | None = None, value: dict[str, Any] | None = None,
           start: float | None = None, points: int = 1, kind: str = "GAUGE") -> monitoring_v3.TimeSeries:
    interval: dict[str, Any] = {"end_time": {"seconds": int(end), "nanos": int(end % 1 * 1e9)}}
    if start is not None:
        interval["start_time"] = {"seconds": int(start), "nanos": int(start % 1 * 1e9)}
    return monitoring_v3.TimeSeries(
        metric={"type": metric, "labels": {"check": "web", "type": "http"} if labels is None else labels},
        resource={"type": "generic_task", "labels": RESOURCE if resource is None else resource},
        metric_kind=kind, points=[{"interval": interval, "value": value or {"double_value": 1.0}}] * points)


def write(client: Any, *ts: monitoring_v3.TimeSeries) -> None:
    client.create_time_series(name="projects/proj", time_series=list(ts), retry=None, timeout=5)


def summary(exc: exceptions.GoogleAPICallError) -> Any:
    [detail] = exc.details
    out = metric_service.CreateTimeSeriesSummary.pb()()
    assert detail.Unpack(out)
    return out


def refused(client: Any, *ts: monitoring_v3.TimeSeries) -> set[str]:
    """The reasons of a refused write (InvalidArgument with a partial-failure summary)."""
    with pytest.raises(exceptions.InvalidArgument) as info:
        write(client, *ts)
    return {e.status.message for e in summary(info.value).errors}


def test_a_valid_series_is_stored(client: Any, fake: FakeMetricService) -> None:
    """One GAUGE point on a complete generic_task is accepted and stored."""
    write(client, series())
    [(labels, points)] = fake.values(LATENCY).items()
    assert (labels, [(t, v.double_value) for t, v in points]) == ((("check", "web"), ("type", "http")), [(NOW, 1.0)])


def test_more_than_200_series_refuse_the_whole_request(client: Any, fake: FakeMetricService) -> None:
    """201 distinct series: INVALID_ARGUMENT and nothing stored; 200 are fine."""
    many = [series(labels={"check": f"c{i}", "type": "http"}) for i in range(201)]
    with pytest.raises(exceptions.InvalidArgument):
        write(client, *many)
    assert fake.values(LATENCY) == {}
    write(client, *many[:200])
    assert len(fake.values(LATENCY)) == 200


def test_points_in_order_and_5_s_apart(client: Any) -> None:
    """The same time again, an older time, or 4.9 s later are refused; 5 s later is accepted."""
    write(client, series(NOW - 60))
    assert refused(client, series(NOW - 60)) == {fake_module.IN_ORDER}
    assert refused(client, series(NOW - 61)) == {fake_module.IN_ORDER}
    assert refused(client, series(NOW - 55.1)) == {fake_module.TOO_FREQUENT}
    write(client, series(NOW - 55))


def test_one_point_per_series_and_a_series_once_per_request(client: Any) -> None:
    """Two points in one series, or one series twice in a request, are refused."""
    assert refused(client, series(points=2)) == {"A TimeSeries must contain exactly one point, not 2."}
    reasons = refused(client, series(NOW - 10), series(NOW))
    assert reasons == {"Duplicate TimeSeries encountered. Only one point can be written per TimeSeries per request."}


def test_partial_failure_stores_the_valid_series_and_summarises(client: Any, fake: FakeMetricService) -> None:
    """Two bad series among three: the good one is stored; the summary counts 3 total, 1 success, errors by reason."""
    with pytest.raises(exceptions.InvalidArgument) as info:
        write(client, series(labels={"check": "a", "type": "http"}),
              series(labels={"check": "b", "type": "http"}, start=NOW - 1),
              series(labels={"check": "c", "type": "http"}, start=NOW - 2))
    s = summary(info.value)
    assert (s.total_point_count, s.success_point_count) == (3, 1)
    assert [(e.status.code, e.point_count) for e in s.errors] == [(3, 2)]
    assert list(fake.values(LATENCY)) == [(("check", "a"), ("type", "http"))]


@pytest.mark.parametrize(("end", "ok"), [(NOW - 25 * 3600 - 1, False), (NOW - 25 * 3600 + 1, True),
                                         (NOW + 301, False), (NOW + 299, True)])
def test_end_time_within_25_h_back_and_5_min_ahead(client: Any, end: float, ok: bool) -> None:
    """End times older than 25 h or more than 5 min in the future are refused."""
    if ok:
        write(client, series(end))
    else:
        assert len(refused(client, series(end))) == 1


def test_gauge_start_time_unset_or_equal(client: Any) -> None:
    """A GAUGE start time equal to the end time is fine; another is refused."""
    write(client, series(NOW - 10, start=NOW - 10))
    assert refused(client, series(NOW, start=NOW - 1)) == {
        "The start time must be equal to the end time for the gauge metric."}


def test_kind_value_type_and_labels_follow_the_descriptor(client: Any, fake: FakeMetricService) -> None:
    """Against a registered DOUBLE GAUGE descriptor with labels check, type: CUMULATIVE, an INT64
    value and an undeclared label are each refused."""
    fake.register(timeseries.descriptor(BY_NAME["check/latency_ms"], "proj"))
    assert refused(client, series(kind="CUMULATIVE", start=NOW - 60)) == {
        "The metric kind CUMULATIVE does not match the descriptor's GAUGE."}
    assert refused(client, series(value={"int64_value": 1})) == {
        "The point's value type int64_value does not match the descriptor's."}
    assert refused(client, series(labels={"check": "web", "type": "http", "url": "x"})) == {
        "Unrecognized metric labels: ['url']."}


def test_an_inferred_descriptor_binds_later_points(client: Any) -> None:
    """Without a descriptor the first point defines one; a later point of another value type is refused."""
    metric = "custom.googleapis.com/other/x"
    write(client, series(NOW - 10, metric=metric, labels={}, value={"int64_value": 1}))
    assert len(refused(client, series(metric=metric, labels={}, value={"double_value": 1.0}))) == 1


@pytest.mark.parametrize("resource", [
    {k: v for k, v in RESOURCE.items() if k != "task_id"},
    {**RESOURCE, "location": "test"},
    {**RESOURCE, "location": "mars-north1"},
    {**RESOURCE, "project_id": "other"},
    {**RESOURCE, "job": ""},
])
def test_generic_task_needs_its_five_labels_and_a_region(client: Any, resource: dict[str, str]) -> None:
    """A missing or empty label, another project, or a location that is not a region or zone is refused."""
    assert len(refused(client, series(resource=resource))) == 1


def test_a_zone_is_a_valid_location(client: Any) -> None:
    """A zone (region plus -a..-f) is a valid generic_task location."""
    write(client, series(resource={**RESOURCE, "location": "europe-west1-b"}))


@pytest.mark.parametrize("labels", [{"k" * 101: "v"}, {"9key": "v"}, {"check": "é" * 513},
                                    {f"l{i}": "v" for i in range(31)}])
def test_label_key_and_value_limits(client: Any, labels: dict[str, str]) -> None:
    """Keys over 100 characters or not [a-zA-Z][a-zA-Z0-9_]*, values over 1024 bytes, over 30 labels."""
    metric = "custom.googleapis.com/other/limits"
    assert len(refused(client, series(metric=metric, labels=labels))) == 1


def test_limits_at_the_boundary_are_accepted(client: Any) -> None:
    """A 100-character key, a 1024-byte value and 30 labels are accepted."""
    write(client, series(metric="custom.googleapis.com/other/edge",
                         labels={"k" * 100: "é" * 512, **{f"l{i}": "v" for i in range(29)}}))


def test_ambiguous_failure_stores_then_answers_unavailable(client: Any, fake: FakeMetricService) -> None:
    """ambiguous(): the point is stored, the client sees UNAVAILABLE; sending it again is out of order."""
    fake.ambiguous()
    with pytest.raises(exceptions.ServiceUnavailable):
        write(client, series())
    assert len(fake.values(LATENCY)) == 1
    assert refused(client, series()) == {fake_module.IN_ORDER}
