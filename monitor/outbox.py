"""The alert outbox of a check's state: which run sends which message, and what every sink took.

Pure: a message leaves the outbox only once every alert sink took it; the claim is saved in the
same store transaction as the alert decision, so two overlapping runs never both send one message.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from monitor.alerts import CheckState


def claim(s: CheckState, run_id: str, now: float, lease_s: float) -> list[dict[str, Any]]:
    """Mark the outbox messages this run will send: unclaimed ones and those whose lease ran out.

    Two overlapping runs never both send a message: the claim is saved in the same transaction.
    """
    mine = []
    for m in s.outbox:
        if m["claimed_by"] is None or now - (m["claimed_at"] or 0.0) >= lease_s:
            m["claimed_by"], m["claimed_at"] = run_id, now
        if m["claimed_by"] == run_id:
            mine.append(m)
    return [dict(m, sinks=list(m["sinks"])) for m in mine]


def settle(s: CheckState, run_id: str, delivered: dict[str, list[str]]) -> CheckState:
    """Record which sinks took each claimed message; release the rest for the next run."""
    s = dataclasses.replace(s, outbox=[dict(m) for m in s.outbox])
    keep = []
    for m in s.outbox:
        if m["claimed_by"] == run_id:
            m["sinks"] = [k for k in m["sinks"] if k not in delivered.get(m["id"], [])]
            m["claimed_by"], m["claimed_at"] = None, None
        if m["sinks"]:
            keep.append(m)
    s.outbox = keep
    return s
