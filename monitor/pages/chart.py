"""A latency-over-time chart by phase as inline SVG, drawn on the server (no script, no CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.pages.html import e

PHASE_COLOURS = ("#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#c62828", "#5d4037", "#455a64")
W, H, PAD_L, PAD_B, PAD_T = 720, 260, 56, 28, 10
MAX_POINTS = 240  # buckets across the chart: a day of one-minute results is averaged 6 to a point


def series(rows: Sequence[Any], start: float, end: float) -> dict[str, list[tuple[float, float]]]:
    """Per phase (and `total`): (bucket middle time, mean ms) over at most MAX_POINTS buckets."""
    span = max(end - start, 1.0)
    width = span / MAX_POINTS
    sums: dict[str, dict[int, list[float]]] = {}
    for r in rows:
        b = min(MAX_POINTS - 1, int((r.ts - start) / width))
        for name, v in [("total", r.latency_ms), *r.phases_ms.items()]:
            if v is not None:
                acc = sums.setdefault(name, {}).setdefault(b, [0.0, 0.0])
                acc[0] += v
                acc[1] += 1
    return {name: [(start + (b + 0.5) * width, s / n) for b, (s, n) in sorted(buckets.items())]
            for name, buckets in sums.items()}


def svg(lines: dict[str, list[tuple[float, float]]], start: float, end: float) -> str:
    if not lines:
        return "<p>no latency measured in this period</p>"
    top = max(v for pts in lines.values() for _, v in pts) * 1.1 or 1.0
    plot_w, plot_h = W - PAD_L - 8, H - PAD_B - PAD_T

    def x(t: float) -> float:
        return PAD_L + (t - start) / max(end - start, 1.0) * plot_w

    def y(v: float) -> float:
        return PAD_T + plot_h - v / top * plot_h

    out = [f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
           f'aria-label="latency by phase" xmlns="http://www.w3.org/2000/svg" font-size="11">']
    for i in range(5):
        v = top * i / 4
        out.append(f'<line x1="{PAD_L}" x2="{W - 8}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#eee"/>'
                   f'<text x="{PAD_L - 4}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.0f} ms</text>')
    names = ["total", *sorted(n for n in lines if n != "total")]
    legend = []
    for i, name in enumerate(names):
        colour = "#212121" if name == "total" else PHASE_COLOURS[i % len(PHASE_COLOURS)]
        pts = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in lines[name])
        width = 2 if name == "total" else 1.2
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="{width}" points="{pts}" '
                   f'data-phase="{e(name)}"/>')
        if len(lines[name]) == 1:  # a line of one point draws nothing
            (t, v), = lines[name]
            out.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"/>')
        legend.append(f'<span style="color:{colour}">■ {e(name)}</span>')
    out.append(f'<text x="{PAD_L}" y="{H - 8}">{_clock(start)}</text>'
               f'<text x="{W - 8}" y="{H - 8}" text-anchor="end">{_clock(end)}</text></svg>')
    per_s = (end - start) / MAX_POINTS
    return "".join(out) + f'<div class="nums">{" ".join(legend)} (mean per {per_s:.{0 if per_s >= 10 else 1}f} s)</div>'


def _clock(ts: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%m-%d %H:%M UTC")
