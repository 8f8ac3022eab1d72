"""Publish alert transitions to a Pub/Sub topic: the JSON message of docs/publishing.md, attributes for filtering.

Success is Pub/Sub acknowledging the message within the run deadline. Transient errors are retried
with backoff bounded by the deadline; a message not acknowledged stays in the check's
outbox and the next run sends it again (at least once; consumers dedupe on `dedup_key` + `time`).
Ordering key = check name, so a check's resolved never overtakes its firing. PUBSUB_EMULATOR_HOST
is honoured by the client library.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("synthmon.sinks.pubsub")
CLOSE_WAIT_S = 2.0


class PubSubSink:
    name = "pubsub"

    def __init__(self, project_id: str, topic: str, *, client: Any = None) -> None:
        self.topic_path = topic if topic.startswith("projects/") else f"projects/{project_id}/topics/{topic}"
        self._client = client
        self._lock = threading.Lock()
        self._unfinished: list[Any] = []  # futures the last send stopped waiting for

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.cloud import pubsub_v1  # type: ignore[attr-defined]  # re-exported lazily

                self._client = pubsub_v1.PublisherClient(
                    batch_settings=pubsub_v1.types.BatchSettings(max_latency=0.005),
                    publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True))
            return self._client

    def close(self) -> None:
        """Stop the client: its batch threads and its channel; a later send builds a new client.

        A publish the last send stopped waiting for gets a moment to end first (each attempt is
        bounded by the run deadline): on a closed channel it would die on its thread unhandled."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.stop()
            concurrent.futures.wait(self._unfinished, timeout=CLOSE_WAIT_S)
            self._unfinished = []
            client.transport.close()

    def send(self, messages: Sequence[dict[str, Any]], *, deadline: float) -> list[str]:
        """Publish each outbox message; the ids Pub/Sub acknowledged before `deadline`.

        Retries are ours, not the client's: with message ordering enabled, google-cloud-pubsub
        replaces any retry deadline with 2**32 s, so a publish to an unreachable endpoint went on
        retrying on a background thread for the life of the process."""
        delivered: list[str] = []
        pending, pause = list(messages), 0.1
        while pending:
            futures = [(m, self._publish(m, deadline)) for m in pending]
            pending = []
            for m, fut in futures:
                outcome = self._wait(m, fut, deadline) if fut is not None else "failed"
                if outcome == "ok":
                    delivered.append(m["id"])
                elif outcome == "transient":
                    pending.append(m)
            self._unfinished = [f for _, f in futures if f is not None and not f.done()]
            if not pending:
                break
            if time.monotonic() + pause >= deadline:
                for m in pending:
                    self._failed(m, TimeoutError("transient errors until the run deadline"))
                break
            time.sleep(pause)
            pause = min(2.0, pause * 2)
        return delivered

    def _publish(self, m: dict[str, Any], deadline: float) -> Any:
        """One attempt (retry=None); the future, or None when the client refused the message."""
        from google.cloud.pubsub_v1.publisher.exceptions import PublishToPausedOrderingKeyException

        body = m["body"]
        attrs = {"check": body["check"], "state": body["state"], "severity": body["severity"],
                 "transition": body.get("transition", body["state"])}
        data = json.dumps(body, separators=(",", ":")).encode()
        timeout = min(max(0.1, deadline - time.monotonic()), 30.0)
        for attempt in range(2):
            try:
                return self.client.publish(self.topic_path, data, ordering_key=body["check"],
                                           retry=None, timeout=timeout, **attrs)
            except PublishToPausedOrderingKeyException as exc:
                # An earlier run's publish failed after that run stopped waiting for it.
                self._resume(body["check"])
                if attempt:
                    self._failed(m, exc)
            except _errors() as exc:
                self._failed(m, exc)
                return None
        return None

    def _wait(self, m: dict[str, Any], fut: Any, deadline: float) -> str:
        """"ok", "transient" (worth another attempt before the deadline) or "failed"."""
        try:
            fut.result(timeout=max(0.0, deadline - time.monotonic()))
            return "ok"
        except _transient() as exc:
            self._resume(m["body"]["check"])  # the failure paused the check's ordering key
            log.info("alert for %s: %s, retrying", m["body"]["check"], exc.__class__.__name__)
            return "transient"
        except _errors() as exc:
            self._failed(m, exc)
            return "failed"

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


def _transient() -> tuple[type[BaseException], ...]:
    from google.api_core import exceptions

    return (exceptions.ServiceUnavailable, exceptions.DeadlineExceeded, exceptions.Aborted,
            exceptions.InternalServerError, exceptions.ResourceExhausted, exceptions.Unknown)


def _errors() -> tuple[type[BaseException], ...]:
    """What a publish or its future raises: API errors (RetryError included), the wait running
    out, a key paused by an earlier failure, a message over the size limit."""
    from google.api_core.exceptions import GoogleAPIError
    from google.cloud.pubsub_v1.publisher.exceptions import PublishToPausedOrderingKeyException

    return (GoogleAPIError, TimeoutError, PublishToPausedOrderingKeyException, ValueError)
