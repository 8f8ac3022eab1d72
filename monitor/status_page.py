"""What /status shows: per check its alert state, latest result and since when; as JSON or a small HTML table."""

from __future__ import annotations

import html as html_mod
from typing import Any

from monitor.pipeline import Monitor

REFRESH_S = 15


def document(monitor: Monitor, active: list[dict[str, Any]]) -> dict[str, Any]:
    """The /status JSON: one entry per configured check, in config order, plus the last run."""
    alerts = monitor.publisher.alert_states()
    latest = dict(monitor.latest)
    checks = []
    for check in monitor.config.checks:
        result = latest.get(check.name)
        alert = alerts.get(check.name) or {}
        failure = result.failure if result else None
        checks.append({
            "name": check.name,
            "type": check.type,
            "interval_s": check.interval_s,
            "state": alert.get("state") or ("unknown" if result is None else "ok"),
            "ok": None if result is None else result.ok,
            "latency_ms": None if result is None or result.latency_ms is None else round(result.latency_ms, 1),
            "failure_class": failure.cls if failure else None,
            "message": failure.message if failure else None,
            "diagnosis": result.diagnosis if result else None,
            "since": alert.get("since"),
            "consecutive_failures": alert.get("consecutive_failures"),
        })
    report = monitor.last_report
    last_run = None if report is None else {
        "run_id": report.run_id, "started_at": report.started_at, "finished_at": report.finished_at,
        "ok": report.ok, "skipped": list(report.skipped),
    }
    return {"location": monitor.config.location, "last_run": last_run, "runs_in_progress": active,
            "checks": checks}


def html(doc: dict[str, Any]) -> str:
    """A page a browser can show during an incident; refreshes itself."""
    e = html_mod.escape
    rows = []
    for c in doc["checks"]:
        colour = {"ok": "#1e7e34", "firing": "#b00020"}.get(c["state"], "#666")
        if c["ok"] is False and c["state"] == "ok":
            colour = "#b26a00"  # failing, not (yet) over the alert threshold
        latency = "—" if c["latency_ms"] is None else f"{c['latency_ms']:.1f} ms"
        result = "—" if c["ok"] is None else ("pass" if c["ok"] else "fail")
        rows.append(
            f'<tr><td>{e(c["name"])}</td><td>{e(c["type"])}</td>'
            f'<td style="color:{colour};font-weight:bold">{e(c["state"])}</td><td>{result}</td>'
            f"<td>{latency}</td><td>{e(c['failure_class'] or '—')}</td><td>{e(c['since'] or '—')}</td>"
            f"<td>{e(c['diagnosis'] or c['message'] or '')}</td></tr>"
        )
    last = doc["last_run"]
    summary = "no run yet" if last is None else (
        f"last run {e(last['run_id'])} finished {e(last['finished_at'])}: {'ok' if last['ok'] else 'failing'}")
    if doc["runs_in_progress"]:
        summary += f"; {len(doc['runs_in_progress'])} run(s) in progress"
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="refresh" content="{REFRESH_S}"><title>synthmon status</title>'
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f3f3f3}</style>"
        f"</head><body><h1>synthmon — {e(doc['location'])}</h1><p>{summary}</p>"
        "<table><tr><th>check</th><th>type</th><th>state</th><th>last result</th><th>latency</th>"
        "<th>failure class</th><th>since</th><th>diagnosis</th></tr>"
        + "".join(rows) + "</table></body></html>"
    )
