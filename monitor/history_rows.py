"""One history row per published result, and what every history store shares: the row, its
encoding, the error type and the limits of one write."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

from probes.result import ProbeResult, RunReport

TIMEOUT_S = 1.0  # one history write, lock waits included
PRUNE_BATCH = 5000  # rows per delete: a prune holds the write lock for milliseconds, not seconds
CHECKPOINT_EVERY = 50  # writes (runs) between WAL checkpoints


@dataclasses.dataclass(frozen=True)
class Row:
    ts: float  # epoch seconds the result was published (its run's end)
    location: str
    check: str
    ok: bool
    cls: str | None
    message: str | None
    latency_ms: float | None
    run_id: str
    phases_ms: dict[str, float] = dataclasses.field(default_factory=dict)
    trace_id: str | None = None
    target: str = ""
    diagnosis: str | None = None
    attempts: int | None = None  # probes behind this result (retries + 1) when more than one

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["failure_class"] = d.pop("cls")
        return d


def rows_of(report: RunReport, at: float) -> list[Row]:
    """The history rows of a (redacted) run report."""
    return [_row(r, report, at) for r in report.results]


def _row(r: ProbeResult, report: RunReport, at: float) -> Row:
    attempts = r.details.get("attempts")
    trace = r.details.get("trace_id")
    return Row(ts=at, location=report.location, check=r.name, ok=r.ok,
               cls=r.failure.cls if r.failure else None, message=r.failure.message if r.failure else None,
               latency_ms=None if r.latency_ms is None else round(r.latency_ms, 3), run_id=report.run_id,
               phases_ms={k: round(v, 3) for k, v in r.phases_ms.items()},
               trace_id=trace if isinstance(trace, str) else None, target=r.target, diagnosis=r.diagnosis,
               attempts=len(attempts) if isinstance(attempts, list) and len(attempts) > 1 else None)


class HistoryError(Exception):
    """The history store could not be read or written."""


def _encode(r: Row) -> tuple[Any, ...]:
    data = {"message": r.message, "phases_ms": r.phases_ms, "trace_id": r.trace_id, "target": r.target,
            "diagnosis": r.diagnosis, "attempts": r.attempts}
    return (r.ts, r.location, r.check, int(r.ok), r.cls, r.latency_ms, r.run_id,
            json.dumps({k: v for k, v in data.items() if v not in (None, {})}, separators=(",", ":")))


def _decode(t: Iterable[Any]) -> Row:
    ts, location, check, ok, cls, latency_ms, run_id, data = t
    if data == "{}":  # light rows: no JSON to parse (a week of them is 10,000 per check)
        return Row(ts, location, check, bool(ok), cls, None, latency_ms, run_id)
    d = json.loads(data)
    return Row(ts=ts, location=location, check=check, ok=bool(ok), cls=cls, message=d.get("message"),
               latency_ms=latency_ms, run_id=run_id, phases_ms=d.get("phases_ms") or {},
               trace_id=d.get("trace_id"), target=d.get("target", ""), diagnosis=d.get("diagnosis"),
               attempts=d.get("attempts"))
