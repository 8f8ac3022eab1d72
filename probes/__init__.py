"""One module per probe type; each turns one validated check into one ProbeResult."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from monitor.result import ProbeResult

ProbeFn = Callable[[Any], Awaitable[ProbeResult]]


def registry() -> dict[str, ProbeFn]:
    """Probe type → probe function. Imported on use so that a process pays only for what it runs."""
    from probes import http as http_probe
    from probes import postgres as postgres_probe
    from probes import websocket as websocket_probe

    return {"http": http_probe.probe, "websocket": websocket_probe.probe, "postgres": postgres_probe.probe}
