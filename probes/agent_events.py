"""The agent-event protocol without I/O: parse frames, fill the message to send, and judge the stream.

Success: every required event arrived (in order when `ordered`), no `fail_on` event, a terminal event
ended the stream, and the optional tool-balance and answer checks hold.
"""

from __future__ import annotations

import collections
import json
from typing import Any

from probes.checks import Events
from probes.redact import clip

# Keepalive and bookkeeping frames: never events, only counted.
KEEPALIVE = frozenset({"ping", "pong", "heartbeat", "ack"})
HELLO = frozenset({"connection_established", "handshake_response", "handshake_complete"})
# Event names the staging backend emits (docs/websocket.md, "The protocol it speaks"); anything else is "unknown" unless configured.
KNOWN = frozenset({
    "agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed",
    "agent_error", "error", "final_report", "cleanup_started", "cleanup_complete",
    "agent_timeout_warning", "thread_created",
})
# Envelopes whose `type` only says "this carries an event"; the name is then in `event`.
WRAPPERS = frozenset({"system_message", "agent_event", "event"})
MAX_EVENTS_KEPT = 200
_PLACEHOLDERS = ("{thread_id}", "{run_id}")
_DROP = object()


def parse_frame(data: str | bytes) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """(event name, body, whole frame), or None when it is not a JSON object with a name.

    The name is `type`, or `event` when `type` is a wrapper such as `system_message`; the body is
    `payload` or `data` when that is an object, else the frame itself.
    """
    try:
        frame = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(frame, dict):
        return None
    name = frame.get("type")
    if (name in WRAPPERS or not isinstance(name, str)) and isinstance(frame.get("event"), str):
        name = frame["event"]
    if not isinstance(name, str) or not name:
        return None
    for key in ("payload", "data"):
        if isinstance(frame.get(key), dict):
            return name, frame[key], frame
    return name, frame, frame


