"""CPU per probe and throughput: N fresh-connection probes at concurrency C, synthmon vs blackbox_exporter,
with a bare libcurl multi loop in Python (no synthmon code) as the reference for what libcurl itself costs.

synthmon's probes run in a child process (`python -m bench.throughput URL N C CA BATCHES`) that
times each batch with `time.process_time` (all threads of the process) and reports its peak RSS;
blackbox_exporter's CPU comes from /proc/PID/stat around the same batches driven through `/probe`.
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import blackbox, procstat
from bench.target import Target

ROOT = Path(__file__).resolve().parent.parent


def _bare_pycurl(url: str, ca_file: str) -> Any:
    """The reference: one fresh-connection GET on libcurl's multi interface and nothing else (no
    phases, no judging, no result), with the probe's TLS verification."""
    import io
    import types

    import pycurl

    multis: dict[Any, Any] = {}

    async def get(_check: Any) -> Any:
        multi = multis.setdefault(asyncio.get_running_loop(), pycurl.AsyncCurlMulti())
        curl, body = pycurl.Curl(), io.BytesIO()
        for opt, value in ((pycurl.URL, url), (pycurl.CAINFO, ca_file), (pycurl.WRITEDATA, body),
                           (pycurl.FRESH_CONNECT, 1), (pycurl.FORBID_REUSE, 1), (pycurl.NOSIGNAL, 1)):
            curl.setopt(opt, value)
        try:
            await multi.add_handle(curl)
            ok = curl.getinfo(pycurl.RESPONSE_CODE) == 200
        except pycurl.error:
            ok = False
        curl.close()
        return types.SimpleNamespace(ok=ok)

    return get


def _synthmon_batches(url: str, n: int, concurrency: int, ca_file: str, batches: int,
                      prober: str = "synthmon") -> dict[str, Any]:
    from bench.configs import http_fleet, make_config
    from probes import http as http_probe

    checks = make_config(http_fleet([url] * n, ca_file), defaults={"timeout_s": 30}).checks
    probe = http_probe.probe if prober == "synthmon" else _bare_pycurl(url, ca_file)

    async def batch(subset: Any) -> list[Any]:
        gate = asyncio.Semaphore(concurrency)

        async def one(check: Any) -> Any:
            async with gate:
                return await probe(check)

        return await asyncio.gather(*(one(c) for c in subset))

    async def main() -> list[dict[str, float]]:
        await batch(checks[:concurrency])  # warm-up: first handles, TLS library state, code paths
        out = []
        for _ in range(batches):
            gc.collect()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            results = await batch(checks)
            out.append({"cpu_s": time.process_time() - cpu0, "wall_s": time.perf_counter() - wall0,
                        "ok": sum(r.ok for r in results)})
        return out

    runs = asyncio.run(main())
    return {"runs": runs, "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def synthmon(target: Target, scheme: str, n: int, concurrency: int, batches: int,
             prober: str = "synthmon") -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "bench.throughput", target.url(scheme), str(n), str(concurrency),
                          target.ca_file, str(batches), prober], capture_output=True, text=True, cwd=ROOT,
                         check=True)
    return _figures(json.loads(out.stdout), n)


def peer(bb: blackbox.Blackbox, target: Target, scheme: str, n: int, concurrency: int,
         batches: int) -> dict[str, Any]:
    urls = [bb.probe_url(target.url(scheme))] * n
    blackbox.fetch_all(urls[:concurrency], concurrency)  # warm-up, as for synthmon
    runs = []
    for _ in range(batches):
        cpu0, wall0 = bb.cpu_s(), time.perf_counter()
        bodies = blackbox.fetch_all(urls, concurrency)
        runs.append({"cpu_s": bb.cpu_s() - cpu0, "wall_s": time.perf_counter() - wall0,
                     "ok": sum(b"\nprobe_success 1" in b for b in bodies)})
    return _figures({"runs": runs, "peak_rss_kib": procstat.memory_kib(bb.pid)["VmHWM"]}, n)


def _figures(raw: dict[str, Any], n: int) -> dict[str, Any]:
    runs = raw["runs"]
    return {
        "cpu_ms_per_probe": [r["cpu_s"] * 1000 / n for r in runs],
        "probes_per_s": [n / r["wall_s"] for r in runs],
        "wall_s": [r["wall_s"] for r in runs],
        "ok": [r["ok"] for r in runs],
        "peak_rss_mib": raw["peak_rss_kib"] / 1024,
        "n": n,
    }


def run(target: Target, bb: blackbox.Blackbox | None, n: int, concurrency: int, batches: int) -> dict[str, Any]:
    out: dict[str, Any] = {"n": n, "concurrency": concurrency, "batches": batches}
    for scheme in ("http", "https"):
        out[f"synthmon_{scheme}"] = synthmon(target, scheme, n, concurrency, batches)
        out[f"pycurl_{scheme}"] = synthmon(target, scheme, n, concurrency, batches, prober="pycurl")
        if bb is not None:
            out[f"blackbox_{scheme}"] = peer(bb, target, scheme, n, concurrency, batches)
    return out


if __name__ == "__main__":
    url, n, concurrency, ca_file, batches, prober = sys.argv[1:7]
    print(json.dumps(_synthmon_batches(url, int(n), int(concurrency), ca_file, int(batches), prober)))
