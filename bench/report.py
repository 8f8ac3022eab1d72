"""Turns the raw measurements into the figures tables of bench/README.md (between the markers)."""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"


def med(values: Sequence[float]) -> float:
    return statistics.median(values)


def fig(values: Sequence[float] | float | None, digits: int = 2) -> str:
    """`median (min–max)` of a list, or the single figure."""
    if values is None:
        return "—"
    if isinstance(values, int | float):
        return f"{values:.{digits}f}"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{med(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def _met(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "**missed**")


def targets(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(target, synthmon, blackbox_exporter, ratio, verdict) rows for the issue-8 targets."""
    rows: list[tuple[str, str, str, str, str]] = []
    tp = r.get("throughput", {})
    for scheme, limit in (("http", 0.25), ("https", 0.7)):
        s, b = tp.get(f"synthmon_{scheme}"), tp.get(f"blackbox_{scheme}")
        if s is None:
            continue
        ratio = med(s["cpu_ms_per_probe"]) / med(b["cpu_ms_per_probe"]) if b else None
        rows.append((f"CPU per {scheme.upper()} probe ≤ {limit}× blackbox_exporter",
                     f"{med(s['cpu_ms_per_probe']):.3f} ms", f"{med(b['cpu_ms_per_probe']):.3f} ms" if b else "—",
                     f"{ratio:.2f}×" if ratio is not None else "—", _met(None if ratio is None else ratio <= limit)))
    acc = r.get("accuracy", {}).get("cells", {})
    if acc:
        pooled = {c: [e for h in r["accuracy"]["holds_ms"] for e in acc.get(f"{c}/http/{h}", {}).get(
            "total_error_ms", [])] for c in ("synthmon", "blackbox", "curl")}
        s_err = med(pooled["synthmon"])
        b_err = med(pooled["blackbox"]) if pooled["blackbox"] else None
        rows.append(("median HTTP accuracy error (total − held) ≤ 0.5 ms", f"{s_err:.2f} ms",
                     f"{b_err:.2f} ms" if b_err is not None else "—",
                     f"{s_err / b_err:.2f}×" if b_err else "—", _met(s_err <= 0.5)))
    cold = r.get("cold_start", {}).get("first_healthz_ms")
    if cold:
        rows.append(("cold start to first `/healthz` ≤ 300 ms", _mmm(cold, 0) + " ms", "—", "—",
                     _met(cold["median"] <= 300)))
    mem = r.get("memory", {})
    if mem.get("idle_rss_mib") is not None:
        rows.append(("idle worker RSS ≤ 60 MiB", f"{mem['idle_rss_mib']:.1f} MiB", "—", "—",
                     _met(mem["idle_rss_mib"] <= 60)))
    inproc = r.get("load", {}).get("in_process")
    if inproc:
        rows.append((f"a run of {inproc['checks']} loopback checks ≤ 1 s wall (probing + local publishing)",
                     fig(inproc["wall_s"]) + " s", "—", "—", _met(med(inproc["wall_s"]) <= 1.0)))
    return rows


def _mmm(d: dict[str, float], digits: int = 1) -> str:
    return f"{d['median']:.{digits}f} ({d['min']:.{digits}f}–{d['max']:.{digits}f})"


def render(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [
        f"Measured {r['date']} by `{r['command']}` in {r['runtime_s']:.0f} s on {m['cpu']} "
        f"({m['cores']} cores, {m['memory_gib']:.0f} GiB), Linux {m['kernel']}; Python {m['python']}, "
        f"{m['pycurl']}; curl {m['curl']}; {m['blackbox']}; PostgreSQL {m.get('postgres', '—')}.",
        "Figures are median (min–max).",
        "",
    ]
    if r.get("blackbox_missing"):
        lines += [f"**blackbox_exporter could not be installed ({r['blackbox_missing']}): "
                  "absolute figures only, no ratios.**", ""]
    lines += ["### Targets (issue 8)", "", "| target | synthmon | blackbox_exporter | ratio | |",
              "|---|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in targets(r)]
    lines += _accuracy(r.get("accuracy")) + _throughput(r.get("throughput")) + _streams(r)
    lines += _cold(r.get("cold_start")) + _memory(r.get("memory")) + _load(r.get("load"))
    return "\n".join(lines) + "\n"


def _accuracy(a: dict[str, Any] | None) -> list[str]:
    if not a:
        return []
    clients = [c for c in ("synthmon", "blackbox", "curl") if any(k.startswith(c + "/") for k in a["cells"])]
    out = ["", f"### Accuracy: reported minus held, ms ({a['samples']} samples per cell)", "",
           "| scheme | server hold | " + " | ".join(f"{c} total | {c} TTFB" for c in clients) + " |",
           "|---|---|" + "---|---|" * len(clients)]
    for scheme in ("http", "https"):
        for hold in a["holds_ms"]:
            cells = [a["cells"][f"{c}/{scheme}/{hold}"] for c in clients]
            out.append(f"| {scheme.upper()} | {hold} ms | " + " | ".join(
                f"{fig(c['total_error_ms'])} | {fig(c['ttfb_error_ms'])}" for c in cells) + " |")
    return out


def _throughput(t: dict[str, Any] | None) -> list[str]:
    if not t:
        return []
    out = ["", f"### CPU and throughput: {t['n']} probes at concurrency {t['concurrency']}, fresh connection each "
               f"({t['batches']} batches)", "",
           "| prober | scheme | CPU ms / probe | probes/s | wall s | peak RSS MiB | ok |", "|---|---|---|---|---|---|---|"]
    for who, label in (("synthmon", "synthmon"), ("pycurl", "bare pycurl (reference)"), ("blackbox", "blackbox")):
        for scheme in ("http", "https"):
            x = t.get(f"{who}_{scheme}")
            if x:
                out.append(f"| {label} | {scheme.upper()} | {fig(x['cpu_ms_per_probe'], 3)} | {fig(x['probes_per_s'], 0)} "
                           f"| {fig(x['wall_s'])} | {x['peak_rss_mib']:.1f} | {min(x['ok'])}/{x['n']} |")
    return out


def _streams(r: dict[str, Any]) -> list[str]:
    out: list[str] = []
    ws, pg = r.get("websocket"), r.get("postgres")
    if ws or pg:
        out += ["", "### WebSocket golden path and PostgreSQL", "", "| measurement | ms |", "|---|---|"]
    if ws:
        out += [f"| golden path: event arrival minus the server's send offset, per event ({ws['probes']} probes "
                f"× 5 events, {ws['spacing_ms']:g} ms apart) | {fig(ws['event_added_ms'])} |",
                f"| golden path: last event after the message minus 5 × {ws['spacing_ms']:g} ms nominal "
                f"| {fig(ws['last_event_vs_nominal_ms'])} |",
                f"| golden path: whole probe (login, connect, hello, 5 events, close) | {fig(ws['probe_latency_ms'])} |"]
    if pg and "cells" in pg:
        for name, c in pg["cells"].items():
            label = "direct, no proxy" if name == "direct" else f"through the proxy, {c['delay_ms']:g} ms each way"
            out.append(f"| PostgreSQL `SELECT 1` round trip minus 2 × delay, {label} ({pg['probes']} probes × "
                       f"{pg['samples']} samples) | {fig(c['error_ms'])} |")
    elif pg:
        out.append(f"| PostgreSQL | skipped: {pg.get('skipped', pg.get('error'))} |")
    return out


def _cold(c: dict[str, Any] | None) -> list[str]:
    if not c:
        return []
    out = ["", "### Cold start", "", "| measurement | figure |", "|---|---|"]
    if "first_healthz_ms" in c:
        out += [f"| launch to first `/healthz` 200, `{c['command']}` with {c['config']} ({c['runs']} runs, "
                f"bench/cold_start.py), ms | {_mmm(c['first_healthz_ms'], 0)} |",
                f"| idle worker RSS then, MiB | {c['idle_worker_rss_mib']:.1f} |"]
    else:
        out.append(f"| launch to first `/healthz` 200 | not measured: {c.get('missing')} |")
    f = c["first_run"]
    out += [f"| first run after start, building the Cloud Monitoring and Pub/Sub clients ({f['checks']} checks, "
            f"sinks against a loopback gRPC server), ms | {f['first_run_ms']:.0f} |",
            f"| the runs after it, ms | {fig(f['later_runs_ms'], 0)} |",
            f"| worker RSS after those runs, MiB | {f['rss_after_mib']:.1f} |"]
    return out


def _memory(m: dict[str, Any] | None) -> list[str]:
    if not m:
        return []
    return ["", f"### Memory of the gunicorn worker ({m['command']}; {m['checks']} checks per run via `GET /probe`)",
            "", "| state | RSS MiB |", "|---|---|",
            f"| idle, after the first `/healthz` | {m['idle_rss_mib']:.1f} |",
            f"| after 1 run | {m['after_1_run_rss_mib']:.1f} |",
            f"| after {m['runs']} runs | {m['after_runs_rss_mib']:.1f} |",
            f"| peak (VmHWM) | {m['peak_rss_mib']:.1f} |",
            "", f"Run wall through `/probe`: {fig(m['run_wall_s'])} s; every result arrived and passed: "
                f"{'yes' if m['all_ok'] else '**no**'}. Launch to first `/healthz` 200 with this config: "
                f"{m['launch_to_healthz_ms']:.0f} ms."]


def _load(ld: dict[str, Any] | None) -> list[str]:
    if not ld:
        return []
    i, s = ld["in_process"], ld["service"]
    return [
        "", "### Load", "",
        "| measurement | figure |", "|---|---|",
        f"| in process: run of {i['checks']} checks (half HTTPS) incl. local publishing, wall s ({i['runs']} runs) "
        f"| {fig(i['wall_s'])} |",
        f"| in process: probing part of that run, s | {fig(i['probing_s'])} |",
        f"| in process: CPU s per run | {fig(i['cpu_s'])} |",
        f"| in process: peak RSS MiB | {i['peak_rss_mib']:.1f} |",
        f"| in process: every result arrived and passed | {'yes' if i['all_arrived'] else '**no**'} |",
        f"| service: `POST /run` of {s['checks']} checks (target holds {s['fleet_hold_ms']} ms), wall s "
        f"| {s['run_wall_s']:.2f} |",
        f"| service: {s['calls']} concurrent `GET /probe` during that run, wall s | {fig(s['probe_wall_s'])} |",
        f"| service: worker CPU s for all of it | {s['worker_cpu_s']:.2f} |",
        f"| service: worker peak RSS MiB | {s['worker_peak_rss_mib']:.1f} |",
        f"| service: results arrived | run {'all' if s['run_all_arrived'] else '**not all**'}; "
        f"/probe {s['probe_all_arrived']}/{s['calls']} ({s['probes_during_run']} started while the run was going) |",
    ]


def write_readme(path: Path, body: str) -> None:
    text = path.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"{path}: markers {BEGIN} / {END} not found")
    path.write_text(pattern.sub(lambda _: f"{BEGIN}\n{body}{END}", text))
