"""The Cloud Monitoring sink, with the real MetricServiceClient talking to a fake MetricService on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from fakes.metric_service import FakeMetricService

from monitor import timeseries
from monitor.metrics import METRICS
from monitor.sinks import cloud_monitoring
from monitor.sinks.cloud_monitoring import CloudMonitoringSink
from probes.result import ProbeResult, RunReport


@pytest.fixture
def fake() -> Iterator[FakeMetricService]:
    service = FakeMetricService()
    yield service
    service.stop()


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cloud_monitoring, "BACKOFF_S", (0.01, 0.02, 0.05, 0.1, 0.2))


def report(n_checks: int = 1) -> RunReport:
    results = []
    for i in range(n_checks):
        r = ProbeResult(f"c{i}", "http", "http://x/", latency_ms=12.5, phases_ms={"connect": 1.0, "ttfb": 5.0})
        results.append(r.fail("unavailable", "HTTP 503") if i % 2 == 0 else r)
    return RunReport("run1", "2026-01-01T00:00:00Z", "2026-01-01T00:00:01.250Z", "us-central1", results,
                     duration_ms=1250.0)


def sink(fake: FakeMetricService) -> CloudMonitoringSink:
    return CloudMonitoringSink("proj", "synthmon-job", emulator_host=fake.host)


def as_tuples(series: list) -> set[tuple]:
    out = set()
    for ts in series:
        value = ts.points[0].value
        out.add((ts.metric.type, tuple(sorted(ts.metric.labels.items())),
                 value.int64_value if value._pb.WhichOneof("value") == "int64_value" else value.double_value))
    return out


def test_writes_exactly_the_series_of_the_run(fake: FakeMetricService) -> None:
    """One CreateTimeSeries with every series of the run: generic_task resource, one point at the run end."""
    s = sink(fake)
    assert s.write(report(), deadline=time.monotonic() + 10)
    [req] = fake.calls_to("CreateTimeSeries")
    assert req.name == "projects/proj"
    P = "custom.googleapis.com/synthmon/"
    assert as_tuples(req.time_series) == {
        (P + "check/success", (("check", "c0"), ("failure_class", "unavailable"), ("type", "http")), 0),
        (P + "check/latency_ms", (("check", "c0"), ("type", "http")), 12.5),
        (P + "check/phase_latency_ms", (("check", "c0"), ("phase", "connect"), ("type", "http")), 1.0),
        (P + "check/phase_latency_ms", (("check", "c0"), ("phase", "ttfb"), ("type", "http")), 5.0),
        (P + "run/duration_ms", (), 1250.0),
    }
    for ts in req.time_series:
        assert ts.resource.type == "generic_task"
        assert dict(ts.resource.labels) == {"project_id": "proj", "location": "us-central1",
                                            "namespace": "synthmon", "job": "synthmon-job", "task_id": s.task_id}
        assert [p.interval.end_time.isoformat() for p in ts.points] == ["2026-01-01T00:00:01.250000+00:00"]


def test_descriptors_created_once_per_process(fake: FakeMetricService) -> None:
    """Every registry metric gets a GAUGE descriptor on the first write only; later writes skip them."""
    s = sink(fake)
    s.write(report(), deadline=time.monotonic() + 10)
    s.write(report(), deadline=time.monotonic() + 10)
    created = {d.type: d for d in (r.metric_descriptor for r in fake.calls_to("CreateMetricDescriptor"))}
    assert set(created) == {m.type for m in METRICS}
    assert len(fake.calls_to("CreateMetricDescriptor")) == len(METRICS)
    d = created["custom.googleapis.com/synthmon/check/success"]
    assert (d.metric_kind, d.value_type, d.unit) == (d.GAUGE, d.INT64, "1")
    assert [lbl.key for lbl in d.labels] == ["check", "type", "failure_class"]
    assert len(fake.calls_to("CreateTimeSeries")) == 2


def test_existing_descriptors_are_left_alone(fake: FakeMetricService) -> None:
    """Descriptors that already exist are not created again (idempotent across instances)."""
    for m in METRICS:
        d = timeseries.descriptor(m, "proj")
        fake.descriptors[d.name] = d
    assert sink(fake).write(report(), deadline=time.monotonic() + 10)
    assert fake.calls_to("CreateMetricDescriptor") == []


def test_at_most_200_series_per_call(fake: FakeMetricService) -> None:
    """A run with 500+ series is split into calls of at most 200, together holding every series once."""
    r = report(n_checks=130)
    assert sink(fake).write(r, deadline=time.monotonic() + 10)
    calls = fake.calls_to("CreateTimeSeries")
    assert [len(c.time_series) for c in calls] == [200, 200, 121]
    assert len(as_tuples(fake.series())) == 521 == len(timeseries.samples(r))


def test_unavailable_twice_then_ok_is_written(fake: FakeMetricService) -> None:
    """UNAVAILABLE is retried with backoff: two failures, then the third call succeeds."""
    fake.fail("CreateTimeSeries", grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE)
    assert sink(fake).write(report(), deadline=time.monotonic() + 10)
    calls = fake.calls_to("CreateTimeSeries")
    assert len(calls) == 3
    assert as_tuples(calls[0].time_series) == as_tuples(calls[2].time_series)


def test_deadline_exceeded_is_retried(fake: FakeMetricService) -> None:
    """DEADLINE_EXCEEDED counts as transient too."""
    fake.fail("CreateTimeSeries", grpc.StatusCode.DEADLINE_EXCEEDED)
    assert sink(fake).write(report(), deadline=time.monotonic() + 10)
    assert len(fake.calls_to("CreateTimeSeries")) == 2


def test_invalid_argument_is_not_retried_and_does_not_raise(fake: FakeMetricService) -> None:
    """A permanent error drops that batch (logged with its series) and returns False, once."""
    fake.fail("CreateTimeSeries", grpc.StatusCode.INVALID_ARGUMENT)
    assert sink(fake).write(report(), deadline=time.monotonic() + 10) is False
    assert len(fake.calls_to("CreateTimeSeries")) == 1


def test_permanent_error_in_one_batch_keeps_the_others(fake: FakeMetricService) -> None:
    """PERMISSION_DENIED on the first batch still lets the later batches through."""
    fake.fail("CreateTimeSeries", grpc.StatusCode.PERMISSION_DENIED)
    assert sink(fake).write(report(n_checks=130), deadline=time.monotonic() + 10) is False
    assert [len(c.time_series) for c in fake.calls_to("CreateTimeSeries")] == [200, 200, 121]


def test_unavailable_until_the_deadline_gives_up_in_time(fake: FakeMetricService) -> None:
    """A service that stays UNAVAILABLE costs no more than the run deadline."""
    fake.fail("CreateTimeSeries", *[grpc.StatusCode.UNAVAILABLE] * 100)
    started = time.monotonic()
    assert sink(fake).write(report(), deadline=started + 0.3) is False
    assert time.monotonic() - started < 1.0


def test_descriptor_errors_do_not_stop_writes(fake: FakeMetricService) -> None:
    """When descriptors cannot be read, points are still written and descriptors retried next run."""
    fake.fail("GetMetricDescriptor", grpc.StatusCode.PERMISSION_DENIED)
    s = sink(fake)
    assert s.write(report(), deadline=time.monotonic() + 10)
    assert fake.calls_to("CreateMetricDescriptor") == []
    s.write(report(), deadline=time.monotonic() + 10)
    assert len(fake.calls_to("CreateMetricDescriptor")) == len(METRICS)
