"""terraform/ checked offline: formatting, the metric registry, IAM, scheduling, timeouts and secrets.

No provider can be downloaded here, so `terraform validate` cannot run; these tests parse the .tf files
with python-hcl2 and assert what DESIGN.md and the deploy issue require of them.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from monitor import config as config_mod
from monitor import metrics

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "terraform"
DASHBOARD = TF / "dashboards" / "synthmon.json"
PUBLIC = ("allUsers", "allAuthenticatedUsers")
METRIC_TYPE = re.compile(r"custom\.googleapis\.com/synthmon/[a-z_]+/[a-z_]+")
METRIC_KEY = re.compile(r"""(?:metric_filter|metrics|synthmon)\[\\?"([a-z_]+/[a-z_]+)\\?"\]""")


def _norm(node: Any) -> Any:
    """python-hcl2 output without its bookkeeping keys and with string quotes removed (hcl2 >= 7
    keeps the quotes of literals; older versions do not)."""
    if isinstance(node, dict):
        return {_norm(k): _norm(v) for k, v in node.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(node, list):
        return [_norm(v) for v in node]
    if isinstance(node, str) and len(node) >= 2 and node[0] == node[-1] == '"':
        return node[1:-1]
    return node


def _load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        return _norm(hcl2.load(f))


@pytest.fixture(scope="module")
def tf() -> dict[str, Any]:
    """All .tf files merged: {"resource": {type: {name: body}}, "variable": {...}, "locals": {...}, ...}."""
    merged: dict[str, dict[str, Any]] = {"resource": {}, "variable": {}, "locals": {}, "output": {}, "data": {}}
    for path in sorted(TF.rglob("*.tf")):
        doc = _load(path)
        for block in doc.get("resource", []):
            for rtype, by_name in block.items():
                merged["resource"].setdefault(rtype, {}).update(by_name)
        for block in doc.get("variable", []):
            merged["variable"].update(block)
        for block in doc.get("locals", []):
            merged["locals"].update(block)
        for block in doc.get("output", []):
            merged["output"].update(block)
    return merged


def _one(block: Any) -> dict[str, Any]:
    """A nested block, which hcl2 gives as a one-element list."""
    assert isinstance(block, list) and len(block) == 1, block
    return block[0]


def _default(tf: dict[str, Any], name: str) -> Any:
    return tf["variable"][name]["default"]


def _expr(value: str) -> str:
    m = re.fullmatch(r"\$\{(.*)\}", value, re.S)
    assert m, f"not a single expression: {value!r}"
    return m.group(1)


def _evaluate(tf: dict[str, Any], expression: str, config_yaml: str) -> float:
    """Evaluate the arithmetic of a timeout expression with variable defaults and a given config.
    Knows exactly the forms terraform/ uses; anything else fails the test instead of guessing."""
    def local(m: re.Match[str]) -> str:
        return f"({_evaluate(tf, _expr(tf['locals'][m.group(1)]), config_yaml)})"

    def lookup(m: re.Match[str]) -> str:
        return repr(float((yaml.safe_load(config_yaml) or {}).get(m.group(1), float(m.group(2)))))

    text = re.sub(r'tonumber\(lookup\(yamldecode\(var\.config_yaml\),\s*"([a-z_]+)",\s*([0-9.]+)\)\)',
                  lookup, expression)
    text = re.sub(r"local\.([a-z_]+)", local, text)
    text = re.sub(r"var\.([a-z_]+)", lambda m: repr(_default(tf, m.group(1))), text)
    tree = ast.parse(text, mode="eval")
    allowed = (ast.Expression, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Constant)
    assert all(isinstance(n, allowed) for n in ast.walk(tree)), f"cannot evaluate {expression!r}"
    return float(eval(compile(tree, "<tf>", "eval")))  # noqa: S307 - only constants and + - * remain


def _dashboard(tf: dict[str, Any]) -> dict[str, Any]:
    """The dashboard JSON rendered as templatefile() would, with the template variables it is given."""
    call = tf["resource"]["google_monitoring_dashboard"]["synthmon"]["dashboard_json"]
    given = set(re.findall(r"(\w+)\s*=", call.split(",", 1)[1]))
    text = DASHBOARD.read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{(\w+)\}", text))
    assert used == given, f"template variables used {sorted(used)} != given {sorted(given)}"
    return json.loads(re.sub(r"\$\{\w+\}", "1", text))


def test_terraform_fmt() -> None:
    """Every .tf file is in `terraform fmt` canonical form."""
    # terraform is an external binary that no Python package registry provides: when it is absent
    # this one test is skipped, every other check of terraform/ still runs.
    binary = shutil.which("terraform")
    if binary is None:
        pytest.skip("terraform binary not on PATH")
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    proc = subprocess.run([binary, "fmt", "-check", "-recursive", "-diff", str(TF)],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_terraform_file_parses() -> None:
    """Each .tf file parses on its own and the dashboard template is JSON once rendered."""
    files = sorted(TF.rglob("*.tf"))
    assert len(files) >= 8
    for path in files:
        assert isinstance(_load(path), dict), path


def test_metric_descriptors_are_the_registry(tf: dict[str, Any]) -> None:
    """local.metrics (one descriptor each) equals monitor/metrics.py: names, types, units, labels."""
    assert tf["locals"]["metric_prefix"] == metrics.PREFIX
    declared = tf["locals"]["metrics"]
    assert set(declared) == {m.name for m in metrics.METRICS}
    for m in metrics.METRICS:
        d = declared[m.name]
        assert (d["value_type"], d["unit"], d["description"]) == (m.value_type, m.unit, m.description), m.name
        assert tuple(d["labels"]) == m.labels, m.name
        for label in m.labels:
            assert label in tf["locals"]["metric_label_descriptions"], label
    descriptor = tf["resource"]["google_monitoring_metric_descriptor"]["synthmon"]
    assert descriptor["for_each"] == "${local.metrics}"
    assert descriptor["type"] == "${local.metric_prefix}${each.key}"
    assert descriptor["metric_kind"] == "GAUGE" == metrics.METRICS[0].kind


def test_alert_policies_use_only_registry_metrics(tf: dict[str, Any]) -> None:
    """Every metric an alert policy names exists in the registry; each policy documents itself."""
    policies = tf["resource"]["google_monitoring_alert_policy"]
    known = {m.name for m in metrics.METRICS}
    used: set[str] = set()
    for name, policy in policies.items():
        text = json.dumps(policy)
        refs = set(METRIC_KEY.findall(text)) | {t.removeprefix(metrics.PREFIX) for t in METRIC_TYPE.findall(text)}
        assert refs, f"{name} names no metric"
        assert refs <= known, f"{name}: unknown metrics {sorted(refs - known)}"
        used |= refs
        doc = _one(policy["documentation"])
        assert doc["mime_type"] == "text/markdown" and len(doc["content"]) > 200, name
        assert policy["notification_channels"] == "${var.notification_channels}", name
    filters = tf["locals"]["metric_filter"]
    assert "google_monitoring_metric_descriptor.synthmon[name].type" in filters
    assert {"check/success", "check/latency_ms", "vpc/over_threshold", "websocket/event_latency_ms",
            "tls/cert_days_left", "run/duration_ms"} <= used


def _conditions(policy: dict[str, Any]) -> list[dict[str, Any]]:
    out = list(policy.get("conditions", []))
    for dyn in policy.get("dynamic", []):
        out += [_one(dyn["conditions"]["content"])] if "conditions" in dyn else []
    return out


def test_required_alert_policies(tf: dict[str, Any]) -> None:
    """The issue's policies exist: failing, latency, VPC, events missing, cert < 14 days, heartbeat."""
    policies = tf["resource"]["google_monitoring_alert_policy"]
    by_filter: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for policy in policies.values():
        for cond in _conditions(policy):
            kind = "condition_absent" if "condition_absent" in cond else "condition_threshold"
            body = _one(cond[kind])
            for key in METRIC_KEY.findall(body["filter"]):
                by_filter.setdefault(key, []).append((kind, body))

    assert any('failure_class=\\"ws_event_missing\\"' in b["filter"] or 'failure_class="ws_event_missing"'
               in b["filter"] for _, b in by_filter["check/success"])
    assert by_filter["check/latency_ms"][0][1]["comparison"] == "COMPARISON_GT"
    assert by_filter["vpc/over_threshold"][0][1]["comparison"] == "COMPARISON_GT"
    assert any(k == "condition_absent" for k, _ in by_filter["websocket/event_latency_ms"])

    (_, cert), = by_filter["tls/cert_days_left"]
    assert cert["comparison"] == "COMPARISON_LT" and cert["threshold_value"] == "${var.cert_min_days}"
    assert _default(tf, "cert_min_days") == 14

    (kind, heartbeat), = by_filter["run/duration_ms"]
    assert kind == "condition_absent"
    assert heartbeat["duration"] == "${var.heartbeat_absent_s}s" and _default(tf, "heartbeat_absent_s") == 300
    # Grouped by region, never by task_id: a new Cloud Run instance must not look like a dead monitor.
    assert _one(heartbeat["aggregations"])["group_by_fields"] == ["resource.label.location"]


