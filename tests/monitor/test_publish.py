"""Publishing end to end: runs through Monitor against a loopback target, to Cloud Monitoring and Pub/Sub fakes/emulator."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fakes.metric_service import FakeMetricService
from fakes.pubsub_backend import PROJECT

from monitor.config import loads
from monitor.pipeline import Monitor
from monitor.publish import Publisher, build_publisher
from monitor.state import MemoryStore
from probes.result import ProbeResult, RunReport

P = "custom.googleapis.com/synthmon/"


class Target(http.server.ThreadingHTTPServer):
    """A health endpoint whose status code the test sets."""

    daemon_threads = True
    status = 503
    gate = threading.Event()  # /slow answers once it is set


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/slow":
            self.server.gate.wait(10)  # type: ignore[attr-defined]
        body = b'{"status": "down"}' if self.server.status >= 500 else b'{"status": "ok"}'  # type: ignore[attr-defined]
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def target() -> Iterator[Target]:
    server = Target(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.gate.set()
    server.shutdown()
    server.server_close()


class Clock:
    """Wall time for the monitor and the Cloud Monitoring fake alike; a test moves it a minute per run,
    as Cloud Scheduler does (Cloud Monitoring takes one point per series each 5 s at most)."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def metric_service(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> Iterator[FakeMetricService]:
    fake = FakeMetricService(now=clock)
    monkeypatch.setenv("MONITORING_EMULATOR_HOST", fake.host)
    yield fake
    fake.stop()


def expected_series(report: RunReport, firing: int) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    [r] = report.results
    cls = r.failure.cls if r.failure else "none"
    out = {(P + "check/success", (("check", "web"), ("failure_class", cls), ("type", "http")), int(r.ok)),
           (P + "check/latency_ms", (("check", "web"), ("type", "http")), r.latency_ms),
           (P + "run/duration_ms", (), report.duration_ms),
           (P + "alert/firing", (("check", "web"), ("scope", "global"), ("severity", "critical")), firing),
           (P + "alert/firing", (("check", "web"), ("scope", "regional"), ("severity", "warning")), 0)}
    out |= {(P + "check/phase_latency_ms", (("check", "web"), ("phase", p), ("type", "http")), ms)
            for p, ms in r.phases_ms.items()}
    return out


def received_series(request: Any) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    out = set()
    for ts in request.time_series:
        v = ts.points[0].value
        value = v.int64_value if v._pb.WhichOneof("value") == "int64_value" else v.double_value
        out.add((ts.metric.type, tuple(sorted(ts.metric.labels.items())), value))
    return out


def test_failing_target_fires_once_then_resolves(target: Target, metric_service: FakeMetricService,
                                                 pubsub_backend: Any, tmp_path: Any, clock: Clock) -> None:
    """503 twice fires one alert (not repeated on the third run), recovery resolves it; every run's series exact."""
    config = loads(f"""
location: us-central1
run_timeout_s: 10
sinks:
  metrics: [cloud_monitoring]
  alerts: [pubsub]
  project_id: {PROJECT}
  alert_topic: {pubsub_backend.topic}
  state: sqlite:///{tmp_path}/state.db
  job: synthmon-e2e
checks:
  - {{name: web, type: http, url: "http://127.0.0.1:{target.server_address[1]}/health", failure_threshold: 2,
      timeout_s: 5, severity: critical}}
""")
    monitor = Monitor(config, clock=clock)
    reports, alerts_seen = [], []
    for status, expect_total in ((503, 0), (503, 1), (503, 1), (200, 2)):
        target.status = status
        clock.t += 60
        reports.append(monitor.run())
        alerts_seen = pubsub_backend.received(expect=expect_total, timeout_s=3 if expect_total else 0.5)
        assert len(alerts_seen) == expect_total, (status, alerts_seen)
    assert [r.results[0].failure.cls if r.results[0].failure else None for r in reports] == \
        ["unavailable"] * 3 + [None]
    (fired, fired_attrs, key1), (resolved, resolved_attrs, key2) = alerts_seen
    assert fired_attrs == {"check": "web", "state": "firing", "severity": "critical", "transition": "firing"}
    assert resolved_attrs == {"check": "web", "state": "resolved", "severity": "critical", "transition": "resolved"}
    assert key1 == key2 == "web"
    assert {k: fired[k] for k in ("check", "failure_class", "consecutive_failures", "run_id", "location",
                                  "dedup_key", "message")} == {
        "check": "web", "failure_class": "unavailable", "consecutive_failures": 2, "run_id": reports[1].run_id,
        "location": "us-central1", "dedup_key": "web/unavailable", "message": reports[1].results[0].failure.message}
    assert (resolved["dedup_key"], resolved["run_id"]) == ("web/unavailable", reports[3].run_id)
    calls = metric_service.calls_to("CreateTimeSeries")
    assert len(calls) == 4
    assert metric_service.rejected == []
    for call, report, firing in zip(calls, reports, (0, 1, 1, 0), strict=True):
        assert received_series(call) == expected_series(report, firing)  # alert/firing: the decision itself
        assert {ts.points[0].interval.end_time.isoformat(timespec="milliseconds").replace("+00:00", "Z")
                for ts in call.time_series} == {report.finished_at}
    assert monitor.publisher.alert_states()["web"]["state"] == "ok"


