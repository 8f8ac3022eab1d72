"""/status/<check> (latency by phase, incidents, last failures) and /status/<check>/<run_id> (one result)."""

from __future__ import annotations

from typing import Any

from monitor import history_stats as stats
from monitor.history import History, Row
from monitor.pages import chart
from monitor.pages.html import age, e, ms, page, q, trace

CHART_S = 86400.0
INCIDENTS_S = 7 * 86400.0
ROW_LIMIT = 50_000  # a week of one-minute results for up to five locations


def document(check: Any, hist: History, now: float, target: str) -> dict[str, Any]:
    """JSON of the check page; `target` already redacted. Raises HistoryError when the history
    cannot be read."""
    rows = hist.recent(check.name, limit=ROW_LIMIT, since=now - INCIDENTS_S, light=True)[::-1]
    day = hist.recent(check.name, limit=ROW_LIMIT, since=now - CHART_S)[::-1]
    start = min(now - 60, day[0].ts) if day else now - CHART_S  # the chart spans what there is
    found = stats.incidents(rows, check.failure_threshold, check.success_threshold)
    for incident in found[-20:]:  # light rows carry no message: the first failure's, from its row
        first = next((r for r in rows if r.ts == incident.start and r.location == incident.location), None)
        full = hist.get(check.name, first.run_id) if first is not None else None
        incident.first_message = full.message if full is not None else None
    failures = hist.recent(check.name, limit=20, failures_only=True)
    return {
        "name": check.name, "type": check.type, "target": target,
        "latency_by_phase": {k: [[stats.iso(t), round(v, 2)] for t, v in pts]
                             for k, pts in chart.series(day, start, now).items()},
        "chart_start": stats.iso(start),
        "incidents": [i.to_dict(now) for i in reversed(found)],
        "incident_rule": f"{check.failure_threshold} consecutive failures open one; "
                         f"{check.success_threshold} consecutive passes close it",
        "failures": [r.to_dict() | {"at": stats.iso(r.ts)} for r in failures],
        "results_24h": len(day),
    }


def html(doc: dict[str, Any], now: float) -> str:
    lines = {k: [(stats.parse_since(t, now), v) for t, v in pts] for k, pts in doc["latency_by_phase"].items()}
    parts = [f'<p><a href="/status">← all checks</a></p><h1>{e(doc["name"])} <small>{e(doc["type"])}</small></h1>',
             f'<div class="target">{e(doc["target"])}</div>',
             f'<h2>Latency by phase, last 24 h ({doc["results_24h"]} results)</h2>',
             chart.svg(lines, stats.parse_since(doc["chart_start"], now), now),
             f'<h2>Incidents, last 7 days</h2><p class="nums">{e(doc["incident_rule"])}</p>']
    if doc["incidents"]:
        rows = "".join(
            f'<tr data-open="{str(i["open"]).lower()}"><td>{e(i["location"])}</td><td>{e(i["start"])}</td>'
            f'<td>{"<b>ongoing</b>" if i["open"] else e(i["end"])}</td><td>{_duration(i["duration_s"])}</td>'
            f'<td>{e(", ".join(i["classes"]))}</td><td>{i["failures"]}</td><td class="msg">{e(i["message"])}</td></tr>'
            for i in doc["incidents"])
        parts.append('<div class="scroll"><table id="incidents"><tr><th>location</th><th>start</th><th>resolved</th>'
                     f'<th>duration</th><th>classes</th><th>failures</th><th>first message</th></tr>{rows}</table></div>')
    else:
        parts.append('<p id="incidents">none</p>')
    parts.append("<h2>Last 20 failures</h2>")
    if doc["failures"]:
        rows = "".join(
            f'<tr><td><a href="/status/{q(doc["name"])}/{q(f["run_id"])}">{e(f["at"])}</a></td>'
            f'<td>{e(f["location"])}</td><td>{e(f["failure_class"])}</td><td class="msg">{e(f["message"])}</td>'
            f'<td class="msg">{trace(f["trace_id"], f.get("trace_url"))}</td></tr>' for f in doc["failures"])
        parts.append('<div class="scroll"><table id="failures"><tr><th>when</th><th>location</th><th>class</th>'
                     f'<th>message</th><th>trace id</th></tr>{rows}</table></div>')
    else:
        parts.append("<p>none in the history</p>")
    return page(f"synthmon {doc['name']}", "".join(parts))


def result_html(row: Row, now: float, trace_url: str | None = None) -> str:
    """Everything recorded about one result: the page each bar links to (its trace id links to
    Cloud Trace when the project is known)."""
    fields = [("check", row.check), ("location", row.location), ("time", stats.iso(row.ts)),
              ("age", age(now - row.ts)), ("result", "pass" if row.ok else "fail"),
              ("failure class", row.cls), ("message", row.message), ("diagnosis", row.diagnosis),
              ("latency", ms(row.latency_ms)), ("trace id", row.trace_id), ("attempts", row.attempts),
              ("run id", row.run_id), ("target", row.target)]
    body = "".join(f'<tr><th>{e(k)}</th><td class="msg">'
                   f'{trace(v, trace_url) if k == "trace id" else e("—" if v is None else v)}</td></tr>'
                   for k, v in fields)
    phases = "".join(f"<tr><th>{e(k)}</th><td>{ms(v)}</td></tr>" for k, v in row.phases_ms.items())
    return page(f"synthmon {row.check} result",
                f'<p><a href="/status/{q(row.check)}">← {e(row.check)}</a></p><h1>{e(row.check)} at '
                f'{e(stats.iso(row.ts))}</h1><table id="result">{body}</table><h2>Phases</h2>'
                f'<table id="phases">{phases or "<tr><td>none recorded</td></tr>"}</table>', refresh_s=0)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
