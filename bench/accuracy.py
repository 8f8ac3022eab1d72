"""Accuracy: what each client reports for total time and TTFB, minus the time the server really held.

The target holds each response 0, 50 or 200 ms and records the hold it actually achieved per request
id; `error = reported - held`. Samples of the three clients are interleaved so that machine noise
falls on all of them alike. curl's figures are its `-w` timings; blackbox_exporter's are
`probe_duration_seconds` and the `processing` phase of `probe_http_duration_seconds`.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from typing import Any

from bench import blackbox
from bench.configs import make_check
from bench.target import Target

HOLDS_MS = (0, 50, 200)
SCHEMES = ("http", "https")
Measure = Callable[[str], tuple[float, float]]  # url -> (total_ms, ttfb_ms)


def _synthmon(target: Target, loop: asyncio.AbstractEventLoop) -> Measure:
    from probes import http as http_probe

    def measure(url: str) -> tuple[float, float]:
        check = make_check({"name": "accuracy", "type": "http", "url": url, "ca_file": target.ca_file})
        result = loop.run_until_complete(http_probe.probe(check))
        if not result.ok:
            raise RuntimeError(f"synthmon probe failed: {result.failure}")
        return float(result.latency_ms or 0.0), result.phases_ms["ttfb"]

    return measure


def _curl(target: Target) -> Measure:
    fmt = "%{time_total} %{time_starttransfer} %{time_pretransfer}"

    def measure(url: str) -> tuple[float, float]:
        out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "--cacert", target.ca_file, "-w", fmt, url],
                             capture_output=True, text=True, check=True)
        total, start, pre = (float(x) * 1000 for x in out.stdout.split())
        return total, start - pre

    return measure


def _blackbox(bb: blackbox.Blackbox) -> Measure:
    def measure(url: str) -> tuple[float, float]:
        m = bb.probe(url)
        if m.get("success") != 1:
            raise RuntimeError(f"blackbox_exporter probe failed: {m}")
        return m["total_ms"], m["phase_processing_ms"]

    return measure


def run(target: Target, bb: blackbox.Blackbox | None, samples: int) -> dict[str, Any]:
    """Per client, scheme and hold: lists of total and TTFB errors (ms) and the holds achieved."""
    loop = asyncio.new_event_loop()
    clients: dict[str, Measure] = {"synthmon": _synthmon(target, loop), "curl": _curl(target)}
    if bb is not None:
        clients["blackbox"] = _blackbox(bb)
    out: dict[str, Any] = {"samples": samples, "holds_ms": list(HOLDS_MS), "cells": {}}
    try:
        for scheme in SCHEMES:
            for hold in HOLDS_MS:
                for measure in clients.values():  # one unmeasured probe each: warm caches, like the others
                    measure(target.url(scheme, hold))
                reported: dict[str, tuple[float, float]] = {}
                for i in range(samples):
                    for name, measure in clients.items():
                        key = f"{name}-{scheme}-{hold}-{i}"
                        reported[key] = measure(target.url(scheme, hold, key))
                held = target.held()
                for name in clients:
                    keys = [f"{name}-{scheme}-{hold}-{i}" for i in range(samples)]
                    out["cells"][f"{name}/{scheme}/{hold}"] = {
                        "total_error_ms": [reported[k][0] - held[k] for k in keys],
                        "ttfb_error_ms": [reported[k][1] - held[k] for k in keys],
                        "held_ms": [held[k] for k in keys],
                    }
    finally:
        loop.close()
    return out
