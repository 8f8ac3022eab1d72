"""Quorum across processes: monitors of three locations racing on one shared store (SQLite, Firestore)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("quorum_worker.py")
LOCATIONS = ("us-central1", "europe-west1", "asia-northeast1")


class Fleet:
    """One worker process per location; `round(cmd)` sends `cmd` to all at once and waits for each."""

    def __init__(self, tmp_path: Path, state_url: str, env: dict[str, str]) -> None:
        self.files = []
        self.procs = []
        for loc in LOCATIONS:
            cfg = tmp_path / f"{loc}.yaml"
            alerts_file = tmp_path / f"alerts-{loc}.jsonl"
            cfg.write_text(f"""
location: {loc}
alerting: {{quorum: 2, locations: [{", ".join(LOCATIONS)}]}}
sinks:
  state: "{state_url}"
  project_id: synthmon-test
  alerts_file: "{alerts_file}"
  results_file: "{tmp_path}/results-{loc}.jsonl"
checks:
  - {{name: api, type: http, url: "http://127.0.0.1:9/"}}
""")
            self.files.append(alerts_file)
            self.procs.append(subprocess.Popen(
                [sys.executable, str(WORKER), str(cfg)], cwd=ROOT, env=env, text=True,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE))
        for p in self.procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"

    def round(self, command: str) -> None:
        for p in self.procs:
            assert p.stdin is not None
            p.stdin.write(command + "\n")
            p.stdin.flush()
        for p in self.procs:
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "done"

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(line) for f in self.files if f.exists() for line in f.read_text().splitlines()]

    def close(self) -> None:
        for p in self.procs:
            if p.stdin is not None:
                p.stdin.close()
        for p in self.procs:
            p.wait(timeout=30)
            if p.stdout is not None:
                p.stdout.close()


@pytest.fixture(params=["sqlite", "firestore"])
def fleet(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Fleet]:
    env = {k: v for k, v in os.environ.items() if k != "FIRESTORE_EMULATOR_HOST"}
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/shared.db"
    else:
        env["FIRESTORE_EMULATOR_HOST"] = request.getfixturevalue("firestore_emulator")
        url = f"firestore://(default)/quorum-{uuid.uuid4().hex[:8]}"
    f = Fleet(tmp_path, url, env)
    try:
        yield f
    finally:
        f.close()


def test_racing_locations_page_once_global_and_resolve_once(fleet: Fleet) -> None:
    """Three locations fail at the same moment, then recover together: exactly one global firing and
    one global resolve (never both by two regions), and the regional warnings pair up around them."""
    for command in ["fail"] * 3 + ["pass"] * 3:
        fleet.round(command)
    got = fleet.messages()
    counts = Counter((m["dedup_key"], m["transition"]) for m in got)
    assert counts == {
        ("api/connect_refused", "firing"): 1, ("api/connect_refused", "resolved"): 1,
        # the first failing location opens a regional warning, the second makes it global; on the way
        # back, the last failing location holds a regional one until it recovers too
        ("api/connect_refused/regional", "firing"): 2, ("api/connect_refused/regional", "resolved"): 2,
    }
    (fired,) = [m for m in got if m["scope"] == "global" and m["transition"] == "firing"]
    assert fired["severity"] == "critical" and len(fired["locations_failing"]) == 2
    assert {m["severity"] for m in got if m["scope"] == "regional"} == {"warning"}
    assert len({(m["run_id"], m["dedup_key"], m["transition"]) for m in got}) == len(got)  # none sent twice
