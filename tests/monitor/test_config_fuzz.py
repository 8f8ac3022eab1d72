"""Config loader fuzzing: whatever the document, loading either succeeds or raises a located ConfigError."""

from __future__ import annotations

import copy
import pathlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor import config as config_mod
from monitor.config import ConfigError

# Hypothesis flags a change of the global `random` state during generation; a Pub/Sub publisher
# thread left retrying by an earlier test (jittered backoff) changes it from outside these tests.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")

FILE = "fuzz.yaml"
ENV = {"PROBE_PASSWORD": "pw-fuzz-1", "STAGING_DB_DSN": "postgresql://probe:pw-fuzz-2@10.0.0.3/app",
       "GOOGLE_CLOUD_PROJECT": "proj"}
FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# Every check type with most of its keys, so that mutations reach every parser branch.
VALID: dict[str, Any] = {
    "location": "us-central1",
    "run_timeout_s": 50,
    "sinks": {"metrics": ["local", "prometheus"], "alerts": ["local"], "project_id": "${GOOGLE_CLOUD_PROJECT}",
              "alert_topic": "synthmon-alerts", "state": "sqlite:///.synthmon/state.db"},
    "defaults": {"timeout_s": 10, "interval_s": 60, "failure_threshold": 2, "success_threshold": 1,
                 "renotify_s": 3600, "severity": "critical", "cert_min_days": 14},
    "checks": [
        {"name": "api", "type": "http", "url": "https://api.example.test/health", "method": "POST",
         "headers": {"Authorization": "Bearer ${PROBE_PASSWORD}", "X-Probe": "synthmon"},
         "json": {"ping": [1, 2.5, None, True]}, "follow_redirects": True, "max_redirects": 3,
         "ca_file": "ca.pem", "max_body_bytes": 65536,
         "expect": {"status": [200, 204], "body_contains": "ok", "body_not_contains": "error",
                    "body_regex": r"\"status\":\s*\"ok\"", "json": {"status": "ok", "items.0": 1},
                    "max_latency_ms": 2000}},
        {"name": "golden-path", "type": "websocket", "url": "wss://api.example.test/ws", "timeout_s": 40,
         "login": {"url": "https://auth.example.test/login", "json": {"email": "p@example.test",
                                                                      "password": "${PROBE_PASSWORD}"},
                   "token_field": "access_token"},
         "token_in": "subprotocol", "send": {"type": "user_message", "payload": {"content": "reply OK"}},
         "events": {"required": ["agent_started", "agent_completed"], "ordered": True, "fail_on": ["error"],
                    "first_event_timeout_s": 30, "answer_field": "final_response"},
         "max_frame_bytes": 1 << 20},
        {"name": "cloudsql", "type": "postgres", "dsn": "${STAGING_DB_DSN}", "samples": 5,
         "vpc_latency_threshold_ms": 100, "statement_timeout_ms": 500, "expect": {"max_latency_ms": 1000}},
        {"name": "db-kv", "type": "postgres", "host": "10.0.0.3", "port": 5432, "user": "probe",
         "password": "${PROBE_PASSWORD}", "dbname": "app", "sslmode": "require"},
        {"name": "api-dns", "type": "dns", "host": "api.example.test", "record": "CNAME", "nameserver": "8.8.8.8:53",
         "expect": {"contains": ["ghs.googlehosted.com."], "min_answers": 1, "max_latency_ms": 200},
         "depends_on": ["api"], "degraded_latency_ms": 100, "slo": {"objective": 0.995, "window_days": 28},
         "retries": 1, "retry_delay_s": 5},
    ],
    "maintenance": [{"checks": ["api"], "start": "2030-01-01T00:00:00Z", "end": "2030-01-01T01:00:00Z",
                     "reason": "upgrade"},
                    {"checks": [], "rrule": "FREQ=WEEKLY;BYDAY=TU;BYHOUR=6", "duration_s": 1800}],
    "alerting": {"quorum": 1, "locations": ["us-central1"]},
}


def _keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield k
            yield from _keys(v)
    elif isinstance(node, list):
        for v in node:
            yield from _keys(v)


