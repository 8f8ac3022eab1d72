"""Pure arithmetic over history rows: availability, percentiles, SLO budget, failure streaks, incidents.

No I/O: /status, /status/<check> and `synthmon report` all compute their figures here, the same way.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

from monitor import slo
from monitor.history import Row

WINDOWS_S: dict[str, float] = {"1h": 3600.0, "24h": 86400.0, "7d": 7 * 86400.0, "30d": 30 * 86400.0}


def availability(total: int, failures: int) -> float | None:
    """Share of results that passed; None with no result (never 100 % of nothing)."""
    return None if total == 0 else (total - failures) / total


def budget_left(total: int, failures: int, objective: float) -> float | None:
    """Error budget left over the SLO window (monitor.slo's formula, from counts): 1.0 is the
    whole budget unspent, 0 spent exactly, negative overspent; None with no result."""
    return slo.budget_left_of_counts(total, failures, objective)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of `values`; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def streak_since(newest_first: Sequence[Row]) -> float | None:
    """Start of the failure streak the newest row belongs to (None when the newest passed).
    The alert message's `since` is the same moment: the first failure after the last pass."""
    since = None
    for row in newest_first:
        if row.ok:
            break
        since = row.ts
    return since


@dataclasses.dataclass
class Incident:
    """A failure streak long enough to fire (failure_threshold), until it resolved (success_threshold)."""

    location: str
    start: float
    end: float | None  # None: still open
    classes: list[str]
    failures: int
    first_message: str | None

    def duration_s(self, now: float) -> float:
        return (self.end if self.end is not None else now) - self.start

    def to_dict(self, now: float) -> dict[str, Any]:
        return {"location": self.location, "start": iso(self.start),
                "end": None if self.end is None else iso(self.end),
                "duration_s": round(self.duration_s(now), 1), "classes": self.classes,
                "failures": self.failures, "message": self.first_message, "open": self.end is None}


def incidents(oldest_first: Iterable[Row], failure_threshold: int = 1,
              success_threshold: int = 1) -> list[Incident]:
    """Incidents per location, oldest first, derived from the streaks as the alert state machine
    sees them: fired at the streak's first failure once `failure_threshold` failures followed,
    resolved at the `success_threshold`-th consecutive pass."""
    out: list[Incident] = []
    streak: dict[str, list[Row]] = {}
    passes: dict[str, list[Row]] = {}
    open_: dict[str, Incident] = {}
    for row in oldest_first:
        loc = row.location
        if not row.ok:
            passes[loc] = []
            streak.setdefault(loc, []).append(row)
            run = streak[loc]
            if loc in open_:
                inc = open_[loc]
                inc.failures += 1
                if row.cls and row.cls not in inc.classes:
                    inc.classes.append(row.cls)
            elif len(run) >= failure_threshold:
                inc = Incident(loc, run[0].ts, None, list(dict.fromkeys(r.cls or "internal" for r in run)),
                               len(run), run[0].message)
                open_[loc] = inc
                out.append(inc)
            continue
        streak[loc] = []
        passes.setdefault(loc, []).append(row)
        if loc in open_ and len(passes[loc]) >= success_threshold:
            open_.pop(loc).end = row.ts
    return out


def iso(ts: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


SINCE_PATTERN = r"^([0-9]{1,6}[smhd]|[0-9]{1,12}(\.[0-9]{1,6})?)$"


def parse_since(text: str, now: float) -> float:
    """`7d`, `24h`, `90m`, `30s`, epoch seconds, or an ISO 8601 time (`2026-03-01T22:00:00Z`);
    ValueError otherwise."""
    import datetime as dt
    import re

    t = text.strip()
    if re.fullmatch(SINCE_PATTERN, t):
        units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
        return now - float(t[:-1]) * units[t[-1]] if t[-1] in units else float(t)
    if not re.match(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T", t):
        raise ValueError(f"not a time: {text!r}")
    parsed = dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()
