"""Every published result, kept for `history_days`: what /status, /history and `synthmon report` read.

One row per result (time, location, check, ok, failure class, message, latency, phases, trace id and
the run id that names it). SQLite locally, beside the state store (monitor/history_sqlite.py);
Firestore on Cloud Run (monitor/history_firestore.py). Recording never raises and never waits long:
a history store that is down costs a run at most `TIMEOUT_S`, is logged, and is not tried again
for `RETRY_S`.
Success means the row is stored; the hourly counts beside it keep 30-day availability cheap to read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

from monitor.history_rows import HistoryError, Row, rows_of
from probes.result import RunReport

log = logging.getLogger("synthmon.history")
T = TypeVar("T")
RETRY_S = 30.0  # after a failure, recording is skipped (and logged) for this long
READ_RETRY_S = 10.0
PRUNE_EVERY_S = 3600.0


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
