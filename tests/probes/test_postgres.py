"""The postgres probe against a real PostgreSQL on loopback, behind a latency-injecting proxy."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import psycopg
import pytest

from monitor.config import loads
from probes import errors
from probes import postgres as postgres_probe
from probes.checks import PostgresCheck

pytestmark = pytest.mark.timeout(30)


def make_check(**fields: Any) -> PostgresCheck:
    """A postgres check parsed from config, the way synthmon.yaml would give it."""
    raw = {"name": "db", "type": "postgres", "timeout_s": 5, **fields}
    check = loads(json.dumps({"checks": [raw]}), "test.yaml", {}).check("db")
    assert isinstance(check, PostgresCheck)
    return check


def server_fields(server: Any, **overrides: Any) -> dict[str, Any]:
    fields = {"host": server.host, "port": server.port, "user": server.user, "password": server.password,
              "dbname": server.dbname, "sslmode": "disable"}
    return {**fields, **overrides}


def run(check: PostgresCheck) -> tuple[Any, float]:
    t0 = time.monotonic()
    result = asyncio.run(postgres_probe.probe(check))
    return result, time.monotonic() - t0


def assert_no_secret(result: Any, *secrets: str) -> None:
    text = json.dumps(result.to_dict())
    for secret in secrets:
        assert secret not in text


def test_healthy(pg_server):
    """A healthy server: ok, all three phases, a small round trip under the threshold."""
    result, _ = run(make_check(**server_fields(pg_server)))
    assert result.ok, result.to_dict()
    assert set(result.phases_ms) == {"connect", "auth", "query"}
    d = result.details
    assert d["samples"] == 5
    assert d["query_min_ms"] <= d["query_median_ms"] <= d["query_max_ms"]
    assert d["vpc_rtt_ms"] == d["query_median_ms"] < 20
    assert d["vpc_over_threshold"] is False and d["vpc_latency_threshold_ms"] == 100
    assert d["address"] == "127.0.0.1"
    assert d["server_version"] >= 150000
    assert result.latency_ms >= sum(result.phases_ms.values())
    assert result.target == f"postgres://127.0.0.1:{pg_server.port}/probe"
    assert_no_secret(result, pg_server.password)


def test_dsn_healthy_and_password_absent(pg_server):
    """A DSN from config connects; neither the DSN nor its password appear in the result."""
    dsn = pg_server.dsn()
    result, _ = run(make_check(dsn=dsn, samples=3))
    assert result.ok, result.to_dict()
    assert result.details["samples"] == 3
    assert_no_secret(result, dsn, pg_server.password)


def test_vpc_latency_over_threshold(pg_server, pg_proxy):
    """75 ms each way (150 ms round trip) over a 100 ms threshold: vpc_latency, rtt within 10%."""
    pg_proxy.set_delay(75)
    result, _ = run(make_check(**server_fields(pg_server, port=pg_proxy.port),
                               vpc_latency_threshold_ms=100))
    assert result.failure is not None and result.failure.cls == "vpc_latency", result.to_dict()
    assert result.details["vpc_over_threshold"] is True
    assert 135 <= result.details["vpc_rtt_ms"] <= 165
    assert result.phases_ms["query"] == pytest.approx(result.details["vpc_rtt_ms"], abs=0.001)
    assert result.phases_ms["auth"] >= 2 * 150  # startup and SCRAM take several round trips
    assert "network" in (result.diagnosis or "")


def test_vpc_latency_under_threshold(pg_server, pg_proxy):
    """25 ms each way (50 ms round trip) under a 100 ms threshold: ok, rtt measured."""
    pg_proxy.set_delay(25)
    result, _ = run(make_check(**server_fields(pg_server, port=pg_proxy.port),
                               vpc_latency_threshold_ms=100))
    assert result.ok, result.to_dict()
    assert 45 <= result.details["vpc_rtt_ms"] <= 55
    assert result.details["vpc_over_threshold"] is False


def test_vpc_flag_disabled(pg_server, pg_proxy):
    """With the threshold off, a slow round trip is measured but not flagged."""
    pg_proxy.set_delay(75)
    result, _ = run(make_check(**server_fields(pg_server, port=pg_proxy.port),
                               vpc_latency_threshold_ms=False, samples=2))
    assert result.ok, result.to_dict()
    assert result.details["vpc_rtt_ms"] > 135
    assert result.details["vpc_over_threshold"] is False
    assert result.details["vpc_latency_threshold_ms"] is None


def test_slow_network_exhausts_deadline_is_vpc_latency(pg_server, pg_proxy):
    """A round trip so slow that the samples outlive the deadline is still blamed on the network."""
    pg_proxy.set_delay(150)
    result, elapsed = run(make_check(**server_fields(pg_server, port=pg_proxy.port),
                                     samples=50, timeout_s=2))
    assert result.failure is not None and result.failure.cls == "vpc_latency", result.to_dict()
    assert result.details["vpc_rtt_ms"] > 270
    assert 1 <= result.details["samples"] < 50
    assert elapsed < 2.5


def test_blackhole_is_timeout_at_deadline(pg_server, pg_proxy):
    """Accepted but never answered: `timeout` (TCP connected; `connect_timeout` is no TCP
    connection), returned at the check's deadline."""
    pg_proxy.blackhole = True
    result, elapsed = run(make_check(**server_fields(pg_server, port=pg_proxy.port), timeout_s=1))
    assert result.failure is not None and result.failure.cls == "timeout", result.to_dict()
    assert "connect" in result.phases_ms
    assert 0.95 <= elapsed < 1.5
    assert "query" not in result.phases_ms and "auth" not in result.phases_ms


