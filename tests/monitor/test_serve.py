"""`synthmon serve` and `synthmon demo` as real gunicorn processes on loopback ports."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import re
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from service_target import Process, Target, free_port, serving, wait_http, write_config

pytestmark = pytest.mark.slow


@pytest.fixture
def target() -> Target:
    with serving() as t:
        yield t


def _get(url: str, method: str = "GET", timeout_s: float = 30) -> tuple[int, Any]:
    req = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:
        body = resp.read()
        ctype = resp.headers.get("Content-Type", "")
        return resp.status, json.loads(body) if ctype.startswith("application/json") else body.decode()


def _serve(tmp_path: Path, target: Target, *extra: str, env: dict[str, str] | None = None,
           **popen: Any) -> tuple[Process, str]:
    port = free_port()
    proc = Process([sys.executable, "-m", "monitor", "serve", "--config", str(write_config(tmp_path, target)),
                    "--port", str(port), *extra], cwd=tmp_path, env={**os.environ, **(env or {})}, **popen)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/healthz", proc=proc)
    return proc, base


def test_gunicorn_serves_the_app_and_finishes_a_run_on_sigterm(tmp_path: Path, target: Target) -> None:
    """Under gunicorn: /probe, /run and /metrics answer; SIGTERM lets the run in flight finish, logs stay JSON."""
    target.release.set()
    proc, base = _serve(tmp_path, target)
    try:
        status, report = _get(base + "/probe?check=web&publish=0")
        assert status == 200 and report["results"][0]["ok"] is True
        status, run = _get(base + "/run", "POST")
        assert status == 200 and {s["name"] for s in run["skipped"]} == set()
        assert 'synthmon_check_success{check="down"' in _get(base + "/metrics")[1]
        target.release.clear()
        target.entered.clear()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            held = pool.submit(_get, base + "/probe?check=held")
            assert target.entered.wait(10)
            proc.proc.terminate()
            proc.wait_line(lambda x: "SIGTERM: waiting" in x)
            target.release.set()
            assert held.result(timeout=15)[1]["results"][0]["ok"] is True
        assert proc.stop() == 0
    finally:
        proc.stop()
    logs = proc.json_lines()
    runs = [x for x in logs if x.get("logger") == "synthmon.run"]
    assert len(runs) == 3 and all(r["severity"] == "INFO" and r["report"]["run_id"] == r["run_id"] for r in runs)
    assert not [x for x in logs if "abandon" in x["message"]]
    assert all("severity" in x and "message" in x for x in logs)


def test_sigterm_logs_the_run_it_abandons(tmp_path: Path, target: Target) -> None:
    """A run still in flight when the grace period ends is logged as abandoned, naming its checks."""
    proc, base = _serve(tmp_path, target, env={"SYNTHMON_GRACEFUL_S": "2"})
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            held = pool.submit(_get, base + "/probe?check=held")
            assert target.entered.wait(10)
            proc.proc.terminate()
            line = proc.wait_line(lambda x: "abandoning" in x)[0]
            assert json.loads(line)["abandoned"][0]["checks"] == ["held"]
            assert proc.proc.wait(10) is not None
            with pytest.raises(OSError):
                held.result(timeout=10)
    finally:
        target.release.set()
        proc.stop()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_of_the_process_group_exits_within_seconds(tmp_path: Path, target: Target, sig: int) -> None:
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) after some use, with a /probe in
    flight: every process exits within a few seconds, the probe answers 503 (not a 500 traceback).
    SIGTERM to the group (a supervisor) ends within the grace period, abandoning the held probe."""
    target.release.set()
    proc, base = _serve(tmp_path, target, "--every", "0.5", env={"SYNTHMON_GRACEFUL_S": "3"},
                        start_new_session=True)
    try:
        proc.wait_line(lambda x: '"logger":"synthmon.run"' in x, count=2)  # the scheduler has been at work
        assert _get(base + "/probe?check=web&publish=0")[0] == 200
        target.release.clear()
        target.entered.clear()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            held = pool.submit(_get_status, base + "/probe?check=held")
            assert target.entered.wait(10)
            started = time.monotonic()
            os.killpg(proc.proc.pid, sig)
            assert proc.proc.wait(8) is not None
            elapsed = time.monotonic() - started
            answer = held.result(timeout=5)
    finally:
        target.release.set()
        proc.stop()
    assert elapsed < (3 if sig == signal.SIGINT else 6), elapsed
    if sig == signal.SIGINT:
        assert answer[0] == 503 and "shutting down" in answer[1]["error"], answer
    output = "\n".join(proc.lines)
    assert "Traceback" not in output and "CancelledError" not in output and "SIGKILL" not in output


