"""Cold start of the service as the container runs it: process start to the first /healthz 200 under the
Dockerfile's CMD (gunicorn, examples/demo.yaml), median of N runs, plus the idle worker's RSS.

    .venv/bin/python bench/cold_start.py [--runs 7] [--bin-dir .venv/bin] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def dockerfile_cmd() -> list[str]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    [cmd] = [line.split(None, 1)[1] for line in text.splitlines() if line.startswith("CMD ")]
    return list(json.loads(cmd))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthz_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def one_run(argv: list[str], bin_dir: Path, workdir: Path, timeout_s: float = 30.0) -> tuple[float, float, float]:
    """(seconds to the first /healthz 200, worker RSS MiB, arbiter RSS MiB)."""
    port = free_port()
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(workdir), "PORT": str(port),
           "SYNTHMON_BIND_HOST": "127.0.0.1", "SYNTHMON_CONFIG": str(ROOT / "examples" / "demo.yaml")}
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not healthz_ok(port):
            if proc.poll() is not None or time.perf_counter() - started > timeout_s:
                raise RuntimeError(f"no /healthz 200 (exit {proc.poll()})")
            time.sleep(0.002)
        elapsed = time.perf_counter() - started
        workers = children(proc.pid)
        return elapsed, rss_mib(workers[0]) if workers else float("nan"), rss_mib(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--bin-dir", default=str(Path(sys.executable).parent),
                    help="where gunicorn is (a venv's bin); default: this interpreter's")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = ap.parse_args()
    argv = dockerfile_cmd()
    with tempfile.TemporaryDirectory(prefix="synthmon-cold-") as tmp:
        one_run(argv, Path(args.bin_dir), Path(tmp))  # warm the page cache and .pyc files once
        runs = [one_run(argv, Path(args.bin_dir), Path(tmp)) for _ in range(args.runs)]
    first = sorted(r[0] * 1000 for r in runs)
    result = {
        "command": " ".join(argv), "config": "examples/demo.yaml", "runs": args.runs,
        "first_healthz_ms": {"median": round(statistics.median(first), 1), "min": round(first[0], 1),
                             "max": round(first[-1], 1)},
        "idle_worker_rss_mib": round(statistics.median(r[1] for r in runs), 1),
        "arbiter_rss_mib": round(statistics.median(r[2] for r in runs), 1),
    }
    if args.json:
        print(json.dumps(result))
    else:
        ms = result["first_healthz_ms"]
        print(f"cold start ({result['command']}, {result['config']}, {args.runs} runs): first /healthz 200 "
              f"after {ms['median']} ms median (min {ms['min']}, max {ms['max']})")
        print(f"idle gunicorn worker RSS {result['idle_worker_rss_mib']} MiB, arbiter {result['arbiter_rss_mib']} MiB")
    return 0


if __name__ == "__main__":
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.exit(main())
