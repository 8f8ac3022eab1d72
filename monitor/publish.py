"""After a run: write metrics, advance each check's alert state, send the transitions, remember.

Per check, one store transaction applies the state machine and claims the messages this run will
send; the messages go to every alert sink; a second transaction drops what every sink took and
releases the rest for the next run. So a failed publish is never lost and two overlapping runs never
send one alert twice. Sinks are built from config here; Google clients are imported on first use.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from monitor import alerts
from monitor.config import Config
from monitor.result import ProbeResult, RunReport
from monitor.sinks.local import ResultsFile
from monitor.state import StateStore, StoreError, open_store
from monitor.state import last_starts as stored_starts

log = logging.getLogger("synthmon.publish")


class MetricSink(Protocol):
    def write(self, report: RunReport, *, deadline: float) -> bool: ...


class AlertSink(Protocol):
    name: str

    def send(self, messages: Sequence[dict[str, Any]], *, deadline: float) -> list[str]:
        """Deliver the messages; the ids delivered. Never raises."""


class LocalResults:
    def __init__(self, path: str) -> None:
        self.file = ResultsFile(path)

    def write(self, report: RunReport, *, deadline: float) -> bool:
        return self.file.write(report)


class Publisher:
    def __init__(self, config: Config, store: StateStore, *, metric_sinks: Sequence[MetricSink] = (),
                 alert_sinks: Sequence[AlertSink] = (), clock: Callable[[], float] = time.time) -> None:
        self.config, self.store, self.clock = config, store, clock
        self.metric_sinks, self.alert_sinks = list(metric_sinks), list(alert_sinks)
        # A claim outlives any run that could still be sending it.
        self.lease_s = max(60.0, 2 * config.run_timeout_s)

    def publish(self, report: RunReport, *, deadline: float) -> None:
        """Metrics first (they never wait on alert state), then alert transitions. Never raises."""
        for sink in self.metric_sinks:
            sink.write(report, deadline=deadline)
        try:
            claimed = self._advance(report)
            if claimed:
                self._deliver(report.run_id, claimed, deadline)
        except StoreError as exc:
            log.error("alert state store unavailable; alerts wait for the next run: %s", exc,
                      extra={"run_id": report.run_id})

    def _advance(self, report: RunReport) -> dict[str, list[dict[str, Any]]]:
        """Apply each result to its check's state; the messages this run claimed, per check."""
        now = self.clock()
        now_dt = dt.datetime.fromtimestamp(now, dt.UTC)
        sinks = tuple(s.name for s in self.alert_sinks)
        claimed: dict[str, list[dict[str, Any]]] = {}
        results: dict[str, ProbeResult | None] = {r.name: r for r in report.results
                                                  if r.name in self.config.check_names}
        # Checks not in this run may still hold messages a failed publish left behind.
        for name, state in self.store.load_all().items():
            if name not in results and state.outbox and name in self.config.check_names:
                results[name] = None
        for name, result in results.items():
            ctx = alerts.RunContext(report.run_id, report.location, now,
                                    any(w.covers(name, now_dt) for w in self.config.maintenance), sinks)

            self.store.transact(name, functools.partial(self._apply, result=result, ctx=ctx, claimed=claimed))
        return {k: v for k, v in claimed.items() if v}

    def _apply(self, s: alerts.CheckState, *, result: ProbeResult | None, ctx: alerts.RunContext,
               claimed: dict[str, list[dict[str, Any]]]) -> alerts.CheckState:
        """One check's transaction body; may run again on contention, so it only returns and records."""
        if result is not None:
            s = alerts.step(s, result, self.config.check(s.check), ctx)
        claimed[s.check] = alerts.claim(s, ctx.run_id, ctx.now, self.lease_s)
        return s

    def _deliver(self, run_id: str, claimed: Mapping[str, list[dict[str, Any]]], deadline: float) -> None:
        delivered: dict[str, list[str]] = {}
        for sink in self.alert_sinks:
            todo = [m for msgs in claimed.values() for m in msgs if sink.name in m["sinks"]]
            for mid in sink.send(todo, deadline=deadline):
                delivered.setdefault(mid, []).append(sink.name)
        for name in claimed:
            self.store.transact(name, lambda s: alerts.settle(s, run_id, delivered))

    def last_starts(self) -> dict[str, float]:
        try:
            return stored_starts(self.store)
        except StoreError as exc:  # every check is then due: better a run too many than none
            log.error("cannot read schedule state: %s", exc)
            return {}

    def mark_started(self, names: Iterable[str], at: float) -> None:
        try:
            self.store.mark_started(list(names), at)
        except StoreError as exc:
            log.error("cannot save schedule state: %s", exc)

    def alert_states(self) -> dict[str, dict[str, Any]]:
        try:
            states = self.store.load_all()
        except StoreError as exc:
            log.error("cannot read alert state: %s", exc)
            return {}
        return {n: s.summary() for n, s in states.items() if n in self.config.check_names}


def build_publisher(config: Config, *, clock: Callable[[], float] = time.time,
                    environ: Mapping[str, str] | None = None) -> Publisher:
    """The publisher that `config.sinks` asks for; no Google client is built before first use."""
    from monitor.sinks.alerts_local import AlertsFile

    env = os.environ if environ is None else environ
    s = config.sinks
    metric_sinks: list[MetricSink] = []
    if "local" in s.metrics:
        metric_sinks.append(LocalResults(s.results_file))
    if "cloud_monitoring" in s.metrics:
        from monitor.sinks.cloud_monitoring import CloudMonitoringSink

        metric_sinks.append(CloudMonitoringSink(
            s.project_id or "", s.job, emulator_host=env.get("MONITORING_EMULATOR_HOST") or None,
            checks={c.name: c for c in config.checks}))
    # "prometheus" needs nothing here: /metrics renders the latest results (monitor.sinks.prometheus).
    alert_sinks: list[AlertSink] = []
    if "local" in s.alerts:
        alert_sinks.append(AlertsFile(s.alerts_file))
    if "pubsub" in s.alerts:
        from monitor.sinks.pubsub import PubSubSink

        alert_sinks.append(PubSubSink(s.project_id or "", s.alert_topic))
    return Publisher(config, open_store(s.state, s.project_id), metric_sinks=metric_sinks,
                     alert_sinks=alert_sinks, clock=clock)
