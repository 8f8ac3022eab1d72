"""PostgreSQL probe: succeeds when a connection authenticates and `SELECT 1` round trips, the canary query and the network round trip estimate all meet the check's expectations."""

from __future__ import annotations

import asyncio
import math
import re
import socket
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from probes import neterrors, vpc_connector
from probes.checks import PostgresCheck
from probes.diagnosis import diagnose
from probes.redact import Redactor, clip, dsn_password
from probes.result import ProbeResult

if TYPE_CHECKING:
    import psycopg

# libpq reports connection-phase errors as text only, without the SQLSTATE the server sent, so
# they are matched on the server's FATAL messages and libpq's own; most specific first.
# (failure class, SQLSTATE of the server's message or None for libpq's, pattern)
_CONNECT_ERRORS: tuple[tuple[str, str | None, re.Pattern[str]], ...] = tuple(
    (cls, sqlstate, re.compile(pattern, re.IGNORECASE)) for cls, sqlstate, pattern in (
        ("auth", "28P01", r"password authentication failed"),
        ("auth", "28000", r"no pg_hba\.conf entry|pg_hba\.conf rejects|role \".*\" does not exist"
                          r"|authentication failed for user"),
        ("auth", None, r"no password supplied|password is required|server requested .*authentication"
                       r"|SCRAM|channel binding"),
        ("db_error", "53300", r"too many (clients|connections)|remaining connection slots are reserved"),
        ("db_error", "57P03", r"the database system is (starting up|shutting down|in recovery|not )"),
        ("db_error", "3D000", r"database \".*\" does not exist"),
        ("tls", None, r"SSL|certificate"),
        ("dns", None, r"could not translate host name"),
        ("connect_refused", None, r"Connection refused|No such file or directory|Connection reset"
                                  r"|server closed the connection unexpectedly"),
        ("connect_timeout", None, r"timeout expired|timed out"),
    )
)


async def probe(check: PostgresCheck, *, monitoring_client: Callable[[], Any] | None = None) -> ProbeResult:
    """Connect, time `SELECT 1` round trips and the canary query; returns within `check.timeout_s`.

    Phases: `connect` (TCP or unix socket connect), `auth` (TLS, startup and authentication),
    `query` (median `SELECT 1`). `details.vpc_rtt_ms` is that median: the network round trip.

    Failure classes: `dns`, `connect_refused`, `connect_timeout` (no TCP connection), `tls`, `auth`,
    `db_error` (SQLSTATE in details), `timeout` (connected, but startup or a query outlived the
    deadline), `assertion` (canary rows or latency), `vpc_latency` (the round trip is
    over `vpc_latency_threshold_ms`, also when that slowness is what made a later step time out).
    With `check.vpc_connector`, `details.connector` holds the connector's own metrics, read
    alongside through a client from `monitoring_client` (the caller's) and never changing the
    failure class.
    """
    # Imported here: psycopg costs ~175 ms of import that processes without a postgres check skip.
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    result = ProbeResult(check.name, check.type, check.target)
    redact = Redactor([check.password or "", check.dsn or "", dsn_password(check.dsn or "") or ""])
    deadline = asyncio.get_running_loop().time() + check.timeout_s
    started = time.perf_counter()
    try:
        params = _params(check, conninfo_to_dict(check.dsn) if check.dsn else {})
    except psycopg.ProgrammingError:
        # The libpq message may quote part of the DSN, so it is not repeated.
        return result.fail("internal", "the configured dsn could not be parsed by libpq "
                                       "(`synthmon validate` says which check)",
                           diagnose("internal", check.target))
    connector = None
    if check.vpc_connector and monitoring_client is None:
        result.details["connector"] = {"error": "no Cloud Monitoring client was given to the probe"}
    elif check.vpc_connector and monitoring_client is not None:
        connector = asyncio.create_task(vpc_connector.read(check.vpc_connector, timeout_s=check.timeout_s,
                                                           client_factory=monitoring_client))
    conn = None
    try:
        conn = await _open(check, params, result, deadline, redact)
        if conn is not None:
            await _measure(check, conn, result, deadline, redact)
    finally:
        if conn is not None:
            await conn.close()
        result.latency_ms = (time.perf_counter() - started) * 1000
        if connector is not None:
            result.details["connector"] = await _connector(connector, deadline)
    if result.ok:
        _judge(check, result)
    return result


async def _connector(task: asyncio.Task[dict[str, Any]], deadline: float) -> dict[str, Any]:
    """The connector's metrics, waiting for them only until the probe's deadline."""
    try:
        await asyncio.wait({task}, timeout=max(0.0, deadline - asyncio.get_running_loop().time()))
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
    if task.cancelled():
        return {"error": "Cloud Monitoring did not answer by the check's deadline"}
    return task.result()


