"""Monitor-side fault catalogue: Google APIs down, state store down, overlapping runs, SIGTERM mid-run.

Each test asserts what the run reported and published, and that it ended within its deadline.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from outage import DownMetricService, DownPublisher, closed_port, json_log
from service_target import Process, free_port, serving, wait_http, write_config

from monitor import config as config_mod
from monitor import state
from monitor.app import create_app
from monitor.config import loads
from monitor.pipeline import Monitor
from monitor.publish import build_publisher
from monitor.sinks.pubsub import PubSubSink
from monitor.state import LeaseRequest
from probes.result import ProbeResult, RunReport

MARGIN_S = 1.0  # thread joins and the last store transaction after the deadline


class Clock:
    """Epoch seconds that move only when told: schedules and renotify without waiting."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def alerts_sent(tmp: Path) -> list[dict[str, Any]]:
    path = tmp / "alerts.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def wait_until(pred: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)  # polling interval, not a wait for an outcome
    return True


def pubsub_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "Thread-CommitBatchPublisher"]


GOOGLE = """
location: us-central1
run_timeout_s: 3
defaults: {{retries: 0}}
sinks: {{metrics: [cloud_monitoring], alerts: [pubsub], project_id: synthmon-test, alert_topic: alerts,
         state: "sqlite:///{tmp}/state.db"}}
checks:
  - {{name: web, type: http, url: "http://127.0.0.1:{port}/", failure_threshold: 1, timeout_s: 1}}
"""


@pytest.mark.parametrize("outage", ["closed_port", "unavailable"])
def test_google_apis_down_for_a_run_lose_nothing(outage: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Cloud Monitoring and Pub/Sub down a whole run: /run is 200 in time, logged, alert kept; the next run sends it."""
    metrics, pubsub = DownMetricService(), DownPublisher()
    metrics.down = pubsub.down = True
    down_host = f"127.0.0.1:{closed_port()}"
    monkeypatch.setenv("MONITORING_EMULATOR_HOST", down_host if outage == "closed_port" else metrics.host)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", down_host if outage == "closed_port" else pubsub.host)
    cfg, clock = loads(GOOGLE.format(tmp=tmp_path, port=closed_port())), Clock()
    monitor = Monitor(cfg, clock=clock)
    try:
        with json_log() as log:
            started = time.monotonic()
            resp = create_app(cfg, monitor=monitor).test_client().post("/run")
            elapsed = time.monotonic() - started
        assert elapsed < cfg.run_timeout_s + MARGIN_S
        assert resp.status_code == 200
        report = resp.json
        assert [(r["name"], r["failure"]["class"]) for r in report["results"]] == [("web", "connect_refused")]
        [line] = log.entries("synthmon.run")
        assert (line["run_id"], line["report"]) == (report["run_id"], report)
        web = monitor.publisher.alert_states()["web"]
        assert (web["state"], web["pending_messages"]) == ("firing", 1)
        assert pubsub.received() == [] and metrics.series() == []
        assert wait_until(lambda: not pubsub_threads())  # run 1's publish is over, not racing run 2
        if outage == "closed_port":  # endpoints back, as a new instance sees them
            monitor.close()
            monkeypatch.setenv("MONITORING_EMULATOR_HOST", metrics.host)
            monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub.host)
            monitor = Monitor(cfg, clock=clock)
        metrics.down = pubsub.down = False
        clock.now += 60
        second = monitor.run(scheduled=True)
        assert [r.name for r in second.results] == ["web"]
        assert [(b["state"], b["run_id"], a["check"]) for b, a, _ in pubsub.received()] == \
            [("firing", report["run_id"], "web")]
        assert monitor.publisher.alert_states()["web"]["pending_messages"] == 0
        assert any(ts.metric.type.endswith("run/duration_ms") for ts in metrics.series())
    finally:
        monitor.close()
        metrics.stop()
        pubsub.stop()
    assert wait_until(lambda: not pubsub_threads())


STORE = """
location: test
run_timeout_s: {timeout}
defaults: {{retries: 0}}
sinks: {{metrics: [local], alerts: [local], state: "{state}", project_id: synthmon-test,
         alerts_file: "{tmp}/alerts.jsonl", results_file: "{tmp}/results.jsonl"}}
checks:
  - {{name: web, type: http, url: "http://127.0.0.1:{port}/", failure_threshold: 2, timeout_s: 1}}
"""


@contextlib.contextmanager
def unreachable(directory: Path) -> Iterator[None]:
    """The store's directory replaced by a plain file: opening the database fails (even as root)."""
    away = directory.with_name(directory.name + "-away")
    directory.rename(away)
    directory.write_text("not a directory")
    try:
        yield
    finally:
        directory.unlink()
        away.rename(directory)


def test_sqlite_store_down_defers_alert_decisions(tmp_path: Path) -> None:
    """SQLite unreachable: every check runs and is reported, no alert is guessed; back, the next failure fires once."""
    cfg = loads(STORE.format(timeout=5, state=f"sqlite:///{tmp_path}/state/state.db", tmp=tmp_path,
                             port=closed_port()))
    clock = Clock()
    monitor = Monitor(cfg, clock=clock)
    try:
        monitor.run(scheduled=True)  # failure 1 of 2, recorded
        with unreachable(tmp_path / "state"), json_log() as log:
            started = time.monotonic()
            second = monitor.run(scheduled=True)  # not due, were the schedule readable
            elapsed = time.monotonic() - started
        assert elapsed < cfg.run_timeout_s + MARGIN_S
        assert ([r.name for r in second.results], second.skipped) == (["web"], [])
        assert alerts_sent(tmp_path) == []  # failure 2 of 2, but the count behind it is unknown
        errors = [e for e in log.entries("synthmon.publish") if e["severity"] == "ERROR"]
        assert second.run_id in {e.get("run_id") for e in errors}
        clock.now += 60
        third = monitor.run(scheduled=True)
        assert [(a["state"], a["run_id"], a["consecutive_failures"]) for a in alerts_sent(tmp_path)] == \
            [("firing", third.run_id, 2)]
    finally:
        monitor.close()


def test_firestore_refusing_costs_one_bounded_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Firestore that refuses connections: the run reports every check well within its deadline, sends nothing."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{closed_port()}")
    cfg = loads(STORE.format(timeout=8, state="firestore://(default)/state", tmp=tmp_path, port=closed_port()))
    monitor = Monitor(cfg, clock=Clock())
    try:
        started = time.monotonic()
        report = monitor.run(scheduled=True)
        elapsed = time.monotonic() - started
    finally:
        monitor.close()
    assert elapsed < cfg.run_timeout_s  # one bounded store wait (STORE_TIMEOUT_S) plus building the client
    assert ([r.name for r in report.results], report.skipped) == (["web"], [])
    assert alerts_sent(tmp_path) == []


