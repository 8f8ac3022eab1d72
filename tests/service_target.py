"""A loopback HTTP target and a matching config for the service tests: counts every hit, and `/hold`
answers only once released, so a test can keep a check in flight without sleeping."""

from __future__ import annotations

import collections
import contextlib
import http.server
import json
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class Target:
    def __init__(self) -> None:
        self.hits: collections.Counter[str] = collections.Counter()
        self.entered = threading.Event()  # a /hold request has arrived
        self.release = threading.Event()
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                target.hits[self.path] += 1
                status = {"/ok": 200, "/down": 503}.get(self.path, 200)
                if self.path == "/hold":
                    target.entered.set()
                    target.release.wait(30)
                body = b'{"status":"ok"}' if status == 200 else b"upstream unavailable"
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the prober gave up first
                    pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def total(self) -> int:
        return sum(self.hits.values())

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@contextlib.contextmanager
def serving() -> Iterator[Target]:
    t = Target()
    try:
        yield t
    finally:
        t.close()


def write_config(tmp: Path, target: Target, *, hold: bool = True) -> Path:
    """Checks `web` (200), `down` (503) and, with `hold`, `held` (answers once released)."""
    state = tmp / "state"
    held = f"""
  - name: held
    type: http
    url: {target.url}/hold
    timeout_s: 20
""" if hold else ""
    text = f"""location: test-loopback
run_timeout_s: 30
sinks:
  metrics: [local, prometheus]
  alerts: [local]
  state: sqlite:///{state}/state.db
  results_file: {state}/results.jsonl
  alerts_file: {state}/alerts.jsonl
defaults: {{timeout_s: 5, failure_threshold: 1, retries: 0}}
checks:
  - name: web
    type: http
    url: {target.url}/ok
    expect: {{status: [200], body_contains: '"status"'}}
  - name: down
    type: http
    url: {target.url}/down
{held}"""
    path = tmp / "synthmon.yaml"
    path.write_text(text)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout_s: float = 30.0, proc: Any = None) -> float:
    """Poll `url` until it answers 200; returns the seconds waited. Fails early if `proc` exits."""
    started = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return time.monotonic() - started
        except urllib.error.HTTPError as exc:
            exc.close()  # not ready yet; an unclosed error response leaks its socket
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if proc is not None and (proc.proc if isinstance(proc, Process) else proc).poll() is not None:
            out = "\n".join(proc.lines[-30:]) if isinstance(proc, Process) else ""
            code = (proc.proc if isinstance(proc, Process) else proc).poll()
            raise AssertionError(f"process exited with {code} before {url} answered:\n{out}")
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"{url} did not answer 200 within {timeout_s} s")
        time.sleep(0.02)  # polling interval, not a wait for an outcome


class Process:
    """A child process whose stdout and stderr lines are collected as they come, for polling."""

    def __init__(self, argv: list[str], **kwargs: Any) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_line(self, pred: Any, timeout_s: float = 20.0, count: int = 1) -> list[str]:
        """Wait until `count` output lines satisfy `pred`; returns them."""
        with self._cond:
            ok = self._cond.wait_for(lambda: len([x for x in self.lines if pred(x)]) >= count, timeout_s)
            found = [x for x in self.lines if pred(x)]
        assert ok, f"expected {count} matching line(s) within {timeout_s} s; output:\n" + "\n".join(self.lines[-40:])
        return found

    def json_lines(self) -> list[dict[str, Any]]:
        out = []
        with self._cond:
            lines = list(self.lines)
        for line in lines:
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def stop(self, timeout_s: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(5)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code
