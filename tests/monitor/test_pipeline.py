"""Monitor.run: checks that outlive the run deadline finish in the background and publish on their own."""

from __future__ import annotations

import json
import pathlib
import time

from servers import make_config, serving

from monitor import timeseries
from monitor.pipeline import Monitor
from probes.result import RunReport


def _wait_for(predicate, timeout_s: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_long_check_continues_after_the_run_and_publishes_later(tmp_path: pathlib.Path) -> None:
    """A check longer than run_timeout_s is `in_progress` in its run's report, is not started twice by
    the next run, and its result is published as a report of its own when it ends."""
    results_file = tmp_path / "results.jsonl"
    with serving() as s:
        cfg = make_config([
            {"name": "fast", "type": "http", "url": s.url("/ok")},
            {"name": "golden", "type": "http", "url": s.url("/slow?ms=2500"), "timeout_s": 5},
        ], run_timeout_s=1, sinks={"state": "memory://", "results_file": str(results_file)})
        monitor = Monitor(cfg)
        try:
            started = time.monotonic()
            first = monitor.run()
            assert time.monotonic() - started < 2.0
            assert [r.name for r in first.results] == ["fast"] and first.results[0].ok
            assert first.skipped == [{"name": "golden", "reason": "in_progress"}]
            assert list(monitor.background()) == ["golden"]
            second = monitor.run()
            assert [r.name for r in second.results] == ["fast"]
            assert second.skipped == [{"name": "golden", "reason": "in_progress"}]
            assert _wait_for(lambda: "golden" in monitor.latest)
            assert _wait_for(lambda: monitor.background() == {})
            assert monitor.latest["golden"].ok
            assert _wait_for(lambda: len(results_file.read_text().splitlines()) == 3)
            late = json.loads(results_file.read_text().splitlines()[2])
            assert [r["name"] for r in late["results"]] == ["golden"] and late["ok"] is True
            third = monitor.run(["golden"], publish=False)  # no longer in flight: it runs again
            assert third.skipped == [{"name": "golden", "reason": "in_progress"}]
        finally:
            monitor.close()


def test_wait_all_waits_for_every_check() -> None:
    """With wait_all (the CLI's deploy gate), the report holds every check, however long it took."""
    with serving() as s:
        cfg = make_config([{"name": "golden", "type": "http", "url": s.url("/slow?ms=1500"), "timeout_s": 5}],
                          run_timeout_s=1, sinks={"state": "memory://"})
        monitor = Monitor(cfg)
        try:
            report = monitor.run(publish=False, wait_all=True)
        finally:
            monitor.close()
    assert [r.name for r in report.results] == ["golden"] and report.results[0].ok and report.skipped == []


class _Recorder:
    """A publisher that keeps every report it is given (and claims every check as due)."""

    def __init__(self) -> None:
        self.reports: list[RunReport] = []

    def publish(self, report: RunReport, *, deadline: float) -> None:
        self.reports.append(report)

    def claim(self, names, now, intervals):  # type: ignore[no-untyped-def]
        return list(names)

    def alert_states(self) -> dict[str, dict[str, object]]:
        return {}

    def close(self) -> None:
        pass


def test_late_result_writes_no_run_duration() -> None:
    """The late report of a check that outlived its run carries that check's metrics, but no
    run/duration_ms: the heartbeat and the run duration come from real runs only."""
    recorder = _Recorder()
    with serving() as s:
        cfg = make_config([
            {"name": "fast", "type": "http", "url": s.url("/ok")},
            {"name": "golden", "type": "http", "url": s.url("/slow?ms=2000"), "timeout_s": 5},
        ], run_timeout_s=1, sinks={"state": "memory://"})
        monitor = Monitor(cfg, publisher=recorder)
        try:
            run = monitor.run(scheduled=True)
            assert _wait_for(lambda: len(recorder.reports) == 2)
        finally:
            monitor.close()
    first, late = recorder.reports
    assert first is run and not first.late and late.late
    assert [r.name for r in late.results] == ["golden"]
    assert late.to_dict()["late"] is True and "late" not in first.to_dict()
    durations = [s.value for s in timeseries.samples(first) if s.metric.name == "run/duration_ms"]
    assert len(durations) == 1 and durations[0] < 1500
    late_metrics = {s.metric.name for s in timeseries.samples(late)}
    assert "run/duration_ms" not in late_metrics and "check/success" in late_metrics


def test_status_lists_checks_running_in_the_background() -> None:
    """/status shows a check that outlived its run under runs_in_progress, trigger `background`."""
    from monitor.app import create_app

    with serving() as s:
        cfg = make_config([{"name": "golden", "type": "http", "url": s.url("/slow?ms=2000"), "timeout_s": 5}],
                          run_timeout_s=1, sinks={"state": "memory://", "metrics": [], "alerts": []})
        app = create_app(cfg)
        client = app.test_client()
        try:
            assert client.post("/run").get_json()["skipped"] == [{"name": "golden", "reason": "in_progress"}]
            running = client.get("/status").get_json()["runs_in_progress"]
            assert [(r["trigger"], r["checks"]) for r in running] == [("background", ["golden"])]
            assert _wait_for(lambda: client.get("/status").get_json()["runs_in_progress"] == [])
        finally:
            app.extensions["synthmon"].monitor.close()
