"""probes.trace: the ids and header values of W3C Trace Context and X-Cloud-Trace-Context."""

from __future__ import annotations

import re

from probes.trace import TraceContext, new_trace, with_trace

TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01")


def test_fresh_trace_per_call() -> None:
    """Every new trace has its own trace and span id, in the W3C format, sampled."""
    traces = [new_trace() for _ in range(200)]
    assert len({t.trace_id for t in traces}) == 200
    for t in traces:
        m = TRACEPARENT.fullmatch(t.traceparent)
        assert m and m.groups() == (t.trace_id, t.span_id)


def test_child_shares_the_trace() -> None:
    """A child span keeps the trace id and gets a new span id."""
    root = new_trace()
    child = root.child()
    assert child.trace_id == root.trace_id and child.span_id != root.span_id


def test_cloud_trace_context_span_is_decimal() -> None:
    """X-Cloud-Trace-Context carries the span id as an unsigned decimal, with o=1."""
    ctx = TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "ffffffffffffffff")
    assert ctx.cloud_trace_context == "4bf92f3577b34da6a3ce929d0e0e4736/18446744073709551615;o=1"
    assert ctx.headers() == (("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-ffffffffffffffff-01"),)
    assert [k for k, _ in ctx.headers(True)] == ["traceparent", "X-Cloud-Trace-Context"]


def test_configured_trace_header_is_replaced() -> None:
    """A traceparent from the config is replaced, never sent twice; other headers stay."""
    ctx = new_trace()
    out = with_trace((("TraceParent", "00-old"), ("X-Env", "staging")), ctx)
    assert out == (("X-Env", "staging"), ("traceparent", ctx.traceparent))