def test_wrong_password_is_auth(pg_server):
    """A wrong password: auth with SQLSTATE 28P01, and that password nowhere in the result."""
    wrong = "not-the-password-31337"
    result, _ = run(make_check(**server_fields(pg_server, password=wrong)))
    assert result.failure is not None and result.failure.cls == "auth", result.to_dict()
    assert result.details["sqlstate"] == "28P01"
    assert "connect" in result.phases_ms and "auth" not in result.phases_ms
    assert_no_secret(result, wrong, pg_server.password)


def test_wrong_password_in_dsn_is_redacted(pg_server):
    """A wrong password inside a DSN: auth, and neither DSN nor password in the result."""
    dsn = pg_server.dsn(password="dsn-secret-2718")
    result, _ = run(make_check(dsn=dsn))
    assert result.failure is not None and result.failure.cls == "auth"
    assert_no_secret(result, dsn, "dsn-secret-2718")


def test_unknown_role_is_auth(pg_server):
    """A role that does not exist: auth."""
    result, _ = run(make_check(**server_fields(pg_server, user="nobody")))
    assert result.failure is not None and result.failure.cls == "auth", result.to_dict()


def test_canary_over_max_latency_is_assertion(pg_server):
    """A pg_sleep canary slower than expect.max_latency_ms: assertion, with its latency and rows."""
    result, _ = run(make_check(**server_fields(pg_server), query="SELECT pg_sleep(0.3)",
                               expect={"max_latency_ms": 100, "rows": 1}))
    assert result.failure is not None and result.failure.cls == "assertion", result.to_dict()
    assert result.details["canary_ms"] >= 300
    assert result.details["rows"] == 1
    assert result.details["vpc_over_threshold"] is False


def test_canary_rows(pg_server):
    """The canary's row count is checked against expect.rows."""
    good, _ = run(make_check(**server_fields(pg_server), query="SELECT generate_series(1, 3)",
                             expect={"rows": 3}))
    assert good.ok, good.to_dict()
    bad, _ = run(make_check(**server_fields(pg_server), query="SELECT generate_series(1, 2)",
                            expect={"rows": 3}))
    assert bad.failure is not None and bad.failure.cls == "assertion"
    assert bad.details["rows"] == 2


