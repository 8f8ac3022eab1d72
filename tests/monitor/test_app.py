"""The Flask service through its test client, against real loopback HTTP targets."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from service_target import Target, serving, write_config

from monitor import config as config_mod
from monitor.app import EXTENSION, MAX_CHECK_PARAMS, create_app
from monitor.pipeline import Monitor

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def target() -> Target:
    with serving() as t:
        yield t


@pytest.fixture
def cfg(tmp_path: Path, target: Target) -> config_mod.Config:
    return config_mod.load(write_config(tmp_path, target))


@pytest.fixture
def client(cfg: config_mod.Config):
    return create_app(cfg).test_client()


def test_healthz_runs_no_probe(client, target: Target) -> None:
    """/healthz answers 200 without touching any target."""
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json["status"] == "ok"
    assert target.total == 0


def test_run_reports_failures_with_200_and_skips_checks_not_due(client, target: Target) -> None:
    """POST /run runs every due check, answers 200 even when one fails, and a second call finds none due."""
    target.release.set()
    r = client.post("/run")
    assert r.status_code == 200
    by_name = {x["name"]: x for x in r.json["results"]}
    assert by_name["web"]["ok"] is True
    assert by_name["down"]["failure"]["class"] == "unavailable"
    assert r.json["ok"] is False and r.json["location"] == "test-loopback"
    again = client.post("/run").json
    assert again["results"] == []
    assert {s["name"]: s["reason"] for s in again["skipped"]} == {"web": "not_due", "down": "not_due",
                                                                  "held": "not_due"}


def test_run_is_post_only(client, target: Target) -> None:
    """GET /run is a JSON 405 and runs nothing."""
    r = client.get("/run")
    assert r.status_code == 405 and "error" in r.json and "POST" in r.headers["Allow"]
    assert target.total == 0


@pytest.mark.parametrize("method", ["get", "post"])
def test_probe_runs_only_the_named_check(client, target: Target, method: str) -> None:
    """GET and POST /probe?check=web run web now and nothing else."""
    r = getattr(client, method)("/probe?check=web")
    assert r.status_code == 200
    assert [x["name"] for x in r.json["results"]] == ["web"] and r.json["ok"] is True
    assert dict(target.hits) == {"/ok": 1}


def test_probe_dry_run_publishes_nothing(client, cfg: config_mod.Config, target: Target) -> None:
    """publish=0 returns the report but writes no results, no /metrics series and moves no alert state."""
    r = client.get("/probe?check=down&publish=0")
    assert r.json["results"][0]["failure"]["class"] == "unavailable"
    assert not Path(cfg.sinks.results_file).exists()
    down = client.get("/status").json["checks"][1]
    assert down["state"] == "unknown" and down["locations"][0]["bar"] == []  # nothing recorded
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'check="down"' not in metrics and "synthmon_run_duration_ms{" not in metrics
    client.get("/probe?check=down")
    assert Path(cfg.sinks.results_file).exists()
    assert client.get("/status").json["checks"][1]["state"] == "firing"  # failure_threshold 1
    assert 'check="down"' in client.get("/metrics").get_data(as_text=True)


BAD_QUERIES = [
    "check=nope",
    "check=WEB",
    "check=",
    "check=http://127.0.0.1:1/ok",
    "check=http%3A%2F%2F127.0.0.1%3A1%2Fok",
    "check=web%40127.0.0.1",
    "check=..%2F..%2Fetc%2Fpasswd",
    "check=%252e%252e%252f",
    "check=%2577eb",
    "check=web%00",
    "check=web%0a",
    "check=web/",
    "check=" + "a" * 64,
    "check=" + "a" * 3000,
    "&".join(["check=web"] * (MAX_CHECK_PARAMS + 1)),
    "url=http://127.0.0.1:1/",
    "check=web&target=http://127.0.0.1:1/",
    "check[]=web",
    "publish=maybe",
    "publish=true",
    "check=web&publish=0&publish=1",
]


@pytest.mark.parametrize("query", BAD_QUERIES)
def test_probe_rejects_anything_but_configured_names(client, target: Target, query: str) -> None:
    """Unknown names, URLs, encoded paths, oversized or malformed parameters: 400, valid names listed, nothing run."""
    for method in (client.get, client.post):
        r = method("/probe?" + query)
        assert r.status_code == 400, query
        assert r.json["valid_checks"] == ["web", "down", "held"]
    assert target.total == 0
    assert client.application.extensions[EXTENSION].monitor.last_report is None


def test_probe_body_is_not_a_way_in(client, target: Target) -> None:
    """A POST body naming a URL is ignored: only the query string selects checks."""
    r = client.post("/probe?check=web", data={"check": "http://127.0.0.1:1/"})
    assert [x["name"] for x in r.json["results"]] == ["web"]
    assert dict(target.hits) == {"/ok": 1}


def test_large_body_is_refused(client, target: Target) -> None:
    """A POST body over 64 KiB is a 413 and runs nothing."""
    r = client.post("/probe?check=web", data=b"x" * (64 * 1024 + 1))
    assert r.status_code == 413 and "error" in r.json
    assert target.total == 0


def test_overlapping_runs_skip_the_check_in_flight(client, target: Target) -> None:
    """While `held` is in flight a second /probe and POST /run report it skipped (in_progress) and do not start it again."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.get, "/probe?check=held")
        assert target.entered.wait(10)
        assert client.get("/status").json["runs_in_progress"][0]["checks"] == ["held"]
        second = client.get("/probe?check=held&check=web").json
        assert second["skipped"] == [{"name": "held", "reason": "in_progress"}]
        assert [x["name"] for x in second["results"]] == ["web"]
        run = client.post("/run").json
        assert {"name": "held", "reason": "in_progress"} in run["skipped"]
        target.release.set()
        assert first.result(timeout=30).json["results"][0]["ok"] is True
    assert target.hits["/hold"] == 1


