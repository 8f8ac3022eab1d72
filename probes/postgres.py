"""PostgreSQL probe: succeeds when a connection authenticates and `SELECT 1` round trips, the canary query and the network round trip estimate all meet the check's expectations."""

from __future__ import annotations

import asyncio
import math
import socket
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from probes import errors, pgdial, vpc_connector
from probes.checks import PostgresCheck
from probes.redact import Redactor, clip, dsn_password
from probes.result import ProbeResult

if TYPE_CHECKING:
    import psycopg

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
                                       "(`synthmon validate` says which check)")
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
    """Resolve the name ourselves (so `dns` is ours and timed), then let libpq dial each address
    once, in order, timing its TCP connect (phase `connect`) and the rest (phase `auth`).

    One dial per probe: a throwaway socket to time the connect would double the connections a
    Cloud SQL Auth Proxy or pgbouncer in front of the database accepts.
    """
    import psycopg

    host = str(params.get("host") or "")
    unix = host.startswith("/")
    if host and not unix and not params.get("hostaddr"):
        addresses = await _resolve(check, host, params["port"], result, deadline)
        if addresses is None:
            return None
        # `host` stays the name for TLS verification; libpq tries the addresses in order.
        params.update(hostaddr=",".join(addresses), host=",".join([host] * len(addresses)),
                      port=",".join([str(params["port"])] * len(addresses)))
    remaining = deadline - asyncio.get_running_loop().time()
    dials: list[list[float | None]] = []
    try:
        async with asyncio.timeout_at(deadline):
            conn = await pgdial.connect(dials, **params, connect_timeout=max(2, math.ceil(remaining)))
    except TimeoutError:
        # Connected but not answered in time is `timeout`; no TCP connection is `connect_timeout`.
        connect_ms = _connect_phase(result, dials)
        if connect_ms is None:
            result.fail("connect_timeout", f"no connection within {check.timeout_s:g} s")
        _timed_out(check, result, f"connected in {connect_ms or 0:.1f} ms, but PostgreSQL did not finish "
                                  f"startup and authentication within {check.timeout_s:g} s", "timeout")
        return None
    except psycopg.Error as exc:
        connect_ms = _connect_phase(result, dials)
        cls, sqlstate = errors.pg_connect_class(str(exc))
        if cls == "connect_timeout" and connect_ms is not None:
            cls = "timeout"  # libpq's connect_timeout, after TCP was up
        if sqlstate:
            result.details["sqlstate"] = sqlstate
        result.fail(cls, redact.text(_first_line(str(exc))))
        return None
    connect_ms = _connect_phase(result, dials) or 0.0
    started = dials[-1][0] if dials else None
    if started is not None:
        result.phases_ms["auth"] = max(0.0, (time.perf_counter() - started) * 1000 - connect_ms)
    result.details["address"] = (f"{host}/.s.PGSQL.{params['port']}" if unix
                                 else conn.info.hostaddr or host)
    result.details["server_version"] = conn.info.server_version
    return conn


def _connect_phase(result: ProbeResult, dials: list[list[float | None]]) -> float | None:
    """Record phase `connect` from the last dial, when its TCP connection was up; its ms or None."""
    if not dials or dials[-1][1] is None:
        return None
    started, up = dials[-1]
    assert started is not None and up is not None
    result.phases_ms["connect"] = (up - started) * 1000
    return result.phases_ms["connect"]


async def _resolve(check: PostgresCheck, host: str, port: int, result: ProbeResult,
                   deadline: float) -> list[str] | None:
    """The host's addresses in resolver order, timed as `details.dns_ms`; None (failed `dns`)."""
    try:
        t0 = time.perf_counter()
        async with asyncio.timeout_at(deadline):
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        result.details["dns_ms"] = round((time.perf_counter() - t0) * 1000, 3)
    except (OSError, TimeoutError) as exc:
        what = "did not resolve in time" if isinstance(exc, TimeoutError) else errors.describe(exc)
        result.fail("dns", f"{host}: {what}")
        return None
    return list(dict.fromkeys(str(addr[0]) for *_, addr in infos))


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
        result.fail("db_error", redact.text(f"{step}: {message}"))
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
                                   f"{check.vpc_latency_threshold_ms:g} ms threshold; {message}")
    result.fail(cls, message)


def _judge(check: PostgresCheck, result: ProbeResult) -> None:
    """Expectations, most decisive first: canary rows, the VPC round trip, then query latency.

    A slow network makes every query slow, so an over-threshold round trip is reported as
    `vpc_latency` rather than a latency `assertion` that would send on-call to the database.
    """
    d, expect = result.details, check.expect
    if check.query and expect.rows is not None and d.get("rows") != expect.rows:
        result.fail("assertion", f"canary query returned {d.get('rows')} rows, expected {expect.rows}")
    latency = d.get("canary_ms") if check.query else result.phases_ms.get("query")
    slow = expect.max_latency_ms is not None and latency is not None and latency > expect.max_latency_ms
    if d.get("vpc_over_threshold"):
        extra = f"; {'canary' if check.query else 'query'} took {latency:.1f} ms" if slow else ""
        result.fail("vpc_latency", f"median SELECT 1 round trip {d['vpc_rtt_ms']:.1f} ms is over the "
                                   f"{check.vpc_latency_threshold_ms:g} ms threshold{extra}")
    if slow:
        result.fail("assertion", f"{'canary query' if check.query else 'SELECT 1 (median)'} took "
                                 f"{latency:.1f} ms, over max_latency_ms {expect.max_latency_ms:g}")


def _first_line(text: str) -> str:
    return clip((text.strip().splitlines() or [""])[0], 300)
