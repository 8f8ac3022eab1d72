"""HTML of the on-call pages: the layout they share and the /status page. Everything from a check,
a target or a result goes through `e()`; nothing is loaded from elsewhere (works offline)."""

from __future__ import annotations

import html as html_mod
import urllib.parse
from typing import Any

REFRESH_S = 15
SYNTHETIC = "synthetic-"  # run ids of the demo's back-fill (monitor/demo_history.py)
CLASS_COLOURS = {
    "ok": "#2e7d32", "unavailable": "#c62828", "connect_refused": "#b71c1c", "connect_timeout": "#d32f2f",
    "dns": "#283593", "tls": "#00838f", "cert_expiring": "#0097a7", "http_status": "#d84315",
    "assertion": "#e65100", "timeout": "#ef6c00", "auth": "#6a1b9a", "ws_closed": "#ad1457",
    "ws_event_missing": "#c2185b", "ws_event_order": "#d81b60", "agent_error": "#880e4f",
    "db_error": "#4527a0", "vpc_latency": "#5e35b1", "internal": "#424242",
}
STATE_COLOURS = {"ok": "#2e7d32", "failing": "#e65100", "firing": "#c62828", "degraded": "#f9a825",
                 "blocked": "#6d4c41", "maintenance": "#1565c0", "unknown": "#616161"}
CSS = """
body{font-family:system-ui,sans-serif;margin:0;padding:0.5rem 1rem;color:#222;background:#fafafa}
h1{font-size:1.3rem;margin:.4rem 0}h2{font-size:1.1rem;margin:1rem 0 .4rem}
.err{background:#ffebee;border:1px solid #c62828;padding:.4rem .6rem;margin:.4rem 0}
.check{background:#fff;border:1px solid #ddd;border-radius:6px;margin:.6rem 0;padding:.5rem .7rem}
.head{display:flex;flex-wrap:wrap;gap:.3rem 1rem;align-items:baseline}
.head a.name{font-weight:600;font-size:1.05rem}
.target{font-family:monospace;font-size:.85rem;color:#555;overflow-wrap:anywhere}
.cells{display:flex;flex-wrap:wrap;gap:.6rem;margin-top:.4rem}
.cell{flex:1 1 22rem;min-width:0;border-left:4px solid #999;padding:.2rem .5rem}
.state{color:#fff;border-radius:3px;padding:0 .4rem;font-weight:600}
.msg{font-family:monospace;overflow-wrap:anywhere}.diag{color:#444;font-size:.9rem}
.bar{display:flex;gap:1px;height:1.6rem;margin:.3rem 0;max-width:40rem}
.bar a{flex:1 1 0;min-width:2px;border-radius:1px}.bar a:hover{outline:2px solid #000}
.nums{font-size:.85rem;color:#333}
table{border-collapse:collapse;font-size:.9rem;width:100%}td,th{border-bottom:1px solid #ddd;padding:3px 6px;
text-align:left;vertical-align:top}.scroll{overflow-x:auto}
svg{max-width:100%;height:auto;background:#fff;border:1px solid #ddd}
@media (max-width:600px){body{padding:.3rem .5rem}.cell{flex-basis:100%}}
"""
# Replace <main> with the freshly fetched one: the window keeps its scroll position (a meta
# refresh would jump back to the top). No script from elsewhere.
SCRIPT = """<script>
(function(){var s=%d;if(!s)return;setInterval(function(){fetch(location.href,{headers:{Accept:'text/html'}})
.then(function(r){return r.ok?r.text():null}).then(function(t){if(!t)return;
var d=new DOMParser().parseFromString(t,'text/html');var m=d.querySelector('main');
if(m)document.querySelector('main').replaceWith(m)}).catch(function(){})},s*1000)})();
</script>"""


def e(value: Any) -> str:
    return html_mod.escape("" if value is None else str(value), quote=True)


def q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def page(title: str, body: str, refresh_s: int = REFRESH_S) -> str:
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{e(title)}</title><style>{CSS}</style></head><body><main>{body}</main>"
            f"{SCRIPT % refresh_s}</body></html>")


def pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.2f}%"


def ms(v: float | None) -> str:
    return "—" if v is None else f"{v:.0f} ms"


def age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def trace(trace_id: object, url: str | None) -> str:
    """A trace id, linked to its Cloud Trace page when there is one (the URL is built, never taken
    from the result)."""
    if not trace_id:
        return "—"
    return f'<a href="{e(url)}">{e(trace_id)}</a>' if url else e(trace_id)


def state_badge(state: str) -> str:
    return f'<span class="state" style="background:{STATE_COLOURS.get(state, "#616161")}">{e(state)}</span>'


