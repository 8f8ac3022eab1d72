"""Memory of the gunicorn worker: idle after start, after one run of 200 checks, after 10 runs.

Runs are `GET /probe` for all checks (published to the local sinks), against the loopback target:
half HTTP, half HTTPS.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.configs import http_fleet, local_sinks, write_config
from bench.service import Service
from bench.target import Target


def fleet(target: Target, n: int, hold_ms: float = 0, prefix: str = "c", **extra: Any) -> list[dict[str, Any]]:
    """`n` HTTP checks against the target, alternating http and https."""
    urls = [target.url("https" if i % 2 else "http", hold_ms) for i in range(n)]
    return http_fleet(urls, target.ca_file, prefix, **extra)


def run(target: Target, checks: int, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="synthmon-bench-mem-") as tmp:
        directory = Path(tmp)
        config = write_config(directory / "synthmon.yaml", fleet(target, checks), location="bench",
                              run_timeout_s=30, sinks=local_sinks(directory))
        service = Service(config, directory)
        try:
            time.sleep(0.5)
            out: dict[str, Any] = {"checks": checks, "runs": runs, "command": service.source,
                                   "idle_rss_mib": service.rss_mib(), "run_wall_s": [], "all_ok": True,
                                   "launch_to_healthz_ms": (service.ready - service.launched) * 1000}
            for i in range(runs):
                t0 = time.perf_counter()
                report = service.get("/probe")
                out["run_wall_s"].append(time.perf_counter() - t0)
                out["all_ok"] &= len(report["results"]) == checks and all(r["ok"] for r in report["results"])
                if i == 0:
                    out["after_1_run_rss_mib"] = service.rss_mib()
            out["after_runs_rss_mib"] = service.rss_mib()
            out["peak_rss_mib"] = service.peak_rss_mib()
        finally:
            service.close()
    return out
