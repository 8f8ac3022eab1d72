"""The Cloud Monitoring sink, with the real MetricServiceClient talking to a fake MetricService on loopback."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from fakes import metric_service as metric_service_fake
from fakes.metric_service import FakeMetricService

from monitor import timeseries
from monitor.metrics import METRICS
from monitor.sinks import cloud_monitoring
from monitor.sinks.cloud_monitoring import CloudMonitoringSink
from probes.result import ProbeResult, RunReport

T0 = float(int(time.time()) - 3600)  # an hour ago, whole seconds: inside the 25 h window
P = "custom.googleapis.com/synthmon/"


class Clock:
    """The fake service's wall clock: the tests' points are judged against it, not the real one."""

    def __init__(self) -> None:
        self.t = T0 + 3600

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeMetricService]:
    service = FakeMetricService(now=clock)
    yield service
    service.stop()


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cloud_monitoring, "BACKOFF_S", (0.01, 0.02, 0.05, 0.1, 0.2))


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def report(n_checks: int = 1, *, at: float = T0, names: tuple[str, ...] = (), ok: bool = False,
           latency_ms: float = 12.5, location: str = "us-central1", run_id: str = "run1") -> RunReport:
    """A run that finished `at` (epoch seconds): checks c0.. (even ones failing unless `ok`) or `names`."""
    results = []
    for i, name in enumerate(names or [f"c{i}" for i in range(n_checks)]):
        r = ProbeResult(name, "http", "http://x/", latency_ms=latency_ms, phases_ms={"connect": 1.0, "ttfb": 5.0})
        results.append(r.fail("unavailable", "HTTP 503") if i % 2 == 0 and not ok else r)
    return RunReport(run_id, iso(at - 1.25), iso(at), location, results, duration_ms=1250.0)


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
        assert [p.interval.end_time.isoformat(timespec="milliseconds") for p in ts.points] == \
            [dt.datetime.fromtimestamp(T0, dt.UTC).isoformat(timespec="milliseconds")]
    assert fake.rejected == []


def test_descriptors_created_once_per_process(fake: FakeMetricService) -> None:
    """Every registry metric gets a GAUGE descriptor on the first write only; later writes skip them."""
    s = sink(fake)
    s.write(report(), deadline=time.monotonic() + 10)
    s.write(report(at=T0 + 60), deadline=time.monotonic() + 10)
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
        fake.register(timeseries.descriptor(m, "proj"))
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
    s.write(report(at=T0 + 60), deadline=time.monotonic() + 10)
    # The first write's points made Cloud Monitoring infer their descriptors; the rest are created now.
    created = {r.metric_descriptor.type for r in fake.calls_to("CreateMetricDescriptor")}
    assert created == {m.type for m in METRICS} - {ts.metric.type for ts in fake.series()}
    assert {d.type for d in fake.descriptors.values()} == {m.type for m in METRICS}


def stored(fake: FakeMetricService, name: str) -> dict[tuple, list[tuple[float, float]]]:
    """metric labels → [(end time, value)] that the fake stored for one metric."""
    out = {}
    for labels, points in fake.values(P + name).items():
        out[labels] = [(round(t, 3), v.int64_value if v.WhichOneof("value") == "int64_value" else v.double_value)
                       for t, v in points]
    return out


C0_OK = (("check", "c0"), ("failure_class", "none"), ("type", "http"))
C0_FAIL = (("check", "c0"), ("failure_class", "unavailable"), ("type", "http"))
C0 = (("check", "c0"), ("type", "http"))


def test_probe_right_after_a_run_is_not_rejected_and_the_latest_value_follows(fake: FakeMetricService) -> None:
    """A /probe 2 s and 3 s after a run: nothing is rejected; the newest value of each series is held and
    written with the next write, 5 s after the run's point (latest wins), and the heartbeat keeps going."""
    s = sink(fake)
    assert s.write(report(at=T0, ok=True), deadline=time.monotonic() + 10)
    assert s.write(report(at=T0 + 2, ok=True, latency_ms=50.0, run_id="probe1"), deadline=time.monotonic() + 10)
    assert s.write(report(at=T0 + 3, ok=True, latency_ms=70.0, run_id="probe2"), deadline=time.monotonic() + 10)
    assert s.write(report(at=T0 + 60, names=("other",), ok=True, run_id="run2"), deadline=time.monotonic() + 10)
    assert fake.rejected == []
    assert stored(fake, "check/latency_ms")[C0] == [(round(T0, 3), 12.5), (round(T0 + 5, 3), 70.0)]
    assert stored(fake, "run/duration_ms")[()] == [(round(T0, 3), 1250.0), (round(T0 + 60, 3), 1250.0)]


def test_a_held_value_is_superseded_by_a_newer_measurement(fake: FakeMetricService) -> None:
    """A held point is not written when the next write carries a newer value of the same series."""
    s = sink(fake)
    s.write(report(at=T0, ok=True), deadline=time.monotonic() + 10)
    s.write(report(at=T0 + 1, ok=True, latency_ms=50.0), deadline=time.monotonic() + 10)
    s.write(report(at=T0 + 60, ok=True, latency_ms=90.0), deadline=time.monotonic() + 10)
    assert fake.rejected == []
    assert stored(fake, "check/latency_ms")[C0] == [(round(T0, 3), 12.5), (round(T0 + 60, 3), 90.0)]