def bar(check: str, results: list[dict[str, Any]]) -> str:
    """One link per result, oldest left, coloured by failure class, to the result behind it."""
    links = []
    for r in results:
        cls = "ok" if r["ok"] else (r["class"] or "internal")
        synthetic = r["run_id"].startswith(SYNTHETIC)
        title = f'{r["at"]} {cls}' + (" (synthetic demo history)" if synthetic else "")
        links.append(f'<a href="/status/{q(check)}/{q(r["run_id"])}" title="{e(title)}" data-class="{e(cls)}" '
                     f'style="background:{CLASS_COLOURS.get(cls, "#424242")}{";opacity:.35" if synthetic else ""}" '
                     f'aria-label="{e(title)}"></a>')
    return f'<div class="bar">{"".join(links) or "<small>no results yet</small>"}</div>'


def status(doc: dict[str, Any], refresh_s: int = REFRESH_S) -> str:
    parts = [f"<h1>synthmon — {e(', '.join(doc['locations']))}</h1>"]
    last = doc["last_run"]
    parts.append("<p>" + ("no run in this process yet" if last is None else
                          f"last run here {e(last['run_id'])} finished {e(last['finished_at'])}: "
                          f"{'ok' if last['ok'] else 'failing'}")
                 + (f"; {len(doc['runs_in_progress'])} run(s) in progress" if doc["runs_in_progress"] else "")
                 + f" · page generated {e(doc['generated_at'])}</p>")
    parts += [f'<div class="err">{e(msg)}</div>' for msg in doc["errors"]]
    parts += [_window(w) for w in doc.get("maintenance", [])]
    if any(b["run_id"].startswith(SYNTHETIC) for c in doc["checks"] for loc in c["locations"] for b in loc["bar"]):
        parts.append('<p class="nums" id="synthetic-note">Faded bars are synthetic demo history written at start, '
                     "not measured; the bright ones are real results.</p>")
    for c in doc["checks"]:
        parts.append(_check(c))
    return page("synthmon status", "".join(parts), refresh_s)


def _window(w: dict[str, Any]) -> str:
    checks = "every check" if w["checks"] == "all" else ", ".join(w["checks"])
    now = f"open now, until {e(w['open_until'])}" if w["open_until"] else "closed"
    nxt = f"; next opens {e(w['next_start'])}" if w["next_start"] else ""
    return f'<p class="nums maintenance">Maintenance ({e(checks)}: {e(w["reason"])}): {now}{nxt}</p>'


def _check(c: dict[str, Any]) -> str:
    slo = c["slo"]
    slo_text = "" if slo is None else (
        f'<span class="nums">SLO {slo["objective"] * 100:g}% / {slo["window_days"]} d: budget left '
        f'{pct(slo["budget_left"])} (availability {pct(slo["availability"])})</span>')
    head = (f'<div class="head"><a class="name" href="/status/{q(c["name"])}">{e(c["name"])}</a>'
            f'{state_badge(c["state"])}<span>{e(c["type"])}</span>{slo_text}</div>'
            f'<div class="target">{e(c["target"])}</div>')
    cells = "".join(_cell(c["name"], loc) for loc in c["locations"])
    return f'<section class="check" id="check-{e(c["name"])}" data-state="{e(c["state"])}">{head}' \
           f'<div class="cells">{cells}</div></section>'


def _cell(check: str, loc: dict[str, Any]) -> str:
    colour = STATE_COLOURS.get(loc["state"], "#616161")
    failure = ""
    if loc["ok"] is False:
        failure = (f'<div><b>{e(loc["failure_class"])}</b>: <span class="msg">{e(loc["message"])}</span>'
                   + (f' <small>(attempts: {e(loc["attempts"])})</small>' if loc["attempts"] else "")
                   + f'</div><div class="diag">{e(loc["diagnosis"])}</div>'
                   + (f'<div class="nums">failing since {e(loc["since"])}</div>' if loc["since"] else "")
                   + (f'<div class="nums">trace {trace(loc["trace_id"], loc.get("trace_url"))}</div>'
                      if loc["trace_id"] else ""))
    av = loc["availability"]
    return (f'<div class="cell" style="border-color:{colour}" data-location="{e(loc["location"])}">'
            f'<div>{e(loc["location"])} {state_badge(loc["state"])} <small>last result {age(loc["age_s"])}, '
            f'{ms(loc["latency_ms"])}</small></div>{failure}{bar(check, loc["bar"])}'
            f'<div class="nums">availability 1 h {pct(av["1h"])} · 24 h {pct(av["24h"])} · 7 d {pct(av["7d"])}'
            f' · 30 d {pct(av["30d"])} · p50 {ms(loc["p50_ms"])} · p95 {ms(loc["p95_ms"])} (last 60)</div></div>')
