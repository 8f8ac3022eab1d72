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
from monitor.publish import Publisher, open_store
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
    return lambda: open_store(f"firestore://(default)/{collection}", "synthmon-test")


@pytest.fixture(params=["memory", "sqlite", "firestore"])
def make_store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Callable[[], state.StateStore]]:
    """A factory of stores that all see the same data (separate clients/connections per call)."""
    if request.param == "memory":
        shared = state.MemoryStore()
        yield lambda: shared
    elif request.param == "sqlite":
        yield lambda: open_store(f"sqlite:///{tmp_path}/state.db")
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


def lease_req(run_id: str, now: float, *, scheduled: bool = True, lease_s: float = 30.0,
              interval_s: float = 60.0, names: tuple[str, ...] = ("api", "db"),
              location: str = "us-central1") -> state.LeaseRequest:
    return state.LeaseRequest(run_id, location, now, dict.fromkeys(names, now + lease_s), dict.fromkeys(names, interval_s),
                              scheduled)


def test_schedule_is_kept_beside_alert_state(make_store: Callable[[], state.StateStore]) -> None:
    """A scheduled lease records last starts and does not disturb the alert state of the check."""
    store = make_store()
    store.transact("api", lambda s: dataclasses_replace(s, consecutive_failures=1))
    assert store.lease(["api", "db"], lease_req("r1", 1234.5)) == {}
    states = make_store().load_all()
    assert {n: s.schedule["us-central1"]["last_start"] for n, s in states.items()} == {"api": 1234.5, "db": 1234.5}
    assert states["api"].consecutive_failures == 1 and states["api"].schedule["us-central1"]["lease_owner"] == "r1"


def test_lease_refuses_what_is_leased_or_not_due(make_store: Callable[[], state.StateStore]) -> None:
    """A leased check is `in_progress` for every other run until released or lapsed; a scheduled
    run skips what is not due; an unscheduled one (/probe) starts it and leaves the schedule alone."""
    store = make_store()
    assert store.lease(["api"], lease_req("r1", 100.0, names=("api",))) == {}
    assert make_store().lease(["api"], lease_req("r2", 200.0, names=("api",), scheduled=False)) == {}
    assert store.lease(["api", "db"], lease_req("r3", 110.0)) == {"api": "in_progress"}
    store.transact("api", lambda s: state.release(s, "r1"))  # r2 holds it: r1 cannot free it
    assert store.lease(["api"], lease_req("r4", 120.0, names=("api",), scheduled=False)) == {"api": "in_progress"}
    store.transact("api", lambda s: state.release(s, "r2"))
    assert store.lease(["api"], lease_req("r5", 130.0, names=("api",))) == {"api": "not_due"}
    assert store.lease(["api"], lease_req("r6", 131.0, names=("api",), scheduled=False)) == {}
    # r6 never releases (a killed instance): the lease lapses by itself.
    assert store.lease(["api"], lease_req("r7", 165.0, names=("api",))) == {}
    assert make_store().load_all()["api"].schedule["us-central1"]["last_start"] == 165.0


def test_each_location_has_its_own_schedule_and_lease(make_store: Callable[[], state.StateStore]) -> None:
    """Regions sharing one store each probe every check: a lease or a schedule in one location
    never skips the check in another, and releasing one leaves the other's lease."""
    store = make_store()
    assert store.lease(["api"], lease_req("a1", 100.0, names=("api",), location="us-central1")) == {}
    assert store.lease(["api"], lease_req("b1", 100.5, names=("api",), location="europe-west1")) == {}
    assert store.lease(["api"], lease_req("a2", 101.0, names=("api",), location="us-central1")) == {
        "api": "in_progress"}
    store.transact("api", lambda s: state.release(s, "a1"))
    assert store.lease(["api"], lease_req("a3", 102.0, names=("api",), location="us-central1")) == {
        "api": "not_due"}
    assert store.lease(["api"], lease_req("b2", 103.0, names=("api",), location="europe-west1",
                                          scheduled=False)) == {"api": "in_progress"}
    here = make_store().load_all()["api"].schedule
    assert (here["us-central1"]["lease_owner"], here["europe-west1"]["lease_owner"]) == (None, "b1")


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
    open_store("sqlite:///.synthmon/state.db").lease(["a"], lease_req("r", 1.0, names=("a",)))
    assert (tmp_path / ".synthmon/state.db").is_file()
    open_store(f"sqlite:///{tmp_path}/abs.db").lease(["a"], lease_req("r", 1.0, names=("a",)))
    assert (tmp_path / "abs.db").is_file()


def test_sqlite_unusable_raises_store_error(tmp_path: Any) -> None:
    """A store that cannot be opened raises StoreError, which the publisher logs and survives."""
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    (tmp_path / "s.db").unlink()
    (tmp_path / "s.db").mkdir()  # no longer a database file
    with pytest.raises(state.StoreError):
        store.lease(["a"], lease_req("r", 1.0, names=("a",)))
    with pytest.raises(state.StoreError):
        store.load_all()
    publisher = Publisher(loads(CONFIG), store, alert_sinks=[Recorder()])
    publisher.publish(failing_report("r"), deadline=float("inf"))
    assert (publisher.lease(["a"], lease_req("r", 1.0, names=("a",))), publisher.alert_states()) == ({}, {})
