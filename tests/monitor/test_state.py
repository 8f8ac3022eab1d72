"""State stores: SQLite, memory and Firestore (emulator) keep alert state and schedule atomically."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from monitor import alerts, state
from monitor.config import loads
from monitor.publish import Publisher
from probes.result import ProbeResult, RunReport

CONFIG = """
location: test
checks:
  - {name: api, type: http, url: "http://127.0.0.1:9/", failure_threshold: 2}
"""


@pytest.fixture
def firestore_store(firestore_emulator: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[], state.StateStore]:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator)
    collection = f"state-{uuid.uuid4().hex[:8]}"  # a fresh collection per test
    return lambda: state.open_store(f"firestore://(default)/{collection}", "synthmon-test")


@pytest.fixture(params=["memory", "sqlite", "firestore"])
def make_store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Callable[[], state.StateStore]]:
    """A factory of stores that all see the same data (separate clients/connections per call)."""
    if request.param == "memory":
        shared = state.MemoryStore()
        yield lambda: shared
    elif request.param == "sqlite":
        yield lambda: state.open_store(f"sqlite:///{tmp_path}/state.db")
    else:
        yield request.getfixturevalue("firestore_store")


def test_transact_round_trips_state(make_store: Callable[[], state.StateStore]) -> None:
    """A state written in a transaction is read back unchanged, by a second client too."""
    def fail(s: alerts.CheckState) -> alerts.CheckState:
        s.consecutive_failures, s.outbox = 3, [{"id": "x", "body": {"a": [1, None]}, "sinks": ["local"],
                                                "claimed_by": None, "claimed_at": None}]
        return s

    written = make_store().transact("api", fail)
    assert make_store().load_all() == {"api": written}


def test_schedule_is_kept_beside_alert_state(make_store: Callable[[], state.StateStore]) -> None:
    """mark_started records last starts and does not disturb the alert state of the check."""
    store = make_store()
    store.transact("api", lambda s: dataclasses_replace(s, consecutive_failures=1))
    store.mark_started(["api", "db"], 1234.5)
    assert state.last_starts(make_store()) == {"api": 1234.5, "db": 1234.5}
    assert make_store().load_all()["api"].consecutive_failures == 1


def dataclasses_replace(s: alerts.CheckState, **kw: Any) -> alerts.CheckState:
    import dataclasses

    return dataclasses.replace(s, **kw)


class Recorder:
    """An alert sink that takes everything and remembers it."""

    name = "local"

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def send(self, messages: Any, *, deadline: float) -> list[str]:
        with self.lock:
            self.bodies.extend(m["body"] for m in messages)
        return [m["id"] for m in messages]


def failing_report(run_id: str) -> RunReport:
    r = ProbeResult("api", "http", "http://127.0.0.1:9/").fail("connect_refused", "refused")
    return RunReport(run_id, "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "test", [r])


def race(make_store: Callable[[], state.StateStore], round_: int) -> list[dict[str, Any]]:
    """Two publishers on separate clients publish a failure for "api" at the same moment."""
    one_failure = {"ok": False, "at": time.time(), "failures": 1, "since": "2026-01-01T00:00:00.000Z",
                   "cls": "connect_refused", "class_streak": 1}  # the entry of location "test"
    make_store().transact("api", lambda s: alerts.CheckState("api", consecutive_failures=1,
                                                              locations={"test": one_failure}))
    sink = Recorder()
    pubs = [Publisher(loads(CONFIG), make_store(), alert_sinks=[sink]) for _ in range(2)]
    barrier = threading.Barrier(2)

    def go(i: int) -> None:
        barrier.wait()
        pubs[i].publish(failing_report(f"r{round_}-{i}"), deadline=float("inf"))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return sink.bodies


def test_overlapping_runs_fire_once(make_store: Callable[[], state.StateStore]) -> None:
    """Two runs racing on a check one failure short of its threshold send exactly one firing alert."""
    for round_ in range(2):  # a contended Firestore transaction backs off ~1 s (client default)
        assert [b["state"] for b in race(make_store, round_)] == ["firing"]
        final = make_store().load_all()["api"]
        assert (final.status, final.consecutive_failures, final.outbox) == ("firing", 3, [])


def test_sqlite_relative_and_absolute_urls(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """sqlite:///rel is relative to the working directory, sqlite:////abs is absolute."""
    monkeypatch.chdir(tmp_path)
    state.open_store("sqlite:///.synthmon/state.db").mark_started(["a"], 1.0)
    assert (tmp_path / ".synthmon/state.db").is_file()
    state.open_store(f"sqlite:///{tmp_path}/abs.db").mark_started(["a"], 1.0)
    assert (tmp_path / "abs.db").is_file()


def test_sqlite_unusable_raises_store_error(tmp_path: Any) -> None:
    """A store that cannot be opened raises StoreError, which the publisher logs and survives."""
    store = state.open_store(f"sqlite:///{tmp_path}/s.db")
    (tmp_path / "s.db").unlink()
    (tmp_path / "s.db").mkdir()  # no longer a database file
    with pytest.raises(state.StoreError):
        store.mark_started(["a"], 1.0)
    with pytest.raises(state.StoreError):
        store.load_all()
    publisher = Publisher(loads(CONFIG), store, alert_sinks=[Recorder()])
    publisher.publish(failing_report("r"), deadline=float("inf"))
    assert (publisher.last_starts(), publisher.alert_states()) == ({}, {})
