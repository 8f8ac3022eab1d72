"""Monitor.run: a run holds its checks, leases them against overlap, and leaves nothing running."""

from __future__ import annotations

import json
import pathlib
import threading
import time
from typing import Any

from servers import make_config, serving

from monitor import timeseries
from monitor.pipeline import Monitor
from monitor.state import LeaseRequest
from probes.result import RunReport


def test_long_check_holds_the_run_and_overlapping_run_skips_it(tmp_path: pathlib.Path) -> None:
    """A scheduled run whose slow check takes 2.5 s answers after it, with every result; its fast
    check is published (and released) while the slow one goes on; a run that starts meanwhile
    probes the fast check and lists the slow one as `in_progress`."""
    results_file = tmp_path / "results.jsonl"
    with serving() as s:
        cfg = make_config([
            {"name": "fast", "type": "http", "url": s.url("/ok"), "interval_s": 1},
            {"name": "golden", "type": "http", "url": s.url("/slow?ms=2500"), "timeout_s": 5},
        ], sinks={"state": "memory://", "results_file": str(results_file)})
        now = [1_000_000.0]
        monitor = Monitor(cfg, clock=lambda: now[0])
        try:
            reports: list[RunReport] = []
            first = threading.Thread(target=lambda: reports.append(monitor.run(scheduled=True)))
            started = time.monotonic()
            first.start()
            # The fast check's result is published while the golden path goes on (and its lease released).
            assert _wait_for(lambda: results_file.exists() and len(results_file.read_text().splitlines()) == 1)
            assert "golden" in monitor._in_flight
            now[0] += 2  # past the fast check's interval_s: due again
            second = monitor.run(scheduled=True)
            first.join(10)
            elapsed = time.monotonic() - started
            assert [r.name for r in second.results] == ["fast"] and second.results[0].ok
            assert second.skipped == [{"name": "golden", "reason": "in_progress"}]
            assert [r.name for r in reports[0].results] == ["fast", "golden"] and reports[0].ok
            assert elapsed >= 2.5 and reports[0].skipped == []
            assert monitor.tasks_in_flight() == 0  # nothing of either run goes on after it answered
            lines = [json.loads(x) for x in results_file.read_text().splitlines()]
            assert [[r["name"] for r in x["results"]] for x in lines] == [["fast"], ["fast"], ["golden"]]
            assert [x["run_id"] for x in lines] == [reports[0].run_id, second.run_id, reports[0].run_id]
            third = monitor.run(["golden"], publish=False)  # no longer leased: it runs again
            assert [r.name for r in third.results] == ["golden"] and third.skipped == []
        finally:
            monitor.close()


def test_scheduled_run_skips_what_is_not_due() -> None:
    """A scheduled run starts a check only when its interval has passed; /probe-style runs always do."""
    with serving() as s:
        cfg = make_config([{"name": "api", "type": "http", "url": s.url("/ok"), "interval_s": 300}],
                          sinks={"state": "memory://", "metrics": [], "alerts": []})
        monitor = Monitor(cfg)
        try:
            assert [r.name for r in monitor.run(scheduled=True).results] == ["api"]
            assert monitor.run(scheduled=True).skipped == [{"name": "api", "reason": "not_due"}]
            assert [r.name for r in monitor.run(["api"]).results] == ["api"]
            assert monitor.run(scheduled=True).skipped == [{"name": "api", "reason": "not_due"}]
        finally:
            monitor.close()


class _Recorder:
    """A publisher that keeps every report and lease request (and leases every check)."""

    def __init__(self) -> None:
        self.reports: list[RunReport] = []
        self.leases: list[LeaseRequest] = []
        self.released: list[tuple[list[str], str]] = []

    def publish(self, report: RunReport, *, deadline: float) -> None:
        self.reports.append(report)

    def lease(self, names: Any, req: LeaseRequest) -> dict[str, str]:
        self.leases.append(req)
        return {}

    def release(self, names: Any, run_id: str) -> None:
        self.released.append((list(names), run_id))

    def alert_states(self) -> dict[str, dict[str, object]]:
        return {}

    def close(self) -> None:
        pass


def test_lease_covers_the_check_with_its_retries_and_a_dry_run_releases() -> None:
    """The lease lasts the check's timeout with retries plus grace; a dry run gives it back at once."""
    recorder = _Recorder()
    with serving() as s:
        cfg = make_config([{"name": "api", "type": "http", "url": s.url("/ok"), "timeout_s": 4,
                            "retries": 2, "retry_delay_s": 3}], sinks={"state": "memory://"})
        monitor = Monitor(cfg, publisher=recorder)
        try:
            report = monitor.run(publish=False)
        finally:
            monitor.close()
    (req,) = recorder.leases
    assert req.until["api"] - req.now == 3 * 4 + 2 * 3 + 30 and not req.scheduled
    assert recorder.released == [(["api"], report.run_id)] and recorder.reports == []


def test_every_run_writes_its_duration() -> None:
    """Each published run carries one run/duration_ms (the heartbeat), measured over the whole run."""
    recorder = _Recorder()
    with serving() as s:
        cfg = make_config([{"name": "golden", "type": "http", "url": s.url("/slow?ms=400"), "timeout_s": 5}],
                          sinks={"state": "memory://"})
        monitor = Monitor(cfg, publisher=recorder)
        try:
            run = monitor.run(scheduled=True)
        finally:
            monitor.close()
    assert recorder.reports == [run] and "late" not in run.to_dict()
    durations = [s.value for s in timeseries.samples(run) if s.metric.name == "run/duration_ms"]
    assert len(durations) == 1 and 400 <= durations[0] < 3000


def test_status_lists_runs_in_progress() -> None:
    """/status shows a run still probing under runs_in_progress, and nothing once it answered."""
    from monitor.app import create_app

    with serving() as s:
        cfg = make_config([{"name": "golden", "type": "http", "url": s.url("/slow?ms=1500"), "timeout_s": 5}],
                          sinks={"state": "memory://", "metrics": [], "alerts": []})
        app = create_app(cfg)
        client = app.test_client()
        try:
            runner = threading.Thread(target=lambda: client.post("/run"))
            runner.start()
            assert _wait_for(lambda: client.get("/status").get_json()["runs_in_progress"] != [])
            running = client.get("/status").get_json()["runs_in_progress"]
            assert [(r["trigger"], r["checks"]) for r in running] == [("POST /run", ["golden"])]
            runner.join(10)
            assert client.get("/status").get_json()["runs_in_progress"] == []
        finally:
            app.extensions["synthmon"].monitor.close()


def _wait_for(predicate: Any, timeout_s: float = 10.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False
