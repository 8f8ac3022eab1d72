"""The SQLite history: `results` (one row per result, indexed by check and time) and `hourly` (counts
per check, location and hour, written in the same transaction), in one WAL-mode file.

Success of a write is one committed transaction per run; any SQLite or OS error is a HistoryError.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitor.history_rows import CHECKPOINT_EVERY, PRUNE_BATCH, TIMEOUT_S, HistoryError, Row, _decode, _encode

log = logging.getLogger("synthmon.history")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
  ts REAL NOT NULL, location TEXT NOT NULL, check_name TEXT NOT NULL, ok INTEGER NOT NULL,
  cls TEXT, latency_ms REAL, run_id TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS results_check_ts ON results (check_name, ts);
CREATE INDEX IF NOT EXISTS results_run ON results (run_id);
CREATE TABLE IF NOT EXISTS hourly (
  check_name TEXT NOT NULL, location TEXT NOT NULL, hour INTEGER NOT NULL,
  total INTEGER NOT NULL, failures INTEGER NOT NULL,
  PRIMARY KEY (check_name, location, hour)) WITHOUT ROWID;
"""
_COLS = "ts, location, check_name, ok, cls, latency_ms, run_id, data"


class SqliteHistory:
    """`results` (one row per result, indexed by check and time) and `hourly` (counts per check,
    location and hour, updated in the same transaction) in one SQLite file, WAL mode."""

    def __init__(self, path: str) -> None:
        self.path = path
        # One connection for writes and one for reads, each behind its own lock: with WAL a page
        # being rendered never holds up a run's write. ":memory:" is one database, so one connection.
        self._conns: dict[str, sqlite3.Connection] = {}
        self._locks = {"w": threading.Lock(), "r": threading.Lock(), "c": threading.Lock()}
        self._writes = 0

    def _open(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=TIMEOUT_S, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            # Checkpoints run on a thread of their own (checkpoint()), never inside a run's commit.
            db.execute("PRAGMA wal_autocheckpoint=0")
            db.executescript(_SCHEMA)
        except BaseException:
            db.close()
            raise
        return db

    def _run(self, fn: Callable[[sqlite3.Connection], Any], mode: str = "r") -> Any:
        mode = "w" if self.path == ":memory:" else mode
        try:
            with self._locks[mode]:
                db = self._conns.get(mode)
                if db is None:
                    db = self._conns[mode] = self._open()
                return fn(db)
        except (sqlite3.Error, OSError) as exc:
            raise HistoryError(f"{self.path}: {exc}") from exc

    def write(self, rows: list[Row]) -> None:
        if not rows:
            return

        def tx(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(f"INSERT INTO results ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               [_encode(r) for r in rows])
                db.executemany("INSERT INTO hourly VALUES (?, ?, ?, 1, ?) ON CONFLICT DO UPDATE SET "
                               "total = total + 1, failures = failures + excluded.failures",
                               [(r.check, r.location, int(r.ts // 3600), int(not r.ok)) for r in rows])
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

        self._run(tx, "w")
        self._writes += 1
        if self._writes % CHECKPOINT_EVERY == 0 and self.path != ":memory:":
            threading.Thread(target=self.checkpoint, name="synthmon-history-checkpoint", daemon=True).start()

    def checkpoint(self) -> None:
        """Copy the WAL into the database without blocking writers (PASSIVE), on its own connection."""
        try:
            self._run(lambda db: db.execute("PRAGMA wal_checkpoint(PASSIVE)"), "c")
        except HistoryError as exc:
            log.warning("history checkpoint failed: %s", exc)

    def recent(self, check: str, *, limit: int, since: float | None = None,
               failures_only: bool = False, light: bool = False) -> list[Row]:
        cols = _COLS.replace("data", "'{}'") if light else _COLS
        sql = (f"SELECT {cols} FROM results WHERE check_name = ? AND ts >= ?"
               + (" AND ok = 0" if failures_only else "") + " ORDER BY ts DESC LIMIT ?")
        rows = self._run(lambda db: db.execute(sql, (check, since or 0.0, limit)).fetchall())
        return [_decode(r) for r in rows]

    def get(self, check: str, run_id: str) -> Row | None:
        row = self._run(lambda db: db.execute(f"SELECT {_COLS} FROM results WHERE run_id = ? AND check_name = ?",
                                              (run_id, check)).fetchone())
        return None if row is None else _decode(row)

    def counts(self, check: str, since: float) -> dict[str, tuple[int, int]]:
        """Exact: raw rows up to the first whole hour after `since`, hourly counts from there."""
        hour = int(-(-since // 3600))

        def q(db: sqlite3.Connection) -> list[tuple[str, int, int]]:
            return db.execute(
                "SELECT location, SUM(t), SUM(f) FROM ("
                " SELECT location, COUNT(*) AS t, SUM(1 - ok) AS f FROM results"
                "  WHERE check_name = ? AND ts >= ? AND ts < ? GROUP BY location"
                " UNION ALL SELECT location, SUM(total), SUM(failures) FROM hourly"
                "  WHERE check_name = ? AND hour >= ? GROUP BY location) GROUP BY location",
                (check, since, hour * 3600.0, check, hour)).fetchall()

        return {loc: (int(t), int(f)) for loc, t, f in self._run(q)}

    def prune(self, before: float) -> int:
        removed = 0
        while True:
            n = self._run(lambda db: db.execute(
                "DELETE FROM results WHERE rowid IN (SELECT rowid FROM results WHERE ts < ? LIMIT ?)",
                (before, PRUNE_BATCH)).rowcount, "w")
            removed += n
            if n < PRUNE_BATCH:
                break
        self._run(lambda db: db.execute("DELETE FROM hourly WHERE hour < ?", (int(before // 3600),)), "w")
        return removed

    def close(self) -> None:
        for mode, lock in self._locks.items():
            with lock:
                db = self._conns.pop(mode, None)
            if db is not None:
                db.close()
