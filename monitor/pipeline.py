"""One monitoring run end to end: lease the checks, probe them, redact, publish.

Both the CLI and the HTTP service go through `Monitor.run`, so scheduling, overlap rules and
publishing behave the same whichever way a run was triggered. A run holds its checks: it returns
when every check it started has ended, and nothing of it goes on in the background.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from monitor.config import Config
from monitor.runner import run_check
from monitor.state import LeaseRequest
from probes import registry
from probes.checks import Check
from probes.redact import Redactor
from probes.result import Failure, ProbeResult, RunReport, iso

log = logging.getLogger("synthmon.run")
# A lease outlives its check's own budget by this much: time to publish and release it. A run that
# dies without releasing (a killed instance) frees the check when the lease lapses.
LEASE_GRACE_S = 30.0
# A run whose checks have partly ended, with none ending for this long, publishes the ended ones.
QUIET_S = 2.0
PUBLISH_S = 10.0  # publishing gets this long after the checks; a sink that is down never holds a run longer


class Publisher(Protocol):
    """Everything that leaves the process after a run: metrics, alert transitions, stored state."""

    def publish(self, report: RunReport, *, deadline: float) -> None:
        """Publish within `deadline` (a time.monotonic() value), releasing the run's leases; never raises."""

    def lease(self, names: Iterable[str], req: LeaseRequest) -> dict[str, str]:
        """Lease what `req` may start; name → reason (in_progress, not_due) for the others."""

    def release(self, names: Iterable[str], run_id: str) -> None:
        """Give up the leases of a run that publishes nothing (a dry run); never raises."""

    def alert_states(self) -> dict[str, dict[str, Any]]:
        """Per check: alert state for /status (state, since, consecutive failures...)."""

    def close(self) -> None:
        """Stop the clients behind the sinks and the store (at shutdown)."""


