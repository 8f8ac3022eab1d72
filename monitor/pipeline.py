"""One monitoring run end to end: choose due checks, probe them, redact, publish, remember.

Both the CLI and the HTTP service go through `Monitor.run`, so scheduling, overlap rules and
publishing behave the same whichever way a run was triggered (DESIGN.md "Scheduling").
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import functools
import logging
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from monitor.config import Config
from monitor.runner import run_check
from probes import registry
from probes.checks import Check
from probes.redact import Redactor
from probes.result import ProbeResult, RunReport

log = logging.getLogger("synthmon.run")


class Publisher(Protocol):
    """Everything that leaves the process after a run: metrics, alert transitions, stored state."""

    def publish(self, report: RunReport, *, deadline: float) -> None:
        """Publish within `deadline` (a time.monotonic() value); never raises."""

    def claim(self, names: Iterable[str], now: float, intervals: Mapping[str, float]) -> list[str]:
        """Atomically: the checks due at `now` (by their interval_s), marked started at `now`."""

    def alert_states(self) -> dict[str, dict[str, Any]]:
        """Per check: alert state for /status (state, since, consecutive failures...)."""

    def close(self) -> None:
        """Stop the clients behind the sinks and the store (at shutdown)."""


class Monitor:
    def __init__(self, config: Config, *, publisher: Publisher | None = None,
                 clock: Callable[[], float] = time.time, probes: Mapping[str, Any] | None = None) -> None:
        self.config = config
        self.clock = clock
        self.probes = probes
        self.redactor = Redactor(config.secrets)
        if publisher is None:
            from monitor.publish import build_publisher

            publisher = build_publisher(config, clock=clock)
        self.publisher = publisher
        self._lock = threading.Lock()
        self._in_flight: set[str] = set()
        self.latest: dict[str, ProbeResult] = {}
        self._background: dict[str, float] = {}  # check → time.monotonic() its run started
        # What /metrics exposes: results of published runs only (a dry run writes no metrics).
        self.published: dict[str, ProbeResult] = {}
        self.last_published: RunReport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self.last_report: RunReport | None = None

    def select(self, names: Iterable[str] | None) -> list[str]:
        """Configured check names in config order; raises KeyError naming an unknown one."""
        if names is None:
            return list(self.config.check_names)
        wanted = list(dict.fromkeys(names))
        for n in wanted:
            if n not in self.config.check_names:
                raise KeyError(n)
        return [n for n in self.config.check_names if n in wanted]

    def _claim(self, names: list[str], scheduled: bool, now: float) -> tuple[list[str], list[dict[str, str]]]:
        """The checks this run starts, and the others with their reason (in_progress, not_due).

        In-flight first (in-process), then the store's atomic schedule claim for the rest, so two
        overlapping runs, in this process or another instance, never start one check twice."""
        with self._lock:
            busy = {n for n in names if n in self._in_flight}
            chosen = [n for n in names if n not in busy]
            self._in_flight.update(chosen)
        not_due: set[str] = set()
        if scheduled and chosen:
            try:
                due = set(self.publisher.claim(chosen, now, {n: self.config.check(n).interval_s for n in chosen}))
            except BaseException:
                self._release(chosen)
                raise
            not_due = set(chosen) - due
            self._release(not_due)
        skipped = [{"name": n, "reason": "in_progress" if n in busy else "not_due"}
                   for n in names if n in busy or n in not_due]
        return [n for n in chosen if n not in not_due], skipped

    def _release(self, names: Iterable[str]) -> None:
        with self._lock:
            self._in_flight.difference_update(names)

    def run(self, names: Iterable[str] | None = None, *, scheduled: bool = False,
            publish: bool = True, wait_all: bool = False) -> RunReport:
        """Run the named (or all) checks. `scheduled` runs only due ones and moves their schedule.

        The report holds what finished within `run_timeout_s`; a check that takes longer (a
        two-minute golden path) goes on under its own `timeout_s`, is listed under `skipped` as
        `in_progress`, and publishes its result on its own when it ends. `wait_all` waits for it."""
        selected = self.select(names)
        started_mono, now = time.monotonic(), self.clock()
        chosen, skipped = self._claim(selected, scheduled, now)
        late: set[str] = set()
        try:
            checks = [self.config.check(n) for n in chosen]
            results, late = self._probe(checks, wait_all=wait_all, publish=publish, now=now)
        finally:
            self._release(n for n in chosen if n not in late)
        skipped += [{"name": n, "reason": "in_progress"} for n in chosen if n in late]
        for r in results:
            self._scrub(r)
        report = RunReport(
            run_id=uuid.uuid4().hex[:16], started_at=_iso(now), finished_at=_iso(self.clock()),
            location=self.config.location, results=results, skipped=skipped,
            duration_ms=(time.monotonic() - started_mono) * 1000,
        )
        with self._lock:
            self.latest.update({r.name: r for r in results})
            self.last_report = report
            if publish:
                self.published.update({r.name: r for r in results})
                self.last_published = report
        if publish:
            self.publisher.publish(report, deadline=self._publish_deadline(started_mono))
        log.info("run %s: %d checks, %d failed, %d skipped", report.run_id, len(results),
                 sum(not r.ok for r in results), len(skipped),
                 extra={"run_id": report.run_id, "report": report.to_dict()})
        return report

    def _probe(self, checks: list[Check], *, wait_all: bool, publish: bool,
               now: float) -> tuple[list[ProbeResult], set[str]]:
        """Start every check on the probe loop; the results within the run deadline (config order)
        and the names of the checks still running, which finish in the background."""
        started_mono = time.monotonic()
        loop = self._ensure_loop()
        probes = self.probes if self.probes is not None else registry({c.type for c in checks})
        futures = [asyncio.run_coroutine_threadsafe(run_check(c, probes[c.type]), loop) for c in checks]
        done, _ = concurrent.futures.wait(futures, timeout=None if wait_all else self.config.run_bound_s)
        results: list[ProbeResult] = []
        late: set[str] = set()
        for check, future in zip(checks, futures, strict=True):
            if future in done:
                results.append(future.result())
            else:
                late.add(check.name)
                with self._lock:
                    self._background[check.name] = started_mono
                future.add_done_callback(functools.partial(self._late_done, publish, now))
        return results, late

    def _late_done(self, publish: bool, now: float, future: concurrent.futures.Future[ProbeResult]) -> None:
        # Called on the probe loop's thread: publishing blocks, so it gets a thread of its own.
        threading.Thread(target=self._finish_late, args=(future, publish, now), name="synthmon-late",
                         daemon=True).start()

    def _finish_late(self, future: concurrent.futures.Future[ProbeResult], publish: bool, now: float) -> None:
        """Publish the result of a check that outlived its run, as a report of its own."""
        try:
            result = future.result()
        except concurrent.futures.CancelledError:
            return  # the monitor was closed (shutdown); the abandoned check was logged there
        try:
            self._scrub(result)
            report = RunReport(run_id=uuid.uuid4().hex[:16], started_at=_iso(now), finished_at=_iso(self.clock()),
                               location=self.config.location, results=[result],
                               duration_ms=(self.clock() - now) * 1000, late=True)
            with self._lock:
                self.latest[result.name] = result
                if publish:
                    self.published[result.name] = result
            if publish:
                self.publisher.publish(report, deadline=time.monotonic() + min(30.0, self.config.run_bound_s))
            log.info("late result of %s (run %s): %s", result.name, report.run_id, "ok" if result.ok else "failed",
                     extra={"run_id": report.run_id, "report": report.to_dict()})
        finally:
            with self._lock:
                self._background.pop(result.name, None)
            self._release([result.name])

    def background(self) -> dict[str, float]:
        """Checks still running after their run answered: name → seconds since they started."""
        now = time.monotonic()
        with self._lock:
            return {name: now - started for name, started in self._background.items()}

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

    def close(self) -> None:
        """Stop the probe loop and the publisher's clients (idempotent); a later run starts new ones.
        Alerts not yet delivered stay in the store for the next run."""
        with self._lock:
            loop, thread, self._loop = self._loop, self._loop_thread, None
        if loop is not None:
            _stop_loop(loop)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self.publisher.close()

    def _publish_deadline(self, started_mono: float) -> float:
        """Sinks get what is left of the run deadline; when the checks used all of it, a tenth more
        (at most 5 s), so a run with every sink down still ends within 1.1 x run_timeout_s."""
        timeout_s = self.config.run_bound_s
        return max(started_mono + timeout_s, time.monotonic() + min(5.0, timeout_s / 10))

    def _scrub(self, r: ProbeResult) -> None:
        r.target = self.redactor.text(r.target)
        r.details = self.redactor.scrub(r.details)
        if r.failure is not None:
            from probes.result import Failure

            r.failure = Failure(r.failure.cls, self.redactor.text(r.failure.message))
        if r.diagnosis:
            r.diagnosis = self.redactor.text(r.diagnosis)


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


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
