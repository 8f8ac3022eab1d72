"""The alert state machine: per check, turn one result into the next state and the messages to send.

Pure: no I/O, no clock. Each location that shares the state store keeps its own entry in the check's
state (monitor/locations.py); a location is failing after `failure_threshold` consecutive confirmed
failures and recovers after `success_threshold` passes. The check's alert fires with scope `global`
(its own severity) when at least `quorum` locations fail, `regional` (severity warning) below it,
and resolves when none fails. A change of failure class or scope while firing resolves the old alert
and fires one with the new dedup key, as Alertmanager does when an alert's labels change; so the
messages of any dedup key alternate firing/resolved. While a dependency fails (`blocked_by`) or a
maintenance window covers the check, nothing fires or re-notifies; a resolve is always sent, so no
incident stays open. `degraded_latency_ms` is an alert of its own (`check/degraded`, warning).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol

from monitor import locations as locs
from monitor.traces import link
from probes.result import ProbeResult
from probes.result import iso as result_iso

OK, FIRING = "ok", "firing"
GLOBAL, REGIONAL = "global", "regional"
STATES = ("ok", "failing", "firing", "degraded", "blocked", "maintenance")


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
    @property
    def interval_s(self) -> float: ...
    @property
    def depends_on(self) -> tuple[str, ...]: ...
    @property
    def degraded_latency_ms(self) -> float | None: ...


@dataclasses.dataclass
class CheckState:
    """What the state store keeps per check between runs (one document, all locations in it)."""

    check: str
    status: str = OK  # of the failure alert: ok | firing
    state: str = OK  # what /status shows: one of STATES
    # The latest stepping location's counters, for display; the decisions use `locations`.
    consecutive_failures: int = 0
    consecutive_passes: int = 0
    failing_since: str | None = None  # start of the current failure streak (ISO 8601)
    failure_class: str | None = None  # class of the open alert
    dedup_key: str | None = None  # of the open alert
    scope: str | None = None  # of the open alert: global | regional
    alert_since: str | None = None  # start of the failure streak that fired the open alert
    fired_at: str | None = None
    last_notified: float | None = None  # epoch seconds of the latest firing/renotify message
    blocked_by: str | None = None  # the failing dependency, while there is one
    blocked_notified: bool = False  # the open alert was told it is blocked
    maintenance: bool = False  # a maintenance window covered the latest run
    degraded_firing: bool = False
    degraded_since: str | None = None
    locations_failing: list[str] = dataclasses.field(default_factory=list)
    locations: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    # Per location: {"last_start": epoch s of the last scheduled start, "lease_until": a run is
    # probing the check there until then, "lease_owner": that run's id}. Each region probes every
    # check on its own schedule; the lease keeps two runs of one location from probing it twice.
    schedule: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
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
        data["locations"] = {k: dict(v) for k, v in (data.get("locations") or {}).items()}
        data["locations_failing"] = list(data.get("locations_failing") or [])
        return cls(**data)

    def summary(self) -> dict[str, Any]:
        """The alert state shown on /status; `since` is the start of the failure streak."""
        return {
            "state": self.state, "failure_class": self.failure_class, "dedup_key": self.dedup_key,
            "since": self.alert_since if self.status == FIRING else self.failing_since,
            "blocked_by": self.blocked_by, "scope": self.scope,
            "locations_failing": list(self.locations_failing),
            "consecutive_failures": self.consecutive_failures,
            "consecutive_passes": self.consecutive_passes,
            "pending_messages": len(self.outbox), "last_run_id": self.last_run_id,
            "locations": {k: locs.summary(v) for k, v in sorted(self.locations.items())},
        }


@dataclasses.dataclass(frozen=True)
class RunContext:
    run_id: str
    location: str
    now: float  # epoch seconds (the run's end)
    silenced: bool = False  # inside a maintenance window
    sinks: tuple[str, ...] = ("local",)  # alert sinks each new message must reach
    quorum: int = 1  # failing locations for scope global
    project_id: str | None = None  # where the probes' traces are: messages link to Cloud Trace


@dataclasses.dataclass(frozen=True)
class Verdicts:
    """What the run knows about the check's dependencies (monitor/alert_run.py)."""

    blocked_by: str | None = None  # a dependency failing now
    affected: tuple[str, ...] = ()  # dependents failing while this check fails


