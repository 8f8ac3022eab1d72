"""After a run: write metrics, advance each check's alert state, send the transitions, remember.

One store transaction applies the state machine to every check of the run and claims the messages
this run will send (SQLite: one commit per run; Firestore: one transaction over the checks' documents); the
messages go to every alert sink; a second transaction drops what every sink took and releases the
rest for the next run. So a failed publish is never lost and two overlapping runs never send one
alert twice. Metrics are written meanwhile, on their own thread, within the same deadline. Sinks are
built from config here; Google clients are imported on first use.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from monitor import alert_run, alerts, outbox
from monitor.config import Config
from monitor.history import History
from monitor.sinks.local import ResultsFile
from monitor.state import LeaseRequest, MemoryStore, SqliteStore, StateStore, StoreError, release
from probes.result import RunReport

log = logging.getLogger("synthmon.publish")
T = TypeVar("T")
STORE_RETRY_S = 15.0  # after a store error, store calls fail at once for this long


class MetricSink(Protocol):
    def write(self, report: RunReport, *, deadline: float, firing: Sequence[tuple[str, str, str, int]] = ()) -> bool:
        """Write the report's series, and `alert/firing` (check, severity, scope, 0/1) of every check."""


class AlertSink(Protocol):
    name: str

    def send(self, messages: Sequence[dict[str, Any]], *, deadline: float) -> list[str]:
        """Deliver the messages; the ids delivered. Never raises."""


class LocalResults:
    def __init__(self, path: str) -> None:
        self.file = ResultsFile(path)

    def write(self, report: RunReport, *, deadline: float, firing: Sequence[tuple[str, str, str, int]] = ()) -> bool:
        return self.file.write(report)


