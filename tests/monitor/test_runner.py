"""The runner: concurrency, per-check and run deadlines, config order, bugs become `internal`."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from servers import make_config, serving

from monitor.runner import run_checks
from probes import http as http_probe
from probes.result import ProbeResult


def test_fifty_slow_checks_run_concurrently() -> None:
    """50 checks against a server holding each request 300 ms finish far below the 15 s of a sequential run."""
    with serving() as s:
        cfg = make_config([{"name": f"c{i:02d}", "type": "http", "url": s.url("/slow?ms=300")} for i in range(50)])
        start = time.monotonic()
        results = asyncio.run(run_checks(cfg.checks, 30, {"http": http_probe.probe}))
        elapsed = time.monotonic() - start
    assert [r.name for r in results] == [f"c{i:02d}" for i in range(50)]
    assert all(r.ok for r in results), [r.failure for r in results if not r.ok]
    assert elapsed < 5, elapsed


async def _hang(check: Any) -> ProbeResult:
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


async def _bug(check: Any) -> ProbeResult:
    raise ZeroDivisionError("prober bug")


def test_overrunning_probe_is_timeout_and_does_not_delay_others() -> None:
    """A probe that ignores its deadline is cut at timeout_s + grace; the others finish on time."""
    with serving() as s:
        cfg = make_config([
            {"name": "hang", "type": "websocket", "url": "ws://127.0.0.1:1/ws", "timeout_s": 0.2},
            {"name": "fast", "type": "http", "url": s.url("/ok")},
        ])
        start = time.monotonic()
        hang, fast = asyncio.run(run_checks(cfg.checks, 30, {"http": http_probe.probe, "websocket": _hang}))
        elapsed = time.monotonic() - start
    assert hang.failure is not None and hang.failure.cls == "timeout"
    assert fast.ok
    assert elapsed < 2.5


def test_probe_bug_is_internal_not_a_crash() -> None:
    """An exception inside a probe becomes class `internal`; the run carries on."""
    with serving() as s:
        cfg = make_config([
            {"name": "buggy", "type": "postgres", "dsn": "postgresql://u@127.0.0.1/db"},
            {"name": "fine", "type": "http", "url": s.url("/ok")},
        ])
        buggy, fine = asyncio.run(run_checks(cfg.checks, 30, {"http": http_probe.probe, "postgres": _bug}))
    assert buggy.failure is not None and buggy.failure.cls == "internal"
    assert "ZeroDivisionError" in buggy.failure.message and fine.ok


def test_run_deadline_caps_everything() -> None:
    """Checks still running at run_timeout_s become `timeout`, whatever their own timeout_s."""
    with serving() as s:
        cfg = make_config([
            {"name": "slow", "type": "http", "url": s.url("/slow?ms=3000"), "timeout_s": 5},
            {"name": "fast", "type": "http", "url": s.url("/ok")},
        ], run_timeout_s=20)
        start = time.monotonic()
        slow, fast = asyncio.run(run_checks(cfg.checks, 0.5, {"http": http_probe.probe}))
        elapsed = time.monotonic() - start
    assert slow.failure is not None and slow.failure.cls == "timeout" and "run deadline" in slow.failure.message
    assert fast.ok and elapsed < 1.5


def test_http_only_run_does_not_import_other_probe_libraries() -> None:
    """An HTTP-only run imports neither websockets nor psycopg (cold start is paid per import)."""
    import subprocess
    import sys

    code = (
        "import sys; sys.path.append('tests')\n"
        "from servers import make_config, serving\n"
        "from monitor.pipeline import Monitor\n"
        "with serving() as s:\n"
        "    cfg = make_config([{'name': 'a', 'type': 'http', 'url': s.url('/ok')}], sinks={'state': 'memory://'})\n"
        "    ok = Monitor(cfg).run(publish=False).ok\n"
        "print(ok, sorted(m for m in ('psycopg', 'websockets', 'google.cloud.monitoring_v3') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.strip() == "True []"
