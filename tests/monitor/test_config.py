"""Config loading: one test-data file per validation rule, each with its exact message."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

from monitor import config as config_mod
from monitor import regions
from monitor.config import Alerting, ConfigError
from probes.checks import DnsCheck, DnsExpect, HttpCheck, PostgresCheck, Slo, WebSocketCheck

DATA = pathlib.Path(__file__).parent / "testdata"
INVALID = sorted(DATA.glob("invalid-*.yml"))


def _expected(path: pathlib.Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: <message>'"
    return first.removeprefix("# expect: ")


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_config_has_located_message(path: pathlib.Path) -> None:
    with pytest.raises(ConfigError) as err:
        config_mod.loads(path.read_text(), path.name, {}, base_dir=DATA)
    assert str(err.value) == _expected(path)


def test_every_rule_has_its_own_file() -> None:
    assert len(INVALID) >= 55
    assert len({_expected(p) for p in INVALID}) == len(INVALID)


def test_defaults_and_types() -> None:
    cfg = config_mod.loads(
        """
location: europe-west1
defaults: {timeout_s: 5, failure_threshold: 3}
checks:
  - {name: api, type: http, url: "https://api.example.test/health", expect: {status: 200, json: {status: ok}}}
  - {name: chat, type: websocket, url: "wss://api.example.test/ws", timeout_s: 40}
  - {name: db, type: postgres, host: 10.0.0.3, user: probe, dbname: app}
""", "c.yaml", {})
    api, chat, db = cfg.checks
    assert isinstance(api, HttpCheck) and api.timeout_s == 5 and api.failure_threshold == 3
    assert api.expect.status == (200,) and api.expect.json == (("status", "ok"),)
    assert isinstance(chat, WebSocketCheck) and chat.events.required == ("agent_started", "agent_completed")
    assert chat.events.first_event_timeout_s == 30 and chat.token_in == "subprotocol"
    assert isinstance(db, PostgresCheck) and db.samples == 5 and db.vpc_latency_threshold_ms == 100
    assert db.target == "postgres://10.0.0.3:5432/app"
    assert cfg.location == "europe-west1" and cfg.run_timeout_s is None  # optional: no bound unless set
    assert cfg.sinks.metrics == ("local",) and cfg.sinks.state.startswith("sqlite:///")


def test_env_interpolation_marks_secrets() -> None:
    env = {"PROBE_PASSWORD": "hunter2-pw", "API_HOST": "api.example.test", "STAGING_DB_DSN":
           "postgresql://probe:s3cret-db@10.0.0.3/app"}
    cfg = config_mod.loads(
        """
checks:
  - {name: api, type: http, url: "https://${API_HOST}/health"}
  - name: chat
    type: websocket
    url: wss://${API_HOST}/ws
    login: {url: "https://${API_HOST}/auth/login", json: {email: probe@example.test, password: "${PROBE_PASSWORD}"}}
  - {name: db, type: postgres, dsn: "${STAGING_DB_DSN}"}
  - {name: dflt, type: http, url: "http://${MISSING_HOST:-127.0.0.1}/", headers: {X-Literal: "$${NOT_A_VAR}"}}