class Monitor:
    """Runs checks for the CLI and the service alike: lease, probe (waiting for every check),
    redact, publish. Nothing of a run goes on after `run` returns."""

    def __init__(self, config: Config, *, publisher: Publisher | None = None,
                 clock: Callable[[], float] = time.time, probes: Mapping[str, Any] | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.clock = clock
        self.redactor = Redactor(config.secrets)
        if publisher is None:
            from monitor.publish import build_publisher

            publisher = build_publisher(config, clock=clock, environ=environ)
        self.publisher = publisher
        self._probes = probes  # bound on the first run: probe libraries are not a cold-start cost
        self._environ = environ
        self._lock = threading.Lock()
        self._in_flight: set[str] = set()  # this process's leases: held even when the store is down
        self.latest: dict[str, ProbeResult] = {}  # the newest result per check, dry runs included
        # What /metrics exposes: results of published runs only (a dry run writes no metrics).
        self.published: dict[str, ProbeResult] = {}
        self.last_published: RunReport | None = None
        self.last_report: RunReport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._closed = False

    def select(self, names: Iterable[str] | None) -> list[str]:
        """Configured check names in config order; raises KeyError naming an unknown one."""
        if names is None:
            return list(self.config.check_names)
        wanted = list(dict.fromkeys(names))
        for n in wanted:
            if n not in self.config.check_names:
                raise KeyError(n)
        return [n for n in self.config.check_names if n in wanted]

    def _lease(self, names: list[str], scheduled: bool, run_id: str,
               now: float) -> tuple[list[str], list[dict[str, str]]]:
        """The checks this run starts, and the others with their reason (in_progress, not_due).

        In-process first, then the store's lease, so two overlapping runs, in this process or
        another instance, never probe one check twice."""
        with self._lock:
            busy = {n: "in_progress" for n in names if n in self._in_flight}
            chosen = [n for n in names if n not in busy]
            self._in_flight.update(chosen)
        if chosen:
            checks = {n: self.config.check(n) for n in chosen}
            req = LeaseRequest(run_id, self.config.location, now, {n: now + c.budget_s + LEASE_GRACE_S for n, c in checks.items()},
                               {n: c.interval_s for n, c in checks.items()}, scheduled)
            try:
                refused = self.publisher.lease(chosen, req)
            except BaseException:
                self._forget(chosen)
                raise
            self._forget(refused)
            busy.update(refused)
        skipped = [{"name": n, "reason": busy[n]} for n in names if n in busy]
        return [n for n in chosen if n not in busy], skipped

    def _forget(self, names: Iterable[str]) -> None:
        with self._lock:
            self._in_flight.difference_update(names)

    def run(self, names: Iterable[str] | None = None, *, scheduled: bool = False,
            publish: bool = True) -> RunReport:
        """Run the named (or all) checks and return when every one of them has ended.

        `scheduled` (POST /run, the embedded scheduler) starts only due checks and moves their
        schedule; otherwise (/probe, the CLI) the checks run now whatever their interval. A check
        leased by another run is listed under `skipped` as `in_progress`, never started twice."""
        if self._closed:
            raise ShuttingDown("the monitor is shutting down")
        selected = self.select(names)
        run_id, started_mono, now = uuid.uuid4().hex[:16], time.monotonic(), self.clock()
        chosen, skipped = self._lease(selected, scheduled, run_id, now)
        published: list[ProbeResult] = []
        try:
            results = self._probe([self.config.check(n) for n in chosen],
                                  lambda batch: self._publish_early(run_id, now, batch, published) if publish else None)
            report = RunReport(run_id=run_id, started_at=iso(now), finished_at=iso(self.clock()),
                               location=self.config.location, results=results, skipped=skipped,
                               duration_ms=(time.monotonic() - started_mono) * 1000)
            with self._lock:
                self.latest.update({r.name: r for r in results})
                self.last_report = report
                if publish:
                    self.published.update({r.name: r for r in results})
                    self.last_published = report
            if publish:
                rest = dataclasses.replace(report, results=[r for r in results if r not in published])
                self.publisher.publish(rest, deadline=self._publish_deadline(started_mono))
            elif chosen:
                self.publisher.release(chosen, run_id)
        finally:
            self._forget(chosen)
        log.info("run %s: %d checks, %d failed, %d skipped", report.run_id, len(results),
                 sum(not r.ok for r in results), len(skipped),
                 extra={"run_id": report.run_id, "report": report.to_dict()})
        return report

    def _publish_early(self, run_id: str, now: float, batch: list[ProbeResult],
                       published: list[ProbeResult]) -> None:
        """Publish the results of checks that ended while others of the run go on (a two-minute
        golden path must not delay the HTTP checks' alerts, nor hold their leases)."""
        report = RunReport(run_id=run_id, started_at=iso(now), finished_at=iso(self.clock()),
                           location=self.config.location, results=batch, partial=True)
        self.publisher.publish(report, deadline=time.monotonic() + min(PUBLISH_S, QUIET_S * 2))
        published.extend(batch)

    def _publish_deadline(self, started_mono: float) -> float:
        """Publishing gets PUBLISH_S, within what is left of `run_timeout_s` when one is set; when the
        checks used all of it, a tenth more (at most 5 s): a run with every sink down still ends
        within 1.1 x run_timeout_s."""
        now = time.monotonic()
        bound = self.config.run_timeout_s
        if bound is None:
            return now + PUBLISH_S
        return max(min(now + PUBLISH_S, started_mono + bound), now + min(5.0, bound / 10))

    def _probe(self, checks: list[Check], early: Callable[[list[ProbeResult]], None]) -> list[ProbeResult]:
        """Every check on the probe loop, in config order, once all have ended. When some checks
        have ended and the rest are still running after QUIET_S with none ending, the ended ones
        go to `early` (scrubbed), from this thread."""
        if not checks:
            return []
        loop = self._ensure_loop()
        deadline = None if self.config.run_timeout_s is None else loop.time() + self.config.run_timeout_s
        probes = self.probes()
        futures = {asyncio.run_coroutine_threadsafe(run_check(c, probes[c.type], deadline=deadline,
                                                              clock=self.clock), loop): c for c in checks}
        results: dict[str, ProbeResult] = {}
        ended: list[ProbeResult] = []
        pending = set(futures)
        try:
            while pending:
                done, pending = concurrent.futures.wait(pending, timeout=QUIET_S, return_when="FIRST_COMPLETED")
                for future in done:
                    result = self._scrub(future.result())
                    results[result.name] = result
                    ended.append(result)
                self._forget(futures[f].name for f in done)
                if pending and not done and ended:
                    early(ended)
                    ended = []
        except concurrent.futures.CancelledError:
            raise ShuttingDown("the monitor was closed while the checks ran") from None
        return [results[c.name] for c in checks]

    def probes(self) -> Mapping[str, Any]:
        """The probe functions of the configured types, imported and bound on first use."""
        with self._lock:
            if self._probes is None:
                self._probes = _bind_probes(self.config, self._environ)
            return self._probes

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        """The monitor's own event loop, shared by every run and request thread, so that connection
        machinery (libcurl's multi handle) is built once, not once per run."""
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                self._loop = asyncio.new_event_loop()
                self._loop_thread = threading.Thread(target=_serve_loop, args=(self._loop,),
                                                     name="synthmon-probes", daemon=True)
                self._loop_thread.start()
                # A Monitor dropped without close() must not leave its loop thread behind.
                weakref.finalize(self, _stop_loop, self._loop)
            return self._loop

    def tasks_in_flight(self) -> int:
        """Probe tasks alive on the loop (0 between runs: nothing outlives a run)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return 0
        return concurrent.futures.wait(
            [asyncio.run_coroutine_threadsafe(_count_tasks(), loop)], timeout=5).done.pop().result()

    def close(self) -> None:
        """Stop the probe loop (runs in flight end with ShuttingDown) and the publisher's clients.
        Idempotent; alerts not yet delivered stay in the store for the next run."""
        with self._lock:
            self._closed = True
            loop, thread, self._loop = self._loop, self._loop_thread, None
        if loop is not None:
            _stop_loop(loop)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self.publisher.close()

    def _scrub(self, r: ProbeResult) -> ProbeResult:
        r.target = self.redactor.text(r.target)
        r.details = self.redactor.scrub(r.details)
        if r.failure is not None:
            r.failure = Failure(r.failure.cls, self.redactor.text(r.failure.message))
        if r.diagnosis:
            r.diagnosis = self.redactor.text(r.diagnosis)
        return r


class ShuttingDown(Exception):
    """The monitor was closed: no run starts, and a run in flight ends without a report."""


def _bind_probes(config: Config, environ: Mapping[str, str] | None) -> dict[str, Any]:
    """The probe functions the config needs, with what they take from the service: the
    postgres probe's Cloud Monitoring client (for VPC connector metrics) is built here, never in probes/."""
    probes: dict[str, Any] = dict(registry({c.type for c in config.checks}))
    if "postgres" in probes and any(getattr(c, "vpc_connector", None) for c in config.checks):
        from monitor.sinks.cloud_monitoring import make_client

        env = os.environ if environ is None else environ
        host = env.get("MONITORING_EMULATOR_HOST") or None
        probes["postgres"] = functools.partial(probes["postgres"], monitoring_client=lambda: make_client(host))
    return probes


async def _count_tasks() -> int:
    return len(asyncio.all_tasks()) - 1  # less this one


def _stop_loop(loop: asyncio.AbstractEventLoop) -> None:
    try:
        loop.call_soon_threadsafe(loop.stop)
    except RuntimeError:  # already closed
        pass


def _serve_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Run `loop` until stopped, then close it (no unclosed-loop warnings at exit)."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