def _params(check: PostgresCheck, params: dict[str, Any]) -> dict[str, Any]:
    """libpq connection parameters: the DSN's, overridden by explicit fields, one host only."""
    if not check.dsn:
        params.update(host=check.host, port=check.port)
    for key in ("user", "password", "dbname", "sslmode"):
        if getattr(check, key) is not None:
            params[key] = getattr(check, key)
    for key in ("host", "hostaddr", "port"):  # a multi-host DSN is probed on its first host
        if params.get(key) is not None:
            params[key] = str(params[key]).split(",")[0] or None
    params["port"] = int(params.get("port") or 5432)
    timeout_ms = check.statement_timeout_ms or int(check.timeout_s * 1000)
    # Sent in the startup packet: a server-side limit that costs no extra round trip.
    params["options"] = f"{params.get('options') or ''} -c statement_timeout={timeout_ms}".strip()
    params.setdefault("application_name", "synthmon")
    return {k: v for k, v in params.items() if v is not None}


async def _open(check: PostgresCheck, params: dict[str, Any], result: ProbeResult, deadline: float,
                redact: Redactor) -> psycopg.AsyncConnection[Any] | None:
    """Time the socket connect ourselves, then let libpq connect and authenticate (phase `auth`)."""
    import psycopg

    host = params.get("hostaddr") or params.get("host")
    connect_ms = 0.0
    if host:
        address = await _connect_socket(check, str(host), params["port"], result, deadline)
        if address is None:
            return None
        if not str(host).startswith("/"):
            params["hostaddr"] = address  # libpq connects where we measured; `host` stays for TLS
        connect_ms = result.phases_ms["connect"]
    remaining = deadline - asyncio.get_running_loop().time()
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout_at(deadline):
            conn = await psycopg.AsyncConnection.connect(
                **params, autocommit=True, prepare_threshold=None,
                connect_timeout=max(2, math.ceil(remaining)))
    except TimeoutError:
        # DESIGN.md: connected but not answered in time is `timeout`; `connect_timeout` is no TCP
        # connection (only claimed when libpq made the connection itself, unmeasured).
        _timed_out(check, result, f"connected in {connect_ms:.1f} ms, but PostgreSQL did not finish "
                                  f"startup and authentication within {check.timeout_s:g} s",
                   "timeout" if "connect" in result.phases_ms else "connect_timeout")
        return None
    except psycopg.Error as exc:
        cls, sqlstate = _classify_connect_error(str(exc))
        if cls == "connect_timeout" and "connect" in result.phases_ms:
            cls = "timeout"  # libpq's connect_timeout, after our TCP connect succeeded
        if sqlstate:
            result.details["sqlstate"] = sqlstate
        result.fail(cls, redact.text(_first_line(str(exc))), diagnose(cls, check.target))
        return None
    result.phases_ms["auth"] = max(0.0, (time.perf_counter() - t0) * 1000 - connect_ms)
    result.details["server_version"] = conn.info.server_version
    return conn


async def _connect_socket(check: PostgresCheck, host: str, port: int, result: ProbeResult,
                          deadline: float) -> str | None:
    """Resolve and connect one socket; phase `connect`. The address connected to, or None (failed)."""
    loop = asyncio.get_running_loop()
    if host.startswith("/"):  # a unix socket directory, as Cloud SQL's /cloudsql/PROJECT:REGION:INSTANCE
        targets: list[tuple[socket.AddressFamily, Any]] = [(socket.AF_UNIX, f"{host}/.s.PGSQL.{port}")]
    else:
        try:
            t0 = time.perf_counter()
            async with asyncio.timeout_at(deadline):
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            result.details["dns_ms"] = round((time.perf_counter() - t0) * 1000, 3)
        except (OSError, TimeoutError) as exc:
            what = "did not resolve in time" if isinstance(exc, TimeoutError) else neterrors.describe(exc)
            result.fail("dns", f"{host}: {what}", diagnose("dns", check.target))
            return None
        targets = [(family, addr) for family, _, _, _, addr in infos]
    error: OSError | None = None
    for family, addr in targets:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            t0 = time.perf_counter()
            async with asyncio.timeout_at(deadline):
                await loop.sock_connect(sock, addr)
            result.phases_ms["connect"] = (time.perf_counter() - t0) * 1000
            address = addr if isinstance(addr, str) else str(addr[0])
            result.details["address"] = address
            return address
        except TimeoutError:
            result.fail("connect_timeout", f"no connection to {addr} within {check.timeout_s:g} s",
                        diagnose("connect_timeout", check.target))
            return None
        except OSError as exc:
            error = exc
        finally:
            sock.close()
    assert error is not None  # getaddrinfo returns at least one address or raises
    cls = neterrors.classify(error) or "connect_refused"  # e.g. ENOENT: no socket file, no server
    result.fail(cls, neterrors.describe(error), diagnose(cls, check.target))
    return None


