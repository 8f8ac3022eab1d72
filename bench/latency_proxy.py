"""The test suite's latency proxy (`tests/latency_proxy.py`) as its own process, for the bench.

`python -m bench.latency_proxy HOST PORT DELAY_MS` prints its port and stops when its stdin closes,
so that the proxy's CPU does not compete with the prober's GIL.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

# Loaded by path: putting tests/ on sys.path would let its `monitor/` folder shadow the package.
_SPEC = importlib.util.spec_from_file_location(
    "synthmon_test_latency_proxy", pathlib.Path(__file__).resolve().parents[1] / "tests" / "latency_proxy.py")
assert _SPEC is not None and _SPEC.loader is not None
_MODULE = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MODULE)
LatencyProxy = _MODULE.LatencyProxy

if __name__ == "__main__":
    host, port, delay_ms = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    with LatencyProxy(host, port, up_ms=delay_ms, down_ms=delay_ms) as proxy:
        print(proxy.port, flush=True)
        sys.stdin.read()
