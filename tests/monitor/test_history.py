"""History: every published result kept in SQLite, exact counts, pruning, secrets and a store that is down."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest
from service_target import Target, serving, write_config

from monitor import config as config_mod
from monitor import history_stats as stats
from monitor.history import History, Row, open_history
from monitor.history_sqlite import SqliteHistory
from monitor.pipeline import Monitor


@pytest.fixture
def target() -> Target:
    with serving() as t:
        yield t


def row(ts: float, ok: bool, check: str = "web", location: str = "here", run_id: str | None = None) -> Row:
    return Row(ts=ts, location=location, check=check, ok=ok, cls=None if ok else "unavailable",
               message=None if ok else "HTTP 503", latency_ms=10.0, run_id=run_id or f"r{ts}")


def test_every_published_result_is_kept_beside_the_state_store(tmp_path: Path, target: Target) -> None:
    """Two published runs leave four rows in history.db next to state.db, with message and phases;
    a dry run leaves none."""
    cfg = config_mod.load(write_config(tmp_path, target, hold=False))
    monitor = Monitor(cfg)
    try:
        first = monitor.run()
        monitor.run()
        monitor.run(publish=False)
    finally:
        monitor.close()
    path = tmp_path / "state" / "history.db"
    assert path.exists()
    store = SqliteHistory(str(path))
    try:
        down = store.recent("down", limit=10)
        web = store.recent("web", limit=10)
        assert len(down) == 2 and len(web) == 2
        assert down[0].cls == "unavailable" and "503" in (down[0].message or "")
        assert web[0].ok and set(web[0].phases_ms) >= {"connect", "ttfb"}
        assert store.get("down", first.run_id) == down[1]
        assert store.counts("down", 0) == {"test-loopback": (2, 2)}
    finally:
        store.close()


def test_counts_are_exact_across_hour_boundaries(tmp_path: Path) -> None:
    """counts() mixes raw rows and hourly totals; it must equal a plain count for any `since`."""
    store = SqliteHistory(str(tmp_path / "h.db"))
    base = 1_800_000_000.0
    rows = [row(base + i * 60, ok=i % 7 != 0, location="a" if i % 2 else "b") for i in range(300)]
    store.write(rows)
    try:
        for since in (base - 1, base + 59, base + 3600 - 30, base + 5000.5, base + 3 * 3600, base + 299 * 60):
            want: dict[str, tuple[int, int]] = {}
            for r in rows:
                if r.ts >= since:
                    t, f = want.get(r.location, (0, 0))
                    want[r.location] = (t + 1, f + (not r.ok))
            assert store.counts("web", since) == want, since
    finally:
        store.close()


def test_prune_drops_only_what_is_older_than_history_days(tmp_path: Path) -> None:
    """With history_days=1, a prune removes the two-day-old rows and keeps today's."""
    now = 1_800_000_000.0
    store = SqliteHistory(str(tmp_path / "h.db"))
    store.write([row(now - 2 * 86400 + i, ok=True) for i in range(10)] + [row(now - 10, ok=False)])
    hist = History(store, days=1, clock=lambda: now)
    try:
        assert hist.prune() == 10
        assert [r.ts for r in hist.recent("web", limit=100)] == [now - 10]
        assert hist.counts("web", 0) == {"here": (1, 1)}
    finally:
        hist.close()


def test_a_history_store_that_is_down_never_fails_a_run(tmp_path: Path, target: Target) -> None:
    """history on a path that cannot be a file: the run still reports, alerts still advance, the
    failure is remembered (the next run does not wait again) and nothing raises."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be")
    path = write_config(tmp_path, target, hold=False)
    text = path.read_text().replace("sinks:\n", f"sinks:\n  history: sqlite:///{blocker}/sub/history.db\n")
    path.write_text(text)
    monitor = Monitor(config_mod.load(path))
    try:
        started = time.monotonic()
        report = monitor.run()
        assert [r.name for r in report.results] == ["web", "down"]
        assert monitor.publisher.alert_states()["down"]["state"] == "firing"
        hist = monitor.publisher.history
        assert hist is not None and hist._failed_at is not None
        assert hist.record(report) is False
        assert time.monotonic() - started < 5
    finally:
        monitor.close()


def test_secrets_never_reach_the_history(tmp_path: Path, target: Target) -> None:
    """A secret in the URL and a header is redacted before publish: no byte of it is in history.db."""
    secret = "hunter2-history-secret"
    path = write_config(tmp_path, target, hold=False)
    text = path.read_text().replace(f"url: {target.url}/down", f"url: {target.url}/down?key=${{HIST_SECRET}}\n"
                                    f"    headers: {{X-Key: '${{HIST_SECRET}}'}}")
    path.write_text(text)
    cfg = config_mod.load(path, {**os.environ, "HIST_SECRET": secret})
    monitor = Monitor(cfg)
    try:
        monitor.run()
    finally:
        monitor.close()
    db = sqlite3.connect(tmp_path / "state" / "history.db")
    try:
        dump = json.dumps(list(db.execute("SELECT * FROM results")))
    finally:
        db.close()
    assert "/down?key=" in dump and secret not in dump


def test_open_history_defaults() -> None:
    """No `sinks.history`: beside a SQLite state file; a synthmon-history collection beside Firestore."""
    local = open_history(None, "sqlite:////var/x/state.db", 30)
    assert isinstance(local.store, SqliteHistory) and local.store.path == "/var/x/history.db"
    from monitor.history_firestore import FirestoreHistory

    remote = open_history(None, "firestore://db1/synthmon-state", 30, "p")
    assert isinstance(remote.store, FirestoreHistory)
    assert (remote.store.database, remote.store.collection) == ("db1", "synthmon-history")


def test_budget_left_and_incidents_against_a_hand_computed_series() -> None:
    """objective 0.99, 1000 results, 4 failures: 1 - 0.004/0.01 = 0.6 of the budget left; a streak of
    three failures (threshold 2) is one incident from its first failure to the next pass."""
    assert stats.budget_left(1000, 4, 0.99) == pytest.approx(0.6)
    assert stats.budget_left(1000, 20, 0.99) == pytest.approx(-1.0)
    assert stats.budget_left(0, 0, 0.99) is None
    oks = [True, False, True, False, False, False, True, True, False]
    rows = [row(100.0 + 60 * i, ok) for i, ok in enumerate(oks)]
    found = stats.incidents(rows, failure_threshold=2, success_threshold=1)
    assert [(i.start, i.end, i.failures) for i in found] == [(280.0, 460.0, 3)]
    assert stats.streak_since(rows[::-1]) == 580.0
    assert stats.streak_since(rows[:-1][::-1]) is None
