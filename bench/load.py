"""Load: one run of 200 loopback checks, and 10 concurrent `/probe` calls while a run is in progress.

In process: `Monitor.run` over 200 HTTP checks (half HTTPS) with the local sinks, in a child process
(`python -m bench.load CONFIG RUNS`) that reports wall, probing time, CPU and peak RSS per run.
Service: the Dockerfile's gunicorn serving 200 fleet checks (each held 200 ms by the target, so that
the run is still going when the calls arrive) and 10 on-call checks; `POST /run` runs the fleet
(the on-call checks are not due) while 10 threads call `GET /probe?check=oncall-N` at once.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.configs import local_sinks, write_config
from bench.memory import fleet
from bench.service import Service
from bench.target import Target

ROOT = Path(__file__).resolve().parent.parent
ONCALL_CALLS = 10
FLEET_HOLD_MS = 200


def _runs(config_path: str, runs: int) -> dict[str, Any]:
    from monitor import config as config_mod
    from monitor.pipeline import Monitor

    monitor = Monitor(config_mod.load(config_path))
    monitor.run()  # warm-up: the state store's first rows, lazy imports
    out = []
    for _ in range(runs):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        report = monitor.run()
        out.append({"wall_s": time.perf_counter() - wall0, "probing_s": report.duration_ms / 1000,
                    "cpu_s": time.process_time() - cpu0, "results": len(report.results),
                    "ok": sum(r.ok for r in report.results)})
    return {"runs": out, "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def in_process(target: Target, checks: int, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="synthmon-bench-load-", dir="/var/tmp") as tmp:
        directory = Path(tmp)
        config = write_config(directory / "synthmon.yaml", fleet(target, checks), location="bench",
                              run_timeout_s=30, sinks=local_sinks(directory))
        done = subprocess.run([sys.executable, "-m", "bench.load", str(config), str(runs)], capture_output=True,
                              text=True, cwd=ROOT, check=True)
    raw = json.loads(done.stdout)
    rs = raw["runs"]
    return {"checks": checks, "runs": runs, "wall_s": [r["wall_s"] for r in rs],
            "probing_s": [r["probing_s"] for r in rs], "cpu_s": [r["cpu_s"] for r in rs],
            "all_arrived": all(r["results"] == checks and r["ok"] == checks for r in rs),
            "peak_rss_mib": raw["peak_rss_kib"] / 1024}


def service(target: Target, checks: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="synthmon-bench-svc-", dir="/var/tmp") as tmp:
        directory = Path(tmp)
        specs = fleet(target, checks, FLEET_HOLD_MS, "fleet", interval_s=1)
        specs += fleet(target, ONCALL_CALLS, 0, "oncall", interval_s=86400)
        config = write_config(directory / "synthmon.yaml", specs, location="bench", run_timeout_s=30,
                              sinks=local_sinks(directory))
        svc = Service(config, directory)
        try:
            svc.request("POST", "/run")  # the first scheduled run starts every check's schedule
            time.sleep(1.2)  # the fleet (interval 1 s) is due again, the on-call checks are not
            return _under_load(svc, checks)
        finally:
            svc.close()


def _under_load(svc: Service, checks: int) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    walls: dict[str, float] = {}

    def call(key: str, method: str, path: str) -> None:
        t0 = time.perf_counter()
        try:
            answers[key] = svc.request(method, path)
        except OSError as exc:
            answers[key] = {"error": str(exc)}
        walls[key] = time.perf_counter() - t0

    cpu0 = svc.cpu_s()
    run = threading.Thread(target=call, args=("run", "POST", "/run"))
    run.start()
    time.sleep(0.05)  # the run has claimed its checks and is probing
    calls = [threading.Thread(target=call, args=(f"oncall-{i}", "GET", f"/probe?check=oncall-{i}"))
             for i in range(ONCALL_CALLS)]
    for t in calls:
        t.start()
    for t in [run, *calls]:
        t.join()
    cpu = svc.cpu_s() - cpu0
    report = answers["run"]
    probes = [answers[f"oncall-{i}"] for i in range(ONCALL_CALLS)]
    run_ok = len(report.get("results", [])) == checks and all(r["ok"] for r in report["results"])
    probes_ok = [len(p.get("results", [])) == 1 and p["results"][0]["ok"] for p in probes]
    during = [report.get("started_at", "") <= p.get("started_at", "") <= report.get("finished_at", "")
              for p in probes]
    return {"checks": checks, "calls": ONCALL_CALLS, "fleet_hold_ms": FLEET_HOLD_MS,
            "run_wall_s": walls["run"], "probe_wall_s": [walls[f"oncall-{i}"] for i in range(ONCALL_CALLS)],
            "run_probing_s": report.get("duration_ms", 0) / 1000 if "duration_ms" in report else None,
            "worker_cpu_s": cpu, "worker_peak_rss_mib": svc.peak_rss_mib(),
            "run_all_arrived": run_ok, "probe_all_arrived": sum(probes_ok), "probes_during_run": sum(during)}


def run(target: Target, checks: int, runs: int) -> dict[str, Any]:
    return {"in_process": in_process(target, checks, runs), "service": service(target, checks)}


if __name__ == "__main__":
    print(json.dumps(_runs(sys.argv[1], int(sys.argv[2]))))
