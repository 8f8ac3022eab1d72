"""Results to metric samples and TimeSeries, without I/O: names, bounded labels, kinds, values."""

from __future__ import annotations

import datetime as dt

from google.api import metric_pb2

from monitor import timeseries
from monitor.config import loads
from probes.result import ProbeResult, RunReport

CONFIG = loads("""
checks:
  - {name: api, type: http, url: "https://api.example/health"}
  - name: chat
    type: websocket
    url: wss://api.example/ws
    events: {required: [agent_started, agent_completed]}
  - {name: db, type: postgres, host: db.internal, vpc_latency_threshold_ms: 100}
""")
CHECKS = {c.name: c for c in CONFIG.checks}


def report() -> RunReport:
    api = ProbeResult("api", "http", "https://api.example/health", latency_ms=41.7,
                      phases_ms={"dns": 1.5, "ttfb": 25.0}, details={"status": 503, "cert_days_left": 30.5})
    api.fail("unavailable", "HTTP 503")
    chat = ProbeResult("chat", "websocket", "wss://api.example/ws", latency_ms=900.0,
                       phases_ms={"connect": 10.0},
                       details={"events": [{"event": "agent_started", "at_ms": 50.0},
                                           {"event": "tool_executing", "at_ms": 60.0},  # not configured
                                           {"event": "agent_started", "at_ms": 70.0},  # repeat
                                           {"event": "agent_completed", "at_ms": 800.0}]})
    db = ProbeResult("db", "postgres", "postgres://db.internal:5432/", latency_ms=300.0,
                     phases_ms={"query": 120.0}, details={"vpc_rtt_ms": 150.0})
    return RunReport("run1", "2026-01-01T00:00:00Z", "2026-01-01T00:00:02.500Z", "us-central1",
                     [api, chat, db], duration_ms=2500.0)


def test_samples_are_exactly_the_registry_metrics_with_bounded_labels() -> None:
    got = {(s.metric.name, s.labels, s.value) for s in timeseries.samples(report(), CHECKS)}
    assert got == {
        ("check/success", (("check", "api"), ("failure_class", "unavailable"), ("type", "http")), 0),
        ("check/latency_ms", (("check", "api"), ("type", "http")), 41.7),
        ("check/phase_latency_ms", (("check", "api"), ("phase", "dns"), ("type", "http")), 1.5),
        ("check/phase_latency_ms", (("check", "api"), ("phase", "ttfb"), ("type", "http")), 25.0),
        ("tls/cert_days_left", (("check", "api"),), 30.5),
        ("check/success", (("check", "chat"), ("failure_class", "none"), ("type", "websocket")), 1),
        ("check/latency_ms", (("check", "chat"), ("type", "websocket")), 900.0),
        ("check/phase_latency_ms", (("check", "chat"), ("phase", "connect"), ("type", "websocket")), 10.0),
        ("websocket/event_latency_ms", (("check", "chat"), ("event", "agent_started")), 50.0),
        ("websocket/event_latency_ms", (("check", "chat"), ("event", "agent_completed")), 800.0),
        ("check/success", (("check", "db"), ("failure_class", "none"), ("type", "postgres")), 1),
        ("check/latency_ms", (("check", "db"), ("type", "postgres")), 300.0),
        ("check/phase_latency_ms", (("check", "db"), ("phase", "query"), ("type", "postgres")), 120.0),
        ("postgres/query_latency_ms", (("check", "db"),), 120.0),
        ("vpc/rtt_ms", (("check", "db"),), 150.0),
        ("vpc/over_threshold", (("check", "db"),), 1),
        ("run/duration_ms", (), 2500.0),
    }


def test_int64_metrics_hold_ints_and_double_metrics_floats() -> None:
    for s in timeseries.samples(report(), CHECKS):
        assert type(s.value) is (int if s.metric.value_type == "INT64" else float), s