def test_two_runs_at_once_run_each_check_once(tmp_path: Path) -> None:
    """Two POST /run at once: each check runs once, the second lists them `in_progress`, one alert."""
    with serving() as target:
        app = create_app(config_mod.load(write_config(tmp_path, target)))
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            held = pool.submit(lambda: app.test_client().post("/run"))
            assert target.entered.wait(10)
            second = app.test_client().post("/run")
            target.release.set()
            first = held.result(30)
        app.extensions["synthmon"].monitor.close()
        hits = dict(target.hits)
    assert (first.status_code, second.status_code) == (200, 200)
    assert sorted(r["name"] for r in first.json["results"]) == ["down", "held", "web"]
    # The held check is leased by the first run; the others are leased or, once the first run has
    # published them early, not due: none is started again meanwhile.
    skipped = {s["name"]: s["reason"] for s in second.json["skipped"]}
    assert second.json["results"] == [] and skipped["held"] == "in_progress"
    assert set(skipped) == {"web", "down", "held"} and set(skipped.values()) <= {"in_progress", "not_due"}
    assert hits == {"/ok": 1, "/down": 1, "/hold": 1}
    assert [(a["check"], a["state"]) for a in alerts_sent(tmp_path / "state")] == [("down", "firing")]


@pytest.fixture(params=["sqlite", "firestore"])
def shared_state(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/shared.db"
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", request.getfixturevalue("firestore_emulator"))
    return f"firestore://(default)/claims-{os.getpid()}-{time.monotonic_ns()}"


def test_two_instances_claim_each_check_once(tmp_path: Path, shared_state: str) -> None:
    """Two instances on one state store start a scheduled run at the same instant: each check runs in one of them."""
    with serving() as target:
        text = write_config(tmp_path, target, hold=False).read_text()
        text = text.replace(f"sqlite:///{tmp_path}/state/state.db", shared_state) + \
            "".join(f"  - {{name: extra{i}, type: http, url: {target.url}/ok}}\n" for i in range(8))
        cfg = loads(text.replace("sinks:\n", "sinks:\n  project_id: synthmon-test\n"))
        monitors = [Monitor(cfg) for _ in range(2)]
        barrier = threading.Barrier(2)

        def run(m: Monitor) -> RunReport:
            barrier.wait()
            return m.run(scheduled=True)

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            reports = list(pool.map(run, monitors))
        for m in monitors:
            m.close()
        total = target.total
    ran = [[r.name for r in rep.results] for rep in reports]
    assert sorted(ran[0] + ran[1]) == sorted(cfg.check_names)
    assert total == len(cfg.check_names)
    # Leased by the other instance (in_progress), or already run and released there (not_due).
    assert {s["reason"] for rep in reports for s in rep.skipped} <= {"in_progress", "not_due"}


def test_sigterm_mid_run_exits_within_cloud_run_grace(tmp_path: Path) -> None:
    """The container's gunicorn command, SIGTERM during a held /run: exit within 10 s, abandoned checks logged as JSON."""
    with serving() as target:
        port = free_port()
        env = {**os.environ, "SYNTHMON_CONFIG": str(write_config(tmp_path, target)), "PORT": str(port),
               "SYNTHMON_BIND_HOST": "127.0.0.1"}
        env.pop("SYNTHMON_GRACEFUL_S", None)
        proc = Process([sys.executable, "-m", "gunicorn", "--config", "python:monitor.gunicorn_conf",
                        "monitor.app:from_env()"], cwd=tmp_path, env=env)
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                pool.submit(_post, f"http://127.0.0.1:{port}/run")
                assert target.entered.wait(10)
                started = time.monotonic()
                proc.proc.terminate()
                proc.proc.wait(10)
                elapsed = time.monotonic() - started
                target.release.set()
        finally:
            target.release.set()
            proc.stop()
    assert elapsed < 10
    [entry] = [e for e in proc.json_lines() if "abandoned" in e]
    assert entry["severity"] == "ERROR"
    assert [(a["trigger"], "held" in a["checks"]) for a in entry["abandoned"]] == [("POST /run", True)]


def _post(url: str) -> None:
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=30).close()
    except urllib.error.HTTPError as exc:
        exc.close()  # an unclosed error response leaks its socket
    except OSError:
        pass