iso = result_iso  # one timestamp format for results, reports and alerts


def dedup_key(check: str, failure_class: str, scope: str = GLOBAL) -> str:
    return f"{check}/{failure_class}" if scope == GLOBAL else f"{check}/{failure_class}/{scope}"


def step(state: CheckState, result: ProbeResult, rule: Rule, ctx: RunContext,
         verdicts: Verdicts = Verdicts()) -> CheckState:
    """The state after `result`; new messages are appended to the returned state's outbox."""
    s = dataclasses.replace(state, outbox=list(state.outbox), last_run_id=ctx.run_id,
                            locations={k: dict(v) for k, v in state.locations.items()})
    prior = s.locations.get(ctx.location)
    if prior is None and not s.locations and (s.status == FIRING or s.consecutive_failures):
        # A state written before per-location entries: its counters were this location's.
        prior = {"failures": s.consecutive_failures, "passes": s.consecutive_passes, "since": s.failing_since,
                 "failing": s.status == FIRING, "alert_cls": s.failure_class, "ok": False, "at": ctx.now}
    entry = s.locations[ctx.location] = locs.record(prior, result, rule, ctx.now, iso)
    s.consecutive_failures, s.consecutive_passes = entry["failures"], entry["passes"]
    fresh = locs.fresh(s.locations, ctx.location, ctx.now, rule.interval_s)
    failing = sorted(k for k, e in fresh.items() if e["failing"])
    s.locations_failing = failing
    s.failing_since = min((fresh[k]["since"] for k in failing if fresh[k]["since"]), default=entry["since"])
    s.blocked_by, s.maintenance = verdicts.blocked_by, ctx.silenced
    quiet = ctx.silenced or verdicts.blocked_by is not None
    emit = _Emitter(s, result, rule, ctx, verdicts)
    if s.status == FIRING:
        target = _target(s, fresh, failing, ctx.quorum)
        if target is None:
            emit.resolve()
        elif verdicts.blocked_by is not None:
            if not s.blocked_notified and not ctx.silenced:
                emit.send("blocked")
                s.blocked_notified = True
        elif ctx.silenced:
            pass
        elif target != (s.failure_class, s.scope or GLOBAL):
            emit.resolve(superseded_by=dedup_key(rule.name, *target))
            emit.fire(*target)
        elif rule.renotify_s > 0 and ctx.now - (s.last_notified or 0.0) >= rule.renotify_s:
            emit.send("renotify")
            s.last_notified = ctx.now
        if verdicts.blocked_by is None:
            s.blocked_notified = False
    elif failing and not quiet:
        target = _target(s, fresh, failing, ctx.quorum)
        assert target is not None
        emit.fire(*target)
    _degraded(s, fresh, emit, quiet)
    s.state = _display(s, entry)
    return s


def _target(s: CheckState, fresh: dict[str, dict[str, Any]], failing: Sequence[str],
            quorum: int) -> tuple[str, str] | None:
    """(failure class, scope) the open alert should have, or None when no location fails.

    The class is the one most failing locations settled on; a tie keeps the open alert's class."""
    if not failing:
        return None
    counts: dict[str, int] = {}
    for k in failing:
        cls = fresh[k]["alert_cls"] or "internal"
        counts[cls] = counts.get(cls, 0) + 1
    best = max(counts.values())
    tied = sorted(c for c, n in counts.items() if n == best)
    cls = s.failure_class if s.failure_class in tied else tied[0]
    return cls, GLOBAL if len(failing) >= quorum else REGIONAL


def _degraded(s: CheckState, fresh: dict[str, dict[str, Any]], emit: _Emitter, quiet: bool) -> None:
    slow = sorted(k for k, e in fresh.items() if e["degraded"])
    if s.degraded_firing and not slow:
        emit.degraded("resolved", slow)
        s.degraded_firing, s.degraded_since = False, None
    elif slow and not s.degraded_firing and not quiet:
        s.degraded_firing, s.degraded_since = True, min(fresh[k]["slow_since"] or "" for k in slow) or None
        emit.degraded("firing", slow)