def test_status_json_then_html(client, target: Target) -> None:
    """/status is JSON by default and an HTML table (escaped) for a browser's Accept header."""
    before = client.get("/status").json
    assert before["last_run"] is None
    assert [(c["name"], c["state"]) for c in before["checks"]] == [("web", "unknown"), ("down", "unknown"),
                                                                   ("held", "unknown")]
    client.get("/probe?check=web&check=down")
    doc = client.get("/status").json
    web, down = doc["checks"][0], doc["checks"][1]
    assert web["ok"] is True and web["latency_ms"] > 0
    assert down["failure_class"] == "unavailable" and down["state"] == "firing" and down["since"]
    page = client.get("/status", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.content_type.startswith("text/html")
    text = page.get_data(as_text=True)
    assert 'id="check-down" data-state="firing"' in text and "unavailable" in text
    assert client.get("/status", headers={"Accept": "*/*"}).is_json


def test_metrics_prometheus_text_of_latest_results(client, target: Target) -> None:
    """/metrics exposes the latest results in the Prometheus text format."""
    client.get("/probe?check=web&check=down")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.content_type.startswith("text/plain")
    text = r.get_data(as_text=True)
    assert 'synthmon_check_success{check="web"' in text
    assert any(line.startswith("synthmon_check_success{check=\"down\"") and line.endswith(" 0.0")
               for line in text.splitlines())
    client.get("/probe?check=down")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'synthmon_check_total{check="down",location="test-loopback",result="unavailable"} 2.0' in text
    assert 'synthmon_probe_latency_ms_count{check="web",location="test-loopback"} 1.0' in text


def test_token_guards_every_route_but_healthz(cfg: config_mod.Config, target: Target) -> None:
    """With an API token, a missing or wrong one is 401 and runs nothing; Bearer or X-Synthmon-Token pass."""
    client = create_app(cfg, token="s3cret-token").test_client()
    for path in ("/status", "/metrics", "/probe?check=web"):
        r = client.get(path)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.post("/run", headers={"Authorization": "Bearer s3cret-tokeN"}).status_code == 401
    assert client.post("/run", headers={"Authorization": "Basic s3cret-token"}).status_code == 401
    assert target.total == 0
    assert client.get("/healthz").status_code == 200
    assert client.get("/openapi.json").json["security"] == [{"bearer": []}]
    ok = client.get("/probe?check=web", headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200
    other = client.get("/status", headers={"X-Synthmon-Token": "s3cret-token",
                                           "Authorization": "Bearer google-id-token"})
    assert other.status_code == 200


def id_token(claims: dict) -> str:
    """A Google ID token as Cloud Run passes it on: header and claims, signature removed."""
    def part(doc: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'RS256', 'kid': 'k1'})}.{part(claims)}.SIGNATURE_REMOVED_BY_GOOGLE"


