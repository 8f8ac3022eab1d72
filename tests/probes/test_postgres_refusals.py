"""The PostgreSQL probe against the server's real refusals of a login, and its one dial per probe.

Roles, a database and a pg_hba.conf rule of their own are added to the session's server; they
touch no other test's role."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from latency_proxy import LatencyProxy
from pgserver import SUPERUSER, SUPERUSER_PASSWORD, PgServer
from servers import make_check

from probes import postgres as postgres_probe
from probes.result import ProbeResult

pytestmark = pytest.mark.timeout(60)
PASSWORD = "refusal-pw-4471"


def run(server: PgServer, port: int | None = None, **spec: Any) -> ProbeResult:
    fields = {"name": "db", "type": "postgres", "host": server.host, "port": port or server.port,
              "user": server.user, "password": server.password, "dbname": server.dbname,
              "sslmode": "disable", "timeout_s": 5, **spec}
    return asyncio.run(postgres_probe.probe(make_check(fields)))


def superuser(server: PgServer) -> psycopg.Connection[Any]:
    return psycopg.connect(host=server.host, port=server.port, user=SUPERUSER, password=SUPERUSER_PASSWORD,
                           dbname="postgres", autocommit=True)


@pytest.fixture(scope="module")
def refusing(pg_server: PgServer) -> Iterator[PgServer]:
    """Role `refused` (rejected by pg_hba.conf), `nologin` (NOLOGIN), `noconnect` and database
    `closed` (CONNECT revoked from PUBLIC)."""
    with superuser(pg_server) as conn:
        for role, login in (("refused", "LOGIN"), ("nologin", "NOLOGIN"), ("noconnect", "LOGIN")):
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(f"CREATE ROLE {role} {login} PASSWORD '{PASSWORD}'")
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'closed'").fetchone():
            conn.execute("CREATE DATABASE closed")
            conn.execute("REVOKE CONNECT ON DATABASE closed FROM PUBLIC")
        hba = pg_server.data / "pg_hba.conf"
        rule = f"host all refused {pg_server.host}/32 reject\n"
        if rule not in hba.read_text():
            hba.write_text(rule + hba.read_text())
        conn.execute("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 10
    while True:  # the postmaster rereads pg_hba.conf on SIGHUP, asynchronously
        try:
            psycopg.connect(host=pg_server.host, port=pg_server.port, user="refused", password=PASSWORD,
                            dbname="postgres").close()
        except psycopg.OperationalError as exc:
            if "pg_hba.conf rejects" in str(exc):
                break
        assert time.monotonic() < deadline, "pg_hba.conf reject rule never took effect"
    yield pg_server


@pytest.mark.parametrize(("user", "dbname", "sqlstate"), [
    ("refused", "postgres", "28000"),  # pg_hba.conf rejects the connection
    ("nologin", "postgres", "28000"),  # the role is not permitted to log in
    ("noconnect", "closed", "42501"),  # no CONNECT privilege on the database
    ("nobody", "postgres", "28P01"),  # no such role: the server says only "password authentication failed"
])
def test_server_refusing_the_login_is_auth(refusing: PgServer, user: str, dbname: str, sqlstate: str) -> None:
    """Every refusal of the login by the server is `auth`, with its SQLSTATE and the TCP connect timed."""
    r = run(refusing, user=user, password=PASSWORD, dbname=dbname)
    assert r.failure is not None and r.failure.cls == "auth", r.to_dict()
    assert "connect" in r.phases_ms and "auth" not in r.phases_ms
    assert r.details["sqlstate"] == sqlstate
    assert PASSWORD not in str(r.to_dict())


def test_unknown_database_is_db_error(pg_server: PgServer) -> None:
    """An authenticated login to a database that does not exist is `db_error` 3D000, not `auth`."""
    r = run(pg_server, dbname="no_such_db")
    assert r.failure is not None and r.failure.cls == "db_error", r.to_dict()
    assert r.details["sqlstate"] == "3D000"


def test_one_dial_per_probe(pg_server: PgServer) -> None:
    """Through a proxy in front of the server, a probe of 5 samples opens exactly one connection,
    and a refused login one too (no throwaway socket to time the connect)."""
    with LatencyProxy(pg_server.host, pg_server.port) as proxy:
        r = run(pg_server, port=proxy.port, samples=5)
        assert r.ok, r.to_dict()
        assert proxy.accepted == 1 and r.details["samples"] == 5
        assert r.phases_ms["connect"] > 0 and r.details["address"] == "127.0.0.1"
        bad = run(pg_server, port=proxy.port, password="wrong-pw")
        assert bad.failure is not None and bad.failure.cls == "auth"
        assert proxy.accepted == 2


def test_connect_phase_is_the_dial(pg_server: PgServer) -> None:
    """With 40 ms added each way, `connect` is one round trip of libpq's own dial (the proxy
    accepts at once, so it is ~0 here) and startup plus SCRAM lands in `auth`."""
    with LatencyProxy(pg_server.host, pg_server.port, up_ms=40, down_ms=40) as proxy:
        r = run(pg_server, port=proxy.port, samples=1)
    assert r.ok, r.to_dict()
    assert r.phases_ms["connect"] < 40 and r.phases_ms["auth"] >= 2 * 80
    assert proxy.accepted == 1


def test_tls_required_by_the_client_but_not_offered_is_tls(pg_server: PgServer) -> None:
    """sslmode=require against a server without TLS: `tls`, after one dial."""
    with LatencyProxy(pg_server.host, pg_server.port) as proxy:
        r = run(pg_server, port=proxy.port, sslmode="require")
    assert r.failure is not None and r.failure.cls == "tls", r.to_dict()
    assert proxy.accepted == 1
