"""Config loading: one test-data file per validation rule, each with its exact message."""

from __future__ import annotations

import pathlib

import pytest

from monitor import config as config_mod
from monitor.config import ConfigError
from probes.checks import HttpCheck, PostgresCheck, WebSocketCheck

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
    assert len(INVALID) >= 25
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