def error_message(body: dict[str, Any]) -> str:
    """The human part of an error event, wherever this protocol generation put it."""
    for key in ("message", "error", "error_message", "reason", "detail"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return clip(value, 300)
        if isinstance(value, dict):
            return error_message(value)
    return "no message"


class EventMatcher:
    """Collects events with their arrival offsets (ms from the send) and judges them against `Events`."""

    def __init__(self, spec: Events) -> None:
        self.spec = spec
        self.known = KNOWN | set(spec.required) | set(spec.fail_on) | set(spec.terminal)
        self.events: list[tuple[str, float]] = []
        self.first_at: dict[str, float] = {}
        self.counts: collections.Counter[str] = collections.Counter()
        self.ignored: collections.Counter[str] = collections.Counter()
        self.error: tuple[str, str] | None = None  # (event name, message) of the first fail_on event
        self.terminal_body: dict[str, Any] | None = None
        self.terminal: str | None = None
        self.terminal_ms: float | None = None

    @property
    def done(self) -> bool:
        return self.terminal is not None or self.error is not None

    @property
    def first_event_ms(self) -> float | None:
        return self.events[0][1] if self.events else None

    def feed(self, name: str | None, body: dict[str, Any], at_ms: float) -> bool:
        """Record one frame (name None: not JSON); True when it ends the wait."""
        if name is None or name in KEEPALIVE or name in HELLO or name not in self.known:
            self.ignored[name or "unparsed"] += 1
            return self.done
        self.events.append((name, at_ms))
        self.first_at.setdefault(name, at_ms)
        self.counts[name] += 1
        if name in self.spec.fail_on and self.error is None:
            self.error = (name, error_message(body))
        if name in self.spec.terminal and self.terminal is None:
            self.terminal, self.terminal_body, self.terminal_ms = name, body, at_ms
        return self.done

    def missing(self) -> list[str]:
        """Required events not seen, plus the terminal event when the stream never ended."""
        out = [e for e in self.spec.required if e not in self.first_at]
        if self.terminal is None and self.error is None:
            out += [e for e in self.spec.terminal if e not in self.spec.fail_on and e not in out]
        return out

    def order_violation(self) -> tuple[str, str] | None:
        """(earlier required event, the one that came before it) for the first inversion."""
        arrived = [e for e in self.spec.required if e in self.first_at]
        for a, b in zip(arrived, arrived[1:], strict=False):
            if self.first_at[b] < self.first_at[a]:
                return a, b
        return None

    def verdict(self, waited_s: float) -> tuple[str, str] | None:
        """(failure class, message), or None when the stream meets the spec. Most decisive first."""
        if self.error is not None:
            return "agent_error", f"{self.error[0]}: {self.error[1]}"
        missing = self.missing()
        if missing and not self.events:
            return "timeout", f"no agent event within {waited_s:g} s"
        if missing:
            when = f"before {self.terminal}" if self.terminal else f"within {waited_s:g} s"
            return "ws_event_missing", f"{', '.join(missing)} not received {when}"
        if self.spec.ordered and (bad := self.order_violation()):
            return "ws_event_order", f"{bad[1]} arrived before {bad[0]}"
        if self.spec.tools_balanced and self.counts["tool_executing"] != self.counts["tool_completed"]:
            return "assertion", (f"{self.counts['tool_executing']} tool_executing but "
                                 f"{self.counts['tool_completed']} tool_completed")
        field = self.spec.answer_field
        if field and not _non_empty((self.terminal_body or {}).get(field)):
            return "assertion", f"{self.terminal} has an empty {field}"
        return None

    def details(self) -> dict[str, Any]:
        """JSON-ready details: events with offsets, gaps between required events, what was ignored."""
        required = [e for e in self.spec.required if e in self.first_at]
        out: dict[str, Any] = {
            "events": [{"event": n, "at_ms": round(t, 3)} for n, t in self.events[:MAX_EVENTS_KEPT]],
            "event_latency_ms": {e: round(self.first_at[e], 3) for e in required},
            "gaps_ms": [{"from": a, "to": b, "ms": round(self.first_at[b] - self.first_at[a], 3)}
                        for a, b in zip(required, required[1:], strict=False)],
            "ignored": dict(self.ignored),
            "last_event": self.events[-1][0] if self.events else None,
        }
        if len(self.events) > MAX_EVENTS_KEPT:
            out["events_dropped"] = len(self.events) - MAX_EVENTS_KEPT
        if missing := self.missing():
            out["missing"] = missing
        return out


def _non_empty(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    return value not in (None, {}, [])


def hello_ids(frame: dict[str, Any]) -> dict[str, str]:
    """thread_id/run_id from the frame itself or its `data`/`payload` body."""
    out: dict[str, str] = {}
    for where in (frame, frame.get("data"), frame.get("payload")):
        if isinstance(where, dict):
            for key in ("thread_id", "run_id"):
                if isinstance(where.get(key), str) and key not in out:
                    out[key] = where[key]
    return out


def render_message(template: Any, ids: dict[str, str]) -> str:
    """The message to send: placeholders filled; a value that is only an unknown placeholder is dropped."""
    def fill(value: Any) -> Any:
        if isinstance(value, dict):
            filled = {k: fill(v) for k, v in value.items()}
            return {k: v for k, v in filled.items() if v is not _DROP}
        if isinstance(value, list):
            return [v for v in map(fill, value) if v is not _DROP]
        if isinstance(value, str):
            if value in _PLACEHOLDERS and value[1:-1] not in ids:
                return _DROP
            return _fill_text(value, ids)
        return value

    if isinstance(template, str):
        return _fill_text(template, ids)
    return json.dumps(fill(template))


def _fill_text(text: str, ids: dict[str, str]) -> str:
    for p in _PLACEHOLDERS:
        text = text.replace(p, ids.get(p[1:-1], ""))
    return text
