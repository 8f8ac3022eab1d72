"""Maintenance windows: one-off (`start`, `end`) or recurring (an RFC 5545 RRULE in UTC and `duration_s`).

Inside a window a check's failures are recorded but page no one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

# Occurrences of a recurring window count from here unless its rrule gives DTSTART: BYMINUTE and
# BYSECOND default to this instant's (0), so `FREQ=WEEKLY;BYDAY=TU;BYHOUR=6` starts at 06:00:00.
EPOCH = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
# Finer rules make dateutil walk every occurrence since EPOCH on each `covers` call.
_FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_INTERVAL = re.compile(r"(?:^|[;:\s])INTERVAL=([^;\s]*)", re.IGNORECASE)
_FREQ = re.compile(r"(?:^|[;:\s])FREQ=([A-Za-z]+)", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class MaintenanceWindow:
    checks: tuple[str, ...]  # empty tuple means every check
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    reason: str = ""
    rrule: str | None = None  # e.g. FREQ=WEEKLY;BYDAY=TU;BYHOUR=6 (UTC)
    duration_s: float | None = None  # of each occurrence of `rrule`
    _rule: Any = dataclasses.field(default=None, init=False, repr=False, compare=False)
    _last: list[Any] = dataclasses.field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.rrule is not None:
            object.__setattr__(self, "_rule", compile_rrule(self.rrule))

    def covers(self, check: str, now: dt.datetime) -> bool:
        if self.checks and check not in self.checks:
            return False
        if self._rule is not None:
            last = self._occurrence(now)
            return last is not None and now < last + dt.timedelta(seconds=self.duration_s or 0)
        return self.start is not None and self.end is not None and self.start <= now < self.end

    def _occurrence(self, now: dt.datetime) -> dt.datetime | None:
        """The last start at or before `now`; remembered, since a run asks once per check with one `now`."""
        memo = self._last[0] if self._last else None  # one (now, start) tuple, replaced whole
        if memo is None or memo[0] != now:
            memo = (now, self._rule.before(now, inc=True))
            self._last[:] = [memo]
        found: dt.datetime | None = memo[1]
        return found

    def open_until(self, now: dt.datetime) -> dt.datetime | None:
        """The end of the occurrence open at `now`, or None when the window is closed."""
        if self._rule is not None:
            last = self._occurrence(now)
            end = None if last is None else last + dt.timedelta(seconds=self.duration_s or 0)
            return end if end is not None and now < end else None
        if self.start is not None and self.end is not None and self.start <= now < self.end:
            return self.end
        return None

    def next_start(self, now: dt.datetime) -> dt.datetime | None:
        """When the window next opens after `now` (None: never again), for the status page."""
        if self._rule is not None:
            found: dt.datetime | None = self._rule.after(now)
            return found
        return self.start if self.start is not None and self.start > now else None


def compile_rrule(text: str) -> Any:
    """A dateutil rrule in UTC; ValueError with a reason when `text` is not one synthmon accepts."""
    from dateutil import rrule

    freq = _FREQ.search(text)
    if freq is None or freq.group(1).upper() not in _FREQS:
        raise ValueError(f"FREQ must be one of {', '.join(_FREQS)}")
    # dateutil loops forever on INTERVAL=0 (and a negative one); a window every 1000 years is no window.
    for interval in _INTERVAL.findall(text):
        if not interval.isdigit() or not 1 <= int(interval) <= 1000:
            raise ValueError(f"INTERVAL must be 1-1000, not {interval}")
    try:
        rule = rrule.rrulestr(text, dtstart=EPOCH, cache=True)  # occurrences are kept between runs
    except (ValueError, TypeError, LookupError, ArithmeticError, AttributeError) as exc:
        raise ValueError(f"invalid RRULE: {exc}") from None
    if not isinstance(rule, rrule.rrule):
        raise ValueError("invalid RRULE: give one rule")
    try:
        first = rule.after(EPOCH, inc=True)
    except TypeError:  # a DTSTART without `Z` cannot be compared with UTC times
        raise ValueError("invalid RRULE: DTSTART must be in UTC (ending in Z)") from None
    if first is None:
        raise ValueError("invalid RRULE: it has no occurrence")
    return rule


def window(model: dict[str, Any], path: tuple[Any, ...], names: set[str],
           problems: list[tuple[Any, str]]) -> MaintenanceWindow | None:
    """One validated `maintenance:` entry (monitor.schema.document.WINDOW), or None (the reasons in problems)."""
    before = len(problems)
    checks = model.get("checks") or ()
    for j, c in enumerate(checks):
        if c not in names:
            problems.append(((*path, "checks", j), f"unknown check {c!r}"))
    if model.get("rrule") is not None:
        for key in ("start", "end"):
            if model.get(key) is not None:
                problems.append(((*path, key), "give start/end or rrule/duration_s, not both"))
        if model.get("duration_s") is None:
            problems.append(((*path, "duration_s"), "required with rrule"))
        try:
            compile_rrule(model["rrule"])
        except ValueError as exc:
            problems.append(((*path, "rrule"), str(exc)))
    else:
        if model.get("duration_s") is not None:
            problems.append(((*path, "rrule"), "required with duration_s"))
        for key in ("start", "end"):
            if model.get(key) is None:
                problems.append(((*path, key), "required (or rrule and duration_s)"))
        if model.get("start") and model.get("end") and model["end"] <= model["start"]:
            problems.append(((*path, "end"), "must be after start"))
    if len(problems) > before:
        return None
    return MaintenanceWindow(tuple(checks), model.get("start"), model.get("end"), model.get("reason") or "",
                             model.get("rrule"), model.get("duration_s"))
