"""The Flask views of the on-call pages: parse the request, read history and alert state, render.

Only configured check names are accepted (anything else is a 404 or a 400), and /history is bounded.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request

from monitor import history_stats as stats
from monitor.history import History, HistoryError
from monitor.pages import check as check_page
from monitor.pages import html as html_page
from monitor.pages import status as status_doc
from monitor.traces import link

HISTORY_PARAMS = ("check", "since", "limit")
HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT = 500, 5000
MAX_HISTORY_S = 400 * 86400


# The app.extensions slot where create_app keeps the Service behind every route.
EXTENSION = "synthmon"


def _service() -> Any:
    return current_app.extensions[EXTENSION]


class _BadFormat(Exception):
    """`format` is neither json nor html: answered 400."""


def _wants_html() -> bool:
    """`format=json|html` (once) wins; else the Accept header (JSON unless a browser prefers HTML)."""
    values = request.args.getlist("format")
    if values:
        if len(values) > 1 or values[0] not in ("json", "html"):
            raise _BadFormat
        return values[0] == "html"
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def _bad_format(_: Exception) -> Any:
    return _error(400, "format must be given once, as json or html")


def _refresh_s() -> int:
    raw = request.args.get("refresh", "")
    return max(1, min(300, int(raw))) if raw.isdigit() else html_page.REFRESH_S


def _history() -> History | None:
    return getattr(_service().monitor.publisher, "history", None)


def _error(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify({"error": message, **extra}), status


def status() -> Any:
    service = _service()
    now = service.monitor.clock()
    doc = status_doc.document(service.monitor, service.active(), now)
    project = service.monitor.config.sinks.project_id
    for c in doc["checks"]:
        for cell in c["locations"]:
            cell["trace_url"] = link(project, cell.get("trace_id"))
    if _wants_html():
        return Response(html_page.status(doc, _refresh_s()), mimetype="text/html")
    return jsonify(doc)


def status_check(check: str) -> Any:
    monitor = _service().monitor
    if check not in monitor.config.check_names:
        return _error(404, f"unknown check {check!r}", valid_checks=list(monitor.config.check_names))
    hist = _history()
    if hist is None:
        return _error(503, "no history store configured")
    now = monitor.clock()
    try:
        cfg = monitor.config.check(check)
        doc = check_page.document(cfg, hist, now, monitor.redactor.text(cfg.target))
    except HistoryError as exc:
        return _error(503, f"history unreadable: {exc}")
    for f in doc["failures"]:
        f["trace_url"] = link(monitor.config.sinks.project_id, f.get("trace_id"))
    if _wants_html():
        return Response(check_page.html(doc, now), mimetype="text/html")
    return jsonify(doc)


def status_result(check: str, run_id: str) -> Any:
    monitor = _service().monitor
    hist = _history()
    if check not in monitor.config.check_names or hist is None or len(run_id) > 64:
        return _error(404, "no such result")
    try:
        row = hist.get(check, run_id)
    except HistoryError as exc:
        return _error(503, f"history unreadable: {exc}")
    if row is None:
        return _error(404, "no such result")
    url = link(monitor.config.sinks.project_id, row.trace_id)
    if _wants_html():
        return Response(check_page.result_html(row, monitor.clock(), url), mimetype="text/html")
    return jsonify(row.to_dict() | {"at": stats.iso(row.ts), "trace_url": url})


def history() -> Any:
    """GET /history?check=NAME[&since=1h|ISO|epoch][&limit=N]: raw results, newest first."""
    monitor = _service().monitor
    valid = list(monitor.config.check_names)
    args = request.args
    if any(k not in HISTORY_PARAMS for k in args) or any(len(args.getlist(k)) > 1 for k in args):
        return _error(400, "parameters: check (once), since, limit", valid_checks=valid)
    name = args.get("check", "")
    if name not in valid:
        return _error(400, "check must be the name of a configured check", valid_checks=valid)
    now = monitor.clock()
    try:
        since = stats.parse_since(args.get("since", "1h"), now)
        limit = int(args.get("limit", HISTORY_DEFAULT_LIMIT))
    except ValueError:
        return _error(400, "since: 90m, 24h, 7d, an ISO 8601 time or epoch seconds; limit: an integer")
    if not 1 <= limit <= HISTORY_MAX_LIMIT:
        return _error(400, f"limit must be 1..{HISTORY_MAX_LIMIT}")
    since = min(max(since, now - MAX_HISTORY_S), now)  # a time in the future means "nothing yet"
    hist = _history()
    if hist is None:
        return _error(503, "no history store configured")
    try:
        rows = hist.recent(name, limit=limit, since=since)
    except HistoryError as exc:
        return _error(503, f"history unreadable: {exc}")
    return jsonify({"check": name, "since": stats.iso(since), "limit": limit, "count": len(rows),
                    "truncated": len(rows) == limit,
                    "results": [r.to_dict() | {"at": stats.iso(r.ts)} for r in rows]})