def _display(s: CheckState, entry: dict[str, Any]) -> str:
    if s.maintenance:
        return "maintenance"
    if s.blocked_by is not None and (not entry["ok"] or s.status == FIRING):
        return "blocked"
    if s.status == FIRING:
        return "firing"
    if not entry["ok"] or s.locations_failing:
        return "failing"
    if entry["degraded"] or s.degraded_firing:
        return "degraded"
    return OK


class _Emitter:
    """Builds the alert message bodies into the state's outbox."""

    def __init__(self, s: CheckState, result: ProbeResult, rule: Rule, ctx: RunContext, v: Verdicts) -> None:
        self.s, self.result, self.rule, self.ctx, self.v = s, result, rule, ctx, v

    def fire(self, cls: str, scope: str) -> None:
        s = self.s
        s.status, s.failure_class, s.scope = FIRING, cls, scope
        s.dedup_key = dedup_key(self.rule.name, cls, scope)
        s.fired_at, s.last_notified, s.alert_since = iso(self.ctx.now), self.ctx.now, s.failing_since
        s.blocked_notified = False
        self.send("firing")

    def resolve(self, superseded_by: str | None = None) -> None:
        self.send("resolved", superseded_by=superseded_by)
        s = self.s
        s.status, s.failure_class, s.dedup_key, s.scope = OK, None, None, None
        s.fired_at, s.last_notified, s.alert_since, s.blocked_notified = None, None, None, False

    def send(self, transition: str, superseded_by: str | None = None) -> None:
        s, r = self.s, self.result
        resolved = transition == "resolved"
        if resolved:
            message = (f"failure class or scope changed, now alerting as {superseded_by}" if superseded_by
                       else "check passes again")
        elif transition == "blocked":
            message = f"blocked by {self.v.blocked_by}: that check's alert covers this outage"
        else:
            message = r.failure.message if r.failure else ""
        body = self._body(transition, s.failure_class, self._severity(s.scope), s.dedup_key, s.scope or GLOBAL,
                          list(s.locations_failing), message, None if resolved else r.diagnosis, s.alert_since)
        if superseded_by:
            body["superseded_by"] = superseded_by
        self._append(body)

    def degraded(self, state: str, slow: list[str]) -> None:
        r, limit = self.result, self.rule.degraded_latency_ms
        message = (f"latency {r.latency_ms or 0:.0f} ms is over degraded_latency_ms {limit or 0:g} ms"
                   if state == "firing" else "fast again")
        scope = GLOBAL if len(slow) >= self.ctx.quorum else REGIONAL
        self._append(self._body(state, None, "warning", f"{self.rule.name}/degraded", scope, slow, message,
                                None, self.s.degraded_since))

    def _severity(self, scope: str | None) -> str:
        return "warning" if scope == REGIONAL else self.rule.severity

    def _body(self, transition: str, cls: str | None, severity: str, key: str | None, scope: str,
              failing: list[str], message: str, diagnosis: str | None, since: str | None) -> dict[str, Any]:
        entry = self.s.locations.get(self.ctx.location, {})
        return {
            "check": self.rule.name, "state": "resolved" if transition == "resolved" else "firing",
            "severity": severity, "failure_class": cls, "message": message, "diagnosis": diagnosis,
            "since": since, "consecutive_failures": entry.get("failures", 0), "run_id": self.ctx.run_id,
            "location": self.ctx.location, "dedup_key": key, "scope": scope, "locations_failing": failing,
            "blocked_by": self.v.blocked_by, "affected": list(self.v.affected),
            "attempts": len(self.result.details.get("attempts") or []) or 1,
            "transition": transition, "time": iso(self.ctx.now), **self._trace(transition),
        }

    def _trace(self, transition: str) -> dict[str, Any]:
        """The failing probe's trace id, and its Cloud Trace page when the project is known."""
        trace_id = self.result.details.get("trace_id")
        if transition == "resolved" or not isinstance(trace_id, str):
            return {}
        url = link(self.ctx.project_id, trace_id)
        return {"trace_id": trace_id, **({"trace_url": url} if url else {})}

    def _append(self, body: dict[str, Any]) -> None:
        s = self.s
        s.outbox.append({"id": f"{self.ctx.run_id}/{self.rule.name}/{len(s.outbox)}", "body": body,
                         "sinks": list(self.ctx.sinks), "claimed_by": None, "claimed_at": None})
