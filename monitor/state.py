"""Where each check's alert state and last scheduled start survive between runs (Cloud Run keeps nothing).

Every store offers the same atomic read-modify-write per check (`transact`), so that two overlapping
runs cannot both fire or both resolve: SQLite (`BEGIN IMMEDIATE`), Firestore (one document per check,
updated in a transaction) and an in-process dict for tests and dry runs.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from monitor.alerts import CheckState

Update = Callable[[CheckState], CheckState]


class StoreError(Exception):
    """The store could not be read or written (database locked or unreachable, permission)."""


class StateStore(Protocol):
    def transact(self, check: str, fn: Update) -> CheckState:
        """Atomically replace the check's state with `fn(state)`; `fn` may run more than once."""

    def load_all(self) -> dict[str, CheckState]: ...

    def mark_started(self, names: Iterable[str], at: float) -> None: ...


def open_store(url: str, project_id: str | None = None) -> StateStore:
    """The store named by a `sinks.state` URL (validated at config load)."""
    if url == "memory://":
        return MemoryStore()
    if url.startswith("sqlite:///"):
        return SqliteStore(url[len("sqlite:///"):])
    if url.startswith("firestore://"):
        database, _, collection = url[len("firestore://"):].partition("/")
        return FirestoreStore(project_id, database or "(default)", collection or "synthmon-state")
    raise ValueError(f"unsupported state store {url!r}")


def last_starts(store: StateStore) -> dict[str, float]:
    return {n: s.last_start for n, s in store.load_all().items() if s.last_start is not None}


class MemoryStore:
    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def transact(self, check: str, fn: Update) -> CheckState:
        with self._lock:
            new = fn(CheckState.from_dict(check, json.loads(json.dumps(self._data.get(check)))))
            self._data[check] = new.to_dict()
            return new

    def load_all(self) -> dict[str, CheckState]:
        with self._lock:
            return {k: CheckState.from_dict(k, json.loads(json.dumps(v))) for k, v in self._data.items()}

    def mark_started(self, names: Iterable[str], at: float) -> None:
        with self._lock:
            for n in names:
                self._data.setdefault(n, CheckState(n).to_dict())["last_start"] = at


class SqliteStore:
    """One row per check, the state as JSON. `sqlite:///rel/path.db` or `sqlite:////abs/path.db`."""

    def __init__(self, path: str) -> None:
        self.path = path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = self._connect()
        try:
            db.execute("CREATE TABLE IF NOT EXISTS check_state (name TEXT PRIMARY KEY, data TEXT NOT NULL)")
        finally:
            db.close()

    def _connect(self) -> sqlite3.Connection:
        # A connection per call: Flask serves from several threads, and sqlite3 objects are per-thread.
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def _update(self, names: Iterable[str], fn: Callable[[str, CheckState], CheckState]) -> list[CheckState]:
        try:
            return self._update_once(names, fn)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{self.path}: {exc}") from exc

    def _update_once(self, names: Iterable[str], fn: Callable[[str, CheckState], CheckState]) -> list[CheckState]:
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")  # the write lock first: no other run reads stale state
            out = []
            for name in names:
                row = db.execute("SELECT data FROM check_state WHERE name = ?", (name,)).fetchone()
                new = fn(name, CheckState.from_dict(name, json.loads(row[0]) if row else None))
                db.execute("INSERT INTO check_state (name, data) VALUES (?, ?) "
                           "ON CONFLICT(name) DO UPDATE SET data = excluded.data",
                           (name, json.dumps(new.to_dict(), separators=(",", ":"))))
                out.append(new)
            db.execute("COMMIT")
            return out
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    def transact(self, check: str, fn: Update) -> CheckState:
        return self._update([check], lambda _, s: fn(s))[0]

    def load_all(self) -> dict[str, CheckState]:
        try:
            db = self._connect()
            try:
                rows = db.execute("SELECT name, data FROM check_state").fetchall()
            finally:
                db.close()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{self.path}: {exc}") from exc
        return {name: CheckState.from_dict(name, json.loads(data)) for name, data in rows}

    def mark_started(self, names: Iterable[str], at: float) -> None:
        def start(_: str, s: CheckState) -> CheckState:
            s.last_start = at
            return s

        self._update(list(names), start)


class FirestoreStore:
    """One document per check in `collection`; `transact` is a Firestore transaction on it.

    The client is built on first use (google.cloud.firestore costs cold-start time) and honours
    FIRESTORE_EMULATOR_HOST.
    """

    def __init__(self, project_id: str | None, database: str, collection: str) -> None:
        self.project_id, self.database, self.collection = project_id, database, collection
        self._client: Any = None
        self._lock = threading.Lock()

    def _coll(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.cloud import firestore

                self._client = firestore.Client(project=self.project_id, database=self.database)
            return self._client.collection(self.collection)

    def transact(self, check: str, fn: Update) -> CheckState:
        with _firestore_errors():
            return self._transact(check, fn)

    def _transact(self, check: str, fn: Update) -> CheckState:
        from google.cloud import firestore

        coll = self._coll()
        ref = coll.document(check)

        @firestore.transactional
        def apply(txn: Any) -> CheckState:
            snap = ref.get(transaction=txn)
            new = fn(CheckState.from_dict(check, snap.to_dict() if snap.exists else None))
            txn.set(ref, new.to_dict())
            return new

        return apply(self._client.transaction(max_attempts=10))

    def load_all(self) -> dict[str, CheckState]:
        with _firestore_errors():
            return {d.id: CheckState.from_dict(d.id, d.to_dict()) for d in self._coll().stream()}

    def mark_started(self, names: Iterable[str], at: float) -> None:
        with _firestore_errors():
            coll = self._coll()
            batch = self._client.batch()
            for n in names:
                batch.set(coll.document(n), {"check": n, "last_start": at}, merge=True)
            batch.commit()


@contextlib.contextmanager
def _firestore_errors() -> Iterator[None]:
    from google.api_core.exceptions import GoogleAPIError
    from google.auth.exceptions import GoogleAuthError

    try:
        yield
    except (GoogleAPIError, GoogleAuthError) as exc:
        raise StoreError(f"firestore: {exc}") from exc
