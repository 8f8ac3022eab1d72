"""`synthmon report`: the availability report of a period, made only of recorded results.

Per check: results, availability, incidents (start, end, classes, duration), time to resolve and the
current state (its latest recorded result per location). The golden path is every websocket check:
its pass rate, and whether its last run in the period passed, which is the exit status (0 passed,
1 did not or never ran) so that a release can be gated on it.
"""

from __future__ import annotations

import json
from typing import Any

from monitor import history_stats as stats
from monitor.history import History

MAX_ROWS = 500_000  # per check: a year of one-minute results in one location


def build(config: Any, hist: History, since: float, now: float) -> dict[str, Any]:
    """The report document; raises HistoryError when the history cannot be read."""
    checks = []
    golden: list[dict[str, Any]] = []
    for check in config.checks:
        rows = hist.recent(check.name, limit=MAX_ROWS, since=since, light=True)[::-1]
        failures = sum(not r.ok for r in rows)
        found = stats.incidents(rows, check.failure_threshold, check.success_threshold)
        resolved = [i.duration_s(now) for i in found if i.end is not None]
        latest: dict[str, Any] = {}
        for r in rows:
            latest[r.location] = r
        entry = {
            "name": check.name, "type": check.type, "results": len(rows), "failures": failures,
            "availability": stats.availability(len(rows), failures),
            "incidents": [i.to_dict(now) for i in found],
            "time_to_resolve_s": None if not resolved else {
                "mean": round(sum(resolved) / len(resolved), 1), "max": round(max(resolved), 1)},
            "current": {loc: {"ok": r.ok, "at": stats.iso(r.ts), "failure_class": r.cls}
                        for loc, r in sorted(latest.items())},
        }
        checks.append(entry)
        if check.type == "websocket":
            last = rows[-1] if rows else None
            golden.append({"name": check.name, "runs": len(rows), "passed": len(rows) - failures,
                           "pass_rate": stats.availability(len(rows), failures),
                           "last_run_passed": None if last is None else last.ok,
                           "last_run_at": None if last is None else stats.iso(last.ts)})
    return {"since": stats.iso(since), "until": stats.iso(now), "location": config.location,
            "checks": checks, "golden_path": golden,
            # No websocket check configured: nothing to gate on (the text says so).
            "golden_path_passed": all(g["last_run_passed"] for g in golden)}


def markdown(doc: dict[str, Any]) -> str:
    out = [f"# synthmon report {doc['since']} → {doc['until']}", ""]
    if doc["golden_path"]:
        for g in doc["golden_path"]:
            last = {True: "passed", False: "FAILED", None: "never ran"}[g["last_run_passed"]]
            out.append(f"Golden path `{g['name']}`: {g['passed']}/{g['runs']} runs passed "
                       f"({_pct(g['pass_rate'])}); last run {last}" + (f" at {g['last_run_at']}" if g["last_run_at"] else ""))
    else:
        out.append("No golden path (websocket check) is configured.")
    out += ["", "| check | results | availability | incidents | time to resolve (mean / max) | current |",
            "|---|---|---|---|---|---|"]
    for c in doc["checks"]:
        ttr = c["time_to_resolve_s"]
        current = ", ".join(f"{loc}: {'ok' if v['ok'] else v['failure_class']}" for loc, v in c["current"].items())
        resolve = "—" if ttr is None else "{:.0f} s / {:.0f} s".format(ttr["mean"], ttr["max"])
        out.append(f"| {c['name']} | {c['results']} | {_pct(c['availability'])} | {len(c['incidents'])} | "
                   f"{resolve} | {current or 'no result'} |")
    incidents = [(c["name"], i) for c in doc["checks"] for i in c["incidents"]]
    if incidents:
        out += ["", "## Incidents", "", "| check | location | start | end | classes | duration |", "|---|---|---|---|---|---|"]
        out += [f"| {n} | {i['location']} | {i['start']} | {i['end'] or 'ongoing'} | {', '.join(i['classes'])} | "
                f"{i['duration_s']:.0f} s |" for n, i in incidents]
    return "\n".join(out) + "\n"


def render(doc: dict[str, Any], fmt: str) -> str:
    return json.dumps(doc) + "\n" if fmt == "json" else markdown(doc)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.2f}%"
