"""Run checks concurrently, each under its own deadline, a failed one retried after `retry_delay_s`.

Success of a check is the verdict of its last attempt: a failure counts only when every attempt
failed (a blip shorter than the retry delay pages no one), and a pass that needed a retry says so in
`details.attempts`. The one broad `except` of synthmon lives here: a bug inside a probe becomes a
result with failure class `internal` (traceback logged), never a crashed run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from probes.checks import Check
from probes.result import ProbeResult, iso

log = logging.getLogger("synthmon.runner")
# A probe enforces check.timeout_s itself and reports the precise phase; the runner's hard stop
# comes this much later and can only say `timeout`.
GRACE_S = 1.0
# A retry that would get less than this of the run's bound is not started: it could only time out.
MIN_RETRY_S = 1.0

Probe = Callable[[Any], Awaitable[ProbeResult]]


def _timeout_result(check: Check, limit_s: float, why: str) -> ProbeResult:
    r = ProbeResult(check.name, check.type, check.target, latency_ms=limit_s * 1000)
    return r.fail("timeout", f"{why} ({limit_s:g} s)")


async def _attempt(check: Check, probe: Probe, limit_s: float) -> ProbeResult:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(limit_s):
            result: ProbeResult = await probe(check)
    except TimeoutError:
        return _timeout_result(check, limit_s, "check did not finish within its deadline")
    except Exception as exc:  # the runner's one broad catch: a prober bug must not end the run
        log.exception("probe %s crashed", check.name)
        r = ProbeResult(check.name, check.type, check.target,
                        latency_ms=(time.perf_counter() - started) * 1000)
        return r.fail("internal", f"synthmon bug: {exc.__class__.__name__}")
    if result.latency_ms is None:
        result.latency_ms = (time.perf_counter() - started) * 1000
    return result


def _summary(r: ProbeResult) -> dict[str, Any]:
    return {"ok": r.ok, "failure": r.failure.to_dict() if r.failure else None,
            "latency_ms": None if r.latency_ms is None else round(r.latency_ms, 3), "started_at": r.started_at}


async def run_check(check: Check, probe: Probe, *, deadline: float | None = None,
                    clock: Callable[[], float] = time.time) -> ProbeResult:
    """The check with its retries. `deadline` (loop time) bounds the retries, never the first attempt.

    With more than one attempt, `details.attempts` lists each (ok, failure, latency_ms, started_at)."""
    loop = asyncio.get_running_loop()
    attempts: list[ProbeResult] = []
    while True:
        started_at = iso(clock())
        result = await _attempt(check, probe, check.timeout_s + GRACE_S)
        result.started_at = started_at
        attempts.append(result)
        if result.ok or len(attempts) > check.retries:
            break
        left = None if deadline is None else deadline - loop.time() - check.retry_delay_s
        if left is not None and left < min(MIN_RETRY_S, check.timeout_s):
            break  # the run's bound leaves no room for another attempt
        await asyncio.sleep(check.retry_delay_s)
    if len(attempts) > 1:
        result.details["attempts"] = [_summary(a) for a in attempts]
    return result