KNOWN_KEYS = sorted(set(_keys(VALID)) | {"body", "retries", "dsn", "host", "terminal", "tools_balanced",
                                         "handshake", "query", "rows", "job", "results_file", "equals",
                                         "cloud_trace_context", "history", "history_days"})

text = st.text(max_size=20) | st.sampled_from(["", "${PROBE_PASSWORD}", "${UNSET}", "${UNSET:-x}", "$${X}", "${",
                                               "http://", "https://[::1", "http://h:99999/", "wss://h/ws",
                                               "postgresql://u:p@[::1/db", "ca.pem", "\0", "(" * 50,
                                               "a{4294967296}", "local", "http", "websocket", "postgres",
                                               "2030-01-01T00:00:00Z", "not-a-date", "NaN", "dns", "FREQ=DAILY",
                                               "FREQ=DAILY;INTERVAL=0", "8.8.8.8:99999", "MX"])
scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(10**400), max_value=10**400)
           | st.floats() | text | st.dates() | st.datetimes())
keys = st.sampled_from(KNOWN_KEYS) | text | st.integers(-3, 3) | st.booleans()
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=12)
small_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner,
                                                                                                 max_size=3),
                            max_leaves=4)
# A check that gets past name and type most of the time, so that the type's own parser is fuzzed.
checks = st.builds(
    lambda base, extra: {**base, **extra},
    st.fixed_dictionaries({"name": st.sampled_from(["a", "b-1"]) | text,
                           "type": st.sampled_from(["http", "websocket", "postgres", "dns"]) | text},
                          optional={"url": st.sampled_from(["http://h/", "https://h:8443/x", "ws://h/ws", "wss://h/"])
                                    | text,
                                    "dsn": st.sampled_from(["${STAGING_DB_DSN}", "host=h dbname=d"]) | text}),
    st.dictionaries(st.sampled_from(KNOWN_KEYS) | text, small_values, max_size=5))


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("fuzz")
    (path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    return path


LOCATED = re.compile(rf"{re.escape(FILE)}(:\d+:\d+)?: \S.*")


def assert_located(exc: ConfigError) -> None:
    """Every line of the message names the file (and where it can, the line and column) and a problem."""
    lines = str(exc).split("\n")
    assert lines and all(LOCATED.fullmatch(line) for line in lines), str(exc)
    assert len(lines) == len(exc.errors)


def load_or_config_error(text: str, base_dir: pathlib.Path) -> None:
    """Loading succeeds or raises ConfigError naming the file; any other exception fails the test."""
    try:
        config_mod.loads(text, FILE, ENV, base_dir=base_dir)
    except ConfigError as exc:
        assert_located(exc)


def dump(doc: Any) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: 5x faster
    return yaml.dump(doc, Dumper=dumper, allow_unicode=True, sort_keys=False)


def test_valid_document_loads(base_dir: pathlib.Path) -> None:
    """The seed document of the mutation tests is itself valid (mutations start from a loading config)."""
    cfg = config_mod.loads(dump(VALID), FILE, ENV, base_dir=base_dir)
    assert cfg.check_names == ("api", "golden-path", "cloudsql", "db-kv", "api-dns")


@FUZZ
@given(doc=values)
def test_random_documents(base_dir: pathlib.Path, doc: Any) -> None:
    """Random YAML values (scalars, lists, mappings with odd keys) only ever raise a located ConfigError."""
    load_or_config_error(dump(doc), base_dir)


@FUZZ
@given(items=st.lists(checks, min_size=1, max_size=2), top=st.dictionaries(keys, small_values, max_size=2))
def test_random_checks(base_dir: pathlib.Path, items: list[dict[Any, Any]], top: dict[Any, Any]) -> None:
    """Random check mappings under `checks:` (names, types and keys mostly drawn from the real ones)."""
    load_or_config_error(dump({**top, "checks": items}), base_dir)


YAML_TOKENS = ["{", "}", "[", "]", ": ", ":", "- ", ", ", "\n", "\n  ", "  ", "'", '"', "#", "&a ", "*a", "? ",
               "!!set ", "!!binary ", "!!int ", "!!float ", "!!timestamp ", "!!python/object:os.system ", "|\n",
               ">\n", "---\n", "...\n", "%YAML 1.1\n", "\t", "\\x00", "checks", "name", "type", "http", "url",
               "2024-13-45", "2024-02-30T25:61:00", "0x1F", "0o17", "1e400", ".inf", ".nan", "9" * 5000,
               "${X}", "~", "null", "yes", "on"]


@FUZZ
@given(raw=st.text(max_size=200) | st.lists(st.sampled_from(YAML_TOKENS) | st.text(max_size=5),
                                             max_size=40).map("".join))
def test_random_text(base_dir: pathlib.Path, raw: str) -> None:
    """Raw text and YAML-token soup (tags, anchors, bad timestamps, huge ints) never escape as another error."""
    load_or_config_error(raw, base_dir)


def _slots(node: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key or index) of a document, depth first."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        yield node, k
        yield from _slots(v)


def _retyped(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return {"0": value[0]} if value else {}
    if isinstance(value, dict):
        return list(value.values())
    return 0


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    doc = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 4))):
        slots = list(_slots(doc))
        container, key = draw(st.sampled_from(slots)) if slots else (doc, None)
        op = draw(st.sampled_from(["drop", "replace", "add", "retype"]))
        if key is None or op == "add":
            target = container if isinstance(container, dict) else doc
            target[draw(keys)] = draw(small_values)
        elif op == "drop":
            del container[key]
        elif op == "replace":
            container[key] = draw(small_values)
        else:
            container[key] = _retyped(container[key])
    return doc