def test_statement_timeout_is_db_error(pg_server):
    """The server cancels a canary over statement_timeout_ms: db_error with SQLSTATE 57014."""
    result, elapsed = run(make_check(**server_fields(pg_server), query="SELECT pg_sleep(5)",
                                     statement_timeout_ms=200))
    assert result.failure is not None and result.failure.cls == "db_error", result.to_dict()
    assert result.details["sqlstate"] == "57014"
    assert elapsed < 2


def test_query_past_deadline_is_timeout(pg_server):
    """A canary still running at the deadline: timeout, returned at the deadline, not later."""
    result, elapsed = run(make_check(**server_fields(pg_server), query="SELECT pg_sleep(10)",
                                     statement_timeout_ms=60000, timeout_s=1))
    assert result.failure is not None and result.failure.cls == "timeout", result.to_dict()
    assert result.details["samples"] == 5
    assert 0.95 <= elapsed < 1.5


def test_query_past_deadline_on_dark_path_is_timeout(pg_server, pg_proxy):
    """The path goes dark mid-query (a cancel request would hang too): still back at the deadline."""
    pg_proxy.blackhole_after = 1  # the probe's one connection gets through
    result, elapsed = run(make_check(**server_fields(pg_server, port=pg_proxy.port),
                                     query="SELECT pg_sleep(10)", statement_timeout_ms=60000, timeout_s=1))
    assert result.failure is not None and result.failure.cls == "timeout", result.to_dict()
    assert 0.95 <= elapsed < 1.5
    assert pg_proxy.accepted == 1


def test_sql_error_is_db_error(pg_server):
    """A canary the server rejects: db_error with the SQLSTATE."""
    result, _ = run(make_check(**server_fields(pg_server), query="SELECT * FROM no_such_table"))
    assert result.failure is not None and result.failure.cls == "db_error"
    assert result.details["sqlstate"] == "42P01"


def test_too_many_connections_is_db_error(pg_server):
    """Connection slots exhausted: db_error with SQLSTATE 53300."""
    held: list[psycopg.Connection[Any]] = []
    try:
        while True:
            try:
                held.append(psycopg.connect(pg_server.dsn()))
            except psycopg.OperationalError:
                break
            assert len(held) < 100
        result, _ = run(make_check(**server_fields(pg_server)))
    finally:
        for conn in held:
            conn.close()
    assert result.failure is not None and result.failure.cls == "db_error", result.to_dict()
    assert result.details["sqlstate"] == "53300"


def test_server_stopped_is_connect_refused(pg_server):
    """The server is down: connect_refused, directly and through a proxy whose backend is gone."""
    from latency_proxy import LatencyProxy

    with pg_server.stopped(), LatencyProxy(pg_server.host, pg_server.port) as proxy:
        direct, _ = run(make_check(**server_fields(pg_server)))
        proxied, _ = run(make_check(**server_fields(pg_server, port=proxy.port)))
    assert direct.failure is not None and direct.failure.cls == "connect_refused", direct.to_dict()
    assert "connect" not in direct.phases_ms
    assert proxied.failure is not None and proxied.failure.cls == "connect_refused", proxied.to_dict()


def test_unresolvable_host_is_dns(pg_server):
    """A name that cannot resolve (.invalid, RFC 6761): dns."""
    result, _ = run(make_check(**server_fields(pg_server, host="db.synthmon.invalid")))
    assert result.failure is not None and result.failure.cls == "dns", result.to_dict()


