"""Publish alert transitions to a Pub/Sub topic: the JSON message of DESIGN.md, attributes for filtering.

Success is Pub/Sub acknowledging the message within the run deadline. Transient errors are retried
by the client with backoff bounded by the deadline; a message not acknowledged stays in the check's
outbox and the next run sends it again (at least once; consumers dedupe on `dedup_key` + `time`).
Ordering key = check name, so a check's resolved never overtakes its firing. PUBSUB_EMULATOR_HOST
is honoured by the client library.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("synthmon.sinks.pubsub")


class PubSubSink:
    name = "pubsub"

    def __init__(self, project_id: str, topic: str, *, client: Any = None) -> None:
        self.topic_path = topic if topic.startswith("projects/") else f"projects/{project_id}/topics/{topic}"
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.cloud import pubsub_v1

                self._client = pubsub_v1.PublisherClient(
                    batch_settings=pubsub_v1.types.BatchSettings(max_latency=0.005),
                    publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True))
            return self._client

    def close(self) -> None:
        """Stop the client: its batch threads and its channel. A publish still retrying in the
        background then fails at once (its message stays in the outbox); a later send builds a new
        client."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.stop()
            client.transport.close()

    def send(self, messages: Sequence[dict[str, Any]], *, deadline: float) -> list[str]:
        """Publish each outbox message; the ids Pub/Sub acknowledged before `deadline`."""
        if not messages:
            return []
        from google.api_core import exceptions, retry

        remaining = max(0.1, deadline - time.monotonic())
        policy = retry.Retry(
            initial=0.1, maximum=2.0, multiplier=2.0, timeout=remaining,
            predicate=retry.if_exception_type(exceptions.ServiceUnavailable, exceptions.DeadlineExceeded,
                                              exceptions.Aborted, exceptions.InternalServerError,
                                              exceptions.ResourceExhausted, exceptions.Unknown))
        futures = [(m, self._publish(m, policy, remaining)) for m in messages]
        delivered = []
        for m, fut in futures:
            if fut is not None and self._wait(m, fut, deadline):
                delivered.append(m["id"])
        return delivered

    def _publish(self, m: dict[str, Any], policy: Any, remaining: float) -> Any:
        from google.cloud.pubsub_v1.publisher.exceptions import PublishToPausedOrderingKeyException

        body = m["body"]
        attrs = {"check": body["check"], "state": body["state"], "severity": body["severity"],
                 "transition": body.get("transition", body["state"])}
        data = json.dumps(body, separators=(",", ":")).encode()
        for attempt in range(2):
            try:
                return self.client.publish(self.topic_path, data, ordering_key=body["check"],
                                           retry=policy, timeout=min(remaining, 30.0), **attrs)
            except PublishToPausedOrderingKeyException as exc:
                # An earlier run's publish failed after that run stopped waiting for it.
                self._resume(body["check"])
                if attempt:
                    self._failed(m, exc)
            except _errors() as exc:
                self._failed(m, exc)
                return None
        return None

    def _wait(self, m: dict[str, Any], fut: Any, deadline: float) -> bool:
        try:
            fut.result(timeout=max(0.0, deadline - time.monotonic()))
            return True
        except _errors() as exc:
            self._failed(m, exc)
            return False

    def _failed(self, m: dict[str, Any], exc: BaseException) -> None:
        body = m["body"]
        log.error("alert for %s not published, kept for the next run: %s: %s", body["check"],
                  exc.__class__.__name__, exc, extra={"run_id": body.get("run_id"), "alert": body})
        self._resume(body["check"])

    def _resume(self, key: str) -> None:
        """A failed publish pauses its ordering key; later messages for the check must go out again."""
        try:
            self.client.resume_publish(self.topic_path, key)
        except RuntimeError:
            pass  # not paused: the publish is still in flight (we stopped waiting at the deadline)


def _errors() -> tuple[type[BaseException], ...]:
    """What a publish or its future raises: API errors (RetryError included), the wait running
    out, a key paused by an earlier failure, a message over the size limit."""
    from google.api_core.exceptions import GoogleAPIError
    from google.cloud.pubsub_v1.publisher.exceptions import PublishToPausedOrderingKeyException

    return (GoogleAPIError, TimeoutError, PublishToPausedOrderingKeyException, ValueError)
