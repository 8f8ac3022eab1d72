"""cloudbuild.yaml: step order (tests, build, gate, traffic), substitutions, and its deploy gate run
for real with `synthmon probe` against candidate services on loopback."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from werkzeug.serving import make_server

from monitor import config as config_mod
from monitor.app import create_app

ROOT = Path(__file__).resolve().parents[1]
BUILD = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text(encoding="utf-8"))
STEPS = {s["id"]: s for s in BUILD["steps"]}
ORDER = [s["id"] for s in BUILD["steps"]]
# Cloud Build's built-in substitutions (cloud.google.com/build/docs/configuring-builds/substitute-variable-values).
BUILTIN = {"PROJECT_ID", "PROJECT_NUMBER", "BUILD_ID", "LOCATION", "TRIGGER_NAME", "COMMIT_SHA", "REVISION_ID",
           "SHORT_SHA", "REPO_NAME", "REPO_FULL_NAME", "BRANCH_NAME", "TAG_NAME", "REF_NAME",
           "TRIGGER_BUILD_CONFIG_PATH", "SERVICE_ACCOUNT_EMAIL", "SERVICE_ACCOUNT"}
TOKEN = "eyJhbGciOiJSUzI1NiJ9.gate-test-token.signature"


def _script(step_id: str) -> str:
    step = STEPS[step_id]
    return " ".join(str(a) for a in step.get("args", []))


def _gate_config() -> str:
    """The gate's config as the gate step writes it: Cloud Build turns `$$` into `$`."""
    m = re.search(r"<<'YAML'\n(.*?)\nYAML\n", STEPS["gate"]["args"][-1], re.S)
    assert m, "gate step writes no config"
    return m.group(1).replace("$$", "$")


def test_steps_in_order() -> None:
    """Tests run before the image is built; the gate runs after the candidate deploy, before traffic."""
    assert ORDER.index("test") < ORDER.index("build") < ORDER.index("push") < ORDER.index("deploy-candidate")
    assert ORDER.index("deploy-candidate") < ORDER.index("gate") < ORDER.index("traffic")
    assert ORDER[-1] == "traffic"
    # Without waitFor every step waits for the previous one; "-" would start a step at once.
    assert not [s["id"] for s in BUILD["steps"] if "waitFor" in s]


def test_step_contents() -> None:
    """Each step does what its name says: make test, docker build/push, tagged no-traffic deploy,
    `synthmon probe` without publishing, update-traffic."""
    assert "make test" in _script("test")
    assert STEPS["build"]["args"][0] == "build" and STEPS["push"]["args"][0] == "push"
    image = STEPS["build"]["args"][2]
    assert STEPS["push"]["args"][1] == image and image in _script("deploy-candidate") and image in BUILD["images"]
    deploy = _script("deploy-candidate")
    assert "gcloud run deploy" in deploy and "--no-traffic" in deploy and '--tag "${_TAG}"' in deploy
    gate = _script("gate")
    assert re.search(r"/synthmon probe --config \S+ --no-publish", gate)
    assert "update-traffic" in _script("traffic") and "update-traffic" not in deploy + gate


def test_substitutions() -> None:
    """Project, region and repository are substitutions; every `$X` is declared, built in, or `$$`."""
    subs = BUILD["substitutions"]
    assert {"_PROJECT", "_REGION", "_REPOSITORY", "_SERVICE", "_DEPLOY_REGIONS"} <= set(subs)
    assert BUILD["options"]["dynamicSubstitutions"] is True
    text = (ROOT / "cloudbuild.yaml").read_text(encoding="utf-8")
    text = "\n".join(line.split(" #", 1)[0] for line in text.splitlines() if not line.lstrip().startswith("#"))
    refs = set(re.findall(r"(?<!\$)\$\{?([A-Za-z_][A-Za-z0-9_]*)", text.replace("$$", "")))
    assert refs <= BUILTIN | set(subs), sorted(refs - BUILTIN - set(subs))


