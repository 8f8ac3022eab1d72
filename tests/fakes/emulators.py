"""Session fixtures for the Google Cloud SDK's Pub/Sub and Firestore emulators (Java, seconds to start).

Each is started once on a free loopback port, polled until it answers, and killed with its whole
process group at session end (the Firestore launcher does not exec its JVM). Without the SDK
component, the Pub/Sub tests fall back to the fake Publisher and the Firestore tests are skipped;
under `CI=true` a missing emulator fails every test that needs it instead (a CI image without them
would otherwise pass on less than it claims).
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

SDK = Path(os.environ.get("SYNTHMON_CLOUD_SDK_PLATFORM", "/usr/lib/google-cloud-sdk/platform"))
PUBSUB = SDK / "pubsub-emulator/bin/cloud-pubsub-emulator"
FIRESTORE = SDK / "cloud-firestore-emulator/cloud_firestore_emulator"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _missing(path: Path, component: str) -> None:
    """Fail loudly under CI=true: there, an emulator missing from the image is a broken image."""
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"CI=true but the Cloud SDK component {component} is not installed at {path}: "
                    "install it in the CI image (the tests would otherwise fall back or skip)", pytrace=False)


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
    """host:port of a running Pub/Sub emulator, or None when the SDK component is not installed
    (the tests then use the fake Publisher; under CI=true they fail)."""
    if not PUBSUB.exists():
        _missing(PUBSUB, "pubsub-emulator")
        yield None
        return
    port = _free_port()
    yield from _start([str(PUBSUB), "--host=127.0.0.1", f"--port={port}"], port)


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator[str]:
    """host:port of a running Firestore emulator; skips when it is absent (not in any package registry),
    fails under CI=true."""
    if not FIRESTORE.exists():
        _missing(FIRESTORE, "cloud-firestore-emulator")
        pytest.skip(f"Firestore emulator not installed at {FIRESTORE} (ships only with the Cloud SDK "
                    "component cloud-firestore-emulator; not installable from package registries)")
    port = _free_port()
    yield from _start([str(FIRESTORE), "start", "--host=127.0.0.1", f"--port={port}"], port)
