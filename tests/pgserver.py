"""A throwaway PostgreSQL server on loopback for tests, and a latency proxy in front of it.

The server comes from the machine: `initdb`/`postgres` on PATH, else Debian's
/usr/lib/postgresql/*/bin. When tests run as root it runs as the `postgres` user (PostgreSQL
refuses to run as root). Data lives on tmpfs when there is one, with fsync off.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from latency_proxy import LatencyProxy

SUPERUSER = "postgres"
SUPERUSER_PASSWORD = "superuser-pw-5e1f"
PROBE_USER = "probe"
PROBE_PASSWORD = "probe-pw-8c2d71"
PROBE_DB = "probe"


def find_bin_dir() -> Path:
    """The directory holding `initdb` and `postgres`: PATH first, then Debian's layout."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("postgres", path=str(Path(on_path).resolve().parent)):
        return Path(on_path).resolve().parent
    if on_path:
        return Path(on_path).parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                            key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0,
                            reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    pytest.fail("PostgreSQL server binaries not found: `initdb` is not on PATH and there is no "
                "/usr/lib/postgresql/*/bin/initdb; install them (Debian: apt-get install postgresql)",
                pytrace=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclasses.dataclass
class PgServer:
    """A running PostgreSQL on 127.0.0.1:`port` with a SCRAM-authenticated role `probe`."""

    bin_dir: Path
    base: Path
    port: int
    host: str = "127.0.0.1"
    user: str = PROBE_USER
    password: str = PROBE_PASSWORD
    dbname: str = PROBE_DB
    proc: subprocess.Popen[bytes] | None = None

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def log(self) -> Path:
        return self.base / "postgres.log"

    @property
    def socket_dir(self) -> str:
        return str(self.base)

    def dsn(self, host: str | None = None, port: int | None = None, password: str | None = None) -> str:
        pw = self.password if password is None else password
        return (f"postgresql://{self.user}:{pw}@{host or self.host}:{port or self.port}/{self.dbname}"
                "?sslmode=disable")

    def _run_as(self) -> dict[str, str]:
        return {"user": SUPERUSER} if os.geteuid() == 0 else {}

    def init(self) -> None:
        pwfile = self.base / "pwfile"
        pwfile.write_text(SUPERUSER_PASSWORD + "\n")
        if os.geteuid() == 0:
            pw = pwd.getpwnam(SUPERUSER)
            for path in (self.base, pwfile):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        out = subprocess.run(
            [str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "-E", "UTF8",
             "--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"],
            capture_output=True, cwd=self.base, check=False, **self._run_as())  # type: ignore[call-overload]
        if out.returncode != 0:
            pytest.fail(f"initdb failed ({out.returncode}):\n{out.stdout.decode()}{out.stderr.decode()}",
                        pytrace=False)

    def start(self, timeout_s: float = 30.0) -> None:
        """Start the postmaster and poll until it accepts an authenticated connection."""
        import psycopg

        settings = {
            "listen_addresses": self.host, "port": str(self.port),
            "unix_socket_directories": self.socket_dir, "fsync": "off", "synchronous_commit": "off",
            "full_page_writes": "off", "max_connections": "20", "shared_buffers": "16MB",
            "logging_collector": "off", "log_min_messages": "warning", "ssl": "off",
        }
        args = [str(self.bin_dir / "postgres"), "-D", str(self.data)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.base,
                                         **self._run_as())
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"postgres exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}",
                            pytrace=False)
            try:
                psycopg.connect(host=self.host, port=self.port, user=SUPERUSER, password=SUPERUSER_PASSWORD,
                                dbname="postgres", connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"postgres not ready after {timeout_s} s:\n{self.log.read_text()[-3000:]}",
                                pytrace=False)
                time.sleep(0.02)

    def create_probe_role(self) -> None:
        import psycopg

        with psycopg.connect(host=self.host, port=self.port, user=SUPERUSER, password=SUPERUSER_PASSWORD,
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {PROBE_USER} LOGIN PASSWORD '{PROBE_PASSWORD}'")
            conn.execute(f"CREATE DATABASE {PROBE_DB} OWNER {PROBE_USER}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT): clients are disconnected, the port closes."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """The server is down inside the block and up again (same port, same data) after it."""
        self.stop()
        try:
            yield
        finally:
            self.start()


def start_server() -> PgServer:
    bin_dir = find_bin_dir()
    parent = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    base = Path(tempfile.mkdtemp(prefix="synthmon-pg-", dir=parent))
    server = PgServer(bin_dir=bin_dir, base=base, port=free_port())
    try:
        server.init()
        server.start()
        server.create_probe_role()
    except BaseException:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
        raise
    return server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """PostgreSQL 15 on 127.0.0.1 for the whole session; role/db `probe` with a SCRAM password."""
    server = start_server()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.base, ignore_errors=True)


@pytest.fixture
def pg_proxy(pg_server: PgServer) -> Iterator[LatencyProxy]:
    """A latency proxy in front of `pg_server` (no delay until the test sets one)."""
    with LatencyProxy(pg_server.host, pg_server.port) as proxy:
        yield proxy