def _seconds(tf: dict[str, Any], value: str) -> int:
    """A duration like "${var.alert_alignment_s}s" or "60s", with variables at their defaults."""
    m = re.fullmatch(r"\$\{var\.(\w+)\}s|(\d+)s", value)
    assert m, value
    return int(_default(tf, m.group(1)) if m.group(1) else m.group(2))


def test_paging_policies_relay_alert_firing_within_three_minutes(tf: dict[str, Any]) -> None:
    """check failing pages on alert/firing (critical, global, one incident per check across regions)
    and, by its own arithmetic, opens within 3 minutes of the first failing run (README "Time to page")."""
    policies = tf["resource"]["google_monitoring_alert_policy"]
    failing, warning = policies["check_failing"], policies["check_warning"]
    (cond,) = _conditions(failing)
    body = _one(cond["condition_threshold"])
    assert METRIC_KEY.findall(body["filter"]) == ["alert/firing"]
    assert 'severity=\\"critical\\"' in body["filter"] and 'scope=\\"global\\"' in body["filter"]
    assert (body["comparison"], body["threshold_value"]) == ("COMPARISON_GT", 0.5)
    agg = _one(body["aggregations"])
    assert (agg["per_series_aligner"], agg["cross_series_reducer"]) == ("ALIGN_MAX", "REDUCE_MAX")
    assert agg["group_by_fields"] == ["metric.label.check"]  # not by region: one outage, one incident
    assert failing["severity"] == "CRITICAL" and warning["severity"] == "WARNING"
    alignment, duration = _seconds(tf, agg["alignment_period"]), _seconds(tf, body["duration"])
    evaluation_s = 60  # metric-threshold conditions are evaluated once a minute
    check = config_mod.loads("checks: [{name: a, type: http, url: 'http://127.0.0.1:9/'}]").checks[0]
    run_s = check.timeout_s + check.retries * (check.retry_delay_s + check.timeout_s)  # attempt, retry
    assert (alignment, duration) == (60, 0)
    assert run_s + alignment + duration + evaluation_s <= 180, (run_s, alignment, duration)
    pre = failing["lifecycle"][0]["precondition"]
    assert any("var.alert_alignment_s + var.alert_duration_s + 60 <= 120" in p["condition"] for p in pre)
    (wcond,) = _conditions(warning)
    wbody = _one(wcond["condition_threshold"])
    assert METRIC_KEY.findall(wbody["filter"]) == ["alert/firing"] and "NOT metric.label.severity" in wbody["filter"]
    assert "resource.label.location" in _one(wbody["aggregations"])["group_by_fields"]
    # No paging policy re-derives the decision from check/success any more.
    for name in ("check_failing", "check_warning"):
        assert "check/success" not in json.dumps(policies[name]["conditions"])


