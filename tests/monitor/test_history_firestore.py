"""The Firestore history against the Cloud SDK's Firestore emulator: shared by locations, exact counts,
pruning, and a store that is down costing one bounded timeout, then nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from monitor.history import History, HistoryError, Row
from monitor.history_firestore import FirestoreHistory
from probes.result import ProbeResult, RunReport

pytestmark = pytest.mark.slow


@pytest.fixture
def store(firestore_emulator: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FirestoreHistory]:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator)
    s = FirestoreHistory("demo-history", "(default)", f"h-{uuid.uuid4().hex[:8]}")
    deadline = time.monotonic() + 60
    while True:  # the emulator's JVM answers its first calls slowly on a busy machine
        try:
            s.recent("warm-up", limit=1)
            break
        except HistoryError:
            assert time.monotonic() < deadline, "Firestore emulator did not answer within 60 s"
    try:
        yield s
    finally:
        s.close()


def row(ts: float, ok: bool, location: str, i: int) -> Row:
    return Row(ts=ts, location=location, check="api", ok=ok, cls=None if ok else "unavailable",
               message=None if ok else "HTTP 503", latency_ms=12.5, run_id=f"run{i}",
               phases_ms={"ttfb": 10.0}, trace_id=f"{i:032x}", target="https://api.example/health")


def test_rows_round_trip_newest_first_across_locations(store: FirestoreHistory) -> None:
    """Two regions write one collection: recent() is newest first over both, failures_only filters,
    get() finds a result by run id, counts() is per location, and a rewrite stores nothing twice."""
    now = time.time()
    rows = [row(now - 600 + i * 60, ok=i % 3 != 0, location=("us" if i % 2 else "eu"), i=i) for i in range(10)]
    store.write(rows)
    store.write(rows[:2])  # a retried write: same document ids
    got = store.recent("api", limit=20)
    assert [r.run_id for r in got] == [f"run{i}" for i in reversed(range(10))]
    assert got[0] == rows[-1]
    assert [r.run_id for r in store.recent("api", limit=20, failures_only=True)] == ["run9", "run6", "run3", "run0"]
    assert store.get("api", "run4") == rows[4] and store.get("api", "nope") is None
    assert store.counts("api", now - 3600) == {"eu": (5, 2), "us": (5, 2)}
    assert store.counts("api", now - 300) == {"eu": (2, 1), "us": (3, 1)}
    assert store.prune(now - 300) == 5
    assert len(store.recent("api", limit=20)) == 5
    other = FirestoreHistory(store.project_id, store.database, store.collection)  # another region
    try:
        other.write([row(now + 1, ok=False, location="asia", i=99)])
    finally:
        other.close()
    assert store.recent("api", limit=20)[0].run_id == "run99"  # the in-memory rows take in newer ones


def test_a_history_store_that_is_down_costs_one_bounded_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing listens on the emulator address: the first record() gives up within the call bound
    and returns False; the next one does not try again (no second timeout)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{port}")
    hist = History(FirestoreHistory("demo-history", "(default)", "down"), days=30)
    report = RunReport("r1", "t0", "t1", "here", [ProbeResult("api", "http", "https://x")])
    try:
        started = time.monotonic()
        assert hist.record(report) is False
        first = time.monotonic() - started
        started = time.monotonic()
        assert hist.record(report) is False
        assert time.monotonic() - started < 0.1
        assert first < 8.0
    finally:
        hist.close()
