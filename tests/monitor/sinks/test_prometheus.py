"""Prometheus text for /metrics: registry names, labels plus location, parseable by prometheus_client."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from monitor.sinks.prometheus import render
from probes.result import ProbeResult


def test_render_latest_results() -> None:
    ok = ProbeResult("api", "http", "https://secret.example/x", latency_ms=12.0, phases_ms={"ttfb": 5.0},
                     details={"cert_days_left": 40.0})
    bad = ProbeResult("db", "postgres", "postgres://h/d", latency_ms=900.0, details={"vpc_rtt_ms": 250.0})
    bad.fail("vpc_latency", "slow")
    text = render([ok, bad], "us-central1", duration_ms=1000.0)
    got = {(s.name, tuple(sorted(s.labels.items())), s.value)
           for fam in text_string_to_metric_families(text.decode()) for s in fam.samples}
    loc = ("location", "us-central1")
    assert got == {
        ("synthmon_check_success", (("check", "api"), ("failure_class", "none"), loc, ("type", "http")), 1.0),
        ("synthmon_check_success", (("check", "db"), ("failure_class", "vpc_latency"), loc, ("type", "postgres")),
         0.0),
        ("synthmon_check_latency_ms", (("check", "api"), loc, ("type", "http")), 12.0),
        ("synthmon_check_latency_ms", (("check", "db"), loc, ("type", "postgres")), 900.0),
        ("synthmon_check_phase_latency_ms", (("check", "api"), loc, ("phase", "ttfb"), ("type", "http")), 5.0),
        ("synthmon_tls_cert_days_left", (("check", "api"), loc), 40.0),
        ("synthmon_vpc_rtt_ms", (("check", "db"), loc), 250.0),
        ("synthmon_vpc_over_threshold", (("check", "db"), loc), 1.0),
        ("synthmon_run_duration_ms", (loc,), 1000.0),
    }
    assert b"secret.example" not in text


def test_render_nothing_yet_is_valid_text() -> None:
    assert list(text_string_to_metric_families(render([], "x").decode())) != []


def test_counters_and_histograms_count_every_published_result() -> None:
    """Three reports (ok, fail, ok): the counter splits by result, the histograms count three
    observations with the right buckets and sum, beside the gauges of the latest result."""
    import time

    from monitor.sinks.prometheus import Counters
    from probes.result import RunReport

    counters = Counters("here")

    def report(ok: bool, latency_ms: float) -> RunReport:
        r = ProbeResult("api", "http", "http://x", latency_ms=latency_ms, phases_ms={"ttfb": latency_ms / 2})
        if not ok:
            r.fail("unavailable", "HTTP 503")
        return RunReport("run", "t0", "t1", "here", [r])

    for ok, ms in ((True, 20.0), (False, 700.0), (True, 30.0)):
        assert counters.write(report(ok, ms), deadline=time.monotonic() + 1)
    text = render([report(True, 30.0).results[0]], "here", counters=counters).decode()
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value
           for fam in text_string_to_metric_families(text) for s in fam.samples}
    loc = ("location", "here")
    assert got[("synthmon_check_total", (("check", "api"), loc, ("result", "ok")))] == 2
    assert got[("synthmon_check_total", (("check", "api"), loc, ("result", "unavailable")))] == 1
    assert got[("synthmon_probe_latency_ms_count", (("check", "api"), loc))] == 3
    assert got[("synthmon_probe_latency_ms_sum", (("check", "api"), loc))] == 750
    assert got[("synthmon_probe_latency_ms_bucket", (("check", "api"), ("le", "25.0"), loc))] == 1
    assert got[("synthmon_probe_latency_ms_bucket", (("check", "api"), ("le", "500.0"), loc))] == 2
    assert got[("synthmon_probe_phase_latency_ms_count", (("check", "api"), loc, ("phase", "ttfb")))] == 3
    assert got[("synthmon_check_latency_ms", (("check", "api"), loc, ("type", "http")))] == 30
