"""`synthmon report` from the recorded history of real runs against the demo target (golden path included)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import demo_target as demo_mod
import pytest

from monitor import cli
from monitor import config as config_mod
from monitor.pipeline import Monitor
from monitor.serve import DEMO_CONFIG


@pytest.fixture
def demo_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = demo_mod.start("127.0.0.1", 0, spacing_s=0.01)
    monkeypatch.chdir(tmp_path)  # the demo config keeps its state under ./.synthmon
    env = {**os.environ, "SYNTHMON_DEMO_URL": target.http_url, "SYNTHMON_DEMO_WS_URL": target.ws_url}
    path = tmp_path / "demo.yaml"
    path.write_text(Path(DEMO_CONFIG).read_text().replace("${SYNTHMON_DEMO_URL:-http://127.0.0.1:8081}", target.http_url)
                    .replace("${SYNTHMON_DEMO_WS_URL:-ws://127.0.0.1:8081/ws}", target.ws_url)
                    .replace("  retries: 1 ", "  retries: 0 "))  # one attempt a run
    try:
        yield target, config_mod.load(path, env), path
    finally:
        target.stop()


def test_report_counts_incidents_and_gates_on_the_golden_path(demo_config, capsys: pytest.CaptureFixture[str]) -> None:
    """2 passes, 2 failures (service_503, threshold 2: one incident), 1 pass: availability 3/5, one
    resolved incident, exit 0; then the golden path misses an event: exit 1, and md names it."""
    target, cfg, path = demo_config
    monitor = Monitor(cfg)
    try:
        for fault in (None, None, "service_503", "service_503", None):
            target.set_fault(fault)
            monitor.run()
        assert cli.main(["report", "--config", str(path), "--format", "json", "--since", "1h"]) == 0
        doc = json.loads(capsys.readouterr().out)
        health = next(c for c in doc["checks"] if c["name"] == "backend-health")
        assert (health["results"], health["failures"], health["availability"]) == (5, 2, 0.6)
        [incident] = health["incidents"]
        assert incident["classes"] == ["unavailable"] and incident["end"] is not None
        assert health["time_to_resolve_s"]["max"] == incident["duration_s"] > 0
        [golden] = doc["golden_path"]
        assert (golden["name"], golden["runs"], golden["passed"], golden["last_run_passed"]) == ("golden-path", 5, 3, True)

        target.set_fault("ws_missing_event")
        monitor.run()
    finally:
        monitor.close()
    assert cli.main(["report", "--config", str(path), "--since", "1h"]) == 1
    text = capsys.readouterr().out
    assert "Golden path `golden-path`: 3/6 runs passed (50.00%); last run FAILED" in text
    assert "| backend-health | 6 | 66.67% | 1 |" in text


def test_report_rejects_a_bad_since(demo_config, capsys: pytest.CaptureFixture[str]) -> None:
    """An unreadable --since is a usage error (exit 2) that names the option."""
    _, _, path = demo_config
    assert cli.main(["report", "--config", str(path), "--since", "yesterday"]) == 2
    assert "--since" in capsys.readouterr().err