def test_alert_quorum_defaults_to_a_majority_of_regions(tf: dict[str, Any]) -> None:
    """alert_quorum null means floor(n/2)+1 regions; it reaches the config through the environment."""
    assert _default(tf, "alert_quorum") is None
    expr = tf["locals"]["alert_quorum"]
    assert expr == "${coalesce(var.alert_quorum, floor(length(var.regions) / 2) + 1)}"
    for n, expected in [(1, 1), (2, 2), (3, 2), (4, 3)]:
        assert n // 2 + 1 == expected == __import__("monitor.alert_run", fromlist=["quorum"]).quorum(
            config_mod.Alerting(None, tuple(f"r{i}" for i in range(n))), "r0")


def test_dashboard_charts_every_registry_metric(tf: dict[str, Any]) -> None:
    """The dashboard JSON charts exactly the registry's metrics, with the VPC threshold line."""
    dashboard = _dashboard(tf)
    text = json.dumps(dashboard)
    assert set(METRIC_TYPE.findall(text)) == {m.type for m in metrics.METRICS}
    tiles = dashboard["mosaicLayout"]["tiles"]
    vpc = [t["widget"] for t in tiles if metrics.PREFIX + "vpc/rtt_ms" in json.dumps(t)]
    assert vpc and vpc[0]["xyChart"]["thresholds"][0]["value"] == 1  # ${vpc_latency_threshold_ms}
    for tile in tiles:
        assert tile["xPos"] + tile["width"] <= dashboard["mosaicLayout"]["columns"]