def test_the_log_names_who_called_probe_and_run(client, target: Target, caplog: pytest.LogCaptureFixture) -> None:
    """/probe and /run log the caller's email from the IAM-checked ID token (X-Serverless-Authorization
    first), never the token; an absent or malformed token is an unidentified caller."""
    target.release.set()
    oncall = id_token({"email": "oncall@example.com", "aud": "https://synthmon.run.app"})
    scheduler = id_token({"email": "scheduler@p.iam.gserviceaccount.com"})
    caplog.set_level(logging.INFO, logger="synthmon.app")
    r = client.get("/probe?check=web&publish=0", headers={"X-Serverless-Authorization": f"Bearer {oncall}",
                                                          "Authorization": f"Bearer {scheduler}"})
    assert r.status_code == 200
    client.post("/run", headers={"Authorization": f"Bearer {scheduler}"})
    client.get("/probe?check=web", headers={"Authorization": "Bearer not.a-jwt"})
    client.get("/probe?check=web", headers={"Authorization": "Bearer " + id_token({"email": "x\n@evil"})})
    records = [rec for rec in caplog.records if rec.name == "synthmon.app"]
    assert [rec.caller for rec in records] == [  # type: ignore[attr-defined]
        "oncall@example.com", "scheduler@p.iam.gserviceaccount.com", None, None]
    assert records[0].getMessage() == f"GET /probe by oncall@example.com: run {r.json['run_id']}, 1 checks (dry run)"
    assert records[2].getMessage().startswith("GET /probe by an unidentified caller: run ")
    assert not any(oncall in rec.getMessage() or scheduler in rec.getMessage() for rec in records)


def test_openapi_describes_exactly_the_routes(client) -> None:
    """/openapi.json lists every route with its methods, and the configured names for `check`."""
    doc = client.get("/openapi.json").json
    assert doc["openapi"].startswith("3.")
    app = client.application
    routes = {re.sub(r"<(\w+)>", r"{\1}", r.rule): set(r.methods) - {"HEAD", "OPTIONS"}
              for r in app.url_map.iter_rules() if r.endpoint != "static"}
    assert {p: {m.upper() for m in ops} for p, ops in doc["paths"].items()} == routes
    check = doc["paths"]["/probe"]["get"]["parameters"][0]
    assert check["schema"]["items"]["enum"] == ["web", "down", "held"]


def test_unexpected_error_is_a_json_500(cfg: config_mod.Config, target: Target) -> None:
    """When synthmon itself cannot run (here: its state store fails), /run answers a JSON 500."""

    class BrokenStore:
        def lease(self, *args: object) -> dict[str, str]:
            raise RuntimeError("state store unreachable")

        def alert_states(self) -> dict:
            return {}

    client = create_app(cfg, monitor=Monitor(cfg, publisher=BrokenStore())).test_client()  # type: ignore[arg-type]
    r = client.post("/run")
    assert r.status_code == 500 and r.json["error"] == "synthmon could not run: RuntimeError"
    assert target.total == 0


def test_app_start_imports_no_heavy_client(tmp_path: Path, target: Target) -> None:
    """Building the app and answering /healthz and /status import no Google client, grpc, psycopg or websockets."""
    path = write_config(tmp_path, target)
    code = (
        "import json, sys\n"
        "from monitor.app import from_env\n"
        "c = from_env().test_client()\n"
        "assert c.get('/healthz').status_code == 200 and c.get('/status').status_code == 200\n"
        "heavy = ('google.cloud', 'google.api_core', 'grpc', 'psycopg', 'websockets')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('grpc', 'psycopg', 'websockets')"
        " or m.startswith(heavy[:2]))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env={"SYNTHMON_CONFIG": str(path), "PATH": "/usr/bin:/bin"}, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
