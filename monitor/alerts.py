"""The alert state machine: per check, turn one result into the next state and the messages to send.

Pure: no I/O, no clock. A check fires after `failure_threshold` consecutive failures, resolves after
`success_threshold` consecutive passes, and re-notifies every `renotify_s` while firing. A change of
failure class while firing (seen `failure_threshold` times in a row, so a flapping outage does not
spam) resolves the old alert and fires a new one with a new dedup key, as Alertmanager does when an
alert's labels change; so any sequence of messages alternates firing/resolved. A maintenance window
holds back firing, renotify and class changes; a resolve is always sent, so no incident stays open.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Protocol

from probes.result import ProbeResult

OK, FIRING = "ok", "firing"


class Rule(Protocol):
    """The alert settings of a check (every configured check has them)."""

    @property
    def name(self) -> str: ...
    @property
    def failure_threshold(self) -> int: ...
    @property
    def success_threshold(self) -> int: ...
    @property
    def renotify_s(self) -> float: ...
    @property
    def severity(self) -> str: ...


@dataclasses.dataclass
class CheckState:
    """What the state store keeps per check between runs."""

    check: str
    status: str = OK  # ok | firing
    consecutive_failures: int = 0
    consecutive_passes: int = 0
    failing_since: str | None = None  # start of the current failure streak (ISO 8601)
    last_class: str | None = None  # failure class of the latest failure
    class_streak: int = 0  # consecutive failures with last_class
    failure_class: str | None = None  # class of the open alert
    dedup_key: str | None = None  # of the open alert
    fired_at: str | None = None
    last_notified: float | None = None  # epoch seconds of the latest firing/renotify message
    last_start: float | None = None  # epoch seconds of the last scheduled start (interval_s)
    lease_until: float | None = None  # epoch seconds: a run is probing the check until then
    lease_owner: str | None = None  # the run_id holding the lease
    last_run_id: str | None = None
    # Messages not yet delivered: {"id", "body", "sinks": [names still to send to], "claimed_by",
    # "claimed_at"}. A message leaves only once every alert sink took it.
    outbox: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, check: str, raw: dict[str, Any] | None) -> CheckState:
        if not raw:
            return cls(check)
        known = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in raw.items() if k in known}
        data["check"] = check
        data["outbox"] = [dict(m) for m in data.get("outbox") or []]
        return cls(**data)

    def summary(self) -> dict[str, Any]:
        """The alert state shown on /status."""
        return {
            "state": self.status, "failure_class": self.failure_class, "dedup_key": self.dedup_key,
            "since": self.fired_at if self.status == FIRING else self.failing_since,
            "consecutive_failures": self.consecutive_failures,
            "consecutive_passes": self.consecutive_passes,
            "pending_messages": len(self.outbox), "last_run_id": self.last_run_id,
        }


@dataclasses.dataclass(frozen=True)
class RunContext:
    run_id: str
    location: str
    now: float  # epoch seconds (the run's end)
    silenced: bool = False  # inside a maintenance window
    sinks: tuple[str, ...] = ("local",)  # alert sinks each new message must reach


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def step(state: CheckState, result: ProbeResult, rule: Rule, ctx: RunContext) -> CheckState:
    """The state after `result`; new messages are appended to the returned state's outbox."""
    s = dataclasses.replace(state, outbox=list(state.outbox), last_run_id=ctx.run_id)
    if result.ok:
        s.consecutive_passes += 1
        s.consecutive_failures, s.class_streak, s.last_class, s.failing_since = 0, 0, None, None
        if s.status == FIRING and s.consecutive_passes >= rule.success_threshold:
            _resolve(s, result, rule, ctx)
        return s
    cls = result.failure.cls if result.failure else "internal"
    s.consecutive_passes = 0
    s.consecutive_failures += 1
    s.class_streak = s.class_streak + 1 if cls == s.last_class else 1
    s.last_class = cls
    s.failing_since = s.failing_since or iso(ctx.now)
    if ctx.silenced:
        return s
    if s.status == OK:
        if s.consecutive_failures >= rule.failure_threshold:
            _fire(s, result, rule, ctx, cls)
    elif cls != s.failure_class and s.class_streak >= rule.failure_threshold:
        _resolve(s, result, rule, ctx, superseded_by=dedup_key(rule.name, cls))
        _fire(s, result, rule, ctx, cls)
    elif rule.renotify_s > 0 and ctx.now - (s.last_notified or 0.0) >= rule.renotify_s:
        _emit(s, "renotify", result, rule, ctx)
        s.last_notified = ctx.now
    return s


def dedup_key(check: str, failure_class: str) -> str:
    return f"{check}/{failure_class}"


def _fire(s: CheckState, result: ProbeResult, rule: Rule, ctx: RunContext, cls: str) -> None:
    s.status, s.failure_class, s.dedup_key = FIRING, cls, dedup_key(rule.name, cls)
    s.fired_at, s.last_notified = iso(ctx.now), ctx.now
    _emit(s, "firing", result, rule, ctx)


def _resolve(s: CheckState, result: ProbeResult, rule: Rule, ctx: RunContext,
             superseded_by: str | None = None) -> None:
    _emit(s, "resolved", result, rule, ctx, superseded_by=superseded_by)
    s.status, s.failure_class, s.dedup_key, s.fired_at, s.last_notified = OK, None, None, None, None


def _emit(s: CheckState, transition: str, result: ProbeResult, rule: Rule, ctx: RunContext,
          superseded_by: str | None = None) -> None:
    resolved = transition == "resolved"
    body: dict[str, Any] = {
        "check": rule.name,
        "state": "resolved" if resolved else "firing",
        "severity": rule.severity,
        "failure_class": s.failure_class,
        "message": _resolved_message(superseded_by) if resolved else
        (result.failure.message if result.failure else ""),
        "diagnosis": None if resolved else result.diagnosis,
        "since": s.fired_at if resolved else s.failing_since,
        "consecutive_failures": s.consecutive_failures,
        "run_id": ctx.run_id,
        "location": ctx.location,
        "dedup_key": s.dedup_key,
        "transition": transition,
        "time": iso(ctx.now),
    }
    if superseded_by:
        body["superseded_by"] = superseded_by
    s.outbox.append({"id": f"{ctx.run_id}/{rule.name}/{len(s.outbox)}", "body": body,
                     "sinks": list(ctx.sinks), "claimed_by": None, "claimed_at": None})


def _resolved_message(superseded_by: str | None) -> str:
    if superseded_by:
        return f"failure class changed, now alerting as {superseded_by}"
    return "check passes again"


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
