"""monitor/slo.py: error budget left and burn rate against series computed by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor import slo

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def minutes_ago(bad: set[int], count: int = 360) -> list[tuple[dt.datetime, bool]]:
    """One result a minute for `count` minutes: minute k (k = 1 is the newest) failed iff k in `bad`."""
    return [(NOW - dt.timedelta(minutes=k), k not in bad) for k in range(count, 0, -1)]


def test_budget_left_of_a_hand_computed_series() -> None:
    """20 results, failures at positions 3, 7 and 8, objective 0.95.

    bad = 3, total = 20: error rate 3/20 = 0.15. Budget = 1 - 0.95 = 0.05 of results.
    Burn rate = 0.15 / 0.05 = 3.0 (three budgets spent); budget left = 1 - 3.0 = -2.0.
    The same series with objective 0.8: budget 0.2, burn 0.15 / 0.2 = 0.75, left 0.25.
    """
    series = [i not in (3, 7, 8) for i in range(20)]
    assert series.count(False) == 3
    assert slo.error_rate(series) == pytest.approx(0.15)
    assert slo.burn_rate(series, 0.95) == pytest.approx(3.0)
    assert slo.budget_left(series, 0.95) == pytest.approx(-2.0)
    assert slo.burn_rate(series, 0.8) == pytest.approx(0.75)
    assert slo.budget_left(series, 0.8) == pytest.approx(0.25)


def test_budget_left_of_a_month_at_the_staging_objective() -> None:
    """28 days of one result a minute (40,320), 100 failed, objective 0.995.

    Budget = 0.005 x 40,320 = 201.6 failures allowed. Error rate 100 / 40,320 = 0.00248016;
    burn = 0.00248016 / 0.005 = 0.496032; left = 1 - 0.496032 = 0.503968 (about half: 100 of 201.6).
    """
    series = [True] * 40_220 + [False] * 100
    assert slo.budget_left(series, 0.995) == pytest.approx(1 - 100 / 201.6)
    assert slo.budget_left(series, 0.995) == pytest.approx(0.503968, abs=1e-6)


def test_no_data_is_none_and_all_passing_is_a_full_budget() -> None:
    """Without results there is no budget figure (never a made-up 100 %); all passing leaves 1.0."""
    assert slo.budget_left([], 0.995) is None
    assert slo.burn_rate([], 0.995) is None
    assert slo.budget_left([True] * 10, 0.995) == 1.0
    assert slo.budget_left([False] * 10, 0.9) == pytest.approx(1 - 1 / 0.1)  # -9.0


def test_since_keeps_only_the_window() -> None:
    """Results at minutes 1..360 ago, failures at 1..10; objective 0.99 (budget 0.01).

    since = 1 h ago keeps minutes 1..60: 10 bad of 60, error 0.1667, burn 16.67, left -15.67.
    since = 6 h ago keeps all 360: 10 / 360 = 0.02778, burn 2.778, left -1.778.
    """
    series = minutes_ago(set(range(1, 11)))
    assert slo.burn_rate(series, 0.99, since=NOW - dt.timedelta(hours=1)) == pytest.approx(10 / 60 / 0.01)
    assert slo.budget_left(series, 0.99, since=NOW - dt.timedelta(hours=6)) == pytest.approx(1 - 10 / 360 / 0.01)
    assert slo.error_rate(series, since=NOW) is None  # nothing at or after now


@pytest.mark.parametrize(("bad", "expected"), [
    # Last 10 minutes failed. 1 h: 10/60 -> burn 16.7 > 14.4; 5 min: 5/5 -> 100 > 14.4: fast.
    # 6 h: 10/360 -> 2.8 < 6: not slow.
    (set(range(1, 11)), ["fast"]),
    # Every 10th minute failed. 6 h: 36/360 -> 10 > 6; 30 min: 3/30 -> 10 > 6: slow.
    # 1 h: 6/60 -> 10 < 14.4: not fast.
    ({k for k in range(1, 361) if k % 10 == 0}, ["slow"]),
    # A five-minute blip. 5 min: 5/5 -> 100, but 1 h: 5/60 -> 8.3 < 14.4 and 6 h: 5/360 -> 1.4:
    # the long window keeps a short blip from paging.
    (set(range(1, 6)), []),
    # Everything failed for 6 h: both.
    (set(range(1, 361)), ["fast", "slow"]),
])
def test_multiwindow_burn_rate_alerts(bad: set[int], expected: list[str]) -> None:
    """The two SRE-workbook alerts, objective 0.99: each fires only when both its windows burn."""
    assert slo.burning(minutes_ago(bad), 0.99, NOW) == expected


def test_alert_table_is_the_workbook() -> None:
    """Fast: 1 h and 5 min at 14.4x; slow: 6 h and 30 min at 6x; short window = long / 12."""
    table = {a.name: (a.long_window_s, a.short_window_s, a.burn_rate) for a in slo.BURN_RATE_ALERTS}
    assert table == {"fast": (3600, 300, 14.4), "slow": (21600, 1800, 6.0)}
    assert all(a.long_window_s == 12 * a.short_window_s for a in slo.BURN_RATE_ALERTS)


@pytest.mark.parametrize("objective", [0.0, 1.0, -0.5, 99.5])
def test_objective_outside_zero_one_is_refused(objective: float) -> None:
    """An objective of 0, 1 or a percentage is a caller bug, not a budget."""
    with pytest.raises(ValueError, match="objective"):
        slo.budget_left([True], objective)


def test_since_with_bare_flags_is_refused() -> None:
    """A window needs timestamps; bare flags with `since` would silently count everything."""
    with pytest.raises(TypeError):
        slo.budget_left([True, False], 0.9, since=NOW)
