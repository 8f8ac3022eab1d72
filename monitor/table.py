"""A run report as a plain-text table for terminals."""

from __future__ import annotations

from probes.result import RunReport


def render(report: RunReport) -> str:
    rows = [("CHECK", "TYPE", "RESULT", "LATENCY", "CLASS", "MESSAGE")]
    for r in report.results:
        latency = "-" if r.latency_ms is None else f"{r.latency_ms:.1f} ms"
        rows.append((r.name, r.type, "ok" if r.ok else "FAIL", latency,
                     r.failure.cls if r.failure else "", (r.failure.message if r.failure else "")[:70]))
    for s in report.skipped:
        rows.append((s["name"], "", "skipped", "", "", s["reason"]))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + row[5]
             for row in rows]
    failed = sum(not r.ok for r in report.results)
    lines.append(f"run {report.run_id} at {report.started_at}: {len(report.results)} checks, "
                 f"{failed} failed, {report.duration_ms:.0f} ms")
    return "\n".join(line.rstrip() for line in lines)
