"""A Pub/Sub topic to publish alerts to: the SDK emulator with a real subscriber, or the fake Publisher.

Tests written against `pubsub_backend` assert on what a subscriber received, whichever one runs.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from fakes.pubsub_publisher import FakePublisher

PROJECT = "synthmon-test"
Received = list[tuple[dict[str, Any], dict[str, str], str]]


class EmulatorTopic:
    """A fresh topic with an ordered subscription on the emulator; `received()` pulls what arrived."""

    kind = "emulator"

    def __init__(self, host: str) -> None:
        from google.cloud import pubsub_v1

        self.host, self.topic = host, f"alerts-{uuid.uuid4().hex[:8]}"
        self.publisher = pubsub_v1.PublisherClient()
        self.subscriber = pubsub_v1.SubscriberClient()
        self.topic_path = self.publisher.topic_path(PROJECT, self.topic)
        self.sub_path = self.subscriber.subscription_path(PROJECT, self.topic + "-sub")
        self.publisher.create_topic(name=self.topic_path)
        self.subscriber.create_subscription(request={"name": self.sub_path, "topic": self.topic_path,
                                                     "enable_message_ordering": True})
        self._got: Received = []

    def received(self, expect: int, timeout_s: float = 10.0) -> Received:
        """Pull until `expect` messages arrived in total (or the timeout), acking each."""
        deadline = time.monotonic() + timeout_s
        while len(self._got) < expect and time.monotonic() < deadline:
            resp = self.subscriber.pull(subscription=self.sub_path, max_messages=50, timeout=5)
            for m in resp.received_messages:
                self._got.append((json.loads(m.message.data), dict(m.message.attributes),
                                  m.message.ordering_key))
            if resp.received_messages:
                self.subscriber.acknowledge(subscription=self.sub_path,
                                            ack_ids=[m.ack_id for m in resp.received_messages])
        return list(self._got)

    def close(self) -> None:
        self.subscriber.close()


class FakeTopic:
    kind = "fake"

    def __init__(self) -> None:
        self.fake = FakePublisher()
        self.host, self.topic = self.fake.host, "alerts"

    def received(self, expect: int, timeout_s: float = 0.0) -> Received:
        return self.fake.received()

    def close(self) -> None:
        self.fake.stop()


@pytest.fixture
def pubsub_backend(pubsub_emulator: str | None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The emulator where installed, else the fake; PUBSUB_EMULATOR_HOST points the client at it."""
    if pubsub_emulator:
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator)
        backend: Any = EmulatorTopic(pubsub_emulator)
    else:
        backend = FakeTopic()
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", backend.host)
    yield backend
    backend.close()


@pytest.fixture
def fake_pubsub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePublisher]:
    """The fake Publisher, for error injection; PUBSUB_EMULATOR_HOST points the client at it."""
    fake = FakePublisher()
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", fake.host)
    yield fake
    fake.stop()
