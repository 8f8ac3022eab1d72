"""Every published result, kept for `history_days`: what /status, /history and `synthmon report` read.

One row per result (time, location, check, ok, failure class, message, latency, phases, trace id and
the run id that names it). SQLite locally, beside the state store (monitor/history_sqlite.py);
Firestore on Cloud Run (monitor/history_firestore.py). Recording never raises and never waits long:
a history store that is down costs a run at most `TIMEOUT_S`, is logged, and is not tried again
for `RETRY_S`.
Success means the row is stored; the hourly counts beside it keep 30-day availability cheap to read.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from probes.result import ProbeResult, RunReport

log = logging.getLogger("synthmon.history")
T = TypeVar("T")
TIMEOUT_S = 1.0  # one history write, lock waits included
RETRY_S = 30.0  # after a failure, recording is skipped (and logged) for this long
READ_RETRY_S = 10.0
PRUNE_EVERY_S = 3600.0
PRUNE_BATCH = 5000
CHECKPOINT_EVERY = 50  # writes (runs) between WAL checkpoints  # rows per delete: a prune holds the write lock for milliseconds, not seconds


@dataclasses.dataclass(frozen=True)
class Row:
    ts: float  # epoch seconds the result was published (its run's end)
    location: str
    check: str
    ok: bool
    cls: str | None
    message: str | None
    latency_ms: float | None
    run_id: str
    phases_ms: dict[str, float] = dataclasses.field(default_factory=dict)
    trace_id: str | None = None
    target: str = ""
    diagnosis: str | None = None
    attempts: int | None = None  # probes behind this result (retries + 1) when more than one

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["failure_class"] = d.pop("cls")
        return d


def rows_of(report: RunReport, at: float) -> list[Row]:
    """The history rows of a (redacted) run report."""
    return [_row(r, report, at) for r in report.results]


def _row(r: ProbeResult, report: RunReport, at: float) -> Row:
    attempts = r.details.get("attempts")
    trace = r.details.get("trace_id")
    return Row(ts=at, location=report.location, check=r.name, ok=r.ok,
               cls=r.failure.cls if r.failure else None, message=r.failure.message if r.failure else None,
               latency_ms=None if r.latency_ms is None else round(r.latency_ms, 3), run_id=report.run_id,
               phases_ms={k: round(v, 3) for k, v in r.phases_ms.items()},
               trace_id=trace if isinstance(trace, str) else None, target=r.target, diagnosis=r.diagnosis,
               attempts=len(attempts) if isinstance(attempts, list) and len(attempts) > 1 else None)


class HistoryError(Exception):
    """The history store could not be read or written."""


class HistoryStore(Protocol):
    def write(self, rows: list[Row]) -> None: ...

    def recent(self, check: str, *, limit: int, since: float | None = None,
               failures_only: bool = False, light: bool = False) -> list[Row]:
        """Newest first, every location; `light` rows may leave out message, phases and trace id."""

    def get(self, check: str, run_id: str) -> Row | None: ...

    def counts(self, check: str, since: float) -> dict[str, tuple[int, int]]:
        """location -> (results, failures) since `since`."""

    def prune(self, before: float) -> int: ...

    def close(self) -> None: ...


class History:
    """The sink `Publisher.publish` calls: records a report, never raises, prunes on its own thread."""

    def __init__(self, store: HistoryStore, days: int, *, clock: Callable[[], float] = time.time) -> None:
        self.store, self.days, self.clock = store, days, clock
        self._failed_at: float | None = None
        self._read_failed_at: float | None = None
        self._last_prune = 0.0
        self._pruning = threading.Lock()

    def record(self, report: RunReport) -> bool:
        """Store the report's results; False (logged) when the store is down or failed recently."""
        now = self.clock()
        if self._failed_at is not None and 0 <= now - self._failed_at < RETRY_S:
            log.warning("history store failed %.0f s ago: run %s not recorded", now - self._failed_at,
                        report.run_id, extra={"run_id": report.run_id})
            return False
        try:
            self.store.write(rows_of(report, now))
        except HistoryError as exc:
            self._failed_at = now
            log.error("history store unavailable, run %s not recorded: %s", report.run_id, exc,
                      extra={"run_id": report.run_id})
            return False
        self._failed_at = None
        if now - self._last_prune >= PRUNE_EVERY_S:
            self._last_prune = now
            threading.Thread(target=self.prune, name="synthmon-history-prune", daemon=True).start()
        return True

    def prune(self) -> int:
        """Drop what is older than `days`; on its own thread, in batches, so runs never wait for it."""
        if not self._pruning.acquire(blocking=False):
            return 0
        try:
            return self.store.prune(self.clock() - self.days * 86400)
        except HistoryError as exc:
            log.error("history prune failed: %s", exc)
            return 0
        finally:
            self._pruning.release()

    def recent(self, check: str, *, limit: int, since: float | None = None,
               failures_only: bool = False, light: bool = False) -> list[Row]:
        """Newest first. `light`: without message, phases, trace id (cheaper, for streaks and counts)."""
        return self._read(lambda: self.store.recent(check, limit=limit, since=since, failures_only=failures_only,
                                                    light=light))

    def get(self, check: str, run_id: str) -> Row | None:
        return self._read(lambda: self.store.get(check, run_id))

    def counts(self, check: str, since: float) -> dict[str, tuple[int, int]]:
        return self._read(lambda: self.store.counts(check, since))

    def _read(self, fn: Callable[[], T]) -> T:
        """Reads fail at once within READ_RETRY_S of a failed read: a page must not wait out the
        store's timeout once per query."""
        failed_at = self._read_failed_at
        if failed_at is not None and 0 <= self.clock() - failed_at < READ_RETRY_S:
            raise HistoryError(f"history store failed {self.clock() - failed_at:.0f} s ago")
        try:
            out = fn()
        except HistoryError:
            self._read_failed_at = self.clock()
            raise
        self._read_failed_at = None
        return out

    def close(self) -> None:
        self.store.close()


