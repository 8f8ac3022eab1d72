"""The /status document: a row per check, a cell per location, from the shared history and alert state.

A check's state is never `ok` when its alert state cannot be read (the state store is down): it is
`unknown`. `since` is the start of the current failure streak, as in the alert message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from monitor import history_stats as stats
from monitor.history import History, HistoryError, Row
from probes.result import ProbeResult

STATES = ("ok", "failing", "firing", "degraded", "blocked", "maintenance", "unknown")
BAR = 60  # results in a location's bar
WORST = ("firing", "failing", "blocked", "degraded", "maintenance", "unknown", "ok")  # the check's headline


def document(monitor: Any, active: list[dict[str, Any]], now: float) -> dict[str, Any]:
    """The /status JSON: one entry per configured check, in config order, plus the last run."""
    config = monitor.config
    reader = getattr(monitor.publisher, "read_alert_states", None)
    alerts = reader() if reader is not None else monitor.publisher.alert_states()
    hist: History | None = getattr(monitor.publisher, "history", None)
    errors: list[str] = []
    if alerts is None:
        errors.append("alert state store unreadable: states are unknown")
    checks = []
    for check in config.checks:
        try:
            entry = _check(check, hist, alerts, dict(monitor.latest), config, now)
            entry["target"] = monitor.redactor.text(check.target)  # the configured URL may hold a secret
        except HistoryError as exc:
            errors.append(f"history unreadable: {exc}")
            hist = None  # one timeout per page at most; the rest from this process's latest results
            entry = _check(check, None, alerts, dict(monitor.latest), config, now)
            entry["target"] = monitor.redactor.text(check.target)
        checks.append(entry)
    report = monitor.last_report
    last_run = None if report is None else {
        "run_id": report.run_id, "started_at": report.started_at, "finished_at": report.finished_at,
        "ok": report.ok, "skipped": list(report.skipped)}
    locations = sorted({loc["location"] for c in checks for loc in c["locations"]} | {config.location})
    return {"location": config.location, "locations": locations, "generated_at": stats.iso(now),
            "last_run": last_run, "runs_in_progress": active, "errors": errors,
            "maintenance": maintenance(config.maintenance, now), "checks": checks}


def maintenance(windows: Any, now: float) -> list[dict[str, Any]]:
    """Each configured window: open now (until when) and when it next opens."""
    at = dt.datetime.fromtimestamp(now, dt.UTC)
    out = []
    for w in windows:
        until, nxt = w.open_until(at), w.next_start(at)
        out.append({"checks": list(w.checks) or "all", "reason": w.reason, "rrule": w.rrule,
                    "open_until": None if until is None else stats.iso(until.timestamp()),
                    "next_start": None if nxt is None else stats.iso(nxt.timestamp())})
    return out


def _check(check: Any, hist: History | None, alerts: Mapping[str, Any] | None, latest: dict[str, ProbeResult],
           config: Any, now: float) -> dict[str, Any]:
    alert = dict((alerts or {}).get(check.name) or {})
    by_loc: dict[str, list[Row]] = {}
    counts: dict[str, dict[str, tuple[int, int]]] = {}
    slo = None
    if hist is not None:
        for window, seconds in stats.WINDOWS_S.items():
            for loc, c in hist.counts(check.name, now - seconds).items():
                counts.setdefault(loc, {})[window] = c
        locs = set(counts) | set(getattr(getattr(config, "alerting", None), "locations", ()) or ())
        for row in hist.recent(check.name, limit=BAR * max(1, len(locs))):
            by_loc.setdefault(row.location, []).append(row)
        if check.slo is not None:
            per_loc = hist.counts(check.name, now - check.slo.window_days * 86400)
            total, failures = sum(t for t, _ in per_loc.values()), sum(f for _, f in per_loc.values())
            slo = {"objective": check.slo.objective, "window_days": check.slo.window_days,
                   "results": total, "failures": failures,
                   "availability": stats.availability(total, failures),
                   "budget_left": stats.budget_left(total, failures, check.slo.objective),
                   "formula": "1 - (failures / results) / (1 - objective)"}
    elif check.name in latest:  # history unreadable: this process's latest result only
        by_loc[config.location] = [_latest_row(latest[check.name], config.location, now)]
    if not by_loc:
        by_loc[config.location] = []
    cells = [_cell(loc, rows[:BAR], counts.get(loc, {}), alert, alerts is None, now)
             for loc, rows in sorted(by_loc.items())]
    head = min(cells, key=lambda c: WORST.index(c["state"]))
    return {
        "name": check.name, "type": check.type, "target": "", "interval_s": check.interval_s,
        "state": head["state"], "ok": head["ok"], "latency_ms": head["latency_ms"],
        "failure_class": head["failure_class"], "message": head["message"], "diagnosis": head["diagnosis"],
        "since": head["since"], "consecutive_failures": alert.get("consecutive_failures"),
        "consecutive_passes": alert.get("consecutive_passes"), "dedup_key": alert.get("dedup_key"),
        "pending_messages": alert.get("pending_messages"), "blocked_by": alert.get("blocked_by"),
        "slo": slo, "locations": cells,
    }


def _cell(loc: str, rows: list[Row], counts: Mapping[str, tuple[int, int]], alert: Mapping[str, Any],
          unreadable: bool, now: float) -> dict[str, Any]:
    last = rows[0] if rows else None
    raw = _location_state(alert, loc)
    since = stats.streak_since(rows)
    if since is not None and len(rows) == BAR and not rows[-1].ok:
        since = None  # the streak is longer than the bar: the alert state knows where it began
    latencies = [r.latency_ms for r in rows if r.latency_ms is not None]
    return {
        "location": loc, "state": state_of(raw, last, unreadable),
        "since": stats.iso(since) if since is not None else (alert.get("since") if last and not last.ok else None),
        "last_result_at": None if last is None else stats.iso(last.ts),
        "age_s": None if last is None else round(now - last.ts, 1),
        "ok": None if last is None else last.ok,
        "latency_ms": None if last is None else last.latency_ms,
        "failure_class": last.cls if last else None, "message": last.message if last else None,
        "diagnosis": last.diagnosis if last else None, "trace_id": last.trace_id if last else None,
        "attempts": last.attempts if last else None, "run_id": last.run_id if last else None,
        "bar": [{"run_id": r.run_id, "at": stats.iso(r.ts), "ok": r.ok, "class": r.cls} for r in reversed(rows)],
        "availability": {w: stats.availability(*counts[w]) if w in counts else None for w in stats.WINDOWS_S},
        "p50_ms": stats.percentile(latencies, 50), "p95_ms": stats.percentile(latencies, 95),
    }


def _location_state(alert: Mapping[str, Any], loc: str) -> Any:
    """The alert state in one location: the check's own state where this location is failing (or
    the whole check is silenced or blocked), `degraded` or `ok` where it is not."""
    check_state = alert.get("state")
    per_loc = alert.get("locations")
    entry = per_loc.get(loc) if isinstance(per_loc, dict) else None
    if not isinstance(entry, dict):
        return check_state
    if check_state in ("maintenance", "blocked"):
        return check_state
    if entry.get("failing"):
        return check_state if check_state in ("firing", "failing") else "failing"
    return "degraded" if entry.get("degraded") else "ok"


def state_of(raw: Any, last: Row | None, unreadable: bool) -> str:
    """The shown state: the alert state when it is one we know; `failing` for a failure not (yet)
    firing; `unknown` when the state cannot be read, is not one we know, or nothing ran yet."""
    if unreadable or last is None:
        return "unknown"
    if raw is None:
        raw = "ok"
    if raw not in STATES:
        return "unknown"
    if raw == "ok" and not last.ok:
        return "failing"
    return str(raw)


def _latest_row(r: ProbeResult, location: str, now: float) -> Row:
    return Row(ts=now, location=location, check=r.name, ok=r.ok, cls=r.failure.cls if r.failure else None,
               message=r.failure.message if r.failure else None, latency_ms=r.latency_ms, run_id="",
               phases_ms=dict(r.phases_ms), target=r.target, diagnosis=r.diagnosis)
