"""The result and run report shapes (README "Result JSON and failure classes"), without I/O."""

from __future__ import annotations

import pytest

from probes.result import FAILURE_CLASSES, ProbeResult, RunReport


def test_failure_is_null_exactly_when_ok() -> None:
    passed = ProbeResult("api", "http", "https://api.example/health").to_dict()
    assert passed["ok"] is True and passed["failure"] is None and passed["diagnosis"] is None
    failed = ProbeResult("api", "http", "https://api.example/health").fail("unavailable", "HTTP 503").to_dict()
    assert failed["ok"] is False and failed["failure"] == {"class": "unavailable", "message": "HTTP 503"}


@pytest.mark.parametrize("cls", FAILURE_CLASSES)
def test_every_failure_has_a_diagnosis(cls: str) -> None:
    """A probe that names no diagnosis still gets its class's sentence."""
    r = ProbeResult("api", "http", "https://api.example/health").fail(cls, "x")
    assert r.diagnosis


def test_first_failure_wins_and_unknown_classes_are_refused() -> None:
    r = ProbeResult("db", "postgres", "postgres://db:5432/").fail("vpc_latency", "slow", "the path")
    r.fail("assertion", "later")
    assert r.failure is not None and r.failure.cls == "vpc_latency" and r.diagnosis == "the path"
    with pytest.raises(ValueError):
        ProbeResult("db", "postgres", "postgres://db:5432/").fail("slow", "x")


def test_run_report_keys() -> None:
    report = RunReport("r1", "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "us-central1",
                       [ProbeResult("api", "http", "https://api.example/health")],
                       skipped=[{"name": "chat", "reason": "in_progress"}], duration_ms=1000.0)
    doc = report.to_dict()
    assert set(doc) >= {"run_id", "started_at", "finished_at", "location", "ok", "results", "skipped"}
    assert doc["ok"] is True and doc["skipped"] == [{"name": "chat", "reason": "in_progress"}]
    assert set(doc["results"][0]) == {"name", "type", "ok", "target", "latency_ms", "phases_ms", "failure",
                                      "details", "diagnosis"}
