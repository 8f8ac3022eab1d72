"""Connector signals: the real Monitoring client against a fake MetricService, alone and inside the postgres probe."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from fakes.metric_service import FakeMetricService
from google.cloud import monitoring_v3
from servers import blackhole

from monitor.config import loads
from monitor.sinks.cloud_monitoring import make_client
from probes import postgres as postgres_probe
from probes import vpc_connector
from probes.checks import PostgresCheck

pytestmark = pytest.mark.timeout(30)

CONNECTOR = "projects/staging-proj/locations/europe-west1/connectors/run-egress"
INSTANCES = "vpcaccess.googleapis.com/connector/instances"
CPU = "vpcaccess.googleapis.com/connector/cpu/utilizations"


def monitoring_client() -> Any:
    """What the service passes the probe: a client for MONITORING_EMULATOR_HOST (the fake here)."""
    return make_client(os.environ["MONITORING_EMULATOR_HOST"])


def series(metric_type: str, *points: tuple[float, dict[str, Any]]) -> Any:
    """A connector TimeSeries with (seconds ago, value) points."""
    now = time.time()
    return monitoring_v3.TimeSeries(
        metric={"type": metric_type},
        resource={"type": "vpc_access_connector", "labels": {
            "project_id": "staging-proj", "location": "europe-west1", "connector_name": "run-egress"}},
        points=[{"interval": {"end_time": {"seconds": int(now - ago)}}, "value": value} for ago, value in points])


@pytest.fixture
def metric_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMetricService]:
    fake = FakeMetricService()
    # Newest point not first: the reader picks by time, not position.
    fake.stored[INSTANCES] = [series(INSTANCES, (200, {"int64_value": 2}), (20, {"int64_value": 3}))]
    fake.stored[CPU] = [series(CPU, (20, {"distribution_value": {"count": 3, "mean": 0.95}}),
                               (80, {"distribution_value": {"count": 2, "mean": 0.4}}))]
    monkeypatch.setenv("MONITORING_EMULATOR_HOST", fake.host)
    yield fake
    fake.stop()


def test_reads_latest_instances_and_cpu_mean(metric_service):
    """One ListTimeSeries per metric, filtered to the connector over the last 5 minutes; latest values."""
    assert asyncio.run(vpc_connector.read(CONNECTOR, timeout_s=5, client_factory=monitoring_client)) == {"instances": 3, "cpu_utilization": 0.95}
    requests = metric_service.calls_to("ListTimeSeries")
    assert [r.filter.split('"')[1] for r in requests] == [INSTANCES, CPU]
    for r in requests:
        assert r.name == "projects/staging-proj"
        for part in ('resource.type = "vpc_access_connector"', 'resource.labels.project_id = "staging-proj"',
                     'resource.labels.location = "europe-west1"', 'resource.labels.connector_name = "run-egress"'):
            assert part in r.filter
        start, end = r.interval.start_time.timestamp(), r.interval.end_time.timestamp()
        assert 300 <= end - start <= 302 and abs(end - time.time()) < 5


def test_no_points_is_none(metric_service):
    """A metric without points in the window is reported as None, not as an error."""
    metric_service.stored.clear()
    assert asyncio.run(vpc_connector.read(CONNECTOR, timeout_s=5, client_factory=monitoring_client)) == {"instances": None,
                                                                       "cpu_utilization": None}


def test_unavailable_is_an_error_value(metric_service):
    """UNAVAILABLE from Cloud Monitoring becomes {"error": ...} without a retry."""
    metric_service.fail("ListTimeSeries", grpc.StatusCode.UNAVAILABLE)
    found = asyncio.run(vpc_connector.read(CONNECTOR, timeout_s=5, client_factory=monitoring_client))
    assert set(found) == {"error"} and "ServiceUnavailable" in found["error"]
    assert len(metric_service.calls_to("ListTimeSeries")) == 1


def test_no_answer_is_an_error_within_the_timeout(monkeypatch):
    """A Monitoring endpoint that accepts and never answers: {"error": ...} at the timeout."""
    with blackhole() as port:
        monkeypatch.setenv("MONITORING_EMULATOR_HOST", f"127.0.0.1:{port}")
        t0 = time.monotonic()
        found = asyncio.run(vpc_connector.read(CONNECTOR, timeout_s=1, client_factory=monitoring_client))
        elapsed = time.monotonic() - t0
    assert set(found) == {"error"}
    assert 0.9 <= elapsed < 1.6


def make_check(server: Any, port: int, **fields: Any) -> PostgresCheck:
    raw = {"name": "db", "type": "postgres", "timeout_s": 5, "host": server.host, "port": port,
           "user": server.user, "password": server.password, "dbname": server.dbname, "sslmode": "disable",
           "vpc_connector": CONNECTOR, **fields}
    check = loads(json.dumps({"checks": [raw]}), "test.yaml", {}).check("db")
    assert isinstance(check, PostgresCheck)
    return check


def test_postgres_probe_adds_connector_signals(pg_server, pg_proxy, metric_service):
    """150 ms round trip through the proxy: still vpc_latency, with the connector's metrics in details."""
    pg_proxy.set_delay(75)
    result = asyncio.run(postgres_probe.probe(make_check(pg_server, pg_proxy.port,
                                                         vpc_latency_threshold_ms=100), monitoring_client=monitoring_client))
    assert result.failure is not None and result.failure.cls == "vpc_latency", result.to_dict()
    assert result.details["connector"] == {"instances": 3, "cpu_utilization": 0.95}
    assert 135 <= result.details["vpc_rtt_ms"] <= 165


def test_postgres_probe_not_delayed_by_silent_monitoring(pg_server, monkeypatch):
    """Monitoring never answers: the healthy check is still ok, by its deadline, with the error in details."""
    with blackhole() as port:
        monkeypatch.setenv("MONITORING_EMULATOR_HOST", f"127.0.0.1:{port}")
        t0 = time.monotonic()
        result = asyncio.run(postgres_probe.probe(make_check(pg_server, pg_server.port, timeout_s=1.5), monitoring_client=monitoring_client))
        elapsed = time.monotonic() - t0
    assert result.ok, result.to_dict()
    assert set(result.details["connector"]) == {"error"}
    assert elapsed < 2.1
    assert result.latency_ms < 1000  # the database's time, not the wait for Monitoring
