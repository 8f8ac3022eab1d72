"""Without the Cloud SDK emulators a local run falls back or skips; under CI=true it fails loudly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
PROBE = '''
from fakes.emulators import firestore_emulator, pubsub_emulator  # noqa: F401


def test_pubsub(pubsub_emulator):
    assert pubsub_emulator is None


def test_firestore(firestore_emulator):
    pass
'''


def _pytest(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_needs_emulators.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(PYTHONPATH=str(TESTS), SYNTHMON_CLOUD_SDK_PLATFORM=str(tmp_path / "no-sdk"))
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfEs",
                           "test_needs_emulators.py"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.slow
def test_without_emulators_pubsub_falls_back_and_firestore_skips(tmp_path: Path) -> None:
    """Locally: the Pub/Sub fixture yields None (the fake is used), the Firestore tests are skipped."""
    done = _pytest(tmp_path, None)
    assert done.returncode == 0, done.stdout
    assert "1 passed, 1 skipped" in done.stdout


@pytest.mark.slow
def test_under_ci_a_missing_emulator_fails(tmp_path: Path) -> None:
    """CI=true: every test that needs a missing emulator fails, naming the path it looked at."""
    done = _pytest(tmp_path, "true")
    assert done.returncode == 1, done.stdout
    assert "2 errors" in done.stdout
    assert f"CI=true but the Cloud SDK component pubsub-emulator is not installed at {tmp_path / 'no-sdk'}" \
        in done.stdout
    assert "Cloud SDK component cloud-firestore-emulator is not installed" in done.stdout
