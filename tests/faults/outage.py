"""Helpers for the monitor-side fault tests: Google API fakes that can go down, a port nothing
listens on, and the `synthmon` logger's JSON lines captured for assertions."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from fakes.metric_service import FakeMetricService
from fakes.pubsub_publisher import FakePublisher

from monitor.logs import JsonFormatter


class _Outage:
    """While `down` is set, every call is answered UNAVAILABLE (and still recorded)."""

    down = False

    def _wrap(self, name: str, fn: Callable[[Any], Any]) -> Callable[[Any, grpc.ServicerContext], Any]:
        inner = super()._wrap(name, fn)  # type: ignore[misc]

        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            if self.down:
                context.abort(grpc.StatusCode.UNAVAILABLE, "injected outage")
            return inner(request, context)

        return handle  # type: ignore[no-any-return]


class DownMetricService(_Outage, FakeMetricService):
    pass


class DownPublisher(_Outage, FakePublisher):
    pass


def closed_port() -> int:
    """A loopback port with nothing listening: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class JsonLog:
    """The JSON lines the `synthmon` loggers wrote while capturing."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def entries(self, logger: str | None = None) -> list[dict[str, Any]]:
        lines = [json.loads(x) for x in self.stream.getvalue().splitlines() if x]
        return [e for e in lines if logger is None or e["logger"] == logger]


@contextlib.contextmanager
def json_log() -> Iterator[JsonLog]:
    captured = JsonLog()
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("synthmon")
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield captured
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