def open_history(url: str | None, state_url: str, days: int, project_id: str | None = None, *,
                 clock: Callable[[], float] = time.time) -> History:
    """The history store named by `sinks.history`, else the one beside `sinks.state`."""
    if url is None:
        if state_url.startswith("sqlite:///"):
            path = Path(state_url[len("sqlite:///"):])
            url = f"sqlite:///{path.with_name('history.db')}"
        elif state_url.startswith("firestore://"):
            database = state_url[len("firestore://"):].partition("/")[0]
            url = f"firestore://{database}/synthmon-history"
        else:
            url = "memory://"
    if url.startswith("firestore://"):
        from monitor.history_firestore import FirestoreHistory

        database, _, collection = url[len("firestore://"):].partition("/")
        return History(FirestoreHistory(project_id, database or "(default)", collection or "synthmon-history"),
                       days, clock=clock)
    from monitor.history_sqlite import SqliteHistory

    return History(SqliteHistory(":memory:" if url == "memory://" else url[len("sqlite:///"):]), days, clock=clock)


def _encode(r: Row) -> tuple[Any, ...]:
    data = {"message": r.message, "phases_ms": r.phases_ms, "trace_id": r.trace_id, "target": r.target,
            "diagnosis": r.diagnosis, "attempts": r.attempts}
    return (r.ts, r.location, r.check, int(r.ok), r.cls, r.latency_ms, r.run_id,
            json.dumps({k: v for k, v in data.items() if v not in (None, {})}, separators=(",", ":")))


def _decode(t: Iterable[Any]) -> Row:
    ts, location, check, ok, cls, latency_ms, run_id, data = t
    if data == "{}":  # light rows: no JSON to parse (a week of them is 10,000 per check)
        return Row(ts, location, check, bool(ok), cls, None, latency_ms, run_id)
    d = json.loads(data)
    return Row(ts=ts, location=location, check=check, ok=bool(ok), cls=cls, message=d.get("message"),
               latency_ms=latency_ms, run_id=run_id, phases_ms=d.get("phases_ms") or {},
               trace_id=d.get("trace_id"), target=d.get("target", ""), diagnosis=d.get("diagnosis"),
               attempts=d.get("attempts"))
