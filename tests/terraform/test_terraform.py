"""terraform/ checked offline: formatting, the metric registry, IAM, scheduling, timeouts and secrets.

No provider can be downloaded here, so `terraform validate` cannot run; these tests parse the .tf files
with python-hcl2 and assert what the metric registry, terraform/README.md and the deploy issue require of them.
"""

from __future__ import annotations

import dataclasses
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
from monitor import metrics, timeseries
from monitor import slo as slo_mod

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


STAGING = ROOT / "examples" / "staging.yaml"
STAGING_ENV = {"E2E_BYPASS_KEY": "bypass-key-value", "STAGING_DB_DSN": "postgresql://probe:pw@10.0.0.3/app",
               "GOOGLE_CLOUD_PROJECT": "p"}


def _terraform() -> str:
    # terraform is an external binary that no Python package registry provides: when it is absent
    # the tests that run it are skipped, every other check of terraform/ still runs.
    binary = shutil.which("terraform")
    if binary is None:
        pytest.skip("terraform binary not on PATH")
    return binary


def _console(tmp_path: Path, expression: str, **tf_vars: str) -> Any:
    """Evaluate `expression` with terraform itself over config.tf and variables.tf (nothing there
    needs a provider, so no `init`), given config_yaml and other variables; returns decoded JSON."""
    for name in ("config.tf", "variables.tf"):
        shutil.copy(TF / name, tmp_path / name)
    args = [_terraform(), "console"]
    for name, value in {"project_id": "p", "image": "i", **tf_vars}.items():
        args += ["-var", f"{name}={value}"]
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    proc = subprocess.run(args, input=f"jsonencode({expression})\n", capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(json.loads(proc.stdout.strip().splitlines()[-1]))


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
    """The issue's policies exist: failing, latency, VPC, events missing, cert < 14 days, heartbeat;
    the metric-threshold ones only with metric_alert_policies (synthmon's own alert/firing already
    pages on each of those faults, so by default they would page twice)."""
    policies = tf["resource"]["google_monitoring_alert_policy"]
    for name in ("latency_slo", "vpc_over_threshold", "golden_path_events_missing", "cert_expiring"):
        assert policies[name]["count"] == "${var.metric_alert_policies ? 1 : 0}"
    assert _default(tf, "metric_alert_policies") is False
    for name in ("check_failing", "check_warning", "monitor_silent"):
        assert "count" not in policies[name]
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


def test_service_per_region_scaling_and_billing(tf: dict[str, Any]) -> None:
    """One Cloud Run service per region (for_each), 0 to var.max_instance_count (2) instances,
    request-based billing by default, private-ranges egress, one state collection for all regions."""
    service = _service(tf)
    assert service["for_each"] == "${var.regions}" and service["location"] == "${each.key}"
    template = _one(service["template"])
    scaling = _one(template["scaling"])
    assert (scaling["min_instance_count"], scaling["max_instance_count"]) == (0, "${var.max_instance_count}")
    assert _default(tf, "max_instance_count") == 2
    resources = _one(_one(template["containers"])["resources"])
    assert resources["cpu_idle"] == "${!var.cpu_always_allocated}" and _default(tf, "cpu_always_allocated") is False
    vpc = _one(template["dynamic"][0]["vpc_access"]["content"]) if "dynamic" in template else None
    assert vpc is not None and vpc["egress"] == "PRIVATE_RANGES_ONLY"
    assert service["ingress"] == "${var.ingress}"
    assert _default(tf, "ingress") in ("INGRESS_TRAFFIC_ALL", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER")
    assert template["service_account"] == "${google_service_account.runner.email}"
    env = tf["locals"]["env"]
    assert "SYNTHMON_LOCATION = region" in env
    # Quorum needs every region's results in one place: one collection, never one per region.
    assert '"firestore://${local.firestore_database}/${var.state_collection}"' in env
    assert "state_collection_prefix" not in tf["variable"] and "${region}" not in env.split("SYNTHMON_STATE")[1]


def test_timeouts_come_from_the_derived_bound(tf: dict[str, Any]) -> None:
    """Cloud Run's request timeout and the Scheduler deadline are config.tf's derived values, with
    the Cloud Run (3600 s) and Scheduler (30 min) limits checked before apply."""
    template = _one(_service(tf)["template"])
    job = tf["resource"]["google_cloud_scheduler_job"]["run"]
    assert template["timeout"] == "${local.request_timeout_s}s"
    assert job["attempt_deadline"] == "${local.attempt_deadline_s}s"
    assert _one(job["retry_config"])["retry_count"] == 0
    run_checks = json.dumps(_one(_service(tf)["lifecycle"])["precondition"])
    assert "local.request_timeout_s <= 3600" in run_checks
    assert "local.request_timeout_s <= 1800" in json.dumps(_one(job["lifecycle"])["precondition"])


TIMEOUT_CASES = [
    # (config, run bound): run_timeout_s wins when set; else the longest
    # timeout_s * (retries + 1) + retry_delay_s * retries, with defaults 10 s, 1 retry, 5 s.
    ("run_timeout_s: 130\nchecks: [{name: a, type: http, url: 'https://a.example'}]\n", 130),
    ("checks: [{name: a, type: http, url: 'https://a.example'}]\n", 10 * 2 + 5),
    ("checks: [{name: a, type: http, url: 'https://a.example', timeout_s: 30, retries: 2, retry_delay_s: 4},\n"
     "         {name: b, type: http, url: 'https://b.example', timeout_s: 60, retries: 0}]\n", 30 * 3 + 4 * 2),
    ("defaults: {timeout_s: 20, retries: 0}\nchecks: [{name: a, type: http, url: 'https://a.example'},\n"
     "  {name: b, type: http, url: 'https://b.example', retries: 1, retry_delay_s: 2}]\n", 20 * 2 + 2),
]


@pytest.mark.parametrize(("config_yaml", "bound"), TIMEOUT_CASES)
def test_run_bound_is_the_loaders(tmp_path: Path, config_yaml: str, bound: float) -> None:
    """terraform evaluates the run bound as the config loader does (Config.run_bound_s), and the
    request timeout and Scheduler deadline exceed it by request_timeout_margin_s (10 s)."""
    got = _console(tmp_path, "{r = local.run_timeout_s, t = local.request_timeout_s, d = local.attempt_deadline_s}",
                   config_yaml=config_yaml)
    assert got["r"] == bound == config_mod.loads(config_yaml).run_bound_s
    assert got["t"] == got["d"] == bound + 10


def test_run_bound_of_the_staging_example(tmp_path: Path) -> None:
    """examples/staging.yaml as Terraform reads it: its run_timeout_s (240 s), as the loader says."""
    text = STAGING.read_text(encoding="utf-8")
    got = _console(tmp_path, "local.run_timeout_s", config_yaml=text)
    assert got == config_mod.loads(text, environ=STAGING_ENV).run_bound_s == 240


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


# --- SLOs, quorum and the cross-region view (issue 16) ---

SLO_CONFIG = """\
checks:
  - {name: api, type: http, url: 'https://api.example', slo: {objective: 0.995, window_days: 28}}
  - {name: golden_path.v2, type: http, url: 'https://gp.example', interval_s: 300, slo: {objective: 0.99}}
  - {name: odd, type: http, url: 'https://odd.example', interval_s: 70, slo: {objective: 0.9, window_days: 7}}
  - {name: no-slo, type: http, url: 'https://x.example'}
"""


def test_slo_resources_exist_exactly_for_checks_with_slo(tmp_path: Path) -> None:
    """local.slo, which the service, SLO and both burn-rate policies iterate, holds the checks with
    `slo` and nothing else, with the loader's objective and window, a window period that holds a
    run of the check and that Cloud Monitoring accepts, and a valid service id."""
    got = _console(tmp_path, "local.slo", config_yaml=SLO_CONFIG)
    loaded = {c.name: c.slo for c in config_mod.loads(SLO_CONFIG).checks if c.slo}
    assert set(got) == set(loaded) == {"api", "golden_path.v2", "odd"}
    for name, slo in loaded.items():
        assert (got[name]["objective"], got[name]["window_days"]) == (slo.objective, slo.window_days)
    assert {n: s["window_period_s"] for n, s in got.items()} == {"api": 60, "golden_path.v2": 300, "odd": 120}
    assert all(86400 % s["window_period_s"] == 0 for s in got.values())
    assert got["golden_path.v2"]["service_id"] == "synthmon-golden-path-v2"
    assert all(re.fullmatch(r"[a-z0-9-]{1,63}", s["service_id"]) for s in got.values())
    assert _console(tmp_path, "local.slo", config_yaml="checks: [{name: a, type: http, url: 'https://a'}]\n") == {}


def test_slo_blocks_iterate_the_checks_with_slo(tf: dict[str, Any]) -> None:
    """The custom service and SLO are one per local.slo entry; the SLI is windows-based over
    check/success of that check (a GAUGE: request-based ratios need DELTA or CUMULATIVE)."""
    service = tf["resource"]["google_monitoring_custom_service"]["check"]
    slo_ = tf["resource"]["google_monitoring_slo"]["availability"]
    assert service["for_each"] == slo_["for_each"] == "${local.slo}"
    assert service["service_id"] == "${each.value.service_id}"
    assert slo_["service"] == "${google_monitoring_custom_service.check[each.key].service_id}"
    assert (slo_["goal"], slo_["rolling_period_days"]) == ("${each.value.objective}", "${each.value.window_days}")
    assert "request_based_sli" not in slo_ and "calendar_period" not in slo_
    sli = _one(slo_["windows_based_sli"])
    assert sli["window_period"] == "${each.value.window_period_s}s"
    mean = _one(sli["metric_mean_in_range"])
    assert _one(mean["range"]) == {"min": 1}
    assert 'google_monitoring_metric_descriptor.synthmon["check/success"].type' in mean["time_series"]
    assert 'metric.label.check=\\"${each.key}\\"' in mean["time_series"]
    assert metrics.BY_NAME["check/success"].kind == "GAUGE"
    preconditions = json.dumps(_one(slo_["lifecycle"])["precondition"])
    assert "each.value.objective <= 0.999" in preconditions and "each.value.window_days <= 30" in preconditions


def test_burn_rate_policies_are_the_workbook_and_monitor_slo(tmp_path: Path, tf: dict[str, Any]) -> None:
    """Fast: 1 h and 5 min above 14.4x; slow: 6 h and 30 min above 6x; both windows must burn
    (AND); the same table as monitor/slo.py, and two policies per check with an slo."""
    alerts = _console(tmp_path, "local.burn_rate_alerts", config_yaml="checks: []\n")
    assert {k: (v["long_s"], v["short_s"], v["burn_rate"]) for k, v in alerts.items()} == {
        "fast": (3600, 300, 14.4), "slow": (21600, 1800, 6)}
    assert {k: (v["long_s"], v["short_s"], v["burn_rate"]) for k, v in alerts.items()} == {
        a.name: (a.long_window_s, a.short_window_s, a.burn_rate) for a in slo_mod.BURN_RATE_ALERTS}

    policy = tf["resource"]["google_monitoring_alert_policy"]["slo_burn_rate"]
    assert policy["for_each"] == "${local.slo_burn_rate_policies}" and policy["combiner"] == "AND"
    assert "setproduct(keys(local.slo), keys(local.burn_rate_alerts))" in tf["locals"]["slo_burn_rate_policies"]
    long_, short = (_one(c["condition_threshold"]) for c in policy["conditions"])
    slo_name = "${google_monitoring_slo.availability[each.value.check].name}"
    assert long_["filter"] == f'select_slo_burn_rate(\\"{slo_name}\\", \\"${{each.value.long_s}}s\\")'
    assert short["filter"] == f'select_slo_burn_rate(\\"{slo_name}\\", \\"${{each.value.short_s}}s\\")'
    for cond in (long_, short):
        assert cond["comparison"] == "COMPARISON_GT" and cond["threshold_value"] == "${each.value.burn_rate}"
        assert "aggregations" not in cond  # an SLO selector takes no aggregation


def test_alert_quorum_and_locations_reach_the_service_config(tmp_path: Path, tf: dict[str, Any]) -> None:
    """The mounted config is the given one with alerting.locations = the regions and, when
    alert_quorum is set, alerting.quorum; null leaves the quorum to the service (a majority)."""
    assert _default(tf, "alert_quorum") is None and tf["variable"]["alert_quorum"]["type"] == "number"
    version = tf["resource"]["google_secret_manager_secret_version"]["config"]
    assert version["secret_data"] == "${local.service_config_yaml}"
    regions = '{"us-central1" = {}, "europe-west1" = {}, "asia-east1" = {}}'
    config = "location: x\nalerting: {quorum: 3}\nchecks: [{name: a, type: http, url: 'https://a.example'}]\n"
    rendered = yaml.safe_load(_console(tmp_path, "local.service_config_yaml", config_yaml=config,
                                       regions=regions, alert_quorum="2"))
    assert rendered["alerting"] == {"quorum": 2, "locations": ["asia-east1", "europe-west1", "us-central1"]}
    assert rendered["checks"] == yaml.safe_load(config)["checks"] and rendered["location"] == "x"
    kept = yaml.safe_load(_console(tmp_path, "local.service_config_yaml", config_yaml=config, regions=regions))
    assert kept["alerting"]["quorum"] == 3
    bare = yaml.safe_load(_console(tmp_path, "local.service_config_yaml", config_yaml="checks: []\n"))
    assert bare["alerting"] == {"locations": ["us-central1"]}
    loaded = config_mod.loads(_console(tmp_path, "local.service_config_yaml", config_yaml=config,
                                       regions=regions, alert_quorum="2"))
    assert (loaded.alerting.quorum, loaded.alerting.locations) == (2, ("asia-east1", "europe-west1", "us-central1"))
    assert "alert_quorum <= length(var.regions)" in json.dumps(_one(_service(tf)["lifecycle"])["precondition"])


def _unordered(check: Any) -> Any:
    """A check with the JSON assertions of its expectation in key order (yamlencode sorts keys;
    the order of `expect.json` entries means nothing)."""
    expect = getattr(check, "expect", None)
    if expect is not None and getattr(expect, "json", None):
        check = dataclasses.replace(check, expect=dataclasses.replace(expect, json=tuple(sorted(expect.json))))
    return check


def test_staging_example_renders_and_loads(tmp_path: Path) -> None:
    """examples/staging.yaml through Terraform's yamldecode/yamlencode still loads, with the same
    checks, and gets SLOs for exactly its checks with `slo`."""
    text = STAGING.read_text(encoding="utf-8")
    got = _console(tmp_path, "{c = local.service_config_yaml, s = local.slo}", config_yaml=text)
    original = config_mod.loads(text, environ=STAGING_ENV)
    rendered = config_mod.loads(got["c"], environ=STAGING_ENV)
    assert [_unordered(c) for c in rendered.checks] == [_unordered(c) for c in original.checks]
    assert set(got["s"]) == {c.name for c in original.checks if c.slo} == {"golden-path"}


def test_dashboard_has_cross_region_rows(tf: dict[str, Any]) -> None:
    """Below the per-check charts, rows that compare regions: series grouped by location, and the
    number of regions passing each check (what quorum counts)."""
    tiles = _dashboard(tf)["mosaicLayout"]["tiles"]
    grouped = [t for t in tiles if "resource.label.location" in json.dumps(t)]
    assert len(grouped) >= 5
    passing = [t for t in tiles if "secondaryAggregation" in json.dumps(t)]
    assert passing
    query = passing[0]["widget"]["xyChart"]["dataSets"][0]["timeSeriesQuery"]["timeSeriesFilter"]
    assert query["aggregation"]["groupByFields"] == ["metric.label.check", "resource.label.location"]
    assert query["secondaryAggregation"] == {**query["secondaryAggregation"], "crossSeriesReducer": "REDUCE_SUM",
                                             "groupByFields": ["metric.label.check"]}
    # A passing result's failure_class is "none" (monitor/timeseries.py), so "failures" exclude it.
    text = DASHBOARD.read_text(encoding="utf-8")
    assert 'failure_class!=\\"none\\"' in text and 'failure_class!=\\"\\"' not in text
    assert timeseries.NO_FAILURE == "none"
    cells = {(t["xPos"], t["yPos"]) for t in tiles}
    assert len(cells) == len(tiles)  # no tile on top of another


@pytest.mark.parametrize("config_yaml", [
    "run_timeout_s: ${RUN_TIMEOUT}\nchecks: []\n",
    "defaults: {retries: ${RETRIES}}\nchecks: []\n",
    "checks: [{name: a, type: http, url: 'https://a.example', timeout_s: ${T}}]\n",
])
def test_derived_numbers_must_be_literal(tmp_path: Path, config_yaml: str) -> None:
    """A `${VAR}` where Terraform derives timeouts or SLO windows is refused at plan time, not
    turned into a wrong deadline."""
    for name in ("config.tf", "variables.tf"):
        shutil.copy(TF / name, tmp_path / name)
    proc = subprocess.run([_terraform(), "console", "-var", "project_id=p", "-var", "image=i",
                           "-var", f"config_yaml={config_yaml}"], input="local.run_timeout_s\n",
                          capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
                          env={**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"})
    assert proc.returncode != 0
    # Terraform wraps long messages inside a box drawn with "│".
    assert "must be literal numbers" in " ".join((proc.stdout + proc.stderr).replace("│", " ").split())


FAILURE_CLASS_TEST = re.compile(r"""metric\.label\.failure_class\s*(=|!=|=~|!=~)\s*\\*"([^"\\]*)\\*\"""")


def test_failure_class_of_a_pass_agrees_in_code_dashboard_and_descriptors() -> None:
    """A pass writes failure_class "none" (timeseries.NO_FAILURE); the descriptor text says so, and every
    dashboard and alert filter on failure_class compares against a value the code can write."""
    from monitor import timeseries
    from probes.result import FAILURE_CLASSES, ProbeResult, RunReport

    passed = RunReport("r", "t", "t", "us-central1", [ProbeResult("web", "http", "http://x/", latency_ms=1.0)])
    [success] = [s for s in timeseries.samples(passed) if s.metric.name == "check/success"]
    assert dict(success.labels)["failure_class"] == timeseries.NO_FAILURE == "none"
    description = _load(TF / "metrics.tf")["locals"][0]["metric_label_descriptions"]["failure_class"]
    assert f'"{timeseries.NO_FAILURE}" when the check passed' in description.replace('\\"', '"'), description
    assert "empty" not in description
    filters = [(p.name, op, value) for p in [DASHBOARD, *sorted(TF.glob("*.tf"))]
               for op, value in FAILURE_CLASS_TEST.findall(p.read_text(encoding="utf-8"))]
    assert ("synthmon.json", "!=", timeseries.NO_FAILURE) in filters
    for name, _, value in filters:
        assert value in {timeseries.NO_FAILURE, *FAILURE_CLASSES}, (name, value)


def test_history_indexes_cover_the_firestore_history_queries(tf: dict[str, Any]) -> None:
    """Real Firestore answers a query with equality filters and an order or range on `ts` only with
    a composite index: one per query shape of monitor/history_firestore.py, in its collection."""
    import inspect

    from monitor import history, history_firestore

    indexes = tf["locals"]["history_indexes"]
    assert {k: [tuple(f) for f in v] for k, v in indexes.items()} == {
        "recent": [("check", "ASCENDING"), ("ts", "DESCENDING")],
        "recent_failures": [("check", "ASCENDING"), ("ok", "ASCENDING"), ("ts", "DESCENDING")],
        "counts": [("check", "ASCENDING"), ("location", "ASCENDING"), ("ts", "ASCENDING")],
        "failure_counts": [("check", "ASCENDING"), ("location", "ASCENDING"), ("ok", "ASCENDING"),
                           ("ts", "ASCENDING")]}
    source = inspect.getsource(history_firestore)
    for field in ("check", "ok", "location", "ts"):
        assert f'FieldFilter("{field}"' in source
    assert tf["locals"]["history_collection"] == "synthmon-history" in inspect.getsource(history)
    ttl = tf["resource"]["google_firestore_field"]["history_ttl"]
    assert ttl["field"] == "expire_at" and '"expire_at"' in source
