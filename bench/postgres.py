"""PostgreSQL: the probe's `SELECT 1` round trip (phase `query`) against the true added delay.

A latency proxy (its own process) delays each direction by 0 or 50 ms; the error is the reported
median round trip minus twice the delay. The figure at 0 ms is the whole cost of a round trip through
the proxy, psycopg and the server; `direct` is the same probe without the proxy.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import pgserver
from bench.configs import make_check

ROOT = Path(__file__).resolve().parent.parent
DELAYS_MS = (0, 50)


def _probe_many(dsn: str, probes: int, samples: int) -> list[Any]:
    from probes import postgres as pg_probe

    check = make_check({"name": "db", "type": "postgres", "dsn": dsn, "samples": samples, "timeout_s": 20,
                        "vpc_latency_threshold_ms": 1000})

    async def main() -> list[Any]:
        await pg_probe.probe(check)  # warm-up: psycopg import and first connection
        return [await pg_probe.probe(check) for _ in range(probes)]

    return asyncio.run(main())


def _proxy(port: int, delay_ms: float) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.latency_proxy", "127.0.0.1", str(port), str(delay_ms)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def run(probes: int, samples: int) -> dict[str, Any]:
    bin_dir = pgserver.find_bin_dir()
    if bin_dir is None:
        return {"skipped": "PostgreSQL server binaries not found (initdb); `make postgres` installs them"}
    server = pgserver.PgServer(bin_dir)
    out: dict[str, Any] = {"probes": probes, "samples": samples, "version": "", "cells": {}}
    try:
        cases: list[tuple[str, float]] = [("direct", 0.0)]
        cases += [(f"proxy_{d}ms", float(d)) for d in DELAYS_MS]
        for name, delay in cases:
            proc = None
            port = server.port
            if name != "direct":
                proc, port = _proxy(server.port, delay)
            try:
                results = _probe_many(server.dsn(port), probes, samples)
            finally:
                if proc is not None:
                    assert proc.stdin is not None
                    proc.stdin.close()
                    proc.wait(timeout=10)
            bad = [r.failure for r in results if not r.ok]
            if bad:
                raise RuntimeError(f"postgres probe failed ({name}): {bad[0]}")
            v = int(results[0].details.get("server_version", 0))
            out["version"] = f"{v // 10000}.{v % 10000}"
            out["cells"][name] = {
                "delay_ms": delay,
                "query_ms": [r.phases_ms["query"] for r in results],
                "error_ms": [r.phases_ms["query"] - 2 * delay for r in results],
            }
    finally:
        server.close()
    return out
