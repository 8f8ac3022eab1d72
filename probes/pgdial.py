"""libpq's own connect, timing when each dial's TCP connection is up, so that the PostgreSQL probe
measures its `connect` phase on the one connection it uses (no throwaway socket first)."""

from __future__ import annotations

import contextvars
import functools
import os
import socket
import time
from typing import Any

# [started, TCP up or None] per address libpq dials, appended to the list `connect` was given.
Dial = list[float | None]
_DIALS: contextvars.ContextVar[list[Dial]] = contextvars.ContextVar("synthmon_pg_dials")


async def connect(dials: list[Dial], **params: Any) -> Any:
    """`psycopg.AsyncConnection.connect(**params)` in autocommit without prepared statements,
    recording each dial in `dials` (also when it fails)."""
    token = _DIALS.set(dials)
    try:
        return await _timed_connection().connect(**params, autocommit=True, prepare_threshold=None)
    finally:
        _DIALS.reset(token)


@functools.cache
def _timed_connection() -> type[Any]:
    # Imported here: psycopg costs ~175 ms of import that processes without a postgres check skip.
    import psycopg
    from psycopg import generators

    class TimedConnection(psycopg.AsyncConnection[Any]):
        """Wraps libpq's connect generator: its first wake-up on a socket that has a peer is the
        moment the TCP (or unix socket) connection is up."""

        @classmethod
        def _connect_gen(cls, conninfo: str = "") -> Any:
            dial: Dial = [time.perf_counter(), None]
            _DIALS.get([]).append(dial)
            gen = generators.connect(conninfo)
            wait = next(gen)
            try:
                while True:
                    ready = yield wait
                    if ready and dial[1] is None and _has_peer(wait[0]):
                        dial[1] = time.perf_counter()
                    wait = gen.send(ready)
            except StopIteration as done:
                return cls(done.value)

    return TimedConnection


def _has_peer(fd: int) -> bool:
    """Whether socket `fd` is connected, asked of a duplicate so that libpq's socket is untouched."""
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.getpeername()
    except OSError:
        return False
    return True
