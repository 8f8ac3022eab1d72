"""History in Firestore, for Cloud Run: one document per result, shared by every region's instances.

Document id `<run_id>.<check>`, so a retried write stores nothing twice. Reads are what costs money
on a page that refreshes itself, so: the latest rows per check are kept in memory and only newer
ones are fetched; availability comes from Firestore's `count()` aggregation (billed one read per
1,000 index entries, not per document), cached per window (`COUNT_CACHE_S`). Every call gives up
within `CALL_TIMEOUT_S`, retries included.
Queries need composite indexes: (check, ts desc), (check, ok, ts desc), (check, location, ts) and
(check, location, ok, ts); terraform/ does not declare them yet (the README says so).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from monitor.history_rows import HistoryError, Row, _decode, _encode

CALL_TIMEOUT_S = 3.0
# How stale a count may be, by window length: a 30-day availability moves slowly.
COUNT_CACHE_S = ((3600.0, 60.0), (86400.0, 300.0), (float("inf"), 3600.0))
REBUILD_S = 600.0
RECENT_CACHE = 200  # latest rows kept per check (the bar needs 60 per location)
BATCH = 500  # Firestore's limit of writes per batch


class FirestoreHistory:
    def __init__(self, project_id: str | None, database: str, collection: str) -> None:
        self.project_id, self.database, self.collection = project_id, database, collection
        self._client: Any = None
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int], tuple[float, dict[str, tuple[int, int]]]] = {}
        self._latest: dict[str, list[Row]] = {}  # newest first, at most RECENT_CACHE
        self._latest_built: dict[str, float] = {}

    def _coll(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.cloud import firestore

                from monitor.state_firestore import _bound_calls

                client = firestore.Client(project=self.project_id, database=self.database)
                _bound_calls(client, CALL_TIMEOUT_S)
                self._client = client
            return self._client.collection(self.collection)

    def write(self, rows: list[Row]) -> None:
        with _errors():
            coll = self._coll()
            for i in range(0, len(rows), BATCH):
                batch = self._client.batch()
                for r in rows[i:i + BATCH]:
                    batch.set(coll.document(f"{r.run_id}.{r.check}"), _doc(r))
                batch.commit(timeout=CALL_TIMEOUT_S)

    def recent(self, check: str, *, limit: int, since: float | None = None,
               failures_only: bool = False, light: bool = False) -> list[Row]:
        if failures_only or limit > RECENT_CACHE:
            return self._query(check, limit=limit, since=since, failures_only=failures_only)
        cached = self._latest.get(check)
        # Rebuilt now and then: a row another region wrote with an older time (clock skew) than
        # the newest one seen here would otherwise never show.
        if cached is None or time.monotonic() - self._latest_built.get(check, 0.0) > REBUILD_S:
            cached = self._query(check, limit=RECENT_CACHE)
            self._latest_built[check] = time.monotonic()
        else:  # only what was written since (ts >= newest cached; a tie is dropped by run id)
            known = {r.run_id for r in cached}
            newer = [r for r in self._query(check, limit=RECENT_CACHE, since=cached[0].ts if cached else None)
                     if r.run_id not in known]
            cached = (newer + cached)[:RECENT_CACHE]
        self._latest[check] = cached
        return [r for r in cached if since is None or r.ts >= since][:limit]

    def _query(self, check: str, *, limit: int, since: float | None = None,
               failures_only: bool = False) -> list[Row]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        with _errors():
            query = self._coll().where(filter=FieldFilter("check", "==", check))
            if failures_only:
                query = query.where(filter=FieldFilter("ok", "==", False))
            if since:
                query = query.where(filter=FieldFilter("ts", ">=", since))
            docs = query.order_by("ts", direction="DESCENDING").limit(limit).stream(timeout=CALL_TIMEOUT_S)
            return [_row(d.to_dict()) for d in docs]

    def get(self, check: str, run_id: str) -> Row | None:
        with _errors():
            snap = self._coll().document(f"{run_id}.{check}").get(timeout=CALL_TIMEOUT_S)
            return _row(snap.to_dict()) if snap.exists else None

    def counts(self, check: str, since: float) -> dict[str, tuple[int, int]]:
        """Per location: two count() aggregations per location seen in the last 30 days."""
        now = time.time()
        key = (check, int(round(now - since, -1)))
        cached = self._counts.get(key)
        max_age = next(age for window, age in COUNT_CACHE_S if key[1] <= window)
        if cached is not None and now - cached[0] < max_age:
            return cached[1]
        from google.cloud.firestore_v1.base_query import FieldFilter

        with _errors():
            base = self._coll().where(filter=FieldFilter("check", "==", check)).where(
                filter=FieldFilter("ts", ">=", since))
            out = {}
            for loc in self._locations(check, now):
                q = base.where(filter=FieldFilter("location", "==", loc))
                total = _count(q)
                if total:
                    out[loc] = (total, _count(q.where(filter=FieldFilter("ok", "==", False))))
        self._counts[key] = (now, out)
        return out

    def _locations(self, check: str, now: float) -> list[str]:
        """The locations among this check's latest results (from the in-memory rows)."""
        return sorted({r.location for r in self.recent(check, limit=RECENT_CACHE, since=now - 86400)})

    def prune(self, before: float) -> int:
        """Delete documents older than `before` in batches (a TTL policy on `expire_at` does the same)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        removed = 0
        with _errors():
            while True:
                docs = list(self._coll().where(filter=FieldFilter("ts", "<", before)).limit(BATCH)
                            .stream(timeout=CALL_TIMEOUT_S))
                if not docs:
                    return removed
                batch = self._client.batch()
                for d in docs:
                    batch.delete(d.reference)
                batch.commit(timeout=CALL_TIMEOUT_S)
                removed += len(docs)
                self._latest.clear()

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client._firestore_api.transport.close()


def _count(query: Any) -> int:
    result = query.count().get(timeout=CALL_TIMEOUT_S)
    return int(result[0][0].value)


def _doc(r: Row) -> dict[str, Any]:
    import datetime as dt

    ts, location, check, ok, cls, latency_ms, run_id, data = _encode(r)
    return {"ts": ts, "location": location, "check": check, "ok": bool(ok), "cls": cls,
            "latency_ms": latency_ms, "run_id": run_id, "data": data,
            # For a Firestore TTL policy: documents are deleted at most 400 days after this.
            "expire_at": dt.datetime.fromtimestamp(ts, dt.UTC) + dt.timedelta(days=400)}


def _row(d: dict[str, Any] | None) -> Row:
    d = d or {}
    return _decode((d["ts"], d["location"], d["check"], d["ok"], d.get("cls"), d.get("latency_ms"),
                    d["run_id"], d.get("data") or json.dumps({})))


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    from google.api_core.exceptions import GoogleAPIError
    from google.auth.exceptions import GoogleAuthError

    try:
        yield
    except (GoogleAPIError, GoogleAuthError, ValueError, KeyError) as exc:
        raise HistoryError(f"firestore history: {exc}") from exc