def _get_status(url: str) -> tuple[int, Any]:
    """(status, body) also for an error status; (0, reason) when the connection was cut."""
    try:
        return _get(url)
    except urllib.error.HTTPError as exc:
        with exc:  # closes the response's socket however the read ends
            try:
                return exc.code, json.loads(exc.read())
            except (OSError, http.client.HTTPException, ValueError) as cut:
                return exc.code, str(cut)
    except (OSError, http.client.HTTPException) as exc:
        return 0, str(exc)


def test_every_runs_due_checks_without_being_called(tmp_path: Path, target: Target) -> None:
    """serve --every runs the checks on its own, and never a check before its interval_s is up."""
    target.release.set()
    proc, base = _serve(tmp_path, target, "--every", "0.2")
    try:
        proc.wait_line(lambda x: '"logger":"synthmon.run"' in x, count=4)
        doc = _get(base + "/status")[1]
        assert doc["last_run"] is not None
        assert {c["name"]: c["ok"] for c in doc["checks"]} == {"web": True, "down": False, "held": True}
        assert target.hits["/ok"] == 1  # interval_s 60: later ticks find nothing due
    finally:
        proc.stop()


def test_demo_serves_live_results_and_shows_a_fault(tmp_path: Path) -> None:
    """synthmon demo: it starts with 30 minutes of history marked synthetic; the status page fills
    with passing demo checks; a 503 fault shows as `unavailable`."""
    port = free_port()
    proc = Process([sys.executable, "-m", "monitor", "demo", "--port", str(port), "--target-port", "0",
                    "--every", "1"], cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/healthz", proc=proc)
        target_url = re.search(r"target (http://\S+)", proc.wait_line(lambda x: "synthmon demo: target" in x)[0])[1]
        proc.wait_line(lambda x: "SYNTHETIC results (30 minutes" in x)
        proc.wait_line(lambda x: '"logger":"synthmon.run"' in x)
        past = _get(base + "/history?check=backend-health&since=1h&limit=5000")[1]["results"]
        synthetic = [r for r in past if r["run_id"].startswith("synthetic-")]
        assert len(synthetic) >= 150 and all(r["diagnosis"].startswith("synthetic") for r in synthetic)
        assert any(not r["ok"] for r in synthetic) and len(synthetic) < len(past)  # and real results after
        doc = _get(base + "/status")[1]
        assert {c["name"]: c["ok"] for c in doc["checks"]} == {
            "backend-health": True, "backend-ready": True, "auth-health": True, "auth-verify": True,
            "golden-path": True}
        urllib.request.urlopen(urllib.request.Request(target_url + "/_demo/fault?mode=service_503", method="POST"),
                               timeout=5).close()
        report = _get(base + "/probe?check=backend-health&check=golden-path")[1]
        assert [r["failure"]["class"] for r in report["results"]] == ["unavailable", "unavailable"]
        req = urllib.request.Request(base + "/status", headers={"Accept": "text/html"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            page = resp.read().decode()
            assert "unavailable" in page and 'id="synthetic-note"' in page
    finally:
        assert proc.stop() == 0