def test_time_series_are_gauges_on_generic_task_at_the_run_end() -> None:
    resource = timeseries.resource_labels("proj", "us-central1", "synthmon", "task1")
    end = timeseries.parse_time("2026-01-01T00:00:02.500Z")
    found = timeseries.samples(report(), CHECKS)
    series = timeseries.time_series(found, resource, end)
    assert len(series) == len(found)
    first = series[0]
    assert first.metric.type == "custom.googleapis.com/synthmon/check/success"
    assert dict(first.resource.labels) == {"project_id": "proj", "location": "us-central1",
                                           "namespace": "synthmon", "job": "synthmon", "task_id": "task1"}
    assert first.resource.type == "generic_task"
    for ts, s in zip(series, found, strict=True):
        assert metric_pb2.MetricDescriptor.MetricKind.Name(ts.metric_kind) == "GAUGE"
        assert metric_pb2.MetricDescriptor.ValueType.Name(ts.value_type) == s.metric.value_type
        assert len(ts.points) == 1
        assert ts.points[0].interval.end_time == dt.datetime(2026, 1, 1, 0, 0, 2, 500000, tzinfo=dt.UTC)
        value = ts.points[0].value
        assert (value.int64_value if s.metric.value_type == "INT64" else value.double_value) == s.value


def test_batches_hold_at_most_200() -> None:
    assert [len(b) for b in timeseries.batches(list(range(450)))] == [200, 200, 50]


def test_unknown_events_are_capped_without_config() -> None:
    r = ProbeResult("chat", "websocket", "wss://x", details={
        "events": [{"event": f"e{i}", "at_ms": float(i)} for i in range(50)]})
    names = [s for s in timeseries.result_samples(r) if s.metric.name == "websocket/event_latency_ms"]
    assert len(names) == timeseries.MAX_EVENTS


def _at(seconds: float) -> dt.datetime:
    return dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)


def _written(points: list[timeseries.Point]) -> dict[str, tuple[float, float]]:
    return {s.metric.name: ((at - _at(0)).total_seconds(), s.value) for s, at in points}


def test_ledger_spaces_points_of_a_series_5_s_apart_latest_wins() -> None:
    """A point 2 s after the last is held (the newer of two held values wins) and goes out with the
    next write at last + 5 s; a point 5 s after goes at its own time."""
    ledger = timeseries.Ledger()
    first = timeseries._sample("run/duration_ms", 1.0)
    assert _written(ledger.take([first], _at(0))) == {"run/duration_ms": (0, 1.0)}
    assert ledger.take([timeseries._sample("run/duration_ms", 2.0)], _at(2)) == []
    assert ledger.take([timeseries._sample("run/duration_ms", 3.0)], _at(3)) == []
    other = timeseries._sample("vpc/rtt_ms", 9.0, check="db")
    assert _written(ledger.take([other], _at(30))) == {"run/duration_ms": (5, 3.0), "vpc/rtt_ms": (30, 9.0)}
    assert _written(ledger.take([timeseries._sample("run/duration_ms", 4.0)], _at(10))) == {
        "run/duration_ms": (10, 4.0)}
    assert ledger.held == {}


def test_ledger_drops_points_older_than_the_last_written() -> None:
    """A report that finished before the last written point of a series adds nothing to that series."""
    ledger = timeseries.Ledger()
    ledger.take([timeseries._sample("run/duration_ms", 1.0)], _at(30))
    assert ledger.take([timeseries._sample("run/duration_ms", 2.0)], _at(28)) == []
    assert ledger.take([timeseries._sample("run/duration_ms", 2.0)], _at(30)) == []
    assert ledger.held == {}


def test_ledger_hold_keeps_an_unwritten_report_for_the_next_write() -> None:
    """hold() (a write that could not be made) keeps the values; the next take() writes them."""
    ledger = timeseries.Ledger()
    ledger.hold([timeseries._sample("run/duration_ms", 7.0)], _at(0))
    assert _written(ledger.take([], _at(1))) == {"run/duration_ms": (0, 7.0)}


def test_alert_firing_is_one_int64_series_per_check_and_scope() -> None:
    """alert/firing carries the run's decision for every check given, INT64, labels check/severity/scope."""
    from monitor import alert_run, alerts

    states = {"api": alerts.CheckState("api", status="firing", scope="global")}
    firing = alert_run.firing_series(states, CONFIG.checks)
    found = [s for s in timeseries.samples(report(), CHECKS, firing) if s.metric.name == "alert/firing"]
    assert {(dict(s.labels)["check"], dict(s.labels)["scope"], dict(s.labels)["severity"], s.value)
            for s in found} == {
        ("api", "global", "critical", 1), ("api", "regional", "warning", 0),
        ("chat", "global", "critical", 0), ("chat", "regional", "warning", 0),
        ("db", "global", "critical", 0), ("db", "regional", "warning", 0)}
    assert all(isinstance(s.value, int) and s.metric.kind == "GAUGE" for s in found)
