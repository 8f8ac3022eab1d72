"""WebSocket fault catalogue: floods, oversized frames and unanswered closes, each classified on time."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import faulty_ws
import pytest
from servers import make_check, make_config, run_all, serving

from probes import registry, ws_session
from probes import websocket as websocket_probe
from probes.agent_events import parse_frame
from probes.result import ProbeResult

TIMEOUT_S = 2.0
FIRST_EVENT_S = 1.0
SLACK_S = 0.5  # the probe's own deadline handling plus a loaded CI machine; the runner's hard stop is at +1 s


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with faulty_ws.serving() as p:
        yield p


def ws_spec(port: int, mode: str, **spec: Any) -> dict[str, Any]:
    return {"name": "golden-path", "type": "websocket", "url": f"ws://127.0.0.1:{port}/{mode}",
            "timeout_s": TIMEOUT_S, "events": {"first_event_timeout_s": FIRST_EVENT_S}, **spec}


def run(port: int, mode: str, **spec: Any) -> tuple[ProbeResult, float]:
    """Probe the fault server's `mode` once; the result and the wall time it took."""
    check = make_check(ws_spec(port, mode, **spec))
    started = time.monotonic()
    result = asyncio.run(websocket_probe.probe(check))
    return result, time.monotonic() - started


def failed(result: ProbeResult, cls: str) -> str:
    assert result.failure is not None, result
    assert result.failure.cls == cls, result.to_dict()
    return result.failure.message


# How many heartbeats a second the probe drains and how far the event loop lags meanwhile depend on
# the machine: `python -m bench.flood` measures them (bench/README.md). These tests pin the classes,
# the counting and the deadlines.


def test_heartbeat_flood_without_events_is_timeout_and_starves_nothing(port: int) -> None:
    """10,000 heartbeats/s and no event: `timeout` at first_event_timeout_s, heartbeats counted; an
    HTTP check in the same run passes within its own deadline."""
    with serving() as http:
        config = make_config([ws_spec(port, "heartbeats"), {"name": "api", "type": "http", "timeout_s": TIMEOUT_S,
                                                            "url": http.url("/slow?ms=500")}])
        probes = registry(["http", "websocket"])  # imported now, not while the loop is being watched
        started = time.monotonic()
        ws, api = asyncio.run(run_all(config.checks, probes))
        elapsed = time.monotonic() - started
    assert failed(ws, "timeout") == f"no agent event within {FIRST_EVENT_S:g} s"
    assert ws.details["ignored"]["heartbeat"] > 0
    assert ws.details["missing"] == ["agent_started", "agent_completed"]
    assert FIRST_EVENT_S <= ws.latency_ms / 1000 < FIRST_EVENT_S + SLACK_S
    assert api.ok, api.to_dict()
    # The verdict comes at first_event_timeout_s (latency above); the close handshake after it may
    # use what is left of the check's own timeout_s, since a flooding server may not answer it.
    assert elapsed < TIMEOUT_S + SLACK_S


def test_unpaced_heartbeat_flood_keeps_the_loop_responsive(port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Heartbeats as fast as TCP takes them: frames already received are handed out one per loop turn
    (never a whole read of ~10,000 frames at once); `timeout` on time, back by timeout_s."""
    frames = 0

    def counting(data: Any) -> Any:
        nonlocal frames
        frames += 1
        return parse_frame(data)

    async def probe_counting_turns() -> tuple[ProbeResult, int]:
        """The result and the most frames the probe handled between two turns of the event loop."""
        task, most, seen = asyncio.ensure_future(websocket_probe.probe(check)), 0, 0
        while not task.done():
            await asyncio.sleep(0)
            most, seen = max(most, frames - seen), frames
        return task.result(), most

    monkeypatch.setattr(ws_session, "parse_frame", counting)
    check = make_check(ws_spec(port, "heartbeats-unpaced"))
    started = time.monotonic()
    result, most_per_turn = asyncio.run(probe_counting_turns())
    elapsed = time.monotonic() - started
    failed(result, "timeout")
    assert result.details["ignored"]["heartbeat"] == frames - 1 > 0  # + the hello
    assert most_per_turn <= 2
    assert result.latency_ms is not None and FIRST_EVENT_S * 1000 <= result.latency_ms < (FIRST_EVENT_S + SLACK_S) * 1000
    assert elapsed < TIMEOUT_S + SLACK_S  # the close echo queues behind the flood: dropped at the deadline


def test_heartbeat_flood_after_first_event_is_event_missing_at_deadline(port: int) -> None:
    """agent_started, then only heartbeats: `ws_event_missing` (agent_completed) just before timeout_s."""
    result, elapsed = run(port, "heartbeats-after-start")
    assert "agent_completed not received" in failed(result, "ws_event_missing")
    assert result.details["missing"] == ["agent_completed"]
    assert result.details["ignored"]["heartbeat"] > 0
    assert TIMEOUT_S - 0.3 < elapsed < TIMEOUT_S + SLACK_S


def test_fifty_megabyte_frame_is_refused_with_1009(port: int) -> None:
    """A 50 MB frame: refused at its header by max_frame_bytes (close 1009 sent), `ws_closed`,
    and never buffered: the probe's peak allocation stays far below the frame."""
    tracemalloc.start()
    try:
        result, elapsed = run(port, "huge-frame")
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "max_frame_bytes" in failed(result, "ws_closed")
    assert result.details["close_sent"] == 1009
    assert peak_bytes < 4 * 1024 * 1024
    assert elapsed < TIMEOUT_S


@pytest.mark.parametrize("mode", ["ignores-close", "keeps-tcp-open"])
def test_close_never_answered_still_returns_on_time(port: int, mode: str) -> None:
    """A run that passed, then a close that is never answered (no close frame, or no TCP close after
    it): still ok, back well within timeout_s, and the wait for the close is not reported as latency."""
    result, elapsed = run(port, mode)
    assert result.ok, result.to_dict()
    assert elapsed < TIMEOUT_S
    assert result.latency_ms is not None and result.latency_ms < 900  # the close wait (1 s) is not latency


def test_close_never_answered_near_the_deadline_is_dropped(port: int) -> None:
    """The close is owed just before the deadline (the terminal event never comes): the TCP connection
    is dropped and the verdict (`ws_event_missing`) arrives before timeout_s."""
    result, elapsed = run(port, "ignores-close", events={
        "terminal": ["final_report"], "first_event_timeout_s": FIRST_EVENT_S})
    assert result.details["missing"] == ["final_report"]
    failed(result, "ws_event_missing")
    assert TIMEOUT_S - 0.3 < elapsed < TIMEOUT_S + SLACK_S