def test_gate_config_is_valid() -> None:
    """The gate config loads with the real loader; the identity token is treated as a secret."""
    cfg = config_mod.loads(_gate_config(), "gate.yaml", {
        "CANDIDATE_URL": "https://candidate---synthmon-abc-uc.a.run.app", "ID_TOKEN": TOKEN,
        "GATE_QUERY": "check=backend-health&publish=0"})
    assert cfg.check_names == ("candidate-healthz", "candidate-probe-dry-run")
    assert TOKEN in cfg.secrets
    assert all(c.timeout_s <= cfg.run_timeout_s for c in cfg.checks)
    assert cfg.sinks.state == "memory://"


@contextlib.contextmanager
def _serving(app: Callable[..., Any]) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


class _Staging(http.server.BaseHTTPRequestHandler):
    """The staging the candidate probes, down: every request answers 503."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def staging_down() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Staging)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()
    server.server_close()
    thread.join()


def _run_gate(tmp_path: Path, candidate_url: str, gate_check: str) -> subprocess.CompletedProcess[str]:
    gate = tmp_path / "synthmon-gate.yaml"
    gate.write_text(_gate_config().replace("/workspace/gate/", f"{tmp_path}/"), encoding="utf-8")
    env = {**os.environ, "CANDIDATE_URL": candidate_url, "ID_TOKEN": TOKEN,
           "GATE_QUERY": f"check={gate_check}&publish=0"}
    return subprocess.run([sys.executable, "-m", "monitor", "probe", "--config", str(gate), "--no-publish",
                           "--format", "json"], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=60, check=False)


def _candidate_app(staging_url: str, tmp_path: Path) -> Any:
    cfg = config_mod.loads(yaml.safe_dump({
        "location": "test", "sinks": {"state": "memory://", "results_file": str(tmp_path / "r.jsonl"),
                                      "alerts_file": str(tmp_path / "a.jsonl")},
        "checks": [{"name": "backend-health", "type": "http", "url": staging_url, "timeout_s": 5}]}))
    return create_app(cfg)


def test_gate_passes_a_working_candidate_while_staging_is_down(tmp_path: Path, staging_down: str) -> None:
    """A healthy synthmon candidate passes the gate even though the staging it probes answers 503."""
    with _serving(_candidate_app(staging_down, tmp_path)) as url:
        proc = _run_gate(tmp_path, url, "backend-health")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert [r["ok"] for r in report["results"]] == [True, True]
    assert TOKEN not in proc.stdout + proc.stderr


def test_gate_stops_a_candidate_that_rejects_the_check(tmp_path: Path, staging_down: str) -> None:
    """A candidate whose config lacks the gate's check answers 400 and fails the gate (exit 1)."""
    with _serving(_candidate_app(staging_down, tmp_path)) as url:
        proc = _run_gate(tmp_path, url, "no-such-check")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failed = {r["name"]: r["failure"]["class"] for r in json.loads(proc.stdout)["results"] if not r["ok"]}
    assert failed == {"candidate-probe-dry-run": "http_status"}


@pytest.mark.parametrize(("status", "body", "failure_class"), [
    (503, b"Service Unavailable", "unavailable"),
    (200, b'{"run_id": "r", "results": [{"name": "x", "ok": false, "failure": {"class": "internal"}}]}',
     "assertion"),
])
def test_gate_stops_a_broken_candidate(tmp_path: Path, status: int, body: bytes, failure_class: str) -> None:
    """A candidate that cannot serve /probe, or whose prober crashes (class internal), fails the gate."""
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ["PATH_INFO"] == "/healthz":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"status": "ok"}']
        start_response(f"{status} X", [("Content-Type", "application/json")])
        return [body]

    with _serving(app) as url:
        proc = _run_gate(tmp_path, url, "backend-health")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failed = {r["name"]: r["failure"]["class"] for r in json.loads(proc.stdout)["results"] if not r["ok"]}
    assert failed == {"candidate-probe-dry-run": failure_class}
