"""A TCP proxy on loopback that delays each direction by a set time (a copy of the test suite's).

The bench runs it as its own process (`python -m bench.latency_proxy HOST PORT DELAY_MS`, which prints
its port and stops when its stdin closes) so that its CPU does not compete with the prober's GIL.
Delay is pure latency: each chunk is forwarded `delay` after it was read, in order.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from types import TracebackType


class LatencyProxy:
    """Forwards 127.0.0.1:`port` to `upstream`; `up_ms` client→server, `down_ms` server→client."""

    def __init__(self, upstream_host: str, upstream_port: int, *, up_ms: float = 0.0,
                 down_ms: float = 0.0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.up_ms = up_ms
        self.down_ms = down_ms
        self.blackhole = False  # accept, read and discard, never connect upstream
        self.blackhole_after: int | None = None  # swallow connections after this many were accepted
        self.host = "127.0.0.1"
        self.port = 0
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="latency-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def set_delay(self, up_ms: float, down_ms: float | None = None) -> None:
        """Delay per direction; `down_ms` defaults to `up_ms` (a round trip adds both)."""
        self.up_ms = up_ms
        self.down_ms = up_ms if down_ms is None else down_ms

    def start(self) -> LatencyProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> LatencyProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(self._spawn, self.host, 0)

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def _spawn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.get_running_loop().create_task(self._handle(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_writer: asyncio.StreamWriter | None = None
        try:
            if self.blackhole or (self.blackhole_after is not None and self.accepted > self.blackhole_after):
                while await reader.read(65536):
                    pass
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                return  # like a proxy whose backend is down: close the client's connection
            async with asyncio.TaskGroup() as group:
                group.create_task(self._pump(reader, up_writer, "up_ms"))
                group.create_task(self._pump(up_reader, writer, "down_ms"))
        except* OSError:
            pass  # a reset on either side ends the connection, as a real proxy would
        finally:
            for w in (writer, up_writer):
                if w is not None:
                    w.close()
                    try:
                        await w.wait_closed()
                    except OSError:
                        pass

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_attr: str) -> None:
        """Copy `reader` to `writer`, each chunk released `delay` after it arrived."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        sender = asyncio.get_running_loop().create_task(deliver())
        try:
            while True:
                data = await reader.read(65536)
                queue.put_nowait((time.monotonic() + getattr(self, delay_attr) / 1000.0, data))
                if not data:
                    break
            await sender
        finally:
            sender.cancel()


if __name__ == "__main__":
    host, port, delay_ms = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    with LatencyProxy(host, port, up_ms=delay_ms, down_ms=delay_ms) as proxy:
        print(proxy.port, flush=True)
        sys.stdin.read()