@FUZZ
@given(doc=mutated())
def test_mutated_valid_config(base_dir: pathlib.Path, doc: Any) -> None:
    """A valid config with keys dropped, added, retyped or replaced by random values: located ConfigError only."""
    load_or_config_error(dump(doc), base_dir)


@pytest.mark.parametrize("text", [
    "checks: [{name: a, type: http, url: 'http://h/', json: {when: 2024-01-01}}]",
    "checks: [{name: a, type: http, url: 'http://h/', json: !!set {a}}]",
    "checks: [{name: a, type: http, url: 'http://h/', json: !!binary aGVsbG8=}]",
    "checks: [{name: a, type: http, url: 'http://h/', json: .nan}]",
    "checks: [{name: a, type: http, url: 'http://h/', expect: {json: {d: 2024-01-01}}}]",
    "checks: [{name: a, type: websocket, url: 'ws://h/', send: {when: 2024-01-01}}]",
    "checks: [{name: a, type: websocket, url: 'ws://h/', login: {url: 'http://h/', json: {d: !!binary aGk=}}}]",
    "checks: [{name: a, type: http, url: 'http://[::1/'}]",
    "checks: [{name: a, type: http, url: 'http://h:99999/'}]",
    "checks: [{name: a, type: http, url: \"http://h/a b\"}]",
    "checks: [{name: a, type: http, url: \"http://h/\\0\"}]",
    "checks: [{name: a, type: websocket, url: \"ws://h/\\r\\nX: y\"}]",
    "checks: [{name: a, type: http, url: 'http://h/', ca_file: '" + "a" * 5000 + "'}]",
    "checks: [{name: a, type: http, url: 'http://h/', expect: {body_regex: '" + "(" * 5000 + "'}}]",
    "checks: [{name: a, type: http, url: 'http://h/', expect: {body_regex: 'a{4294967296}'}}]",
    "checks: [{name: a, type: http, url: 'http://h/', timeout_s: " + "9" * 400 + "}]",
    "checks: [{name: a, type: http, url: 'http://h/', expect: {max_latency_ms: " + "9" * 400 + "}}]",
    "run_timeout_s: " + "9" * 5000,
    "maintenance: [{start: 2024-13-45, end: 2024-01-02}]",
    "a: &x [*x]",
    "checks: &x [*x]",
    "checks: [&x {name: a, type: http, url: 'http://h/', json: [*x]}]",
])
def test_found_by_fuzzing(base_dir: pathlib.Path, text: str) -> None:
    """Inputs that escaped the loader as TypeError, ValueError, OSError, OverflowError or RecursionError: ConfigError."""
    with pytest.raises(ConfigError) as err:
        config_mod.loads(text, FILE, ENV, base_dir=base_dir)
    assert_located(err.value)