""", "c.yaml", env)
    assert cfg.checks[0].url == "https://api.example.test/health"
    assert cfg.checks[3].url == "http://127.0.0.1/"
    assert dict(cfg.checks[3].headers)["X-Literal"] == "${NOT_A_VAR}"
    assert {"hunter2-pw", "s3cret-db", env["STAGING_DB_DSN"]} <= cfg.secrets
    assert "api.example.test" not in cfg.secrets
    assert "s3cret" not in cfg.checks[2].target


def test_load_names_the_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "synthmon.yaml"
    path.write_text("checks:\n  - {name: api, type: http, url: 'http://127.0.0.1/', retry: 3}\n")
    with pytest.raises(ConfigError, match=r"synthmon\.yaml:2:55: checks\[0\] \"api\": retry: unknown key "
                       r"\(did you mean 'retries'\?\)$"):
        config_mod.load(path, {})
    with pytest.raises(ConfigError, match="cannot read"):
        config_mod.load(tmp_path / "absent.yaml", {})


def test_design_example_loads() -> None:
    """The config example of the design contract loads as written (flow mappings holding ${VAR} included)."""
    env = {"GOOGLE_CLOUD_PROJECT": "proj", "PROBE_USER": "probe@example.test", "PROBE_PASSWORD": "pw: {x}",
           "STAGING_DB_DSN": "postgresql://u:p@10.0.0.3/db"}
    cfg = config_mod.load(DATA / "valid-design-example.yaml", env)
    assert cfg.check_names == ("backend-health", "golden-path", "cloudsql")
    golden = cfg.checks[1]
    assert isinstance(golden, WebSocketCheck) and golden.login is not None
    assert golden.login.json == {"email": "probe@example.test", "password": "pw: {x}"}
    assert golden.timeout_s == 120 and golden.retries == 1 and cfg.run_timeout_s == 180  # it fits the bound
    assert "pw: {x}" in cfg.secrets


def test_env_values_never_become_yaml() -> None:
    """A ${VAR} value is a string, never YAML structure; a value that is exactly one ${VAR} may be a number."""
    env = {"HOST": "x}, {name: evil, type: http, url: 'http://evil/'", "PORT": "6543", "N": "7"}
    cfg = config_mod.loads("checks: [{name: a, type: http, url: 'http://127.0.0.1/', headers: {X-H: ${HOST}}},"
                           " {name: db, type: postgres, host: h, port: ${PORT}, samples: ${N}}]", "c.yaml", env)
    assert cfg.check_names == ("a", "db")
    assert dict(cfg.checks[0].headers)["X-H"] == env["HOST"]
    assert (cfg.checks[1].port, cfg.checks[1].samples) == (6543, 7)
    with pytest.raises(ConfigError, match='samples: must be a number, not a string'):
        config_mod.loads("checks: [{name: db, type: postgres, host: h, samples: 'x${N}'}]", "c.yaml", env)


def test_examples_are_valid() -> None:
    env = {"PROBE_USER": "u@example.test", "PROBE_PASSWORD": "pw", "STAGING_DB_DSN": "postgresql://u:p@10.0.0.3/db",
           "GOOGLE_CLOUD_PROJECT": "proj", "E2E_BYPASS_KEY": "k"}
    examples = sorted((pathlib.Path(__file__).parents[2] / "examples").glob("*.yaml"))
    assert examples, "examples/ must hold example configs"
    for path in examples:
        cfg = config_mod.load(path, env)
        assert cfg.checks, path


FIVE_MISTAKES = """\
location: here
checks:
  - {name: api, type: http, url: "http://127.0.0.1:99999/", timout_s: 5}
  - name: golden-path
    type: websocket
    url: wss://127.0.0.1/ws
    events: {required: [agent_started, ""]}
  - {name: db, type: postgres, dsn: "postgresql://u@127.0.0.1/db", samples: 0}
maintenance:
  - {checks: [apii], start: "2026-03-01T22:00:00Z", end: "2026-03-01T23:00:00Z"}
"""


def test_five_mistakes_give_five_located_errors() -> None:
    """Every problem of a broken config at once, in document order, each with line, column, check and field."""
    with pytest.raises(ConfigError) as err:
        config_mod.loads(FIVE_MISTAKES, "synthmon.yaml", {})
    assert str(err.value).splitlines() == [
        "synthmon.yaml:3:34: checks[0] \"api\": url: port out of range 0-65535 in 'http://127.0.0.1:99999/'",
        "synthmon.yaml:3:61: checks[0] \"api\": timout_s: unknown key (did you mean 'timeout_s'?)",
        'synthmon.yaml:7:40: checks[1] "golden-path": events.required[1]: unknown event name ""',
        'synthmon.yaml:8:77: checks[2] "db": samples: must be >= 1, not 0',
        "synthmon.yaml:10:15: maintenance[0]: checks[0]: unknown check 'apii'",
    ]
    assert len(err.value.errors) == 5
    first = err.value.errors[0]
    assert (first.line, first.column, first.where, first.field) == (3, 34, 'checks[0] "api"', "url")
    assert (err.value.where, err.value.field) == ('checks[0] "api"', "url")  # the first, as before


def test_columns_count_from_the_text_as_written() -> None:
    """A `${VAR}` before a mistake on the same line does not shift the column reported."""
    text = 'checks:\n  - {name: api, type: http, url: "http://${HOST}/", timeout_s: -1}\n'
    with pytest.raises(ConfigError) as err:
        config_mod.loads(text, "c.yaml", {"HOST": "a-much-longer-host-name.example.test"})
    column = text.splitlines()[1].index("-1") + 1
    assert str(err.value) == f'c.yaml:2:{column}: checks[0] "api": timeout_s: must be >= 0.1, not -1'
    assert column == 64


def test_yaml_syntax_error_says_why_and_where() -> None:
    with pytest.raises(ConfigError) as err:
        config_mod.loads("checks:\n  - {name: api, type: http\n", "c.yaml", {})
    assert str(err.value).startswith("c.yaml:3:1: invalid YAML: while parsing a flow mapping")
    with pytest.raises(ConfigError, match=r"^c\.yaml:1:9: invalid YAML: recursive alias$"):
        config_mod.loads("checks: &x\n  - *x\n", "c.yaml", {})


def test_contract_keys_beyond_the_first_three_checks() -> None:
    cfg = config_mod.loads("""
