"""Golden path: the WebSocket probe's added latency over the server's own event timing.

The demo target runs in its own process with events 10 ms apart and records, on the monotonic clock,
when it received the chat message and when it sent each event. For each event the probe's arrival
offset (ms after it sent the message) minus the server's send offset (ms after it received it) is
what the probe and the loopback add; `vs_nominal` compares the last event with 5 x 10 ms instead.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.configs import make_check

ROOT = Path(__file__).resolve().parent.parent
SPACING_MS = 10.0


def _check(http_url: str, ws_url: str) -> Any:
    return make_check({
        "name": "golden-path", "type": "websocket", "url": ws_url, "token_in": "subprotocol",
        "login": {"url": f"{http_url}/auth/login", "token_field": "access_token",
                  "json": {"email": "probe@example.com", "password": "demo-password"}},
        "send": {"type": "user_message", "payload": {"content": "synthetic probe: reply with OK",
                                                      "thread_id": "{thread_id}", "run_id": "{run_id}"}},
        "events": {"required": ["agent_started", "agent_thinking", "tool_executing", "tool_completed",
                                "agent_completed"], "ordered": True, "fail_on": ["agent_error", "error"]},
        "timeout_s": 10,
    })


def run(probes: int) -> dict[str, Any]:
    from probes import websocket as ws_probe

    proc = subprocess.Popen([sys.executable, "-m", "bench.websocket", str(SPACING_MS)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None and proc.stdin is not None
    try:
        urls = json.loads(proc.stdout.readline())
        check = _check(urls["http"], urls["ws"])
        added: list[float] = []
        vs_nominal: list[float] = []
        latency: list[float] = []

        async def main() -> None:
            for i in range(probes + 1):
                result = await ws_probe.probe(check)
                server = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
                if not result.ok:
                    raise RuntimeError(f"golden-path probe failed: {result.failure}")
                if i == 0:
                    continue  # warm-up
                arrivals = [e["at_ms"] for e in result.details["events"]]
                added.extend(a - s for a, s in zip(arrivals, server["sent_ms"], strict=True))
                vs_nominal.append(arrivals[-1] - SPACING_MS * len(arrivals))
                latency.append(float(result.latency_ms or 0))

        asyncio.run(main())
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
    return {"probes": probes, "spacing_ms": SPACING_MS, "event_added_ms": added,
            "last_event_vs_nominal_ms": vs_nominal, "probe_latency_ms": latency}


def _serve(spacing_ms: float) -> None:
    """The demo target, instrumented: one JSON line per chat turn with the server's send offsets."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    import demo_target as demo

    turn: dict[str, Any] = {}
    answer, event_body = demo.DemoTarget._answer, demo._event_body

    async def timed_answer(self: Any, ws: Any, faults: Any, raw: Any, thread_id: str, run_id: str) -> None:
        turn.clear()
        turn.update(received=time.monotonic(), sent=[])
        await answer(self, ws, faults, raw, thread_id, run_id)
        if turn.get("sent"):
            print(json.dumps({"sent_ms": [(t - turn["received"]) * 1000 for t in turn["sent"]]}), flush=True)

    def timed_body(name: str, faults: Any) -> dict[str, Any]:
        if "sent" in turn:
            turn["sent"].append(time.monotonic())  # the frame is built and sent right after this
        return event_body(name, faults)

    demo.DemoTarget._answer = timed_answer  # type: ignore[method-assign]
    demo._event_body = timed_body
    target = demo.start(spacing_s=spacing_ms / 1000)
    print(json.dumps({"http": target.http_url, "ws": target.ws_url}), flush=True)
    sys.stdin.read()
    target.stop()


if __name__ == "__main__":
    _serve(float(sys.argv[1]))
