"""One location's entry in a check's alert state: its streaks and whether it counts as failing or slow.

Pure. A location starts failing after `failure_threshold` consecutive confirmed failures and stops
after `success_threshold` consecutive passes (in between it keeps what it was), so one blip in a
passing streak, or one pass in an outage, changes nothing. The same holds for slow results
(`degraded_latency_ms`). An entry that no run refreshed for a while (its region stopped running)
no longer counts toward quorum.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from probes.result import ProbeResult

STALE_INTERVALS = 3  # an entry older than this many intervals (plus STALE_GRACE_S) is stale
STALE_GRACE_S = 120.0


class _Rule(Protocol):
    @property
    def failure_threshold(self) -> int: ...
    @property
    def success_threshold(self) -> int: ...
    @property
    def degraded_latency_ms(self) -> float | None: ...


def new() -> dict[str, Any]:
    return {"ok": True, "at": None, "failures": 0, "passes": 0, "since": None, "cls": None,
            "class_streak": 0, "failing": False, "alert_cls": None, "slow": 0, "fast": 0,
            "degraded": False, "slow_since": None}


def record(entry: dict[str, Any] | None, result: ProbeResult, rule: _Rule, now: float,
           iso: Callable[[float], str]) -> dict[str, Any]:
    """The entry after `result` (a confirmed verdict: the runner's retries are already in it)."""
    e = {**new(), **(entry or {})}
    e["at"], e["ok"] = now, result.ok
    if result.ok:
        e["passes"] += 1
        e["failures"], e["class_streak"], e["cls"], e["since"] = 0, 0, None, None
        if e["failing"] and e["passes"] >= rule.success_threshold:
            e["failing"], e["alert_cls"] = False, None
        _latency(e, result, rule, now, iso)
        return e
    cls = result.failure.cls if result.failure else "internal"
    e["passes"], e["slow"], e["fast"] = 0, 0, 0
    e["failures"] += 1
    e["class_streak"] = e["class_streak"] + 1 if cls == e["cls"] else 1
    e["cls"] = cls
    e["since"] = e["since"] or iso(now)
    if not e["failing"] and e["failures"] >= rule.failure_threshold:
        e["failing"], e["alert_cls"] = True, cls
    elif e["failing"] and e["class_streak"] >= rule.failure_threshold:
        e["alert_cls"] = cls  # a new class counts once it was seen failure_threshold times in a row
    return e


def _latency(e: dict[str, Any], result: ProbeResult, rule: _Rule, now: float, iso: Callable[[float], str]) -> None:
    limit = rule.degraded_latency_ms
    if limit is not None and result.latency_ms is not None and result.latency_ms > limit:
        e["slow"], e["fast"] = e["slow"] + 1, 0
        e["slow_since"] = e["slow_since"] or iso(now)
        if e["slow"] >= rule.failure_threshold:
            e["degraded"] = True
        return
    e["fast"], e["slow"] = e["fast"] + 1, 0
    if e["fast"] >= rule.success_threshold:
        e["degraded"], e["slow_since"] = False, None


def fresh(entries: dict[str, dict[str, Any]], here: str, now: float, interval_s: float) -> dict[str, dict[str, Any]]:
    """The entries that count now: `here` and those refreshed within a few intervals."""
    horizon = STALE_INTERVALS * interval_s + STALE_GRACE_S
    return {k: {**new(), **e} for k, e in entries.items()
            if k == here or (e.get("at") is not None and now - e["at"] <= horizon)}


def summary(e: dict[str, Any]) -> dict[str, Any]:
    return {"ok": e.get("ok"), "at": e.get("at"), "failing": e.get("failing"), "degraded": e.get("degraded"),
            "since": e.get("since"), "failure_class": e.get("cls"), "consecutive_failures": e.get("failures")}