def points(fake: FakeMetricService, name: str, t0: float) -> dict[tuple[tuple[str, str], ...], list[tuple[int, float]]]:
    """metric labels → [(whole seconds after t0, value)] stored for one metric."""
    out = {}
    for labels, pts in fake.values(P + name).items():
        out[labels] = [(round(t - t0), v.int64_value if v.WhichOneof("value") == "int64_value" else v.double_value)
                       for t, v in pts]
    return out


def two_checks_config(target: Target, tmp_path: Any) -> Any:
    port = target.server_address[1]
    return loads(f"""
location: us-central1
run_timeout_s: 20
sinks: {{metrics: [cloud_monitoring], alerts: [local], project_id: {PROJECT}, state: "memory://",
        alerts_file: "{tmp_path}/alerts.jsonl", job: synthmon-e2e}}
checks:
  - {{name: web, type: http, url: "http://127.0.0.1:{port}/health", timeout_s: 5, retries: 0}}
  - {{name: slow, type: http, url: "http://127.0.0.1:{port}/slow", timeout_s: 15, retries: 0}}
""")


def test_probe_right_after_a_run_gets_nothing_rejected(target: Target, metric_service: FakeMetricService,
                                                       tmp_path: Any, clock: Clock) -> None:
    """/probe 2 s after a scheduled run (same task_id): no point is rejected; the probe's failure is
    stored at once (its own series), its heartbeat is held and then superseded by the next run's."""
    target.status, target.gate = 200, threading.Event()
    target.gate.set()
    monitor = Monitor(two_checks_config(target, tmp_path), clock=clock)
    try:
        t0 = clock.t = clock.t + 60
        monitor.run(["web"])
        target.status = 503
        clock.t += 2
        probe = monitor.run(["web"])
        assert probe.results[0].failure is not None
        target.status = 200
        clock.t += 58
        monitor.run(["web"])
    finally:
        monitor.close()
    assert metric_service.rejected == []
    success = points(metric_service, "check/success", t0)
    assert success[(("check", "web"), ("failure_class", "unavailable"), ("type", "http"))] == [(2, 0)]
    assert success[(("check", "web"), ("failure_class", "none"), ("type", "http"))] == [(0, 1), (60, 1)]
    assert [t for t, _ in points(metric_service, "run/duration_ms", t0)[()]] == [0, 60]


def test_probe_during_a_run_gets_nothing_rejected(target: Target, metric_service: FakeMetricService,
                                                  tmp_path: Any, clock: Clock) -> None:
    """A /probe that finishes while a run still waits for a slow check: the run's heartbeat 2 s after
    the probe's is held, not rejected, and the next run's newer one wins."""
    target.status, target.gate = 200, threading.Event()
    monitor = Monitor(two_checks_config(target, tmp_path), clock=clock)
    try:
        t0 = clock.t = clock.t + 60
        run = threading.Thread(target=monitor.run, args=(["slow"],))
        run.start()
        clock.t += 1
        probe = monitor.run(["web"])
        assert [r.name for r in probe.results] == ["web"]
        clock.t += 2
        target.gate.set()
        run.join(timeout=20)
        assert not run.is_alive()
        clock.t += 60
        monitor.run(["web"])
    finally:
        monitor.close()
    assert metric_service.rejected == []
    times = [t for t, _ in points(metric_service, "run/duration_ms", t0)[()]]
    assert times == [1, 63]  # the run's own, held, lost to the newer one


CONFIG = """
location: test
sinks: {{state: "memory://", alerts_file: "{tmp}/alerts.jsonl", results_file: "{tmp}/results.jsonl"}}
checks:
  - {{name: api, type: http, url: "http://127.0.0.1:9/", failure_threshold: 1}}
  - {{name: slow, type: http, url: "http://127.0.0.1:9/", failure_threshold: 1, interval_s: 300}}
maintenance:
  - {{checks: [api], start: "2026-01-01T00:00:00Z", end: "2026-01-01T01:00:00Z"}}
"""