def test_unix_socket(pg_server, tmp_path):
    """A socket directory host (as Cloud SQL's /cloudsql/...) connects; a missing one is refused."""
    ok, _ = run(make_check(**server_fields(pg_server, host=pg_server.socket_dir)))
    assert ok.ok, ok.to_dict()
    assert ok.details["address"].endswith(f"/.s.PGSQL.{pg_server.port}")
    missing, _ = run(make_check(**server_fields(pg_server, host=str(tmp_path / "cloudsql" / "p:r:i"))))
    assert missing.failure is not None and missing.failure.cls == "connect_refused", missing.to_dict()


def test_cancellation_propagates(pg_server):
    """Cancelled from outside (the runner's hard deadline), the probe stops at once and re-raises."""
    check = make_check(**server_fields(pg_server), query="SELECT pg_sleep(10)", timeout_s=20)

    async def cancel_early() -> float:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(postgres_probe.probe(check), 0.5)
        return time.monotonic() - t0

    assert asyncio.run(cancel_early()) < 1.0


@pytest.mark.parametrize(("message", "cls", "sqlstate"), [
    ('connection failed: connection to server at "10.0.0.3", port 5432 failed: FATAL:  password '
     'authentication failed for user "app"', "auth", "28P01"),
    ('FATAL:  no pg_hba.conf entry for host "10.8.0.2", user "app", database "app", no encryption',
     "auth", "28000"),
    ("fe_sendauth: no password supplied", "auth", None),
    ("FATAL:  sorry, too many clients already", "db_error", "53300"),
    ("FATAL:  the database system is starting up", "db_error", "57P03"),
    ('FATAL:  database "app" does not exist', "db_error", "3D000"),
    ("server does not support SSL, but SSL was required", "tls", None),
    ('could not translate host name "db" to address: Name or service not known', "dns", None),
    ("server closed the connection unexpectedly", "connect_refused", None),
    ("connection timeout expired", "connect_timeout", None),
    ("something new", "db_error", None),
])
def test_connect_error_table(message, cls, sqlstate):
    assert errors.pg_connect_class(message) == (cls, sqlstate)


def test_params_from_dsn_and_fields():
    check = make_check(dsn="postgresql://u:pw@h1:6000,h2:6001/app?options=-c%20search_path%3Dx",
                       sslmode="require", statement_timeout_ms=1500)
    params = postgres_probe._params(check, {"user": "u", "password": "pw", "dbname": "app",
                                            "host": "h1,h2", "port": "6000,6001",
                                            "options": "-c search_path=x"})
    assert params["host"] == "h1" and params["port"] == 6000 and params["sslmode"] == "require"
    assert params["options"] == "-c search_path=x -c statement_timeout=1500"
    assert params["application_name"] == "synthmon"


def test_dsn_of_another_scheme_is_a_config_error():
    from monitor.config import ConfigError

    with pytest.raises(ConfigError, match="dsn") as info:
        make_check(dsn="mysql://u:hunter22@db/app")
    assert "hunter22" not in str(info.value)


def test_slow_tcp_connect_blames_network_on_timeout():
    """Without a finished SELECT 1, a TCP connect over the threshold is the network evidence."""
    from probes.result import ProbeResult

    check = make_check(host="db.example", vpc_latency_threshold_ms=100)
    slow = ProbeResult("db", "postgres", check.target, phases_ms={"connect": 900.0})
    postgres_probe._timed_out(check, slow, "startup did not finish", "timeout")
    assert slow.failure is not None and slow.failure.cls == "vpc_latency"
    assert slow.details["vpc_over_threshold"] is True
    fast = ProbeResult("db", "postgres", check.target, phases_ms={"connect": 0.4})
    postgres_probe._timed_out(check, fast, "startup did not finish", "timeout")
    assert fast.failure is not None and fast.failure.cls == "timeout"


def test_localhost_tries_each_address(pg_server):
    """A name with several addresses (::1, 127.0.0.1): the first that accepts is used."""
    result, _ = run(make_check(**server_fields(pg_server, host="localhost")))
    assert result.ok, result.to_dict()
    assert result.details["address"] == "127.0.0.1"
