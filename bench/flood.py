"""How fast the WebSocket probe drains a heartbeat flood, and how far it lets the event loop lag.

`python -m bench.flood [--seconds S]` probes the test suite's fault server (`tests/faults/faulty_ws.py`,
in its own process so that its CPU is not the probe's) in three modes: 10,000 heartbeats/s paced,
as fast as TCP takes them, and paced after `agent_started`. For each it prints the failure class,
the heartbeats the probe handled per second and the event loop's worst lag behind a 5 ms sleep.
The fault tests check the classes and deadlines; these rates depend on the machine, so they live here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.configs import make_check
from probes import websocket as websocket_probe

FAULTY_WS = Path(__file__).resolve().parents[1] / "tests" / "faults" / "faulty_ws.py"
MODES = ("heartbeats", "heartbeats-unpaced", "heartbeats-after-start")


async def _with_lag(coro: Any) -> tuple[Any, float]:
    """Run `coro` while a ticker measures the event loop's worst lag (s) behind a 5 ms sleep."""
    loop, worst = asyncio.get_running_loop(), 0.0
    task = asyncio.ensure_future(coro)
    while not task.done():
        t0 = loop.time()
        await asyncio.sleep(0.005)
        worst = max(worst, loop.time() - t0 - 0.005)
    return task.result(), worst


def measure(port: int, mode: str, seconds: float) -> dict[str, Any]:
    check = make_check({"name": "flood", "type": "websocket", "url": f"ws://127.0.0.1:{port}/{mode}",
                        "timeout_s": seconds * 2, "events": {"first_event_timeout_s": seconds}})
    started = time.monotonic()
    result, lag_s = asyncio.run(_with_lag(websocket_probe.probe(check)))
    elapsed = time.monotonic() - started
    beats = (result.details.get("ignored") or {}).get("heartbeat", 0)
    return {"mode": mode, "class": result.failure.cls if result.failure else None,
            "heartbeats": beats, "heartbeats_per_s": round(beats / elapsed),
            "worst_loop_lag_ms": round(lag_s * 1000, 1), "wall_s": round(elapsed, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="first_event_timeout_s of the probe")
    args = parser.parse_args(argv)
    server = subprocess.Popen([sys.executable, str(FAULTY_WS)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        for mode in MODES:
            print(json.dumps(measure(port, mode, args.seconds)), flush=True)
    finally:
        server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
