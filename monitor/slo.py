"""Error budget and burn rate of an availability SLO, from a check's results (pure; no I/O).

With `objective` o (0.995) the error budget is the fraction 1 - o of results allowed to fail. Over
the results of a window, with `bad` failed among `total`:

    error_rate  = bad / total
    burn_rate   = error_rate / (1 - o)          1.0 spends the budget exactly over the SLO window
    budget_left = 1 - burn_rate                 1.0 untouched, 0.0 spent, negative when overspent

Without results both are None (no data is not "all good"). `/status` and `synthmon report` call
these over the SLO's `window_days`; Terraform's burn-rate policies use BURN_RATE_ALERTS below
(tests/terraform keeps the two equal). The alert windows and factors are the SRE workbook's
multiwindow, multi-burn-rate alerts ("Alerting on SLOs", table 5-8): a page when 2 % of a 30-day
budget goes in 1 h (14.4x) or 5 % in 6 h (6x), each confirmed by a window 1/12 as long.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence

Result = bool | tuple[dt.datetime, bool]


@dataclasses.dataclass(frozen=True)
class BurnRateAlert:
    name: str
    long_window_s: int
    short_window_s: int
    burn_rate: float  # both windows must burn faster than this many times the budget rate


BURN_RATE_ALERTS: tuple[BurnRateAlert, ...] = (
    BurnRateAlert("fast", long_window_s=3600, short_window_s=300, burn_rate=14.4),
    BurnRateAlert("slow", long_window_s=6 * 3600, short_window_s=1800, burn_rate=6.0),
)


def _oks(results: Iterable[Result], since: dt.datetime | None) -> list[bool]:
    """The ok flags of `results`; with `since`, only timed results at or after it."""
    out: list[bool] = []
    for r in results:
        if isinstance(r, tuple):
            at, ok = r
            if since is not None and at < since:
                continue
            out.append(bool(ok))
        elif since is not None:
            raise TypeError("`since` needs (time, ok) results")
        else:
            out.append(bool(r))
    return out


def _check_objective(objective: float) -> None:
    if not 0.0 < objective < 1.0:
        raise ValueError(f"objective must be between 0 and 1 (exclusive), not {objective!r}")


def error_rate(results: Iterable[Result], *, since: dt.datetime | None = None) -> float | None:
    """bad / total over `results` (optionally only those at or after `since`); None without any."""
    oks = _oks(results, since)
    if not oks:
        return None
    return oks.count(False) / len(oks)


def burn_rate(results: Iterable[Result], objective: float, *,
              since: dt.datetime | None = None) -> float | None:
    """How many times faster than allowed the budget burns: error_rate / (1 - objective)."""
    _check_objective(objective)
    rate = error_rate(results, since=since)
    return None if rate is None else rate / (1.0 - objective)


def budget_left(results: Iterable[Result], objective: float, *,
                since: dt.datetime | None = None) -> float | None:
    """Fraction of the error budget left: 1 - (bad/total) / (1 - objective); negative when overspent."""
    oks = _oks(results, since)
    return budget_left_of_counts(len(oks), oks.count(False), objective)


def budget_left_of_counts(total: int, bad: int, objective: float) -> float | None:
    """`budget_left` from counts (what a history store keeps per window); None without any result."""
    _check_objective(objective)
    return None if total == 0 else 1.0 - (bad / total) / (1.0 - objective)


def burning(results: Sequence[tuple[dt.datetime, bool]], objective: float,
            now: dt.datetime) -> list[str]:
    """Names of the BURN_RATE_ALERTS whose long and short windows (ending at `now`) both burn
    faster than their factor: what the Terraform policies page on, computed from history."""
    firing = []
    for alert in BURN_RATE_ALERTS:
        rates = [burn_rate(results, objective, since=now - dt.timedelta(seconds=w))
                 for w in (alert.long_window_s, alert.short_window_s)]
        if all(r is not None and r > alert.burn_rate for r in rates):
            firing.append(alert.name)
    return firing
