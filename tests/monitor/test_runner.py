"""The runner: concurrency, per-check and run deadlines, config order, bugs become `internal`."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from servers import make_config, run_all, serving

from probes import http as http_probe
from probes.result import ProbeResult


def test_fifty_slow_checks_run_concurrently() -> None:
    """50 checks against a server holding each request 300 ms finish far below the 15 s of a sequential run."""
    with serving() as s:
        cfg = make_config([{"name": f"c{i:02d}", "type": "http", "url": s.url("/slow?ms=300")} for i in range(50)])
        start = time.monotonic()
        results = asyncio.run(run_all(cfg.checks, {"http": http_probe.probe}))
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
        hang, fast = asyncio.run(run_all(cfg.checks, {"http": http_probe.probe, "websocket": _hang}))
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
        buggy, fine = asyncio.run(run_all(cfg.checks, {"http": http_probe.probe, "postgres": _bug}))
    assert buggy.failure is not None and buggy.failure.cls == "internal"
    assert "ZeroDivisionError" in buggy.failure.message and fine.ok


def test_failed_check_is_retried_and_every_attempt_is_kept() -> None:
    """A check that fails once and then passes is ok, with both attempts in details.attempts; one
    that fails every time is failed with the last attempt's class, after retry_delay_s."""
    calls: dict[str, int] = {}

    async def flaky(check: Any) -> ProbeResult:
        calls[check.name] = calls.get(check.name, 0) + 1
        r = ProbeResult(check.name, check.type, check.target, latency_ms=1.0)
        if check.name == "down" or calls[check.name] == 1:
            return r.fail("unavailable", "HTTP 503")
        return r

    cfg = make_config(defaults={"retries": 1}, checks=[{"name": "blip", "type": "http", "url": "http://127.0.0.1:9/", "retry_delay_s": 0.3},
                       {"name": "down", "type": "http", "url": "http://127.0.0.1:9/", "retry_delay_s": 0.3},
                       {"name": "fine", "type": "http", "url": "http://127.0.0.1:9/", "retries": 0,
                        "retry_delay_s": 0}])
    calls["fine"] = 1  # passes at its first attempt
    start = time.monotonic()
    blip, down, fine = asyncio.run(run_all(cfg.checks, {"http": flaky}))
    elapsed = time.monotonic() - start
    assert blip.ok and [a["ok"] for a in blip.details["attempts"]] == [False, True]
    assert blip.details["attempts"][0]["failure"] == {"class": "unavailable", "message": "HTTP 503"}
    assert all(a["started_at"].endswith("Z") for a in blip.details["attempts"])
    assert not down.ok and down.failure is not None and down.failure.cls == "unavailable"
    assert [a["ok"] for a in down.details["attempts"]] == [False, False]
    assert fine.ok and "attempts" not in fine.details
    assert calls == {"blip": 2, "down": 2, "fine": 2} and 0.3 <= elapsed < 2


def test_retry_that_does_not_fit_the_run_bound_is_not_started() -> None:
    """With bound_s (run_timeout_s) nearly used up by the first attempt, no retry is started."""
    calls = []

    async def down(check: Any) -> ProbeResult:
        calls.append(check.name)
        await asyncio.sleep(0.3)
        return ProbeResult(check.name, check.type, check.target).fail("unavailable", "HTTP 503")

    cfg = make_config([{"name": "a", "type": "http", "url": "http://127.0.0.1:9/", "retry_delay_s": 0.5}],
                      defaults={"retries": 1})
    (a,) = asyncio.run(run_all(cfg.checks, {"http": down}, bound_s=1.0))
    assert calls == ["a"] and not a.ok and "attempts" not in a.details


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
