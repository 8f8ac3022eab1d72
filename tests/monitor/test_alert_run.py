"""The run-level alert decisions, without I/O: dependencies, degraded, maintenance, quorum."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import alert_run, alerts
from monitor.config import Alerting
from probes.result import ProbeResult


@dataclasses.dataclass(frozen=True)
class Rule:
    name: str
    depends_on: tuple[str, ...] = ()
    failure_threshold: int = 1
    success_threshold: int = 1
    renotify_s: float = 0.0
    severity: str = "critical"
    interval_s: float = 60.0
    degraded_latency_ms: float | None = None


def result(name: str, outcome: str, latency_ms: float = 10.0, attempts: int = 1) -> ProbeResult:
    """"ok" passes, "slow" passes at 2 s; any other word is the failure class."""
    r = ProbeResult(name, "http", f"https://{name}.example/", latency_ms=2000.0 if outcome == "slow" else latency_ms)
    if outcome not in ("ok", "slow"):
        r.fail(outcome, f"{outcome} happened")
    r.details["attempts"] = [{"ok": False}] * (attempts - 1) + [{"ok": r.ok}]
    return r


BACKEND = Rule("backend")
FOUR = {"backend": BACKEND, **{n: Rule(n, depends_on=("backend",)) for n in ("login", "chat", "history", "search")}}


def ctx(i: int, location: str = "us-central1", quorum: int = 1) -> alerts.RunContext:
    return alerts.RunContext(f"run{i}", location, 1_000_000.0 + 60 * i, quorum=quorum)


def messages(states: Mapping[str, alerts.CheckState]) -> list[dict]:
    return [m["body"] for s in states.values() for m in s.outbox]


def test_backend_behind_four_checks_pages_once() -> None:
    states: dict[str, alerts.CheckState] = {}
    for i in range(3):
        states = alert_run.step_run(states, {n: result(n, "unavailable") for n in FOUR}, FOUR, ctx(i))
    firing = [b for b in messages(states) if b["transition"] == "firing"]
    assert [(b["check"], b["affected"]) for b in firing] == [("backend", ["chat", "history", "login", "search"])]
    assert {n: (states[n].state, states[n].blocked_by) for n in FOUR} == {
        "backend": ("firing", None), **{n: ("blocked", "backend") for n in FOUR if n != "backend"}}
    assert states["login"].consecutive_failures == 3  # the record keeps counting


def test_a_dependency_failing_in_storage_blocks_a_check_not_run_with_it() -> None:
    states = alert_run.step_run({}, {"backend": result("backend", "unavailable")}, FOUR, ctx(0))
    states = alert_run.step_run(states, {"chat": result("chat", "timeout")}, FOUR, ctx(1))
    assert [b["check"] for b in messages(states)] == ["backend"]
    assert states["chat"].summary()["state"] == "blocked"


def test_dependent_fires_once_the_dependency_recovers() -> None:
    states = alert_run.step_run({}, {n: result(n, "unavailable") for n in FOUR}, FOUR, ctx(0))
    results = {n: result(n, "ok") for n in FOUR} | {"chat": result("chat", "agent_error")}
    states = alert_run.step_run(states, results, FOUR, ctx(1))
    assert [(b["check"], b["transition"]) for b in messages(states)] == [
        ("backend", "firing"), ("backend", "resolved"), ("chat", "firing")]


def test_an_open_alert_says_when_it_becomes_blocked() -> None:
    states = alert_run.step_run({}, {"backend": result("backend", "ok"), "chat": result("chat", "timeout")},
                                FOUR, ctx(0))
    for i in (1, 2):
        states = alert_run.step_run(states, {"backend": result("backend", "unavailable"),
                                             "chat": result("chat", "timeout")}, FOUR, ctx(i))
    chat = [b for b in messages(states) if b["check"] == "chat"]
    assert [(b["transition"], b["blocked_by"]) for b in chat] == [("firing", None), ("blocked", "backend")]
    assert states["chat"].state == "blocked"


def test_degraded_is_a_warning_of_its_own_and_never_a_failure() -> None:
    rules = {"api": Rule("api", degraded_latency_ms=1500)}
    states: dict[str, alerts.CheckState] = {}
    seen = []
    for i, outcome in enumerate(["slow", "slow", "ok"]):
        states = alert_run.step_run(states, {"api": result("api", outcome)}, rules, ctx(i))
        seen.append(states["api"].state)
    assert seen == ["degraded", "degraded", "ok"]
    assert [(b["transition"], b["dedup_key"], b["severity"]) for b in messages(states)] == [
        ("firing", "api/degraded", "warning"), ("resolved", "api/degraded", "warning")]
    assert states["api"].status == "ok" and states["api"].consecutive_failures == 0


def test_maintenance_is_a_state_and_silences_paging() -> None:
    rules = {"api": Rule("api")}
    states = alert_run.step_run({}, {"api": result("api", "unavailable")}, rules, ctx(0), silenced={"api"})
    assert (states["api"].state, messages(states)) == ("maintenance", [])
    states = alert_run.step_run(states, {"api": result("api", "unavailable")}, rules, ctx(1))
    assert [b["since"] for b in messages(states)] == ["1970-01-12T13:46:40.000Z"]  # the streak, not the window


def test_quorum_scopes_the_alert() -> None:
    rules = {"api": Rule("api")}
    states = alert_run.step_run({}, {"api": result("api", "unavailable")}, rules, ctx(0, "eu", quorum=2))
    states = alert_run.step_run(states, {"api": result("api", "unavailable")}, rules, ctx(0, "us", quorum=2))
    states = alert_run.step_run(states, {"api": result("api", "ok")}, rules, ctx(1, "eu", quorum=2))
    got = [(b["transition"], b["scope"], b["severity"], b["dedup_key"], b["locations_failing"])
           for b in messages(states)]
    assert got == [
        ("firing", "regional", "warning", "api/unavailable/regional", ["eu"]),
        ("resolved", "regional", "warning", "api/unavailable/regional", ["eu", "us"]),
        ("firing", "global", "critical", "api/unavailable", ["eu", "us"]),
        ("resolved", "global", "critical", "api/unavailable", ["us"]),
        ("firing", "regional", "warning", "api/unavailable/regional", ["us"]),
    ]
    assert alert_run.firing_series(states, rules.values()) == [
        ("api", "critical", "global", 0), ("api", "warning", "regional", 1)]


def test_a_location_that_stopped_reporting_no_longer_counts() -> None:
    rules = {"api": Rule("api")}
    states = alert_run.step_run({}, {"api": result("api", "unavailable")}, rules, ctx(0, "eu", quorum=2))
    states = alert_run.step_run(states, {"api": result("api", "ok")}, rules, ctx(60, "us", quorum=2))
    assert states["api"].locations_failing == [] and states["api"].status == "ok"


def test_default_quorum_is_a_majority() -> None:
    assert [alert_run.quorum(Alerting(None, locs), "a") for locs in [(), ("a",), ("a", "b"), ("a", "b", "c")]] \
        == [1, 1, 2, 2]
    assert alert_run.quorum(Alerting(3, ("a", "b", "c")), "a") == 3


def test_summary_has_what_status_shows() -> None:
    states = alert_run.step_run({}, {n: result(n, "unavailable") for n in FOUR}, FOUR, ctx(0))
    got = states["chat"].summary()
    assert {k: got[k] for k in ("state", "since", "blocked_by", "scope", "locations_failing")} == {
        "state": "blocked", "since": "1970-01-12T13:46:40.000Z", "blocked_by": "backend", "scope": None,
        "locations_failing": ["us-central1"]}


OUTCOMES = ["ok", "ok", "slow", "unavailable", "timeout"]


@settings(max_examples=200, deadline=None)
@given(runs=st.lists(st.tuples(
    st.dictionaries(st.sampled_from(["backend", "chat", "login"]),
                    st.tuples(st.sampled_from(OUTCOMES), st.integers(1, 2)), min_size=1),
    st.sets(st.sampled_from(["backend", "chat", "login"])),
    st.sampled_from(["eu", "us", "asia"])), max_size=40),
    fail_t=st.integers(1, 3), pass_t=st.integers(1, 2), q=st.integers(1, 3))
def test_combined_never_fire_blocked_never_resolve_unfired_always_alternate(
        runs: list, fail_t: int, pass_t: int, q: int) -> None:
    rules = {"backend": Rule("backend", failure_threshold=fail_t, success_threshold=pass_t, degraded_latency_ms=1000),
             "login": Rule("login", ("backend",), fail_t, pass_t, degraded_latency_ms=1000),
             "chat": Rule("chat", ("login",), fail_t, pass_t, renotify_s=120, degraded_latency_ms=1000)}
    states: dict[str, alerts.CheckState] = {}
    seen: dict[str, list[str]] = {}
    for i, (outcomes, silenced, location) in enumerate(runs):
        results = {n: result(n, o, attempts=a) for n, (o, a) in outcomes.items()}
        before = {n: len(s.outbox) for n, s in states.items()}
        states = alert_run.step_run(states, results, rules, ctx(i, location, q), silenced=silenced)
        for name, s in states.items():
            for m in s.outbox[before.get(name, 0):]:
                body = m["body"]
                if body["transition"] == "firing":
                    assert name not in silenced
                    deps_failed_now = any(d in results and not results[d].ok for d in rules[name].depends_on)
                    assert not deps_failed_now and body["blocked_by"] is None
                if body["transition"] in ("firing", "resolved"):
                    seen.setdefault(body["dedup_key"], []).append(body["transition"])
    for key, transitions in seen.items():
        assert transitions == ["firing", "resolved"] * (len(transitions) // 2) + ["firing"] * (len(transitions) % 2), key
    for name, s in states.items():
        open_keys = {k for k, t in seen.items() if t[-1] == "firing" and not k.endswith("/degraded")
                     and k.split("/")[0] == name}
        assert open_keys == ({s.dedup_key} if s.status == "firing" else set())


def test_a_passing_dependency_blocks_nothing_even_when_its_own_dependency_fails() -> None:
    rules = {"backend": BACKEND, "login": Rule("login", ("backend",)), "chat": Rule("chat", ("login",))}
    results = {"backend": result("backend", "unavailable"), "login": result("login", "ok"),
               "chat": result("chat", "agent_error")}
    states = alert_run.step_run({}, results, rules, ctx(0))
    assert [(b["check"], b["transition"]) for b in messages(states)] == [("backend", "firing"), ("chat", "firing")]
    assert states["chat"].blocked_by is None