class Publisher:
    def __init__(self, config: Config, store: StateStore, *, metric_sinks: Sequence[MetricSink] = (),
                 alert_sinks: Sequence[AlertSink] = (), clock: Callable[[], float] = time.time,
                 history: History | None = None) -> None:
        self.config, self.store, self.clock = config, store, clock
        self.history = history
        self.metric_sinks, self.alert_sinks = list(metric_sinks), list(alert_sinks)
        # A claimed alert message outlives any run that could still be sending it.
        self.lease_s = max(60.0, 2 * config.run_bound_s)
        self._store_failed_at: float | None = None

    def publish(self, report: RunReport, *, deadline: float) -> None:
        """Alert decisions first (one store transaction, bounded by the store's timeout), then metrics
        and alert delivery side by side, each within `deadline`: a metrics endpoint that is down
        (retried until the deadline) must not starve the alerts, nor the reverse. Never raises."""
        claimed: dict[str, list[dict[str, Any]]] = {}
        firing: list[tuple[str, str, str, int]] = []
        try:
            states, claimed = self._advance(report)
            firing = alert_run.firing_series(states, self.config.checks)
        except StoreError as exc:
            # alert/firing is left out rather than guessed: the policies see no point, not a 0.
            log.error("alert state store unavailable; alert decisions wait for the next run: %s", exc,
                      extra={"run_id": report.run_id})
        writer = None
        if self.metric_sinks:
            writer = threading.Thread(target=self._write_metrics, args=(report, deadline, firing),
                                      name="synthmon-metrics", daemon=True)
            writer.start()
        self._record_history(report)
        try:
            if claimed:
                self._deliver(report.run_id, claimed, deadline)
        except StoreError as exc:
            log.error("alert state store unavailable after delivery; undelivered messages are sent again: %s",
                      exc, extra={"run_id": report.run_id})
        if writer is not None:
            writer.join(max(0.0, deadline - time.monotonic()) + 1.0)

    def _record_history(self, report: RunReport) -> None:
        if self.history is None:
            return
        try:
            self.history.record(report)  # bounded and logged inside; never fails the run
        except Exception:  # a history bug must not cost the run its alerts
            log.exception("history: run %s not recorded", report.run_id)

    def _write_metrics(self, report: RunReport, deadline: float, firing: Sequence[tuple[str, str, str, int]]) -> None:
        for sink in self.metric_sinks:
            sink.write(report, deadline=deadline, firing=firing)

    def _advance(self, report: RunReport) -> tuple[dict[str, alerts.CheckState], dict[str, list[dict[str, Any]]]]:
        """Apply the run's results to every check's state in one store transaction (dependencies and
        quorum are decided across checks and locations); every state, and the messages this run
        claimed per check, as committed (a transaction body may run more than once)."""
        now = self.clock()
        now_dt = dt.datetime.fromtimestamp(now, dt.UTC)
        names = self.config.check_names
        results = {r.name: r for r in report.results if r.name in names}
        silenced = {n for n in names if any(w.covers(n, now_dt) for w in self.config.maintenance)}
        ctx = alerts.RunContext(report.run_id, report.location, now, sinks=tuple(s.name for s in self.alert_sinks),
                                quorum=alert_run.quorum(self.config.alerting, self.config.location),
                                project_id=self.config.sinks.project_id)
        rules = {c.name: c for c in self.config.checks}

        def apply(states: dict[str, alerts.CheckState]) -> dict[str, alerts.CheckState]:
            new = alert_run.step_run(states, results, rules, ctx, silenced=silenced)
            # Checks not in this run may still hold messages a failed publish left behind.
            written = {n: s for n, s in new.items() if n in results or s.outbox}
            for name, s in written.items():
                if name in results:
                    release(s, report.run_id)
                outbox.claim(s, ctx.run_id, now, self.lease_s)
            return written

        states = self._guarded(lambda: self.store.transact_run(names, apply))
        claimed = {n: [dict(m, sinks=list(m["sinks"])) for m in s.outbox if m["claimed_by"] == report.run_id]
                   for n, s in states.items()}
        return states, {k: v for k, v in claimed.items() if v}

    def _deliver(self, run_id: str, claimed: Mapping[str, list[dict[str, Any]]], deadline: float) -> None:
        delivered: dict[str, list[str]] = {}
        for sink in self.alert_sinks:
            todo = [m for msgs in claimed.values() for m in msgs if sink.name in m["sinks"]]
            for mid in sink.send(todo, deadline=deadline):
                delivered.setdefault(mid, []).append(sink.name)
        self._guarded(lambda: self.store.transact_many(
            list(claimed), lambda _, s: outbox.settle(s, run_id, delivered)))

    def _guarded(self, call: Callable[[], T]) -> T:
        """`call()` on the store, unless it failed within STORE_RETRY_S: a store that is down costs a
        run one timeout (Firestore: a few seconds), not one per store call."""
        failed_at = self._store_failed_at
        if failed_at is not None and 0 <= self.clock() - failed_at < STORE_RETRY_S:
            raise StoreError(f"state store failed {self.clock() - failed_at:.0f} s ago; "
                             f"tried again {STORE_RETRY_S:.0f} s after a failure")
        try:
            out = call()
        except StoreError:
            self._store_failed_at = self.clock()
            raise
        self._store_failed_at = None
        return out

    def lease(self, names: Iterable[str], req: LeaseRequest) -> dict[str, str]:
        """The store's leases; a store that cannot say lets every check start (the monitor's
        in-process leases still hold): better a run too many than none while the store is down."""
        wanted = list(names)
        try:
            return self._guarded(lambda: self.store.lease(wanted, req))
        except StoreError as exc:
            log.error("schedule state unavailable; every check counts as due: %s", exc)
            return {}

    def release(self, names: Iterable[str], run_id: str) -> None:
        wanted = list(names)
        try:
            self._guarded(lambda: self.store.transact_many(wanted, lambda _, s: release(s, run_id)))
        except StoreError as exc:
            log.error("cannot release leases; they lapse by themselves: %s", exc)

    def alert_states(self) -> dict[str, dict[str, Any]]:
        return self.read_alert_states() or {}

    def read_alert_states(self) -> dict[str, dict[str, Any]] | None:
        """Per check alert summary; None when the store cannot be read (at once, not after another
        timeout, within STORE_RETRY_S of a failure), so that /status says `unknown`, never `ok`."""
        try:
            states = self._guarded(self.store.load_all)
        except StoreError as exc:
            log.error("cannot read alert state: %s", exc)
            return None
        return {n: s.summary() for n, s in states.items() if n in self.config.check_names}

    def close(self) -> None:
        """Stop the sinks' clients (Pub/Sub's background batch threads, gRPC channels) and the store's.
        Undelivered alerts stay in the store's outbox for the next process."""
        for sink in [*self.metric_sinks, *self.alert_sinks]:
            close = getattr(sink, "close", None)  # sinks passed in by callers may have none
            if close is not None:
                close()
        if self.history is not None:
            self.history.close()
        self.store.close()


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
    if "prometheus" in s.metrics:  # /metrics: gauges of the latest results, plus these counters
        from monitor.sinks.prometheus import Counters

        metric_sinks.append(Counters(config.location))
    alert_sinks: list[AlertSink] = []
    if "local" in s.alerts:
        alert_sinks.append(AlertsFile(s.alerts_file))
    if "pubsub" in s.alerts:
        from monitor.sinks.pubsub import PubSubSink

        alert_sinks.append(PubSubSink(s.project_id or "", s.alert_topic))
    from monitor.history import open_history

    return Publisher(config, open_store(s.state, s.project_id), metric_sinks=metric_sinks,
                     alert_sinks=alert_sinks, clock=clock,
                     history=open_history(s.history, s.state, s.history_days, s.project_id, clock=clock))


def open_store(url: str, project_id: str | None = None) -> StateStore:
    """The store named by a `sinks.state` URL (validated at config load); nothing is opened yet."""
    if url == "memory://":
        return MemoryStore()
    if url.startswith("sqlite:///"):
        return SqliteStore(url[len("sqlite:///"):])
    if url.startswith("firestore://"):
        from monitor.state_firestore import FirestoreStore

        database, _, collection = url[len("firestore://"):].partition("/")
        return FirestoreStore(project_id, database or "(default)", collection or "synthmon-state")
    raise ValueError(f"unsupported state store {url!r}")
