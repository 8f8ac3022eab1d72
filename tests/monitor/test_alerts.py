"""The alert state machine, without I/O: thresholds, renotify, class change, maintenance, claims."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import alerts, outbox
from probes.result import ProbeResult


@dataclasses.dataclass(frozen=True)
class Rule:
    name: str = "api"
    failure_threshold: int = 2
    success_threshold: int = 1
    renotify_s: float = 3600.0
    severity: str = "critical"
    interval_s: float = 60.0
    depends_on: tuple[str, ...] = ()
    degraded_latency_ms: float | None = None


def result(outcome: str) -> ProbeResult:
    """"ok" passes; any other word is the failure class."""
    r = ProbeResult("api", "http", "https://api.example/health")
    if outcome != "ok":
        r.fail(outcome, f"{outcome} happened", f"diagnosis of {outcome}")
    return r


def run(outcomes: list[str], rule: Rule = Rule(), *, every_s: float = 60.0, silenced: set[int] = frozenset(),
        state: alerts.CheckState | None = None) -> tuple[alerts.CheckState, list[tuple[str, str | None]]]:
    """Feed outcomes one per `every_s`; the (transition, dedup_key) of every message, in order."""
    s = state or alerts.CheckState(rule.name)
    for i, outcome in enumerate(outcomes):
        ctx = alerts.RunContext(f"run{i}", "us-central1", 1_000_000.0 + i * every_s, i in silenced)
        s = alerts.step(s, result(outcome), rule, ctx)
    return s, [(m["body"]["transition"], m["body"]["dedup_key"]) for m in s.outbox]


F, R, N = "firing", "resolved", "renotify"
U = "api/unavailable"

TABLE = [
    # (what, outcomes, rule, expected transitions)
    ("one failure is below the threshold", ["unavailable"], Rule(), []),
    ("threshold reached fires once", ["unavailable"] * 3, Rule(), [(F, U)]),
    ("threshold 1 fires at once", ["unavailable"], Rule(failure_threshold=1), [(F, U)]),
    ("a pass resets the failure count", ["unavailable", "ok", "unavailable"], Rule(), []),
    ("resolves after one pass", ["unavailable"] * 2 + ["ok"], Rule(), [(F, U), (R, U)]),
    ("success_threshold 2 needs two passes", ["unavailable"] * 2 + ["ok"], Rule(success_threshold=2), [(F, U)]),
    ("success_threshold 2 resolves", ["unavailable"] * 2 + ["ok", "ok"], Rule(success_threshold=2),
     [(F, U), (R, U)]),
    ("a failure between passes restarts the pass count", ["unavailable"] * 2 + ["ok", "unavailable", "ok"],
     Rule(success_threshold=2), [(F, U)]),
    ("passing checks never alert", ["ok"] * 5, Rule(), []),
    ("failures of mixed classes count together", ["timeout", "unavailable"], Rule(), [(F, U)]),
    ("class change while firing resolves the old key and fires a new one",
     ["unavailable"] * 2 + ["timeout"] * 2, Rule(), [(F, U), (R, U), (F, "api/timeout")]),
    ("one odd class while firing changes nothing", ["unavailable"] * 2 + ["timeout", "unavailable"], Rule(),
     [(F, U)]),
]


@pytest.mark.parametrize(("outcomes", "rule", "expected"), [t[1:] for t in TABLE], ids=[t[0] for t in TABLE])
def test_transitions(outcomes: list[str], rule: Rule, expected: list[tuple[str, str]]) -> None:
    assert run(outcomes, rule)[1] == expected


def test_renotify_every_renotify_s_while_firing() -> None:
    _, got = run(["unavailable"] * 8, Rule(renotify_s=120), every_s=60)
    # fires at run 1 (t=60), renotifies at t=180, t=300, t=420
    assert got == [(F, U), (N, U), (N, U), (N, U)]


def test_renotify_zero_never_renotifies() -> None:
    assert run(["unavailable"] * 10, Rule(renotify_s=0))[1] == [(F, U)]


def test_maintenance_silences_firing_until_the_window_ends() -> None:
    s, got = run(["unavailable"] * 4, silenced={0, 1, 2})
    assert got == [(F, U)]
    assert s.outbox[0]["body"]["consecutive_failures"] == 4


def test_maintenance_silences_renotify_but_not_resolve() -> None:
    _, got = run(["unavailable"] * 4 + ["ok"], Rule(renotify_s=60), silenced={2, 3, 4})
    assert got == [(F, U), (R, U)]


def test_message_shape() -> None:
    s, _ = run(["unavailable"] * 2, Rule(severity="warning"))
    body = s.outbox[0]["body"]
    assert body == {
        "check": "api", "state": "firing", "severity": "warning", "failure_class": "unavailable",
        "message": "unavailable happened", "diagnosis": "diagnosis of unavailable",
        "since": "1970-01-12T13:46:40.000Z", "consecutive_failures": 2, "run_id": "run1",
        "location": "us-central1", "dedup_key": U, "transition": "firing", "time": "1970-01-12T13:47:40.000Z",
        "scope": "global", "locations_failing": ["us-central1"], "blocked_by": None, "affected": [],
        "attempts": 1,
    }
    assert s.outbox[0]["sinks"] == ["local"]


def test_resolved_message_names_the_alert_it_closes() -> None:
    s, _ = run(["unavailable"] * 2 + ["ok"])
    body = s.outbox[1]["body"]
    assert (body["state"], body["dedup_key"], body["failure_class"], body["consecutive_failures"]) == \
        ("resolved", U, "unavailable", 0)
    # since: when the failure streak began, in every message of the alert
    assert body["since"] == s.outbox[0]["body"]["since"] == "1970-01-12T13:46:40.000Z"


def test_claim_is_exclusive_until_the_lease_ends() -> None:
    s, _ = run(["unavailable"] * 2)
    assert [m["id"] for m in outbox.claim(s, "a", 100.0, lease_s=60)] == ["run1/api/0"]
    assert outbox.claim(s, "b", 130.0, lease_s=60) == []
    assert len(outbox.claim(s, "b", 160.0, lease_s=60)) == 1


def test_settle_drops_delivered_and_releases_the_rest() -> None:
    s, _ = run(["unavailable"] * 2 + ["ok"])
    for m in s.outbox:
        m["sinks"] = ["local", "pubsub"]
    outbox.claim(s, "a", 100.0, lease_s=60)
    s = outbox.settle(s, "a", {"run1/api/0": ["local", "pubsub"], "run2/api/1": ["local"]})
    assert [(m["id"], m["sinks"], m["claimed_by"]) for m in s.outbox] == [("run2/api/1", ["pubsub"], None)]


def test_state_round_trips_through_a_dict() -> None:
    s, _ = run(["unavailable"] * 2)
    assert alerts.CheckState.from_dict("api", s.to_dict()) == s


OUTCOME = st.sampled_from(["ok", "ok", "unavailable", "timeout", "auth"])


@settings(max_examples=300, deadline=None)
@given(outcomes=st.lists(OUTCOME, max_size=60), fail_t=st.integers(1, 4), pass_t=st.integers(1, 3),
       silenced=st.sets(st.integers(0, 59)))
def test_firing_and_resolved_alternate(outcomes: list[str], fail_t: int, pass_t: int, silenced: set[int]) -> None:
    rule = Rule(failure_threshold=fail_t, success_threshold=pass_t, renotify_s=0)
    s, got = run(outcomes, rule, silenced=silenced)
    states = [t for t, _ in got]
    assert states == [F, R] * (len(states) // 2) + [F] * (len(states) % 2)
    for (t1, k1), (t2, k2) in zip(got, got[1:], strict=False):
        if t1 == F and t2 == R:
            assert k1 == k2  # a resolve closes exactly the alert that fired
    assert (s.status == "firing") == (states[-1:] == [F])


def test_a_state_from_before_per_location_entries_keeps_its_open_alert() -> None:
    """A stored firing state without `locations` goes on as this location's: no resolve on the next
    failure below the threshold, a resolve on the pass."""
    old = alerts.CheckState.from_dict("api", {"status": "firing", "consecutive_failures": 3, "failure_class": "unavailable",
                                              "dedup_key": U, "failing_since": "2026-01-01T00:00:00.000Z",
                                              "last_notified": 1_000_000.0})
    s, got = run(["unavailable"], state=old)
    assert got == [] and s.status == "firing" and s.consecutive_failures == 4
    s, got = run(["ok"], state=s)
    assert got == [(R, U)]
