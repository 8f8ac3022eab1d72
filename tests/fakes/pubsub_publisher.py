"""A fake `google.pubsub.v1.Publisher` (Publish, GetTopic) that records messages and injects errors."""

from __future__ import annotations

import itertools
import json
from typing import Any

from google.pubsub_v1 import types

from fakes.grpc_fake import FakeService


class FakePublisher(FakeService):
    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._accepted: list[tuple[dict[str, Any], dict[str, str], str]] = []
        super().__init__("google.pubsub.v1.Publisher", {
            "Publish": (types.PublishRequest, self._publish),
            "GetTopic": (types.GetTopicRequest, lambda r: types.Topic(name=r.topic)),
        })

    def _publish(self, request: Any) -> Any:
        with self.lock:
            for m in request.messages:
                self._accepted.append((json.loads(m.data), dict(m.attributes), m.ordering_key))
        return types.PublishResponse(message_ids=[str(next(self._ids)) for _ in request.messages])

    def received(self) -> list[tuple[dict[str, Any], dict[str, str], str]]:
        """(JSON body, attributes, ordering key) of every message the fake accepted, in order."""
        with self.lock:
            return list(self._accepted)