def report(*names: str, run_id: str = "r") -> RunReport:
    results = [ProbeResult(n, "http", "http://127.0.0.1:9/").fail("connect_refused", "refused") for n in names]
    return RunReport(run_id, "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "test", results)


def test_maintenance_silences_alerts_but_not_metrics(tmp_path: Any) -> None:
    """Inside a window the check's alert is held back while its results are still written."""
    config = loads(CONFIG.format(tmp=tmp_path))
    clock = [1767225600.0 + 60]  # 2026-01-01T00:01:00Z
    pub = build_publisher(config, clock=lambda: clock[0])
    pub.publish(report("api", "slow"), deadline=time.monotonic() + 5)
    assert sent(tmp_path) == [("slow", "firing")]
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 1
    clock[0] += 3600  # window over (and renotify_s passed for "slow")
    pub.publish(report("api", "slow"), deadline=time.monotonic() + 5)
    assert sent(tmp_path)[1:] == [("api", "firing"), ("slow", "renotify")]


def sent(tmp_path: Any) -> list[tuple[str, str]]:
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    return [(b["check"], b["transition"]) for b in map(json.loads, lines)]


class Flaky:
    name = "local"

    def __init__(self) -> None:
        self.up, self.sent = False, []

    def send(self, messages: Any, *, deadline: float) -> list[str]:
        if not self.up:
            return []
        self.sent += [m["body"] for m in messages]
        return [m["id"] for m in messages]


def test_pending_alert_of_a_check_not_in_the_run_is_sent(tmp_path: Any) -> None:
    """A message left by a failed send goes out with the next run even if its check did not run."""
    config = loads(CONFIG.format(tmp=tmp_path))
    sink = Flaky()
    pub = Publisher(config, MemoryStore(), alert_sinks=[sink], clock=lambda: 1767229200.0 + 7200)
    pub.publish(report("slow", run_id="r1"), deadline=time.monotonic() + 5)
    assert pub.alert_states()["slow"]["pending_messages"] == 1
    sink.up = True
    pub.publish(report("api", run_id="r2"), deadline=time.monotonic() + 5)
    assert sorted((b["check"], b["run_id"]) for b in sink.sent) == [("api", "r2"), ("slow", "r1")]
    assert pub.alert_states()["slow"]["pending_messages"] == 0


def test_publish_releases_the_runs_leases(tmp_path: Any) -> None:
    """Publishing a run's results frees their leases in the same store transaction as the alert step."""
    from monitor.state import LeaseRequest

    pub = build_publisher(loads(CONFIG.format(tmp=tmp_path)))
    req = LeaseRequest("r1", "test", 100.0, {"api": 200.0}, {"api": 60.0}, True)
    assert pub.lease(["api"], req) == {}
    assert pub.lease(["api"], LeaseRequest("r0", "test", 101.0, {"api": 200.0}, {"api": 60.0}, False)) == {"api": "in_progress"}
    pub.publish(report("api", run_id="r1"), deadline=time.monotonic() + 5)
    assert pub.lease(["api"], LeaseRequest("r2", "test", 102.0, {"api": 200.0}, {"api": 60.0}, False)) == {}


def test_one_outage_one_page_through_the_sqlite_store(tmp_path: Any) -> None:
    """The backend and its dependents fail in one run: one message (the backend's, naming them), and
    /status shows the dependents blocked by it; a later run of a dependent alone stays blocked."""
    config = loads(f"""
location: test
sinks: {{state: "sqlite:///{tmp_path}/state.db", alerts_file: "{tmp_path}/alerts.jsonl"}}
checks:
  - {{name: backend, type: http, url: "http://127.0.0.1:9/"}}
  - {{name: login, type: http, url: "http://127.0.0.1:9/login", depends_on: [backend]}}
  - {{name: chat, type: http, url: "http://127.0.0.1:9/chat", depends_on: [login]}}
""")
    pub = build_publisher(config)
    pub.publish(report("backend", "login", "chat", run_id="r1"), deadline=time.monotonic() + 5)
    pub.publish(report("chat", run_id="r2"), deadline=time.monotonic() + 5)
    bodies = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [(b["check"], b["transition"], b["affected"]) for b in bodies] == [
        ("backend", "firing", ["chat", "login"])]
    states = pub.alert_states()
    assert {n: (states[n]["state"], states[n]["blocked_by"]) for n in ("backend", "login", "chat")} == {
        "backend": ("firing", None), "login": ("blocked", "backend"), "chat": ("blocked", "login")}
    pub.close()