location: europe-west1
run_timeout_s: 100
defaults: {retries: 2, retry_delay_s: 3, failure_threshold: 2}
alerting: {quorum: 2, locations: [us-central1, europe-west1]}
sinks: {history_days: 7, history: "sqlite:///.synthmon/history.db", metrics: [cloud_monitoring], project_id: p}
checks:
  - {name: backend-health, type: http, url: "https://api.example.test/health", cloud_trace_context: true,
     degraded_latency_ms: 1500, slo: {objective: 0.995}, retries: 0}
  - {name: api-dns, type: dns, host: api.example.test, record: CNAME, nameserver: "8.8.8.8:53",
     expect: {contains: ghs.googlehosted.com., max_latency_ms: 200}, depends_on: backend-health}
  - {name: chat, type: websocket, url: "wss://api.example.test/ws", depends_on: [backend-health, api-dns]}
""", "c.yaml", {})
    api, dns, chat = cfg.checks
    assert isinstance(api, HttpCheck) and api.cloud_trace_context and api.retries == 0
    assert api.degraded_latency_ms == 1500 and api.slo == Slo(0.995, 28) and api.failure_threshold == 2
    assert isinstance(dns, DnsCheck) and (dns.record, dns.nameserver) == ("CNAME", "8.8.8.8:53")
    assert dns.expect == DnsExpect(contains=("ghs.googlehosted.com.",), max_latency_ms=200)
    assert dns.depends_on == ("backend-health",) and (dns.retries, dns.retry_delay_s) == (2, 3)
    assert isinstance(chat, WebSocketCheck) and chat.depends_on == ("backend-health", "api-dns")
    assert not chat.cloud_trace_context
    assert cfg.alerting == Alerting(2, ("us-central1", "europe-west1"))
    assert (cfg.sinks.history_days, cfg.sinks.history) == (7, "sqlite:///.synthmon/history.db")
    defaults = config_mod.loads("checks: [{name: a, type: dns, host: h}]", "c.yaml", {})
    assert defaults.sinks.history_days == 30 and defaults.sinks.history is None
    assert defaults.checks[0].retries == 1 and defaults.checks[0].retry_delay_s == 5
    assert defaults.checks[0].failure_threshold == 1


def test_secrets_from_headers_query_login_and_dsn() -> None:
    cfg = config_mod.loads("""
checks:
  - {name: a, type: http, url: "https://h/x?api_key=k3y-value&page=2", headers: {Authorization: "Bearer t0ken-abc"}}
  - {name: b, type: websocket, url: "wss://h/ws", login: {url: "https://h/login", json: {user: u, password: pw-login}}}
  - {name: c, type: postgres, host: h, password: db-pass}
""", "c.yaml", {})
    assert {"k3y-value", "Bearer t0ken-abc", "t0ken-abc", "pw-login", "db-pass"} <= cfg.secrets
    assert "page" not in cfg.secrets and "2" not in cfg.secrets


def test_regions_are_regions_not_zones() -> None:
    assert {"us-central1", "europe-west1", "asia-northeast1", "me-central2", "africa-south1"} <= regions.REGIONS
    assert all(re.fullmatch(r"[a-z]+-[a-z]+[0-9]+", r) for r in regions.REGIONS)  # a zone ends in -a, -b, ...


def test_loading_needs_pydantic_core_only() -> None:
    """Cold start: the loader imports pydantic-core, never pydantic's model layer, and dateutil only for an rrule."""
    code = ("import sys; from monitor import config; config.loads('checks: [{name: a, type: dns, host: h}]');"
            "print(*(m in sys.modules for m in ('pydantic', 'pydantic_core', 'dateutil.rrule', 'difflib')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True", "False", "False"]