def test_no_metric_outside_the_registry_anywhere() -> None:
    """No file under terraform/ names a synthmon metric type the registry does not define."""
    known = {m.type for m in metrics.METRICS}
    for path in TF.rglob("*"):
        if path.is_file() and path.suffix in (".tf", ".json", ".md"):
            found = set(METRIC_TYPE.findall(path.read_text(encoding="utf-8")))
            assert found <= known, f"{path}: {sorted(found - known)}"


def test_no_public_invokers(tf: dict[str, Any]) -> None:
    """No IAM member is allUsers/allAuthenticatedUsers, and on-call members cannot be either."""
    for rtype, by_name in tf["resource"].items():
        for name, body in by_name.items():
            for key in ("member", "members"):
                value = json.dumps(body.get(key, ""))
                assert not any(p in value for p in PUBLIC), f"{rtype}.{name}"
            assert body.get("invoker_iam_disabled") in (None, False), f"{rtype}.{name}"
    validation = json.dumps(tf["variable"]["oncall_members"]["validation"])
    assert all(p in validation for p in PUBLIC)
    # Only the members that Terraform itself manages: no policy or binding that could replace them.
    assert not [t for t in tf["resource"] if t.endswith(("_iam_policy", "_iam_binding"))]


def test_runner_service_account_least_privilege(tf: dict[str, Any]) -> None:
    """The runtime account gets metricWriter, datastore.user (one database), publisher on the topic,
    accessor on the listed secrets only; monitoring.viewer only on request."""
    runner = "${google_service_account.runner.email}"
    project_roles = {b["role"]: b for b in tf["resource"]["google_project_iam_member"].values()
                     if runner in b["member"]}
    assert set(project_roles) == {"roles/monitoring.metricWriter", "roles/datastore.user", "roles/monitoring.viewer"}
    assert project_roles["roles/monitoring.viewer"]["count"] == "${var.read_connector_metrics ? 1 : 0}"
    assert "databases/${local.firestore_database}" in _one(project_roles["roles/datastore.user"]["condition"])["expression"]
    topic = tf["resource"]["google_pubsub_topic_iam_member"]["runner_publisher"]
    assert topic["role"] == "roles/pubsub.publisher" and topic["topic"] == "${google_pubsub_topic.alerts.name}"
    secrets = tf["resource"]["google_secret_manager_secret_iam_member"]
    assert secrets["runner_secrets"]["for_each"] == "${var.secrets}"
    assert {b["role"] for b in secrets.values()} == {"roles/secretmanager.secretAccessor"}
    invokers = tf["resource"]["google_cloud_run_v2_service_iam_member"]
    scheduler = "${google_service_account.scheduler.email}"
    assert invokers["scheduler_invoker"]["member"] == f"serviceAccount:{scheduler}"
    for rtype, by_name in tf["resource"].items():
        for name, body in by_name.items():
            if scheduler in json.dumps(body.get("member", "")):
                assert (rtype, body["role"]) == ("google_cloud_run_v2_service_iam_member", "roles/run.invoker"), name


def _service(tf: dict[str, Any]) -> dict[str, Any]:
    return tf["resource"]["google_cloud_run_v2_service"]["synthmon"]


