"""The Pub/Sub alert sink with the real PublisherClient: the emulator (or the fake) and injected errors."""

from __future__ import annotations

import time
from typing import Any

import grpc
from fakes.pubsub_backend import PROJECT

from monitor import alerts
from monitor.config import loads
from monitor.publish import Publisher
from monitor.sinks.pubsub import PubSubSink
from monitor.state import MemoryStore
from probes.result import ProbeResult, RunReport

BODY = {"check": "golden-path", "state": "firing", "severity": "critical", "failure_class": "ws_event_missing",
        "message": "agent_completed not received within 120 s", "diagnosis": "the agent never finished",
        "since": "2026-01-01T00:00:00.000Z", "consecutive_failures": 2, "run_id": "r1",
        "location": "us-central1", "dedup_key": "golden-path/ws_event_missing", "transition": "firing",
        "time": "2026-01-01T00:01:00.000Z"}


def message(i: int, **body: Any) -> dict[str, Any]:
    return {"id": f"m{i}", "body": {**BODY, **body}, "sinks": ["pubsub"], "claimed_by": "r1", "claimed_at": 0.0}


def test_message_body_attributes_and_ordering_key(pubsub_backend: Any) -> None:
    """A subscriber receives the JSON body of docs/publishing.md, attributes check/state/severity, ordering key = check."""
    sink = PubSubSink(PROJECT, pubsub_backend.topic)
    resolved = dict(state="resolved", transition="resolved", consecutive_failures=0)
    assert sink.send([message(1), message(2, **resolved)], deadline=time.monotonic() + 15) == ["m1", "m2"]
    got = pubsub_backend.received(expect=2)
    assert got == [
        (BODY, {"check": "golden-path", "state": "firing", "severity": "critical", "transition": "firing"},
         "golden-path"),
        ({**BODY, **resolved}, {"check": "golden-path", "state": "resolved", "severity": "critical",
                                "transition": "resolved"}, "golden-path"),
    ]


def test_unavailable_twice_then_ok_is_delivered(fake_pubsub: Any) -> None:
    """Transient UNAVAILABLE replies are retried by the client within the deadline."""
    fake_pubsub.fail("Publish", grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE)
    sink = PubSubSink(PROJECT, "alerts")
    assert sink.send([message(1)], deadline=time.monotonic() + 15) == ["m1"]
    assert len(fake_pubsub.calls_to("Publish")) == 3
    assert [b for b, _, _ in fake_pubsub.received()] == [BODY]


def test_permanent_error_delivers_nothing_and_unpauses_the_key(fake_pubsub: Any) -> None:
    """PERMISSION_DENIED: not delivered, not retried; the ordering key works again for the next send."""
    fake_pubsub.fail("Publish", grpc.StatusCode.PERMISSION_DENIED)
    sink = PubSubSink(PROJECT, "alerts")
    assert sink.send([message(1)], deadline=time.monotonic() + 15) == []
    assert len(fake_pubsub.calls_to("Publish")) == 1
    assert sink.send([message(1)], deadline=time.monotonic() + 15) == ["m1"]


def test_unavailable_past_the_deadline_returns_in_time(fake_pubsub: Any) -> None:
    """A Pub/Sub that stays down costs at most the deadline, and nothing counts as delivered."""
    fake_pubsub.fail("Publish", *[grpc.StatusCode.UNAVAILABLE] * 1000)
    started = time.monotonic()
    assert PubSubSink(PROJECT, "alerts").send([message(1)], deadline=started + 1.0) == []
    assert time.monotonic() - started < 3.0


CONFIG = """
location: us-central1
sinks: {alerts: [pubsub], project_id: synthmon-test, alert_topic: alerts, state: "memory://"}
checks:
  - {name: api, type: http, url: "http://127.0.0.1:9/", failure_threshold: 1, severity: warning}
"""


def failing(run_id: str) -> RunReport:
    r = ProbeResult("api", "http", "http://127.0.0.1:9/").fail("connect_refused", "connection refused")
    return RunReport(run_id, "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "us-central1", [r])


def test_failed_publish_stays_pending_and_goes_out_next_run(fake_pubsub: Any) -> None:
    """An alert Pub/Sub refused stays in the outbox and is the first thing the next run sends."""
    config = loads(CONFIG)
    store = MemoryStore()
    publisher = Publisher(config, store, alert_sinks=[PubSubSink("synthmon-test", "alerts")])
    fake_pubsub.fail("Publish", grpc.StatusCode.PERMISSION_DENIED)
    publisher.publish(failing("r1"), deadline=time.monotonic() + 10)
    assert fake_pubsub.received() == []
    [pending] = store.load_all()["api"].outbox
    assert (pending["sinks"], pending["claimed_by"]) == (["pubsub"], None)
    publisher.publish(failing("r2"), deadline=time.monotonic() + 10)
    assert [(b["state"], b["run_id"], b["severity"]) for b, _, _ in fake_pubsub.received()] == \
        [("firing", "r1", "warning")]
    s = store.load_all()["api"]
    assert (s.outbox, s.status) == ([], alerts.FIRING)
