"""The event matcher and frame parser, without sockets."""

from __future__ import annotations

import json

from probes.agent_events import (
    MAX_EVENTS_KEPT,
    EventMatcher,
    error_message,
    hello_ids,
    parse_frame,
    render_message,
)
from probes.checks import Events

FIVE = ("agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed")
STRICT = Events(required=FIVE, ordered=True, tools_balanced=True, answer_field="final_response")


def feed(spec: Events, *frames: dict | str) -> EventMatcher:
    matcher = EventMatcher(spec)
    for i, frame in enumerate(frames):
        parsed = parse_frame(frame if isinstance(frame, str) else json.dumps(frame))
        name, body = (parsed[0], parsed[1]) if parsed else (None, {})
        matcher.feed(name, body, 10.0 * (i + 1))
    return matcher


def flat(*names: str, **extra: object) -> list[dict]:
    return [{"type": n, **extra} for n in names]


def test_parse_flat_wrapped_and_data_envelopes() -> None:
    assert parse_frame('{"type": "agent_started", "run_id": "r"}')[:2] == ("agent_started", {"type": "agent_started", "run_id": "r"})
    wrapped = '{"type": "system_message", "event": "agent_thinking", "payload": {"thought": "x"}}'
    assert parse_frame(wrapped)[:2] == ("agent_thinking", {"thought": "x"})
    assert parse_frame('{"type": "agent_completed", "data": {"result": "OK"}}')[:2] == ("agent_completed", {"result": "OK"})
    assert parse_frame(b'{"event": "tool_executing"}')[0] == "tool_executing"


def test_parse_rejects_non_objects() -> None:
    for raw in ("not json", "[1, 2]", '{"type": 3}', '{"type": ""}', b"\xff"):
        assert parse_frame(raw) is None


def test_all_five_pass_with_details() -> None:
    m = feed(STRICT, *flat(*FIVE[:-1]), {"type": "agent_completed", "final_response": "OK"})
    assert m.done and m.verdict(120) is None
    d = m.details()
    assert [e["event"] for e in d["events"]] == list(FIVE)
    assert d["event_latency_ms"]["agent_completed"] == 50.0
    assert d["gaps_ms"][0] == {"from": "agent_started", "to": "agent_thinking", "ms": 10.0}
    assert "missing" not in d and m.terminal_ms == 50.0 and m.first_event_ms == 10.0


def test_keepalive_hello_and_unknown_are_counted_not_events() -> None:
    m = feed(Events(), {"type": "heartbeat"}, {"type": "ping"}, {"type": "connection_established"},
             {"type": "server_stats"}, "garbage", *flat("agent_started", "agent_completed"))
    assert [e for e, _ in m.events] == ["agent_started", "agent_completed"]
    assert m.ignored == {"heartbeat": 1, "ping": 1, "connection_established": 1, "server_stats": 1, "unparsed": 1}
    assert m.verdict(120) is None


def test_configured_names_are_events() -> None:
    m = feed(Events(required=("custom_done",), terminal=("custom_done",)), {"type": "custom_done"})
    assert m.done and m.verdict(10) is None


def test_missing_before_terminal() -> None:
    m = feed(STRICT, *flat("agent_started", "agent_thinking", "tool_executing"),
             {"type": "agent_completed", "final_response": "OK"})
    assert m.verdict(120) == ("ws_event_missing", "tool_completed not received before agent_completed")
    assert m.details()["missing"] == ["tool_completed"]


def test_stream_that_never_ends_names_the_terminal_event() -> None:
    m = feed(Events(required=("agent_started",)), *flat("agent_started"))
    assert not m.done
    assert m.verdict(120) == ("ws_event_missing", "agent_completed not received within 120 s")
    assert m.details()["last_event"] == "agent_started"


def test_no_event_at_all_is_timeout() -> None:
    m = feed(STRICT, {"type": "heartbeat"})
    assert m.verdict(30) == ("timeout", "no agent event within 30 s")
    assert m.details()["missing"] == list(FIVE)


def test_order_only_when_ordered() -> None:
    stream = [*flat("agent_started", "tool_executing", "agent_thinking", "tool_completed"),
              {"type": "agent_completed", "final_response": "OK"}]
    assert feed(STRICT, *stream).verdict(1) == ("ws_event_order", "tool_executing arrived before agent_thinking")
    assert feed(Events(required=FIVE), *stream).verdict(1) is None


def test_fail_on_wins_and_ends_the_wait() -> None:
    m = feed(STRICT, *flat("agent_started"), {"type": "system_message", "event": "agent_error",
                                              "payload": {"error": {"message": "LLM quota exceeded"}}})
    assert m.done
    assert m.verdict(1) == ("agent_error", "agent_error: LLM quota exceeded")


def test_error_message_fallback() -> None:
    assert error_message({}) == "no message"
    assert error_message({"detail": "x" * 500}) == "x" * 299 + "\u2026"  # cut, and marked (monitor/redact.py)


def test_tools_balanced() -> None:
    m = feed(STRICT, *flat("agent_started", "agent_thinking", "tool_executing", "tool_executing",
                           "tool_completed"), {"type": "agent_completed", "final_response": "OK"})
    assert m.verdict(1) == ("assertion", "2 tool_executing but 1 tool_completed")


def test_answer_field_must_be_non_empty() -> None:
    m = feed(STRICT, *flat(*FIVE[:-1]), {"type": "agent_completed", "final_response": "  "})
    assert m.verdict(1) == ("assertion", "agent_completed has an empty final_response")


def test_events_list_is_capped() -> None:
    m = feed(Events(required=("agent_started",)), *flat(*["agent_thinking"] * (MAX_EVENTS_KEPT + 5)))
    d = m.details()
    assert len(d["events"]) == MAX_EVENTS_KEPT and d["events_dropped"] == 5


def test_hello_ids_from_frame_or_body() -> None:
    assert hello_ids({"type": "handshake_response", "thread_id": "t1", "run_id": "r1"}) == {"thread_id": "t1", "run_id": "r1"}
    assert hello_ids({"type": "connection_established", "data": {"thread_id": "t2"}}) == {"thread_id": "t2"}
    assert hello_ids({"type": "x", "thread_id": 3}) == {}


def test_render_fills_placeholders_and_drops_unknown_ones() -> None:
    template = {"type": "user_message", "payload": {"content": "hi {run_id}", "thread_id": "{thread_id}",
                                                    "run_id": "{run_id}", "tags": ["{thread_id}", "x"]}}
    assert json.loads(render_message(template, {"thread_id": "t", "run_id": "r"}))["payload"] == {
        "content": "hi r", "thread_id": "t", "run_id": "r", "tags": ["t", "x"]}
    assert json.loads(render_message(template, {}))["payload"] == {"content": "hi ", "tags": ["x"]}


def test_render_string_template_is_sent_as_is() -> None:
    assert render_message('{"type": "start_agent", "thread": "{thread_id}"}', {"thread_id": "t"}) == \
        '{"type": "start_agent", "thread": "t"}'
    assert render_message("{thread_id}", {}) == ""