def test_sqlite_run_costs_three_transactions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """200 checks: one SQLite commit of the state store to lease, one to advance every alert state,
    one to settle; all 200 fire. (The history, a file of its own, commits once more.)"""
    names = [f"c{i}" for i in range(200)]
    cfg = loads(STORE.format(timeout=5, state=f"sqlite:///{tmp_path}/s.db", tmp=tmp_path, port=9).replace(
        "failure_threshold: 2", "failure_threshold: 1") + "".join(
        f"  - {{name: {n}, type: http, url: 'http://127.0.0.1:9/', failure_threshold: 1, timeout_s: 1}}\n" for n in names))
    publisher = build_publisher(cfg, clock=Clock())
    statements: list[str] = []
    connect = state.sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> Any:
        db = connect(*args, **kwargs)
        if str(args[0]).endswith("/s.db"):  # the state store, not the history beside it
            db.set_trace_callback(statements.append)
        return db

    monkeypatch.setattr(state.sqlite3, "connect", traced)
    assert publisher.lease(names, LeaseRequest("r1", "test", 1.0, dict.fromkeys(names, 30.0), dict.fromkeys(names, 60.0),
                                               True)) == {}
    results = [ProbeResult(n, "http", "http://127.0.0.1:9/").fail("connect_refused", "refused") for n in names]
    publisher.publish(RunReport("r1", "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "test", results),
                      deadline=time.monotonic() + 10)
    assert statements.count("COMMIT") == 3
    assert sorted(a["check"] for a in alerts_sent(tmp_path)) == sorted(names)
    states = publisher.alert_states()
    assert {(s["state"], s["pending_messages"]) for n, s in states.items() if n in names} == {("firing", 0)}
    assert publisher.lease(names, LeaseRequest("r2", "test", 2.0, dict.fromkeys(names, 30.0), dict.fromkeys(names, 60.0),
                                               True)) == dict.fromkeys(names, "not_due")


def test_pubsub_sink_close_leaves_no_publisher_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    """close() stops the client's threads and channel; the next send builds a fresh client and delivers."""
    fake = DownPublisher()
    fake.down = True
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", fake.host)
    sink = PubSubSink("synthmon-test", "alerts")
    body = {"check": "web", "state": "firing", "severity": "warning", "run_id": "r1"}
    message = {"id": "m1", "body": body, "sinks": ["pubsub"], "claimed_by": "r1", "claimed_at": 0.0}
    try:
        assert sink.send([message], deadline=time.monotonic() + 0.5) == []
        sink.close()
        assert wait_until(lambda: not pubsub_threads())
        calls = len(fake.calls_to("Publish"))
        fake.down = False
        assert sink.send([message], deadline=time.monotonic() + 5) == ["m1"]
        assert [b for b, _, _ in fake.received()] == [body] and len(fake.calls_to("Publish")) == calls + 1
    finally:
        sink.close()
        fake.stop()