def test_service_per_region_one_instance(tf: dict[str, Any]) -> None:
    """One Cloud Run service per region (for_each), min 0 and max 1 instance, private-ranges egress."""
    service = _service(tf)
    assert service["for_each"] == "${var.regions}" and service["location"] == "${each.key}"
    template = _one(service["template"])
    scaling = _one(template["scaling"])
    assert (scaling["min_instance_count"], scaling["max_instance_count"]) == (0, 1)
    vpc = _one(template["dynamic"][0]["vpc_access"]["content"]) if "dynamic" in template else None
    assert vpc is not None and vpc["egress"] == "PRIVATE_RANGES_ONLY"
    assert service["ingress"] == "${var.ingress}"
    assert _default(tf, "ingress") in ("INGRESS_TRAFFIC_ALL", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER")
    assert template["service_account"] == "${google_service_account.runner.email}"
    env = tf["locals"]["env"]
    assert "SYNTHMON_LOCATION = region" in env
    # One collection shared by every region: quorum needs all regions' results in one document.
    assert "/${var.state_collection}\"" in env and "${region}\"" not in env.split("SYNTHMON_STATE")[1].split("\n")[0]
    assert "SYNTHMON_ALERT_QUORUM = tostring(local.alert_quorum)" in env


@pytest.mark.parametrize("config_yaml", ["checks: []\n", "run_timeout_s: 130\n", "run_timeout_s: 50.5\n"])
def test_request_timeout_exceeds_run_deadline(tf: dict[str, Any], config_yaml: str) -> None:
    """Cloud Run's request timeout and the Scheduler deadline exceed the config's run_timeout_s."""
    run_timeout_s = _evaluate(tf, _expr(tf["locals"]["run_timeout_s"]), config_yaml)
    expected = yaml.safe_load(config_yaml).get("run_timeout_s", config_mod.loads("").run_timeout_s)
    assert run_timeout_s == expected  # the fallback is the loader's own default
    template = _one(_service(tf)["template"])
    job = tf["resource"]["google_cloud_scheduler_job"]["run"]
    for value in (template["timeout"], job["attempt_deadline"]):
        m = re.fullmatch(r"\$\{(.+)\}s", value)
        assert m, value
        assert _evaluate(tf, m.group(1), config_yaml) > run_timeout_s
    assert _one(job["retry_config"])["retry_count"] == 0


def test_scheduler_posts_run_with_oidc_to_the_service(tf: dict[str, Any]) -> None:
    """Scheduler POSTs /run of each region's service with an OIDC token for that service's URL."""
    job = tf["resource"]["google_cloud_scheduler_job"]["run"]
    assert job["for_each"] == "${google_cloud_run_v2_service.synthmon}" and job["region"] == "${each.key}"
    assert job["schedule"] == "${var.schedule}" and _default(tf, "schedule") == "* * * * *"
    target = _one(job["http_target"])
    assert target["http_method"] == "POST" and target["uri"] == "${each.value.uri}/run"
    oidc = _one(target["oidc_token"])
    assert oidc["audience"] == "${each.value.uri}"
    assert oidc["service_account_email"] == "${google_service_account.scheduler.email}"
    assert "oauth_token" not in target


def test_secrets_reach_the_service_only_as_secrets(tf: dict[str, Any]) -> None:
    """var.secrets become value_source.secret_key_ref env vars; plain env refuses secret-looking names
    with the config loader's own pattern, and the built-in plain variables are not secret-looking."""
    container = _one(_one(_service(tf)["template"])["containers"])
    envs = [d["env"] for d in container["dynamic"] if "env" in d]
    assert len(envs) == 2 and "env" not in container
    plain = [e for e in envs if e["for_each"] != "${var.secrets}"]
    secret = [e for e in envs if e["for_each"] == "${var.secrets}"]
    assert plain[0]["for_each"] == "${local.env[each.key]}"
    content = _one(secret[0]["content"])
    assert "value" not in content
    ref = _one(_one(content["value_source"])["secret_key_ref"])
    assert ref == {"secret": "${env.value.secret}", "version": "${env.value.version}"}

    validation = json.dumps(tf["variable"]["env"]["validation"])
    assert config_mod._SECRET_VAR.pattern in validation
    builtin = re.findall(r"([A-Z_]+) = ", tf["locals"]["env"])
    assert builtin and not [k for k in builtin if config_mod._SECRET_VAR.search(k)]
    # The config file is mounted from Secret Manager, never passed as an env value.
    volume = _one(_one(_service(tf)["template"])["volumes"])
    assert _one(volume["secret"])["secret"] == "${google_secret_manager_secret.config.secret_id}"


def test_every_variable_is_documented(tf: dict[str, Any]) -> None:
    """Each variable has a description and a type; each output a description."""
    assert tf["variable"]
    for name, body in tf["variable"].items():
        assert len(body.get("description", "").strip()) >= 20, name
        assert "type" in body, name
    assert {"service_urls", "alert_topic", "dashboard_url"} <= set(tf["output"])
    for name, body in tf["output"].items():
        assert body.get("description"), name


def test_checkov_skips_are_justified() -> None:
    """Every inline checkov skip names a check and gives a reason."""
    for path in TF.rglob("*.tf"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if "checkov:skip" in line:
                assert re.search(r"#checkov:skip=CKV2?_[A-Z]+_\d+:\S.{15,}", line), f"{path}: {line}"


CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


@pytest.mark.slow
def test_checkov_passes() -> None:
    """checkov finds no failed check in terraform/, with defaults and with every option on."""
    if not CHECKOV.exists():
        # `make test` creates it; only a bare `pytest` outside CI may run without it.
        assert not os.environ.get("CI"), "checkov's virtualenv is missing: run `make checkov`"
        pytest.skip("checkov's own virtualenv is absent; `make checkov` creates it")
    proc = subprocess.run(["sh", str(TF / "checkov.sh")], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, check=False,
                          env={**os.environ, "CHECKOV_VENV": str(CHECKOV.parent.parent)})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "Failed checks: 0" in proc.stdout
