"""History benchmark: /status and /status/<check> render time over days of one-minute history, the
size of history per check-month, and the write cost a run pays.

    .venv/bin/python bench/history.py                 # 50 checks x 30 days (2.16 M rows) and 50 x 7 days
    .venv/bin/python bench/history.py --checks 10 --days 1 --requests 5    # smoke run

Rows are synthetic (2 % failures in streaks, http phases) and written straight into the store; the
pages are rendered by the real Flask app (test client, so no socket time) for a config of that many
HTTP checks. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path[0] = str(ROOT)

from monitor import config as config_mod  # noqa: E402
from monitor.app import create_app  # noqa: E402
from monitor.history import History, Row  # noqa: E402
from monitor.history_sqlite import SqliteHistory  # noqa: E402
from probes.result import ProbeResult, RunReport  # noqa: E402


def fill(path: Path, checks: int, days: int, now: float) -> float:
    """One row per check per minute for `days`; returns seconds taken."""
    store = SqliteHistory(str(path))
    rng = random.Random(1)
    started = time.monotonic()
    minutes = days * 1440
    chunk: list[Row] = []
    failing = {c: 0 for c in range(checks)}
    for m in range(minutes):
        ts = now - (minutes - m) * 60
        for c in range(checks):
            if failing[c] == 0 and rng.random() < 0.004:
                failing[c] = rng.randint(1, 10)
            bad = failing[c] > 0
            failing[c] = max(0, failing[c] - 1)
            phases = {"dns": round(rng.uniform(0.1, 2), 2), "connect": round(rng.uniform(1, 5), 2),
                      "tls": round(rng.uniform(5, 15), 2), "ttfb": round(rng.uniform(10, 80), 2),
                      "transfer": round(rng.uniform(0.1, 1), 2)}
            chunk.append(Row(ts=ts, location="us-central1", check=f"check-{c:03d}", ok=not bad,
                             cls="unavailable" if bad else None, message="HTTP 503 Service Unavailable" if bad else None,
                             latency_ms=round(sum(phases.values()), 2), run_id=f"{m:06d}{c:03d}", phases_ms=phases,
                             trace_id=f"{rng.getrandbits(128):032x}", target=f"https://svc-{c}.example.com/health",
                             diagnosis="the service answers 503" if bad else None))
        if len(chunk) >= 50_000:
            store.write(chunk)
            chunk = []
    store.write(chunk)
    store.close()
    return time.monotonic() - started


def config_file(tmp: Path, checks: int, history: Path) -> Path:
    lines = ["location: us-central1", "sinks:", "  metrics: [local]", f"  state: sqlite:///{tmp}/state.db",
             f"  history: sqlite:///{history}", f"  results_file: {tmp}/r.jsonl", f"  alerts_file: {tmp}/a.jsonl",
             "checks:"]
    for c in range(checks):
        lines += [f"  - name: check-{c:03d}", "    type: http", f"    url: https://svc-{c}.example.com/health"]
        if c % 5 == 0:
            lines.append("    slo: {objective: 0.995, window_days: 28}")
    path = tmp / f"bench-{checks}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def timed(client: Any, url: str, n: int) -> dict[str, float]:
    """Wall time and CPU time of this process per request: on a shared machine the CPU time says
    what the page costs, the wall time what a user waited."""
    wall, cpu = [], []
    for _ in range(n):
        started, started_cpu = time.perf_counter(), time.process_time()
        r = client.get(url)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        assert r.status_code == 200, (url, r.status_code)
    wall.sort()
    cpu.sort()
    p95 = min(n - 1, int(0.95 * n))
    return {"p50_ms": round(statistics.median(wall), 1), "p95_ms": round(wall[p95], 1),
            "cpu_p50_ms": round(statistics.median(cpu), 1), "cpu_p95_ms": round(cpu[p95], 1), "n": n}


def pages(tmp: Path, history: Path, checks: int, n: int) -> dict[str, Any]:
    app = create_app(config_mod.load(config_file(tmp, checks, history)))
    client = app.test_client()
    out = {"status_html": timed(client, "/status?format=html", n), "status_json": timed(client, "/status?format=json", n),
           "check_page": timed(client, "/status/check-001?format=html", n)}
    app.extensions["synthmon"].monitor.close()
    return out


def write_cost(history: Path, checks: int, n: int) -> dict[str, float]:
    hist = History(SqliteHistory(str(history)), days=400)
    samples = []
    for i in range(n):
        results = [ProbeResult(f"check-{c:03d}", "http", "https://x", latency_ms=50.0,
                               phases_ms={"connect": 1.0, "ttfb": 40.0}, details={"trace_id": "0" * 32})
                   for c in range(checks)]
        report = RunReport(f"bench{i}", "t0", "t1", "us-central1", results)
        started = time.perf_counter()
        assert hist.record(report)
        samples.append((time.perf_counter() - started) * 1000)
    hist.close()
    samples.sort()
    return {"p50_ms": round(statistics.median(samples), 2), "p95_ms": round(samples[int(0.95 * n)], 2), "n": n}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checks", type=int, default=50)
    ap.add_argument("--days", type=int, nargs="+", default=[30, 7])
    ap.add_argument("--requests", type=int, default=20)
    args = ap.parse_args()
    now = time.time()
    out: dict[str, Any] = {"checks": args.checks, "runs": []}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for days in args.days:
            history = tmp / f"history-{days}d.db"
            fill_s = fill(history, args.checks, days, now)
            size = sum(p.stat().st_size for p in tmp.glob(f"history-{days}d.db*"))
            run = {"days": days, "rows": args.checks * days * 1440, "fill_s": round(fill_s, 1),
                   "bytes": size, "mib_per_check_month": round(size / args.checks / days * 30 / 2**20, 2),
                   "pages": pages(tmp, history, args.checks, args.requests)}
            if days == args.days[0]:
                run["pages_10_checks"] = pages(tmp, history, min(10, args.checks), args.requests)
                run["write_per_run"] = write_cost(history, args.checks, 200)
            out["runs"].append(run)
            print(json.dumps(run), file=sys.stderr, flush=True)
    out["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