def test_a_failing_probe_after_a_passing_run_is_written_at_once(fake: FakeMetricService) -> None:
    """A different failure_class is a different series: the failure is written immediately, not held."""
    s = sink(fake)
    s.write(report(at=T0, ok=True), deadline=time.monotonic() + 10)
    assert s.write(report(at=T0 + 1), deadline=time.monotonic() + 10)
    assert fake.rejected == []
    assert stored(fake, "check/success")[C0_FAIL] == [(round(T0 + 1, 3), 0)]


def test_a_report_older_than_what_was_written_is_dropped_not_rejected(fake: FakeMetricService) -> None:
    """A probe's report written after a later-finishing run's (a /probe during a /run): its series that
    the run already wrote newer are dropped (latest wins); its other series are written."""
    s = sink(fake)
    assert s.write(report(at=T0 + 30, names=("c0", "c1"), ok=True, run_id="run"), deadline=time.monotonic() + 10)
    assert s.write(report(at=T0 + 28, names=("c1", "c2"), ok=True, latency_ms=99.0, run_id="probe"),
                   deadline=time.monotonic() + 10)
    assert fake.rejected == []
    latency = stored(fake, "check/latency_ms")
    assert latency[(("check", "c1"), ("type", "http"))] == [(round(T0 + 30, 3), 12.5)]
    assert latency[(("check", "c2"), ("type", "http"))] == [(round(T0 + 28, 3), 99.0)]
    assert stored(fake, "run/duration_ms")[()] == [(round(T0 + 30, 3), 1250.0)]


def test_concurrent_writes_from_many_threads_are_never_rejected(fake: FakeMetricService) -> None:
    """Twelve threads write overlapping reports 0.5 s apart at once: no point rejected, every stored
    series strictly ordered and at least 5 s apart."""
    s = sink(fake)
    start = threading.Barrier(12)
    results: list[bool] = []

    def one(i: int) -> None:
        start.wait()
        results.append(s.write(report(3, at=T0 + i * 0.5, run_id=f"r{i}"), deadline=time.monotonic() + 20))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 12
    assert fake.rejected == []
    for key, points in fake.points.items():
        times = [t for t, _ in points]
        assert all(b - a >= 5 for a, b in zip(times, times[1:], strict=False)), (key, times)


def test_retry_after_an_ambiguous_unavailable_is_not_a_rejection(fake: FakeMetricService,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """Stored, but answered UNAVAILABLE: the retry's "points must be written in order" are the points
    already stored, so the write counts as success, logs no error, and every point is stored once."""
    fake.ambiguous(1)
    s = sink(fake)
    with caplog.at_level(logging.ERROR, logger="synthmon"):
        assert s.write(report(3), deadline=time.monotonic() + 10)
    calls = fake.calls_to("CreateTimeSeries")
    assert len(calls) == 2
    assert {reason for _, reason in fake.rejected} == {metric_service_fake.IN_ORDER}
    assert len(fake.rejected) == len(calls[1].time_series)
    assert all(len(points) == 1 for points in fake.points.values())
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_log_counts_only_the_series_really_rejected(fake: FakeMetricService,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """A descriptor that says INT64 for check/latency_ms: only those series are refused (and counted);
    the rest of the request is stored."""
    for m in METRICS:
        d = timeseries.descriptor(m, "proj")
        if m.name == "check/latency_ms":
            d.value_type = d.INT64
        fake.register(d)
    with caplog.at_level(logging.ERROR, logger="synthmon"):
        assert sink(fake).write(report(3), deadline=time.monotonic() + 10) is False
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    [req] = fake.calls_to("CreateTimeSeries")
    assert (record.rejected, len(req.time_series)) == (3, 13)  # type: ignore[attr-defined]
    assert set(stored(fake, "check/latency_ms")) == set()
    assert len(stored(fake, "check/phase_latency_ms")) == 6


def test_a_location_that_is_no_region_is_refused(fake: FakeMetricService) -> None:
    """The strict fake refuses generic_task series whose location is not a Google Cloud region."""
    assert sink(fake).write(report(location="test"), deadline=time.monotonic() + 10) is False
    assert fake.points == {}
    assert {r for _, r in fake.rejected} == {"Invalid location 'test': not a Google Cloud region or zone."}


def test_a_write_that_cannot_get_the_client_before_its_deadline_is_held(fake: FakeMetricService) -> None:
    """While one write retries UNAVAILABLE, another whose deadline comes first does not wait past it:
    its points are held (False) and the next write sends them."""
    s = sink(fake)
    fake.fail("CreateTimeSeries", *[grpc.StatusCode.UNAVAILABLE] * 1000)
    first = threading.Thread(target=s.write, args=(report(at=T0, names=("a",)),),
                             kwargs={"deadline": time.monotonic() + 1.5})
    first.start()
    while not fake.calls_to("CreateTimeSeries"):
        time.sleep(0.005)  # polling for the first call, not a wait for an outcome
    started = time.monotonic()
    assert s.write(report(at=T0 + 1, names=("b",), ok=True), deadline=started + 0.2) is False
    assert time.monotonic() - started < 1.0
    first.join()
    fake.heal()
    assert s.write(report(at=T0 + 60, names=("c",), ok=True), deadline=time.monotonic() + 10)
    assert fake.rejected == []
    assert [round(t - T0) for t, _ in stored(fake, "check/latency_ms")[(("check", "b"), ("type", "http"))]] == [1]
