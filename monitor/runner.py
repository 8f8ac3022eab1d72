"""Run checks concurrently, each under its own deadline and all under the run deadline.

The one broad `except` of synthmon lives here: a bug inside a probe becomes a result with
failure class `internal` (traceback logged), never a crashed run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from probes.checks import Check
from probes.diagnosis import diagnose
from probes.result import ProbeResult

log = logging.getLogger("synthmon.runner")
# A probe enforces check.timeout_s itself and reports the precise phase; the runner's hard stop
# comes this much later and can only say `timeout`.
GRACE_S = 1.0


def _timeout_result(check: Check, limit_s: float, why: str) -> ProbeResult:
    r = ProbeResult(check.name, check.type, check.target, latency_ms=limit_s * 1000)
    return r.fail("timeout", f"{why} ({limit_s:g} s)", diagnose("timeout", check.target))


async def _one(check: Check, probe: Any, limit_s: float) -> ProbeResult:
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
        return r.fail("internal", f"synthmon bug: {exc.__class__.__name__}", diagnose("internal"))
    if result.latency_ms is None:
        result.latency_ms = (time.perf_counter() - started) * 1000
    return result


async def run_check(check: Check, probe: Any) -> ProbeResult:
    """One check under its own deadline only (the caller decides how long to wait for it)."""
    return await _one(check, probe, check.timeout_s + GRACE_S)


async def run_checks(checks: Sequence[Check], run_timeout_s: float,
                     probes: Mapping[str, Any] | None = None) -> list[ProbeResult]:
    """One result per check, in the order given; none later than `run_timeout_s`."""
    if probes is None:
        from probes import registry

        probes = registry({c.type for c in checks})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + run_timeout_s
    tasks = [asyncio.create_task(_one(c, probes[c.type], min(c.timeout_s + GRACE_S, run_timeout_s)),
                                 name=f"probe:{c.name}") for c in checks]
    if not tasks:
        return []
    done, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))
    for t in pending:
        t.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    out: list[ProbeResult] = []
    for check, task in zip(checks, tasks, strict=True):
        if task in done and not task.cancelled():
            out.append(task.result())
        else:
            out.append(_timeout_result(check, run_timeout_s, "run deadline reached before the check finished"))
    return out
