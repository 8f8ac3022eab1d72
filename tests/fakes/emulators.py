"""Session fixtures for the Google Cloud SDK's Pub/Sub and Firestore emulators (Java, seconds to start).

Each is started once on a free loopback port, polled until it answers, and killed with its whole
process group at session end (the Firestore launcher does not exec its JVM).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

SDK = Path("/usr/lib/google-cloud-sdk/platform")
PUBSUB = SDK / "pubsub-emulator/bin/cloud-pubsub-emulator"
FIRESTORE = SDK / "cloud-firestore-emulator/cloud_firestore_emulator"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(argv: list[str], port: int, timeout_s: float = 60.0) -> Iterator[str]:
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    host = f"127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"{argv[0]} exited {proc.returncode}: {log.read()[-2000:]!r}")
            try:
                with urllib.request.urlopen(f"http://{host}/", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, OSError) as exc:
                if isinstance(exc, urllib.error.HTTPError):
                    exc.close()  # an unclosed error response leaks its socket
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{argv[0]} not ready within {timeout_s} s") from None
                time.sleep(0.05)  # polling interval, not a wait for readiness
        yield host
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[str | None]:
    """host:port of a running Pub/Sub emulator, or None when the SDK component is not installed."""
    if not PUBSUB.exists():
        yield None
        return
    port = _free_port()
    yield from _start([str(PUBSUB), "--host=127.0.0.1", f"--port={port}"], port)


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator[str]:
    """host:port of a running Firestore emulator; skips when it is absent (not in any package registry)."""
    if not FIRESTORE.exists():
        pytest.skip(f"Firestore emulator not installed at {FIRESTORE} (ships only with the Cloud SDK "
                    "component cloud-firestore-emulator; not installable from package registries)")
    port = _free_port()
    yield from _start([str(FIRESTORE), "start", "--host=127.0.0.1", f"--port={port}"], port)
