"""Maintenance windows: one-off and recurring (RRULE, UTC) coverage and the next start."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor import config as config_mod
from monitor.config import MaintenanceWindow

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_recurring_window_covers_each_occurrence_only() -> None:
    w = MaintenanceWindow(("api",), rrule="FREQ=WEEKLY;BYDAY=TU;BYHOUR=6", duration_s=1800, reason="deploy")
    assert w.covers("api", at("2026-03-03T06:00:00"))  # a Tuesday, 06:00 UTC
    assert w.covers("api", at("2026-03-03T06:29:59"))
    assert not w.covers("api", at("2026-03-03T06:30:00"))  # the end is exclusive
    assert not w.covers("api", at("2026-03-03T05:59:59"))
    assert not w.covers("api", at("2026-03-04T06:10:00"))  # a Wednesday
    assert not w.covers("db", at("2026-03-03T06:10:00"))  # another check
    assert w.covers("api", at("2027-06-01T06:10:00"))  # a Tuesday a year on


def test_next_start() -> None:
    weekly = MaintenanceWindow((), rrule="FREQ=WEEKLY;BYDAY=TU;BYHOUR=6", duration_s=1800)
    assert weekly.next_start(at("2026-03-03T06:10:00")) == at("2026-03-10T06:00:00")
    assert weekly.next_start(at("2026-03-02T23:00:00")) == at("2026-03-03T06:00:00")
    once = MaintenanceWindow(("db",), at("2026-03-01T22:00:00"), at("2026-03-01T23:00:00"), "DB upgrade")
    assert once.next_start(at("2026-03-01T21:00:00")) == at("2026-03-01T22:00:00")
    assert once.next_start(at("2026-03-01T22:30:00")) is None and once.covers("db", at("2026-03-01T22:30:00"))
    assert not once.covers("db", at("2026-03-01T23:00:00"))


def test_windows_load_from_the_config() -> None:
    cfg = config_mod.loads("""
checks: [{name: cloudsql, type: postgres, host: 10.0.0.3}]
maintenance:
  - {checks: [cloudsql], start: "2026-03-01T22:00:00Z", end: "2026-03-01T23:00:00Z", reason: "DB upgrade"}
  - {checks: [], rrule: "FREQ=WEEKLY;BYDAY=TU;BYHOUR=6", duration_s: 1800, reason: "weekly deploy"}
  - {checks: cloudsql, rrule: "DTSTART:20260301T020000Z\\nRRULE:FREQ=DAILY;INTERVAL=2", duration_s: 600}
""", "c.yaml", {})
    once, weekly, every_other_day = cfg.maintenance
    assert once.covers("cloudsql", at("2026-03-01T22:59:00")) and once.rrule is None
    assert (weekly.checks, weekly.duration_s, weekly.start) == ((), 1800, None)
    assert weekly.covers("cloudsql", at("2026-03-03T06:05:00"))
    assert every_other_day.covers("cloudsql", at("2026-03-03T02:05:00"))
    assert not every_other_day.covers("cloudsql", at("2026-03-04T02:05:00"))


@pytest.mark.parametrize(("rrule", "problem"), [
    ("FREQ=HOURLY", "FREQ must be one of DAILY, WEEKLY, MONTHLY, YEARLY"),
    ("FREQ=DAILY;BYHOUR=25", "invalid RRULE"),
    ("DTSTART:20260301T020000\nRRULE:FREQ=DAILY", "DTSTART must be in UTC"),
    ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "it has no occurrence"),
    ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be 1-1000, not 0"),  # dateutil would never return
    ("FREQ=DAILY;interval=-2", "INTERVAL must be 1-1000, not -2"),
])
def test_invalid_rrule_is_refused(rrule: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        MaintenanceWindow((), rrule=rrule, duration_s=60)
