"""Prometheus blackbox_exporter as the peer: install it if missing, run it on loopback, probe through it.

Its CPU is read from /proc/PID/stat, so the client that drives `/probe` is not counted against it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from io import BytesIO
from pathlib import Path

import pycurl

from bench import procstat

NAMES = ("prometheus-blackbox-exporter", "blackbox_exporter")
CONFIG = """\
modules:
  http_2xx:
    prober: http
    timeout: 10s
    http:
      preferred_ip_protocol: ip4
      tls_config:
        ca_file: {ca_file}
"""


def find() -> str | None:
    return next((p for p in map(shutil.which, NAMES) if p), None)


def ensure() -> tuple[str | None, str]:
    """The binary, installing Debian's package when it is missing; else None and why not."""
    path = find()
    if path:
        return path, ""
    if not shutil.which("apt-get"):
        return None, "blackbox_exporter is not installed and apt-get is not available"
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*sudo, "apt-get", "install", "-y", "-qq", "prometheus-blackbox-exporter"]
    print("bench: blackbox_exporter not found; installing prometheus-blackbox-exporter with apt-get", flush=True)
    done = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        subprocess.run([*sudo, "apt-get", "update", "-qq"], capture_output=True, env=env, check=False)
        done = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
    path = find()
    if path:
        return path, ""
    tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
    return None, f"apt-get install prometheus-blackbox-exporter failed ({done.returncode}): {tail[0]}"


def version(path: str) -> str:
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0].strip() if (out.stdout or out.stderr) else "unknown"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Blackbox:
    """A blackbox_exporter process on 127.0.0.1 with one `http_2xx` module trusting `ca_file`."""

    def __init__(self, path: str, directory: Path, ca_file: str) -> None:
        config = directory / "blackbox.yml"
        config.write_text(CONFIG.format(ca_file=ca_file))
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [path, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/healthy", timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("blackbox_exporter did not start") from None
                time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def probe_url(self, target: str) -> str:
        query = urllib.parse.urlencode({"target": target, "module": "http_2xx"})
        return f"http://127.0.0.1:{self.port}/probe?{query}"

    def probe(self, target: str) -> dict[str, float]:
        """One probe through `/probe`: probe_success, probe_duration_seconds and the phases, in ms."""
        with urllib.request.urlopen(self.probe_url(target), timeout=30) as r:
            return parse(r.read().decode())

    def cpu_s(self) -> float:
        return procstat.cpu_s(self.pid)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def parse(text: str) -> dict[str, float]:
    """`success`, `total_ms` and `phase_<name>_ms` from the exporter's metrics text."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("probe_success "):
            out["success"] = float(line.split()[1])
        elif line.startswith("probe_duration_seconds "):
            out["total_ms"] = float(line.split()[1]) * 1000
        elif line.startswith('probe_http_duration_seconds{phase="'):
            phase = line.split('"')[1]
            out[f"phase_{phase}_ms"] = float(line.split()[-1]) * 1000
    return out


def fetch_all(urls: list[str], concurrency: int) -> list[bytes]:
    """GET every URL, `concurrency` at a time, over kept-alive connections (libcurl's multi interface)."""
    multi = pycurl.CurlMulti()
    free = []
    for _ in range(concurrency):
        c = pycurl.Curl()
        c.setopt(pycurl.NOSIGNAL, 1)
        c.setopt(pycurl.TIMEOUT, 60)
        free.append(c)
    bodies: list[bytes] = [b""] * len(urls)
    pending = list(enumerate(urls))[::-1]
    active = 0
    while pending or active:
        while pending and free:
            i, url = pending.pop()
            c = free.pop()
            buf = BytesIO()
            c.setopt(pycurl.URL, url)
            c.setopt(pycurl.WRITEDATA, buf)
            c.slot = (i, buf)  # type: ignore[attr-defined]
            multi.add_handle(c)
            active += 1
        while multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
            pass
        multi.select(0.1)
        while True:
            queued, ok, failed = multi.info_read()
            for c in ok:
                i, buf = c.slot  # type: ignore[attr-defined]
                bodies[i] = buf.getvalue()
            for c, _code, _msg in failed:
                i, _buf = c.slot  # type: ignore[attr-defined]
                bodies[i] = b""
            for c in [*ok, *(f[0] for f in failed)]:
                multi.remove_handle(c)
                free.append(c)
                active -= 1
            if not queued:
                break
    for c in free:
        c.close()
    return bodies
