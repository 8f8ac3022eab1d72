"""One monitor process of one location, for tests/monitor/test_quorum.py: publishes on command.

Reads `fail` / `pass` lines on stdin; for each, publishes a run report whose only result is check
"api" failing (connect_refused) or passing, through the real publisher of the config (its state
store and local alert sink), then answers `done`. So several processes, one per location, can be
made to publish at the same moment against one shared store.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
import uuid

from monitor.config import load
from monitor.publish import build_publisher
from monitor.state import StoreError
from probes.result import ProbeResult, RunReport


def main(config_path: str) -> None:
    config = load(config_path)
    publisher = build_publisher(config)
    # The first call of a process opens the store's channel (Firestore: ~3 s here, the store's own
    # timeout); a read that fails costs nothing, so the race starts with every process connected.
    for _ in range(10):
        try:
            publisher.store.load_all()
            break
        except StoreError:
            continue
    print("ready", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command not in ("fail", "pass"):
            break
        r = ProbeResult("api", "http", "http://127.0.0.1:9/", latency_ms=1.0)
        if command == "fail":
            r.fail("connect_refused", "connection refused")
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        report = RunReport(uuid.uuid4().hex[:16], now, now, config.location, [r])
        publisher.publish(report, deadline=time.monotonic() + 30)
        print("done", flush=True)
    publisher.close()


if __name__ == "__main__":
    main(sys.argv[1])
