"""Where each check's alert state, schedule and lease survive between runs (Cloud Run keeps nothing).

Every store offers the same atomic read-modify-write (`transact_many`) and lease (`lease`), so that
two overlapping runs, in one instance or several, cannot both fire, both resolve or both probe a
check: SQLite (one `BEGIN IMMEDIATE` transaction per call), Firestore (monitor/state_firestore.py, one transaction over the
checks' documents) and an in-process dict for tests and dry runs. Any failure to read or write is a
`StoreError`, raised within a few seconds: a store that is down must not hold a run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from monitor.alerts import CheckState

Update = Callable[[CheckState], CheckState]
UpdateNamed = Callable[[str, CheckState], CheckState | None]  # None: leave the check as it is
# All the named checks' states in, the ones to write out (a run's alert decisions, monitor/alert_run.py).
UpdateAll = Callable[[dict[str, CheckState]], dict[str, CheckState]]
# Cloud Scheduler fires a little early or late; a check due within this margin counts as due.
DUE_SLACK_S = 0.5
STORE_TIMEOUT_S = 3.0  # one store call, retries included


class StoreError(Exception):
    """The store could not be read or written (database locked or unreachable, permission)."""


class StateStore(Protocol):
    def transact(self, check: str, fn: Update) -> CheckState:
        """Atomically replace the check's state with `fn(state)`; `fn` may run more than once."""

    def transact_many(self, names: Iterable[str], fn: UpdateNamed) -> dict[str, CheckState]:
        """`transact` for several checks at once; the states written (`fn` returning None writes nothing)."""

    def transact_run(self, names: Iterable[str], fn: UpdateAll) -> dict[str, CheckState]:
        """One transaction over every named check: `fn` sees them all (dependencies and quorum are
        decided across checks and locations) and returns those to write; every state, as committed.
        `fn` may run more than once."""

    def load_all(self) -> dict[str, CheckState]: ...

    def lease(self, names: Iterable[str], req: LeaseRequest) -> dict[str, str]:
        """Atomically: lease the checks `req` may start; name → skip reason for the others."""

    def close(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class LeaseRequest:
    """What a run asks of the store before it probes: `until` per check is when its lease lapses
    by itself (start + the check's timeout with retries + grace), should the run never release it."""

    run_id: str
    location: str
    now: float
    until: Mapping[str, float]
    intervals: Mapping[str, float]
    scheduled: bool  # a scheduled run starts only due checks and moves their schedule


def is_due(here: Mapping[str, Any], now: float, interval_s: float) -> bool:
    last = here.get("last_start")
    return last is None or last + interval_s <= now + DUE_SLACK_S


def decide_lease(name: str, s: CheckState, req: LeaseRequest) -> str | None:
    """Pure: None when the run may start `name` (and `s` holds the lease in the run's location),
    else why not. Locations never wait for each other: each probes every check."""
    here = s.schedule.setdefault(req.location, {})
    until, owner = here.get("lease_until"), here.get("lease_owner")
    if until is not None and until > req.now and owner != req.run_id:
        return "in_progress"
    if req.scheduled and not is_due(here, req.now, req.intervals[name]):
        return "not_due"
    here["lease_until"], here["lease_owner"] = req.until[name], req.run_id
    if req.scheduled:
        here["last_start"] = req.now
    return None


def release(s: CheckState, run_id: str) -> CheckState:
    """`s` without the leases of `run_id` (a lease taken over by another run stays)."""
    for here in s.schedule.values():
        if here.get("lease_owner") == run_id:
            here["lease_until"], here["lease_owner"] = None, None
    return s


def _leaser(req: LeaseRequest, skipped: dict[str, str]) -> UpdateNamed:
    def apply(name: str, s: CheckState) -> CheckState | None:
        reason = decide_lease(name, s, req)
        if reason is None:
            skipped.pop(name, None)  # a transaction body may run more than once
            return s
        skipped[name] = reason
        return None

    return apply


def lease_all(req: LeaseRequest, skipped: dict[str, str]) -> UpdateAll:
    """`transact_run`'s body for a lease: the checks it may start are written, the others land in
    `skipped` with their reason (filled afresh each time the body runs)."""
    def apply(states: dict[str, CheckState]) -> dict[str, CheckState]:
        skipped.clear()
        written = {}
        for name, s in states.items():
            reason = decide_lease(name, s, req)
            if reason is None:
                written[name] = s
            else:
                skipped[name] = reason
        return written

    return apply


class _ManyBased:
    """What a store with an atomic `transact_many` gets from it (the memory and SQLite stores)."""

    def transact_many(self, names: Iterable[str], fn: UpdateNamed) -> dict[str, CheckState]:
        raise NotImplementedError

    def transact(self, check: str, fn: Update) -> CheckState:
        return self.transact_many([check], lambda _, s: fn(s))[check]

    def lease(self, names: Iterable[str], req: LeaseRequest) -> dict[str, str]:
        skipped: dict[str, str] = {}
        self.transact_many(names, _leaser(req, skipped))
        return skipped

    def close(self) -> None:
        pass


class MemoryStore(_ManyBased):
    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def transact_many(self, names: Iterable[str], fn: UpdateNamed) -> dict[str, CheckState]:
        out = {}
        with self._lock:
            for name in names:
                new = fn(name, CheckState.from_dict(name, json.loads(json.dumps(self._data.get(name)))))
                if new is not None:
                    self._data[name] = new.to_dict()
                    out[name] = new
        return out

    def load_all(self) -> dict[str, CheckState]:
        with self._lock:
            return {k: CheckState.from_dict(k, json.loads(json.dumps(v))) for k, v in self._data.items()}

    def transact_run(self, names: Iterable[str], fn: UpdateAll) -> dict[str, CheckState]:
        with self._lock:
            states = {n: CheckState.from_dict(n, json.loads(json.dumps(self._data.get(n)))) for n in names}
            written = fn(dict(states))
            for n, s in written.items():
                self._data[n] = s.to_dict()
        return {**states, **written}


class SqliteStore(_ManyBased):
    """One row per check, the state as JSON. `sqlite:///rel/path.db` or `sqlite:////abs/path.db`.

    A file that cannot be created at startup (read-only disk, missing mount) does not keep the
    service down: each store call tries again and fails with StoreError until it can.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._ready = False
        with contextlib.suppress(StoreError):
            self.load_all()

    def _connect(self) -> sqlite3.Connection:
        # A connection per call (Flask serves from several threads, and sqlite3 objects are
        # per-thread), but only a few calls per run: each commit costs an fsync.
        if not self._ready and self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=5, isolation_level=None)
        try:
            if not self._ready:
                db.execute("PRAGMA journal_mode=WAL")  # persistent: set once per file
                db.execute("CREATE TABLE IF NOT EXISTS check_state (name TEXT PRIMARY KEY, data TEXT NOT NULL)")
                self._ready = True
            db.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable on checkpoint, never corrupt
        except BaseException:
            db.close()
            raise
        return db

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{self.path}: {exc}") from exc

    def transact_many(self, names: Iterable[str], fn: UpdateNamed) -> dict[str, CheckState]:
        """One transaction for all `names`, so a run costs one commit, not one per check."""
        with self._errors():
            db = self._connect()
            try:
                return self._update(db, list(names), fn)
            finally:
                db.close()

    @staticmethod
    def _update(db: sqlite3.Connection, names: list[str], fn: UpdateNamed) -> dict[str, CheckState]:
        db.execute("BEGIN IMMEDIATE")  # the write lock first: no other run reads stale state
        try:
            out = {}
            for name in names:
                row = db.execute("SELECT data FROM check_state WHERE name = ?", (name,)).fetchone()
                new = fn(name, CheckState.from_dict(name, json.loads(row[0]) if row else None))
                if new is None:
                    continue
                db.execute("INSERT INTO check_state (name, data) VALUES (?, ?) "
                           "ON CONFLICT(name) DO UPDATE SET data = excluded.data",
                           (name, json.dumps(new.to_dict(), separators=(",", ":"))))
                out[name] = new
            db.execute("COMMIT")
            return out
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def transact_run(self, names: Iterable[str], fn: UpdateAll) -> dict[str, CheckState]:
        """Under `BEGIN IMMEDIATE`: monitors of other locations sharing the file wait for this one."""
        wanted = list(names)
        with self._errors():
            db = self._connect()
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    states = {}
                    for name in wanted:
                        row = db.execute("SELECT data FROM check_state WHERE name = ?", (name,)).fetchone()
                        states[name] = CheckState.from_dict(name, json.loads(row[0]) if row else None)
                    written = fn(dict(states))
                    db.executemany("INSERT INTO check_state (name, data) VALUES (?, ?) "
                                   "ON CONFLICT(name) DO UPDATE SET data = excluded.data",
                                   [(n, json.dumps(s.to_dict(), separators=(",", ":"))) for n, s in written.items()])
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            finally:
                db.close()
        return {**states, **written}

    def load_all(self) -> dict[str, CheckState]:
        with self._errors():
            db = self._connect()
            try:
                rows = db.execute("SELECT name, data FROM check_state").fetchall()
            finally:
                db.close()
        return {name: CheckState.from_dict(name, json.loads(data)) for name, data in rows}
