"""PostgreSQL fault catalogue: a server frozen with SIGSTOP and a server out of connection slots,
each classified within the check's deadline. The server is the session's `pg_server`; every frozen
process is continued in a `finally`, so the rest of the session keeps its database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pgserver import SUPERUSER, SUPERUSER_PASSWORD, PgServer
from servers import make_check, make_config, run_all

from probes import postgres as postgres_probe
from probes import registry
from probes.result import ProbeResult

TIMEOUT_S = 1.5
SLACK_S = 0.5  # the probe's own deadline handling; the runner's hard stop would be at +1 s

pytestmark = pytest.mark.timeout(60)


def pg_spec(server: PgServer, **spec: Any) -> dict[str, Any]:
    return {"name": "db", "type": "postgres", "host": server.host, "port": server.port, "user": server.user,
            "password": server.password, "dbname": server.dbname, "sslmode": "disable",
            "timeout_s": TIMEOUT_S, **spec}


def run(server: PgServer, **spec: Any) -> tuple[ProbeResult, float]:
    check = make_check(pg_spec(server, **spec))
    started = time.monotonic()
    result = asyncio.run(postgres_probe.probe(check))
    return result, time.monotonic() - started


def failed(result: ProbeResult, cls: str) -> str:
    assert result.failure is not None, result.to_dict()
    assert result.failure.cls == cls, result.to_dict()
    return result.failure.message


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (the postmaster's backends and auxiliary processes)."""
    out = []
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            if int(fields.get("PPid", "0")) == pid:
                out.append(int(status.parent.name))
    return out


@contextlib.contextmanager
def frozen(pids: list[int]) -> Iterator[None]:
    """SIGSTOP every pid (in order) for the block; SIGCONT all of them after it, whatever happened."""
    stopped: list[int] = []
    try:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
        yield
    finally:
        for pid in reversed(stopped):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def backend_running(server: PgServer, query_prefix: str, timeout_s: float = 5.0) -> int | None:
    """The pid of the synthmon backend once it is executing a query starting with `query_prefix`."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(host=server.host, port=server.port, user=SUPERUSER, password=SUPERUSER_PASSWORD,
                         dbname="postgres", autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'synthmon' "
                               "AND state = 'active' AND starts_with(query, %s)", (query_prefix,)).fetchone()
            if row:
                return int(row[0])
            time.sleep(0.005)
    return None


def test_backend_paused_mid_query_is_timeout(pg_server: PgServer) -> None:
    """The backend serving the probe is SIGSTOPped inside the canary query: `timeout` naming the canary
    at timeout_s, without waiting for a cancel request the frozen server would never answer."""
    paused: list[int] = []

    def pause_backend() -> None:
        pid = backend_running(pg_server, "SELECT pg_sleep")
        if pid is not None:
            os.kill(pid, signal.SIGSTOP)
            paused.append(pid)

    pauser = threading.Thread(target=pause_backend)
    pauser.start()
    try:
        result, elapsed = run(pg_server, query="SELECT pg_sleep(0.5)")
    finally:
        pauser.join()
        for pid in paused:
            os.kill(pid, signal.SIGCONT)
    assert paused, "the probe's backend was never seen running the canary"
    assert failed(result, "timeout") == f"the canary query did not answer within {TIMEOUT_S:g} s"
    assert result.details["samples"] == 5 and "canary_ms" not in result.details
    assert TIMEOUT_S - 0.05 < elapsed < TIMEOUT_S + SLACK_S


def test_whole_server_paused_is_timeout(pg_server: PgServer) -> None:
    """Postmaster and every child SIGSTOPped: the kernel still accepts TCP, startup is never answered:
    `timeout` (connected) at timeout_s, with the TCP connect timed."""
    assert pg_server.proc is not None
    postmaster = pg_server.proc.pid
    with frozen([postmaster, *children(postmaster)]):
        result, elapsed = run(pg_server)
    assert "did not finish startup and authentication" in failed(result, "timeout")
    assert "connect" in result.phases_ms and "auth" not in result.phases_ms
    assert TIMEOUT_S - 0.05 < elapsed < TIMEOUT_S + SLACK_S


def test_at_max_connections_is_db_error_then_recovers(pg_server: PgServer) -> None:
    """Every non-superuser slot held by the check's own role: through the runner, `db_error` with
    SQLSTATE 53300 at once; with the slots released, the next run passes."""
    config = make_config([pg_spec(pg_server)])
    probes = registry(["postgres"])
    held: list[psycopg.Connection[Any]] = []
    try:
        while True:
            try:
                held.append(psycopg.connect(pg_server.dsn(), connect_timeout=5))
            except psycopg.OperationalError:
                break
            assert len(held) < 100, "max_connections is not being reached"
        started = time.monotonic()
        [result] = asyncio.run(run_all(config.checks, probes))
        elapsed = time.monotonic() - started
    finally:
        for conn in held:
            conn.close()
    message = failed(result, "db_error")
    assert re.search(r"connection slots are reserved|too many clients", message), message
    assert result.details["sqlstate"] == "53300" and pg_server.password not in message
    assert elapsed < SLACK_S
    [again] = asyncio.run(run_all(config.checks, probes))
    assert again.ok, again.to_dict()
