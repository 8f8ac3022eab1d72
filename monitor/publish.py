"""Build the publisher that a run hands its report to (metrics, alerts, schedule state)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from monitor.config import Config
from monitor.result import RunReport
from monitor.sinks.local import ResultsFile


class LocalPublisher:
    """The embedded default: results to a JSON-lines file, schedule kept in memory."""

    def __init__(self, config: Config) -> None:
        self.results = ResultsFile(config.sinks.results_file) if "local" in config.sinks.metrics else None
        self._starts: dict[str, float] = {}

    def publish(self, report: RunReport, *, deadline: float) -> None:
        if self.results is not None:
            self.results.write(report)

    def last_starts(self) -> dict[str, float]:
        return dict(self._starts)

    def mark_started(self, names: Iterable[str], at: float) -> None:
        self._starts.update(dict.fromkeys(names, at))

    def alert_states(self) -> dict[str, dict[str, Any]]:
        return {}


def build_publisher(config: Config, *, clock: Callable[[], float] = time.time) -> LocalPublisher:
    return LocalPublisher(config)
