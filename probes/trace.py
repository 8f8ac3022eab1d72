"""Trace context for probe requests: W3C `traceparent` and Google's older `X-Cloud-Trace-Context`.

Pure, no I/O. A probe attempt starts a fresh trace (sampled, so that the backend keeps it) and
every request it makes carries it; the login request is a sibling span of the same trace.
"""

from __future__ import annotations

import dataclasses
import secrets

TRACEPARENT = "traceparent"
CLOUD_TRACE_CONTEXT = "X-Cloud-Trace-Context"


def _random_hex(nbytes: int) -> str:
    # W3C Trace Context 3.2.2.3/3.2.2.4: an all-zero trace id or parent id is invalid.
    while True:
        value = secrets.token_hex(nbytes)
        if value.strip("0"):
            return value


@dataclasses.dataclass(frozen=True)
class TraceContext:
    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16 lowercase hex digits: the probe's client span, the server's parent

    def child(self) -> TraceContext:
        """Another span of the same trace (e.g. the login request before the main one)."""
        return TraceContext(self.trace_id, _random_hex(8))

    @property
    def traceparent(self) -> str:
        """`00-<trace id>-<span id>-01`: version 00, sampled (W3C Trace Context, level 1)."""
        return f"00-{self.trace_id}-{self.span_id}-01"

    @property
    def cloud_trace_context(self) -> str:
        """`TRACE_ID/SPAN_ID;o=1` with the span id in decimal, as Google's older frontends read it."""
        return f"{self.trace_id}/{int(self.span_id, 16)};o=1"

    def headers(self, cloud_trace_context: bool = False) -> tuple[tuple[str, str], ...]:
        out: tuple[tuple[str, str], ...] = ((TRACEPARENT, self.traceparent),)
        if cloud_trace_context:
            out += ((CLOUD_TRACE_CONTEXT, self.cloud_trace_context),)
        return out


def new_trace() -> TraceContext:
    """A fresh trace: random 128-bit trace id and 64-bit span id."""
    return TraceContext(_random_hex(16), _random_hex(8))


def with_trace(headers: tuple[tuple[str, str], ...], ctx: TraceContext,
               cloud_trace_context: bool = False) -> tuple[tuple[str, str], ...]:
    """`headers` with the trace headers of `ctx`; a configured header of the same name is replaced,
    so that a request never carries two traceparents (W3C: a receiver may then discard both)."""
    added = ctx.headers(cloud_trace_context)
    names = {k.lower() for k, _ in added}
    return tuple((k, v) for k, v in headers if k.lower() not in names) + added
