"""Apply one run's results to every check's alert state: dependencies first, then their dependents.

Pure. `step_run` orders the checks so that each dependency is decided before the checks that depend
on it, and tells `alerts.step` whether a dependency is failing (`blocked_by`: its result in this run
failed, or its stored state is failing or firing) and which dependents fail with it (`affected`, in
the dependency's message): one outage, one page. `firing_series` is what `alert/firing` carries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from monitor import alerts
from monitor.alerts import FIRING, GLOBAL, REGIONAL, CheckState, RunContext, Verdicts
from probes.result import ProbeResult


def quorum(alerting: Any, location: str) -> int:
    """`alerting.quorum`, else a majority of the configured locations (1 for a single location)."""
    if alerting.quorum is not None:
        return int(alerting.quorum)
    n = len(set(alerting.locations) | {location}) if alerting.locations else 1
    return n // 2 + 1


def order(rules: Mapping[str, alerts.Rule]) -> list[str]:
    """Check names, every dependency before its dependents (config validation refused cycles)."""
    out: list[str] = []
    seen: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in seen or name not in rules or name in path:
            return
        for dep in rules[name].depends_on:
            visit(dep, (*path, name))
        seen.add(name)
        out.append(name)

    for name in rules:
        visit(name, ())
    return out


def step_run(states: Mapping[str, CheckState], results: Mapping[str, ProbeResult],
             rules: Mapping[str, alerts.Rule], ctx: RunContext, *,
             silenced: Collection[str] = ()) -> dict[str, CheckState]:
    """The states after the run: every check in `results` stepped; the others as they were."""
    new = {n: states.get(n) or CheckState(n) for n in rules}
    dependents = _dependents(rules)
    for name in order(rules):
        if name not in results:
            continue
        rule = rules[name]
        blocked_by = next((d for d in rule.depends_on if _failing(new[d], ctx.location)), None)
        affected = tuple(sorted(d for d in _closure(name, dependents) if _result_failed(d, results, new, ctx)))
        check_ctx = dataclasses.replace(ctx, silenced=name in silenced)
        new[name] = alerts.step(new[name], results[name], rule, check_ctx, Verdicts(blocked_by, affected))
    return new


def _failing(s: CheckState, location: str) -> bool:
    """A dependency whose latest result here failed (blocked or not), or whose alert is open."""
    entry = s.locations.get(location)
    return s.status == FIRING or (entry is not None and not entry.get("ok", True))


def _result_failed(name: str, results: Mapping[str, ProbeResult], states: Mapping[str, CheckState],
                   ctx: RunContext) -> bool:
    if name in results:
        return not results[name].ok
    entry = states[name].locations.get(ctx.location) if name in states else None
    return entry is not None and not entry.get("ok", True)


def _dependents(rules: Mapping[str, alerts.Rule]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {n: [] for n in rules}
    for name, rule in rules.items():
        for dep in rule.depends_on:
            out.setdefault(dep, []).append(name)
    return out


def _closure(name: str, graph: Mapping[str, Sequence[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(graph.get(name, ()))
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(graph.get(n, ()))
    return seen


def firing_series(states: Mapping[str, CheckState], rules: Iterable[alerts.Rule]) -> list[tuple[str, str, str, int]]:
    """(check, severity, scope, 0 or 1) of every check: one series per scope, each written every run,
    so a policy sees 0 as soon as the alert resolves or moves to the other scope."""
    out = []
    for rule in rules:
        s = states.get(rule.name) or CheckState(rule.name)
        firing = s.status == FIRING
        out.append((rule.name, rule.severity, GLOBAL, int(firing and (s.scope or GLOBAL) == GLOBAL)))
        out.append((rule.name, "warning", REGIONAL, int(firing and s.scope == REGIONAL)))
    return out