async def _measure(check: PostgresCheck, conn: psycopg.AsyncConnection[Any], result: ProbeResult,
                   deadline: float, redact: Redactor) -> None:
    """Run the queries under the deadline; a query error is `db_error` with its SQLSTATE."""
    import psycopg

    samples: list[float] = []
    task = asyncio.create_task(_queries(check, conn, result, samples))
    try:
        await asyncio.wait({task}, timeout=max(0.0, deadline - asyncio.get_running_loop().time()))
    finally:
        if not task.done():
            # Cancelled mid-query, psycopg sends a cancel request and waits up to 5 s for the
            # server; closing the connection first makes the cancellation immediate.
            conn.pgconn.finish()
            task.cancel()
            await asyncio.wait({task})
    step = "the canary query" if "query" in result.phases_ms else "SELECT 1"
    if task.cancelled():
        if samples and "query" not in result.phases_ms:
            _record_samples(check, result, samples)
        _timed_out(check, result, f"{step} did not answer within {check.timeout_s:g} s", "timeout")
        return
    exc = task.exception()
    if isinstance(exc, psycopg.Error):
        if exc.sqlstate:
            result.details["sqlstate"] = exc.sqlstate
        message = exc.diag.message_primary or _first_line(str(exc))
        result.fail("db_error", redact.text(f"{step}: {message}"), diagnose("db_error", check.target))
    elif exc is not None:
        raise exc


async def _queries(check: PostgresCheck, conn: psycopg.AsyncConnection[Any], result: ProbeResult,
                   samples: list[float]) -> None:
    """`samples` × `SELECT 1` (phase `query`, the VPC round trip), then the canary query."""
    async with conn.cursor() as cur:
        for _ in range(check.samples):
            t0 = time.perf_counter()
            await cur.execute("SELECT 1")
            samples.append((time.perf_counter() - t0) * 1000)
        _record_samples(check, result, samples)
        if check.query:
            t0 = time.perf_counter()
            await cur.execute(check.query)
            result.details["canary_ms"] = round((time.perf_counter() - t0) * 1000, 3)
            result.details["rows"] = cur.rowcount


def _record_samples(check: PostgresCheck, result: ProbeResult, samples: list[float]) -> None:
    median = statistics.median(samples)
    result.phases_ms["query"] = median
    result.details.update(
        samples=len(samples), query_min_ms=round(min(samples), 3), query_median_ms=round(median, 3),
        query_max_ms=round(max(samples), 3), vpc_rtt_ms=round(median, 3),
        vpc_latency_threshold_ms=check.vpc_latency_threshold_ms,
        vpc_over_threshold=_over(check, median),
    )


def _over(check: PostgresCheck, rtt_ms: float) -> bool:
    return check.vpc_latency_threshold_ms is not None and rtt_ms > check.vpc_latency_threshold_ms


def _timed_out(check: PostgresCheck, result: ProbeResult, message: str, cls: str) -> None:
    """Fail a step that outlived the deadline; blame the network when its round trip was over threshold.

    A saturated connector makes every round trip slow, so startup (3-4 round trips) or the samples
    can exhaust the deadline: the evidence is the median `SELECT 1` if any finished, else the
    TCP connect, which through a router-style connector is one round trip as well.
    """
    rtt = result.details.get("vpc_rtt_ms", result.phases_ms.get("connect"))
    if rtt is not None and _over(check, rtt):
        result.details["vpc_over_threshold"] = True
        result.fail("vpc_latency", f"network round trip {rtt:.1f} ms is over the "
                                   f"{check.vpc_latency_threshold_ms:g} ms threshold; {message}",
                    diagnose("vpc_latency", check.target))
    result.fail(cls, message, diagnose(cls, check.target))


def _judge(check: PostgresCheck, result: ProbeResult) -> None:
    """Expectations, most decisive first: canary rows, the VPC round trip, then query latency.

    A slow network makes every query slow, so an over-threshold round trip is reported as
    `vpc_latency` rather than a latency `assertion` that would send on-call to the database.
    """
    d, expect = result.details, check.expect
    if check.query and expect.rows is not None and d.get("rows") != expect.rows:
        result.fail("assertion", f"canary query returned {d.get('rows')} rows, expected {expect.rows}",
                    diagnose("assertion", check.target))
    latency = d.get("canary_ms") if check.query else result.phases_ms.get("query")
    slow = expect.max_latency_ms is not None and latency is not None and latency > expect.max_latency_ms
    if d.get("vpc_over_threshold"):
        extra = f"; {'canary' if check.query else 'query'} took {latency:.1f} ms" if slow else ""
        result.fail("vpc_latency", f"median SELECT 1 round trip {d['vpc_rtt_ms']:.1f} ms is over the "
                                   f"{check.vpc_latency_threshold_ms:g} ms threshold{extra}",
                    diagnose("vpc_latency", check.target))
    if slow:
        result.fail("assertion", f"{'canary query' if check.query else 'SELECT 1 (median)'} took "
                                 f"{latency:.1f} ms, over max_latency_ms {expect.max_latency_ms:g}",
                    diagnose("assertion", check.target))


def _classify_connect_error(message: str) -> tuple[str, str | None]:
    for cls, sqlstate, pattern in _CONNECT_ERRORS:
        if pattern.search(message):
            return cls, sqlstate
    return "db_error", None


def _first_line(text: str) -> str:
    return clip((text.strip().splitlines() or [""])[0], 300)
