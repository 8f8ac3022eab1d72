"""`make bench`: every measurement of issue 8 (and the load part of issue 9) in one run, side by side.

Writes the raw figures to bench/out/results.json and, after a full run without failures, rewrites
the figures between the markers in bench/README.md. `--quick` is a smoke run with small counts that
leaves the README alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path[0] = str(ROOT)  # run as a script: import `bench.*`, and never bench/ modules as top-level names

from bench import accuracy, blackbox, first_run, load, memory, postgres, report, throughput, websocket  # noqa: E402
from bench.target import Target  # noqa: E402

FULL = {"accuracy_samples": 25, "tp_n": 2000, "tp_batches": 3, "ws_probes": 30, "pg_probes": 10,
        "pg_samples": 5, "mem_checks": 200, "mem_runs": 10, "load_checks": 200, "load_runs": 5}
QUICK = {"accuracy_samples": 3, "tp_n": 300, "tp_batches": 1, "ws_probes": 3, "pg_probes": 2,
         "pg_samples": 3, "mem_checks": 50, "mem_runs": 2, "load_checks": 50, "load_runs": 2}


def machine(bb_path: str | None) -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))
    import pycurl

    curl = subprocess.run(["curl", "--version"], capture_output=True, text=True, check=False).stdout.split()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem_kib / 1024 / 1024, "kernel": platform.release(),
            "python": platform.python_version(), "pycurl": pycurl.version.split()[0] + " " + pycurl.version.split()[1],
            "curl": curl[1] if len(curl) > 1 else "unknown",
            "blackbox": blackbox.version(bb_path) if bb_path else "blackbox_exporter not installed"}


def cold_start(target: Target, quick: bool) -> dict[str, Any]:
    """bench/cold_start.py (the service's own measurement) when present, plus the first run's Google clients."""
    out: dict[str, Any] = {"first_run": first_run.run(target, 20 if quick else 200)}
    script = ROOT / "bench" / "cold_start.py"
    if not script.exists():
        out["missing"] = "bench/cold_start.py is not there: launch to first /healthz only in the memory section"
        return out
    done = subprocess.run([sys.executable, str(script), "--runs", "2" if quick else "9", "--json"],
                          capture_output=True, text=True, cwd=ROOT, check=True, timeout=300)
    out.update(json.loads(done.stdout))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run (README untouched)")
    parser.add_argument("--only", action="append", default=[],
                        help="run only these sections (accuracy, throughput, websocket, postgres, cold_start, "
                             "memory, load); README untouched")
    args = parser.parse_args(argv)
    p = QUICK if args.quick else FULL
    started = time.perf_counter()
    bb_path, missing = blackbox.ensure()
    if bb_path is None:
        print(f"bench: blackbox_exporter could not be installed: {missing}\n"
              "bench: reporting absolute figures only, no ratios", file=sys.stderr, flush=True)
    results: dict[str, Any] = {"date": dt.date.today().isoformat(), "params": p, "machine": machine(bb_path),
                               "blackbox_missing": missing or None, "failed": {}}
    results["command"] = "make bench" if not (args.quick or args.only) else "python bench/run.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory(prefix="synthmon-bench-") as tmp, Target(Path(tmp)) as target:
        bb = blackbox.Blackbox(bb_path, Path(tmp), target.ca_file) if bb_path else None
        sections: dict[str, Callable[[], Any]] = {
            "accuracy": lambda: accuracy.run(target, bb, p["accuracy_samples"]),
            "throughput": lambda: throughput.run(target, bb, p["tp_n"], 50, p["tp_batches"]),
            "websocket": lambda: websocket.run(p["ws_probes"]),
            "postgres": lambda: postgres.run(p["pg_probes"], p["pg_samples"]),
            "cold_start": lambda: cold_start(target, args.quick),
            "memory": lambda: memory.run(target, p["mem_checks"], p["mem_runs"]),
            "load": lambda: load.run(target, p["load_checks"], p["load_runs"]),
        }
        try:
            for name, section in sections.items():
                if args.only and name not in args.only:
                    continue
                t0 = time.perf_counter()
                print(f"bench: {name} ...", end=" ", flush=True)
                try:
                    results[name] = section()
                    print(f"{time.perf_counter() - t0:.1f} s", flush=True)
                except Exception as exc:  # a broken section is reported; the others still run
                    results["failed"][name] = f"{exc.__class__.__name__}: {exc}"
                    print(f"FAILED\n{traceback.format_exc()}", file=sys.stderr, flush=True)
        finally:
            if bb is not None:
                bb.close()
    if "postgres" in results:
        results["machine"]["postgres"] = results["postgres"].get("version", "—")
    results["runtime_s"] = time.perf_counter() - started
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    body = report.render(results)
    print(body)
    if results["failed"]:
        print(f"bench: failed sections: {', '.join(results['failed'])}; README not rewritten", file=sys.stderr)
        return 1
    if not (args.quick or args.only):
        report.write_readme(ROOT / "bench" / "README.md", body)
        print(f"bench: figures written to bench/README.md ({results['runtime_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
