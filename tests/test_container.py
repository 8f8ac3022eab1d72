"""The container's build steps and start command, run for real on the host (no container engine here).

The Dockerfile's own commands are read from the Dockerfile: build the wheel, list every module from
the source, install the wheel into a fresh virtualenv with only its declared dependencies (from a
local wheelhouse, filled from the package index on first use), import everything listed, then start
the exact CMD and call /healthz and a dry-run /probe. A copy of the tree with a module left out of the
package, or a library left out of the dependencies, must fail these same steps.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from service_target import Process, Target, free_port, serving, wait_http, write_config

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
IMPORTCHECK = ROOT / "tests" / "image" / "importcheck.py"
WHEELHOUSE = Path(os.environ.get("SYNTHMON_WHEELHOUSE", Path.home() / ".cache" / "synthmon" / "wheelhouse"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _instructions(kind: str) -> list[str]:
    """Dockerfile instructions of `kind` (RUN, CMD...), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    return [line.split(None, 1)[1] for line in text.splitlines() if line.split(None, 1)[:1] == [kind]]


def _step(marker: str) -> str:
    """The one `&&`-separated command of a RUN instruction that contains `marker`."""
    found = [part.strip() for run in _instructions("RUN") for part in run.split("&&") if marker in part]
    assert len(found) == 1, f"the Dockerfile should run exactly one command with {marker!r}: {found}"
    return found[0]


def _sh(cmd: str, cwd: Path, path: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", cmd], cwd=cwd, capture_output=True, text=True, check=check, timeout=600,
                          env={"PATH": path, "HOME": str(cwd), "PIP_DISABLE_PIP_VERSION_CHECK": "1"})


def _copy_tree(dst: Path) -> Path:
    dst.mkdir()
    for name in ("pyproject.toml", "README.md"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, dst / name)
    for pkg in ("monitor", "probes"):
        shutil.copytree(ROOT / pkg, dst / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dst


def _build(src: Path, work: Path) -> tuple[Path, Path]:
    """The build stage: wheel and modules.txt, by the Dockerfile's own commands, in `work`/dist."""
    dist = work / "dist"
    dist.mkdir(parents=True)
    wheel_cmd = _step("pip wheel").replace("/dist", str(dist))
    _sh(wheel_cmd, src, f"{BIN}:/usr/bin:/bin")
    list_cmd = _step("importcheck.py list").replace("/dist/importcheck.py", str(IMPORTCHECK)).replace(
        "/dist/", f"{dist}/")
    _sh(list_cmd, src, f"{BIN}:/usr/bin:/bin")
    [wheel] = dist.glob("synthmon-*.whl")
    return wheel, dist / "modules.txt"


def _install(wheel: Path, venv: Path) -> Path:
    """A fresh virtualenv with the wheel and its declared dependencies only; returns its bin dir."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", str(venv / "bin" / "python"),
           "install", "-q", "--no-index", "--find-links", str(WHEELHOUSE), str(wheel)]
    if subprocess.run(pip, capture_output=True, timeout=600).returncode != 0:
        # First use on this machine, or a new dependency: fetch the wheels once, then offline again.
        WHEELHOUSE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check",
                        "--find-links", str(WHEELHOUSE), "-w", str(WHEELHOUSE), str(wheel)], check=True, timeout=600)
        for stale in WHEELHOUSE.glob("synthmon-*.whl"):
            stale.unlink()
        subprocess.run(pip, check=True, timeout=600)
    return venv / "bin"


def _import_check(bin_dir: Path, modules: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    cmd = _step("importcheck.py check").replace("/tmp/dist/importcheck.py", str(IMPORTCHECK)).replace(
        "/tmp/dist/modules.txt", str(modules))
    return _sh(cmd, cwd, f"{bin_dir}:/usr/bin:/bin", check=False)


def _start(bin_dir: Path, config: Path, cwd: Path) -> tuple[Process, str]:
    """The Dockerfile's CMD, exactly, with the env Cloud Run gives (PORT) and a loopback bind for the test."""
    [cmd] = _instructions("CMD")
    argv = json.loads(cmd)
    port = free_port()
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(cwd), "PORT": str(port),
           "SYNTHMON_BIND_HOST": "127.0.0.1", "SYNTHMON_CONFIG": str(config)}
    return Process(argv, cwd=cwd, env=env), f"http://127.0.0.1:{port}"


def _status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


@pytest.fixture
def target() -> Target:
    with serving() as t:
        t.release.set()
        yield t


def test_dockerfile_cmd_serves_from_a_fresh_install(tmp_path: Path, target: Target) -> None:
    """Wheel + declared deps only: every module imports, and the exact CMD answers /healthz and a dry-run /probe."""
    wheel, modules = _build(_copy_tree(tmp_path / "src"), tmp_path)
    bin_dir = _install(wheel, tmp_path / "venv")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    checked = _import_check(bin_dir, modules, run_dir)
    assert checked.returncode == 0, checked.stderr
    listed = modules.read_text().split()
    assert {"monitor.app", "monitor.serve", "probes.http", "probes.websocket", "probes.postgres"} <= set(listed)
    proc, base = _start(bin_dir, write_config(run_dir, target, hold=False), run_dir)
    try:
        wait_http(base + "/healthz", proc=proc)
        with urllib.request.urlopen(base + "/probe?check=web&check=down&publish=0", timeout=30) as resp:
            report = json.load(resp)
        assert [(r["name"], r["ok"]) for r in report["results"]] == [("web", True), ("down", False)]
        assert not (run_dir / "state" / "results.jsonl").exists()  # dry run
    finally:
        assert proc.stop() == 0


BROKEN = {
    "probes left out of the package": ('packages = ["monitor", "monitor.pages", "monitor.schema", "monitor.sinks", "probes"]',
                                       'packages = ["monitor", "monitor.pages", "monitor.schema", "monitor.sinks"]', "probes"),
    "prometheus-client left out of the dependencies": ('"prometheus-client>=0.19,<1",', "", "prometheus_client"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_module_imported_but_not_shipped_fails_the_build(tmp_path: Path, target: Target, case: str) -> None:
    """A tree that imports what its wheel does not ship fails the image's import step, naming the module."""
    old, new, missing = BROKEN[case]
    src = _copy_tree(tmp_path / "src")
    pyproject = (src / "pyproject.toml").read_text()
    assert old in pyproject, "the test's edit no longer applies to pyproject.toml"
    (src / "pyproject.toml").write_text(pyproject.replace(old, new))
    wheel, modules = _build(src, tmp_path)
    bin_dir = _install(wheel, tmp_path / "venv")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    checked = _import_check(bin_dir, modules, run_dir)
    assert checked.returncode == 1
    assert f"cannot import {missing}" in checked.stderr
    if missing != "probes":
        return
    # Without the import step, the start command is what would fail: the worker cannot boot, so the
    # revision never becomes ready (and never serves a misleading /healthz).
    proc, base = _start(bin_dir, write_config(run_dir, target, hold=False), run_dir)
    try:
        with pytest.raises(AssertionError, match="process exited with"):
            wait_http(base + "/healthz", proc=proc)
        assert any("No module named 'probes'" in line for line in proc.lines)
    finally:
        proc.stop()
