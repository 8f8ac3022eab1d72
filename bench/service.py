"""The synthmon service as the container runs it: the Dockerfile's gunicorn command, on loopback.

The command is read from the Dockerfile's CMD (JSON form), with `gunicorn` taken from the
virtualenv; PORT, SYNTHMON_BIND_HOST and SYNTHMON_CONFIG are set as Cloud Run would set them.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench import procstat

ROOT = Path(__file__).resolve().parent.parent
FALLBACK = ["gunicorn", "--config", "python:monitor.gunicorn_conf", "monitor.app:from_env()"]


def command() -> tuple[list[str], str]:
    """The gunicorn argv and where it came from ("Dockerfile CMD" or a fallback note)."""
    dockerfile = ROOT / "Dockerfile"
    argv, source = FALLBACK, "fallback (no JSON CMD in Dockerfile)"
    if dockerfile.exists():
        cmds = [line[4:].strip() for line in dockerfile.read_text().splitlines() if line.startswith("CMD ")]
        if cmds and cmds[-1].startswith("["):
            argv, source = json.loads(cmds[-1]), "Dockerfile CMD"
    bin_dir = Path(sys.executable).parent
    if (bin_dir / argv[0]).exists():
        argv = [str(bin_dir / argv[0]), *argv[1:]]
    return argv, source


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """gunicorn serving `config` from `directory`; `launched`/`ready` are perf_counter times."""

    def __init__(self, config: Path, directory: Path, env: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        argv, self.source = command()
        environ = {**os.environ, "PORT": str(self.port), "SYNTHMON_BIND_HOST": "127.0.0.1",
                   "SYNTHMON_CONFIG": str(config), **(env or {})}
        self.log = open(directory / "gunicorn.log", "ab")  # noqa: SIM115 - closed in close()
        self.launched = time.perf_counter()
        self.proc = subprocess.Popen(argv, cwd=directory, env=environ, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.get("/healthz", timeout=1)
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not answer /healthz; see {directory / 'gunicorn.log'}") from None
                time.sleep(0.01)
        self.ready = time.perf_counter()
        workers = procstat.children(self.proc.pid)
        if len(workers) != 1:
            raise RuntimeError(f"expected one gunicorn worker, found {len(workers)}")
        self.worker = workers[0]

    def request(self, method: str, path: str, timeout: float = 60) -> Any:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())

    def get(self, path: str, timeout: float = 60) -> Any:
        return self.request("GET", path, timeout)

    def rss_mib(self) -> float:
        return procstat.memory_kib(self.worker)["VmRSS"] / 1024

    def peak_rss_mib(self) -> float:
        return procstat.memory_kib(self.worker)["VmHWM"] / 1024

    def cpu_s(self) -> float:
        return procstat.cpu_s(self.worker)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
