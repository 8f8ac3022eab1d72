"""A throwaway PostgreSQL on loopback for the benchmarks (the test suite's fixture, without pytest).

Binaries from PATH, else Debian's /usr/lib/postgresql/*/bin; run as `postgres` when we are root;
data on tmpfs with fsync off. Role/database `probe` with a SCRAM password.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

SUPERUSER_PASSWORD = "bench-superuser-pw"
PROBE_PASSWORD = "bench-probe-pw"


def find_bin_dir() -> Path | None:
    on_path = shutil.which("initdb")
    if on_path and shutil.which("postgres", path=str(Path(on_path).resolve().parent)):
        return Path(on_path).resolve().parent
    if on_path:
        return Path(on_path).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: p.split("/")[-3].zfill(4))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    def __init__(self, bin_dir: Path) -> None:
        parent = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        self.base = Path(tempfile.mkdtemp(prefix="synthmon-bench-pg-", dir=parent))
        self.port = _free_port()
        self.bin_dir = bin_dir
        self.proc: subprocess.Popen[bytes] | None = None
        run_as: dict[str, Any] = {"user": "postgres"} if os.geteuid() == 0 else {}
        pwfile = self.base / "pwfile"
        pwfile.write_text(SUPERUSER_PASSWORD + "\n")
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for path in (self.base, pwfile):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        subprocess.run([str(bin_dir / "initdb"), "-D", str(self.base / "data"), "-U", "postgres", "-E", "UTF8",
                        "--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"],
                       capture_output=True, cwd=self.base, check=True, **run_as)
        settings = {"listen_addresses": "127.0.0.1", "port": str(self.port), "unix_socket_directories": str(self.base),
                    "fsync": "off", "synchronous_commit": "off", "max_connections": "20", "ssl": "off"}
        args = [str(bin_dir / "postgres"), "-D", str(self.base / "data")]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        with open(self.base / "postgres.log", "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.base, **run_as)
        self._setup()

    def _setup(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                                       password=SUPERUSER_PASSWORD, dbname="postgres", autocommit=True)
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline or (self.proc and self.proc.poll() is not None):
                    raise
                time.sleep(0.05)
        with conn:
            conn.execute(f"CREATE ROLE probe LOGIN PASSWORD '{PROBE_PASSWORD}'")
            conn.execute("CREATE DATABASE probe OWNER probe")

    def dsn(self, port: int | None = None) -> str:
        return f"postgresql://probe:{PROBE_PASSWORD}@127.0.0.1:{port or self.port}/probe?sslmode=disable"

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.base, ignore_errors=True)
