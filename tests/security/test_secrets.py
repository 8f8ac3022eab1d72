"""A config full of distinctive secrets, every probe driven through its failure classes against
loopback targets (some of which echo what they were sent): no secret, nor its base64 or URL-encoded
form, nor its first 8 characters, appears in anything synthmon prints, logs, publishes or serves."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import io
import json
import logging
import sqlite3
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import demo_target as demo
import psycopg
import pytest
import yaml
from echo_targets import EchoSocket, echo_http
from pgserver import SUPERUSER, SUPERUSER_PASSWORD, PgServer
from servers import Server, Tls, blackhole, closed_port

from monitor import cli, logs, timeseries
from monitor import config as config_mod
from monitor.app import create_app
from monitor.pipeline import Monitor
from monitor.sinks import prometheus
from monitor.table import render
from probes.redact import CUT, Redactor, clip

pytestmark = pytest.mark.timeout(120)

DB_ROLE = "secretrole"
DB_PASSWORD = "S3cr3t-Db-Pw-7731"
DB_WRONG = "Wr0ng-Db-Pw-9904"
LOGIN_PASSWORD = "L0gin-Pw-3318-QRS"
LOGIN_WRONG = "Wr0ng-Login-Pw-5521"
BYPASS = "bypass-key-0042-XYZ"
BEARER = "tok-ABCDEF123456"
API_KEY = "apikey-Q9W8E7R6T5"
INTERPOLATED = "interp-Secret-6650"  # only secret because of its variable's name
URL_KEY = "urlkey-Z1X2C3V4B5"  # a credential in a URL's query string
SECRETS = (DB_PASSWORD, DB_WRONG, LOGIN_PASSWORD, LOGIN_WRONG, BYPASS, BEARER, API_KEY, INTERPOLATED, URL_KEY)
FAULTS = ("none", "auth_down", "ws_upgrade_503", "ws_upgrade_401", "ws_close_1008", "ws_stall",
          "ws_missing_event", "ws_out_of_order", "ws_agent_error")
FIVE = list(demo.FIVE_EVENTS)


def forms(secret: str) -> set[str]:
    """The ways a secret could be spelled in output: itself, base64 (standard and URL-safe, padded
    or not), percent-encoded, and its first 8 characters (what a length limit leaves of it)."""
    raw = secret.encode()
    b64 = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    spelled = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret),
               *b64, *(b.rstrip("=") for b in b64)}
    if "://" not in secret and "=" not in secret:  # a whole DSN begins with "postgres"
        spelled.add(secret[:8])
    return spelled


def leaks(text: str, secrets: set[str]) -> list[str]:
    return sorted({f"{s!r} as {f!r}" for s in secrets for f in forms(s) if f in text})


@pytest.fixture(scope="module")
def db_role(pg_server: PgServer) -> PgServer:
    with psycopg.connect(host=pg_server.host, port=pg_server.port, user=SUPERUSER, password=SUPERUSER_PASSWORD,
                         dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (DB_ROLE,)).fetchone():
            conn.execute(f"CREATE ROLE {DB_ROLE} LOGIN PASSWORD '{DB_PASSWORD}'")
    return pg_server


@pytest.fixture
def demo_targets(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, demo.DemoTarget]]:
    """One demo target per fault mode; login wants LOGIN_PASSWORD."""
    monkeypatch.setattr(demo, "DEMO_PASSWORD", LOGIN_PASSWORD)
    targets: dict[str, demo.DemoTarget] = {}
    try:
        for fault in FAULTS:
            targets[fault] = demo.start(spacing_s=0.005)
            targets[fault].set_fault(fault)
        yield targets
    finally:
        for t in targets.values():
            t.stop()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The CLI and the test set up synthmon's logger; put it back for the other tests."""
    root = logging.getLogger("synthmon")
    saved = (root.handlers[:], root.level, root.propagate)
    yield
    root.handlers[:], root.level, root.propagate = saved


def http_checks(echo: str, tls_url: str, expiring_url: str, ca_file: str, refused: int, hole: int) -> list[dict]:
    headers = {"Authorization": f"Bearer {BEARER}", "X-Api-Key": API_KEY, "X-Custom": "${SERVICE_TOKEN}"}

    def check(name: str, url: str, **more: Any) -> dict[str, Any]:
        return {"name": name, "type": "http", "url": url, "headers": headers, **more}

    return [
        check("http-unavailable-echo", f"{echo}/echo/503", method="POST", json={"password": LOGIN_PASSWORD}),
        check("http-unavailable-cut", f"{echo}/cut/503?h=X-Api-Key&at=190"),
        check("http-status-echo", f"{echo}/echo/404"),
        check("http-assertion-echo", f"{echo}/json?h=Authorization", expect={"json": {"status": "ok"}}),
        check("http-assertion-cut", f"{echo}/json?h=X-Api-Key&at=69", expect={"json": {"status": "ok"}}),
        check("http-body-contains", f"{echo}/echo/200", expect={"body_contains": "healthy"}),
        check("http-url-key", f"{echo}/echo/503?api_key={URL_KEY}"),
        check("http-dns", "http://synthmon-secrets.invalid/health"),
        check("http-refused", f"http://127.0.0.1:{refused}/health"),
        check("http-connect-timeout", "http://224.0.0.1:81/health", timeout_s=0.5),
        check("http-timeout", f"http://127.0.0.1:{hole}/health", timeout_s=1),
        check("http-tls", tls_url, ca_file=ca_file),
        check("http-cert-expiring", expiring_url, ca_file=ca_file),
    ]


def ws_checks(targets: dict[str, demo.DemoTarget], echo_ws: str, tls_ws: str, ca_file: str,
              refused: int) -> list[dict]:
    healthy = targets["none"]

    def check(name: str, url: str, login_at: demo.DemoTarget = healthy, password: str = "${PROBE_PASSWORD}",
              **more: Any) -> dict[str, Any]:
        login = {"url": login_at.http_url + "/auth/login", "headers": {"X-Login-Bypass": BYPASS},
                 "json": {"email": demo.DEMO_EMAIL, "password": password}}
        return {"name": name, "type": "websocket", "url": url, "login": login, "timeout_s": 2,
                "headers": {"X-Api-Key": API_KEY},
                "events": {"required": FIVE, "ordered": True, "first_event_timeout_s": 1}, **more}

    return [
        check("ws-ok-query", healthy.ws_url, token_in="query"),
        check("ws-auth-login", healthy.ws_url, password="${PROBE_WRONG_PASSWORD}"),
        check("ws-login-unavailable", targets["auth_down"].ws_url, login_at=targets["auth_down"]),
        check("ws-unavailable", targets["ws_upgrade_503"].ws_url, targets["ws_upgrade_503"], token_in="header"),
        check("ws-auth-upgrade", targets["ws_upgrade_401"].ws_url, targets["ws_upgrade_401"], token_in="query"),
        check("ws-auth-close", targets["ws_close_1008"].ws_url, targets["ws_close_1008"]),
        check("ws-timeout", targets["ws_stall"].ws_url, targets["ws_stall"], token_in="query"),
        check("ws-event-missing", targets["ws_missing_event"].ws_url, targets["ws_missing_event"]),
        check("ws-event-order", targets["ws_out_of_order"].ws_url, targets["ws_out_of_order"]),
        check("ws-agent-error", targets["ws_agent_error"].ws_url, targets["ws_agent_error"]),
        check("ws-closed-echo", echo_ws + "/close", token_in="query"),
        check("ws-close-1008-echo", echo_ws + "/close-1008", token_in="header"),
        check("ws-agent-error-echo", echo_ws + "/error"),
        check("ws-agent-error-cut", echo_ws + "/error-cut", token_in="query"),
        check("ws-http-status-echo", echo_ws + "/nowhere", token_in="query"),
        check("ws-dns", "ws://synthmon-secrets.invalid/ws", token_in="query"),
        check("ws-refused", f"ws://127.0.0.1:{refused}/ws", token_in="query"),
        check("ws-connect-timeout", "ws://224.0.0.1:81/ws", token_in="query", timeout_s=0.8),
        check("ws-tls", tls_ws, ca_file=ca_file, token_in="query"),
    ]


def http_login_checks(targets: dict[str, demo.DemoTarget], echo: str) -> list[dict]:
    """HTTP checks that mint a token first; the echo target sends the token back, cut at a limit."""

    def check(name: str, url: str, password: str = "${PROBE_PASSWORD}", **more: Any) -> dict[str, Any]:
        login = {"url": targets["none"].http_url + "/auth/login", "headers": {"X-Login-Bypass": BYPASS},
                 "json": {"email": demo.DEMO_EMAIL, "password": password}}
        return {"name": name, "type": "http", "url": url, "login": login, **more}

    return [
        check("http-login-assertion-cut", f"{echo}/json?h=Authorization&bare=1&at=60", expect={"json": {"status": "ok"}}),
        check("http-login-unavailable-cut", f"{echo}/cut/503?h=Authorization&bare=1&at=185"),
        check("http-login-status-echo", f"{echo}/echo/404"),
        check("http-login-auth", f"{echo}/echo/200", password="${PROBE_WRONG_PASSWORD}"),
    ]


def pg_checks(pg: PgServer, proxy_port: int, refused: int, hole: int) -> list[dict]:
    def dsn(password: str, port: int = pg.port, host: str = pg.host, dbname: str = pg.dbname) -> str:
        return f"postgresql://{DB_ROLE}:{password}@{host}:{port}/{dbname}?sslmode=disable"

    fields = {"host": pg.host, "port": pg.port, "user": DB_ROLE, "password": "${DB_PASSWORD}",
              "dbname": pg.dbname, "sslmode": "disable"}
    return [
        {"name": "pg-ok", "type": "postgres", "dsn": "${STAGING_DB_DSN}", "samples": 2},
        {"name": "pg-auth", "type": "postgres", "dsn": dsn(DB_WRONG)},
        {"name": "pg-auth-kv", "type": "postgres",
         "dsn": f"host={pg.host} port={pg.port} user={DB_ROLE} password={DB_WRONG} dbname={pg.dbname} sslmode=disable"},
        {"name": "pg-db-error-echo", "type": "postgres", **fields, "query": "SELECT 'x-${DB_PASSWORD}'::int"},
        {"name": "pg-db-error-dbname", "type": "postgres", "dsn": dsn(DB_PASSWORD, dbname="no_such_db")},
        {"name": "pg-timeout", "type": "postgres", **fields, "query": "SELECT pg_sleep(5)", "timeout_s": 1.5},
        {"name": "pg-vpc-latency", "type": "postgres", "dsn": dsn(DB_PASSWORD, port=proxy_port), "samples": 2,
         "vpc_latency_threshold_ms": 40},
        {"name": "pg-refused", "type": "postgres", "dsn": dsn(DB_PASSWORD, port=refused)},
        {"name": "pg-dns", "type": "postgres", "dsn": dsn(DB_PASSWORD, host="db.synthmon-secrets.invalid")},
        {"name": "pg-startup-timeout", "type": "postgres", "dsn": dsn(DB_PASSWORD, port=hole), "timeout_s": 1.5},
    ]


EXPECTED = {
    "http-unavailable-echo": "unavailable", "http-unavailable-cut": "unavailable", "http-status-echo": "http_status",
    "http-assertion-echo": "assertion", "http-assertion-cut": "assertion", "http-body-contains": "assertion",
    "http-url-key": "unavailable", "http-dns": "dns", "http-refused": "connect_refused",
    "http-connect-timeout": ("connect_timeout", "connect_refused"), "http-timeout": "timeout", "http-tls": "tls",
    "http-cert-expiring": "cert_expiring",
    "http-login-assertion-cut": "assertion", "http-login-unavailable-cut": "unavailable",
    "http-login-status-echo": "http_status", "http-login-auth": "auth",
    "ws-ok-query": None, "ws-auth-login": "auth", "ws-login-unavailable": "unavailable", "ws-unavailable": "unavailable",
    "ws-auth-upgrade": "auth", "ws-auth-close": "auth", "ws-timeout": "ws_event_missing",
    "ws-event-missing": "ws_event_missing", "ws-event-order": "ws_event_order", "ws-agent-error": "agent_error",
    "ws-closed-echo": "ws_closed", "ws-close-1008-echo": "auth", "ws-agent-error-echo": "agent_error",
    "ws-agent-error-cut": "agent_error", "ws-http-status-echo": "http_status", "ws-dns": "dns",
    "ws-refused": "connect_refused", "ws-connect-timeout": ("connect_timeout", "connect_refused"), "ws-tls": "tls",
    "pg-ok": None, "pg-auth": "auth", "pg-auth-kv": "auth", "pg-db-error-echo": "db_error",
    "pg-db-error-dbname": ("db_error", "auth"), "pg-timeout": "timeout", "pg-vpc-latency": "vpc_latency",
    "pg-refused": "connect_refused", "pg-dns": "dns", "pg-startup-timeout": "timeout",
}


@contextlib.contextmanager
def tls_targets(tmp_path: Path) -> Iterator[tuple[str, str, str, str]]:
    """(https URL with a wrong-host certificate, https URL expiring in 3 days, wss URL with the wrong host, CA file)."""
    tls = Tls()
    ca_file = tmp_path / "ca.pem"
    tls.ca.cert_pem.write_to_path(str(ca_file))
    wrong, expiring = Server(tls.wrong_host), Server(tls.expiring)
    wss = demo.start(ssl_context=tls.wrong_host)
    try:
        yield wrong.url("/ok"), expiring.url("/ok"), wss.ws_url, str(ca_file)
    finally:
        wrong.close()
        expiring.close()
        wss.stop()


def test_no_secret_in_any_output(tmp_path: Path, db_role: PgServer, pg_proxy: Any,
                                 demo_targets: dict[str, demo.DemoTarget], restore_logging: None,
                                 monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                 request: pytest.FixtureRequest) -> None:
    """Every failure class of every probe, through CLI (json, table), logs, results, alerts, state, history,
    /status, /status/<check>, a result page, /history, /metrics and Cloud Monitoring series: no secret."""
    pg_proxy.set_delay(30)
    env = {"PROBE_PASSWORD": LOGIN_PASSWORD, "PROBE_WRONG_PASSWORD": LOGIN_WRONG, "SERVICE_TOKEN": INTERPOLATED,
           "DB_PASSWORD": DB_PASSWORD, "STAGING_DB_DSN": db_role.dsn().replace(
               f"{db_role.user}:{db_role.password}", f"{DB_ROLE}:{DB_PASSWORD}")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    state = tmp_path / "state"
    with echo_http() as echo, EchoSocket() as echo_ws, blackhole() as hole, \
            tls_targets(tmp_path) as (tls_url, expiring_url, tls_ws, ca_file):
        refused = closed_port()
        checks = (http_checks(echo, tls_url, expiring_url, ca_file, refused, hole)
                  + http_login_checks(demo_targets, echo)
                  + ws_checks(demo_targets, echo_ws.url, tls_ws, ca_file, refused)
                  + pg_checks(db_role, pg_proxy.port, refused, hole))
        doc = {"location": "test-secrets", "run_timeout_s": 15,
               "sinks": {"metrics": ["local"], "alerts": ["local"], "state": f"sqlite:///{state}/state.db",
                         "results_file": f"{state}/results.jsonl", "alerts_file": f"{state}/alerts.jsonl"},
               "defaults": {"timeout_s": 3, "failure_threshold": 1, "retries": 0}, "checks": checks}
        path = tmp_path / "synthmon.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))

        outputs: dict[str, str] = {}
        assert cli.main(["probe", "--config", str(path), "--format", "json"]) == 1
        out = capsys.readouterr()
        report = json.loads(out.out)
        outputs["cli json"], outputs["cli stderr (json)"] = out.out, out.err
        assert cli.main(["probe", "--config", str(path), "--no-publish"]) == 1
        out = capsys.readouterr()
        outputs["cli table"], outputs["cli stderr (table)"] = out.out, out.err

        config = config_mod.load(path)
        log_stream = io.StringIO()
        logs.setup(log_stream, logging.DEBUG, redact=Redactor(config.secrets))
        monitor = Monitor(config)
        request.addfinalizer(getattr(monitor, "close", lambda: None))
        client = create_app(config, monitor=monitor).test_client()
        run = client.post("/run")
        outputs["/run"] = run.get_data(as_text=True)
        outputs["/probe"] = client.get("/probe?check=ws-agent-error-cut&check=http-assertion-cut").get_data(as_text=True)
        outputs["/status json"] = client.get("/status").get_data(as_text=True)
        outputs["/status html"] = client.get("/status", headers={"Accept": "text/html"}).get_data(as_text=True)
        outputs["/metrics"] = client.get("/metrics").get_data(as_text=True)
        html = {"Accept": "text/html"}
        for c in config.checks:
            outputs[f"/status/{c.name}"] = client.get(f"/status/{c.name}", headers=html).get_data(as_text=True)
            outputs[f"/history {c.name}"] = client.get(f"/history?check={c.name}&since=1h").get_data(as_text=True)
        outputs["/status/<check>/<run_id>"] = client.get(
            f"/status/{config.checks[0].name}/{run.json['run_id']}", headers=html).get_data(as_text=True)
        assert "<th>message</th>" in outputs["/status/<check>/<run_id>"]  # the result page was found
        assert monitor.last_report is not None
        last = monitor.last_report
        outputs["table"] = render(last)
        outputs["prometheus"] = prometheus.render(list(monitor.latest.values()), config.location,
                                                  checks={c.name: c for c in config.checks}).decode()
        samples = timeseries.samples(run_report(monitor), {c.name: c for c in config.checks})
        series = timeseries.time_series(samples, timeseries.resource_labels("proj", "test-secrets", "synthmon", "t1"),
                                        dt.datetime.now(dt.UTC))
        outputs["cloud monitoring series"] = "\n".join(str(s) for s in series)
        outputs["log"] = log_stream.getvalue()
        outputs["results file"] = (state / "results.jsonl").read_text()
        outputs["alerts file"] = (state / "alerts.jsonl").read_text()
        with sqlite3.connect(state / "state.db") as db:
            outputs["state store"] = "\n".join(repr(row) for t in _tables(db) for row in db.execute(f"SELECT * FROM {t}"))
        with sqlite3.connect(state / "history.db") as db:
            outputs["history store"] = "\n".join(repr(row) for t in _tables(db) for row in db.execute(f"SELECT * FROM {t}"))

    secrets = set(SECRETS) | set(config.secrets)
    for t in [*demo_targets.values()]:
        secrets |= t.tokens
    secrets |= echo_ws.tokens - {""}
    assert any(t.tokens for t in demo_targets.values()) and echo_ws.tokens

    classes = {r["name"]: (r["failure"] or {}).get("class") for r in report["results"]}
    wrong = {n: (classes.get(n), want) for n, want in EXPECTED.items()
             if classes.get(n) not in (want if isinstance(want, tuple) else (want,))}
    assert not wrong, wrong
    found = {where: hits for where, text in outputs.items() if (hits := leaks(text, secrets))}
    assert not found, json.dumps(found, indent=1)
    assert all(outputs[k] for k in ("log", "alerts file", "results file", "/status html", "prometheus"))


def run_report(monitor: Monitor) -> Any:
    assert monitor.last_report is not None
    return monitor.last_report


def _tables(db: sqlite3.Connection) -> list[str]:
    return [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]


def test_a_cut_secret_is_masked() -> None:
    """What a length limit leaves of a secret (its start, before the cut mark) is masked too."""
    redact = Redactor([API_KEY])
    assert redact.text(clip("x" * 10 + API_KEY, 16)) == "x" * 10 + "***" + CUT
    assert redact.text(f"JSON path a is {clip(API_KEY, 4)}, expected 1") == "JSON path a is ***" + CUT + ", expected 1"
    assert redact.text(clip("nothing secret here", 8)) == "nothing" + CUT


@pytest.mark.parametrize("param", ["api_key", "access_token", "key", "sig", "X-Goog-Signature", "auth_token"])
def test_credential_query_parameters_are_secrets(param: str) -> None:
    """A credential in a check's URL query (`?key=…`, `?access_token=…`) is a secret like a header's."""
    url = f"https://api.example.com/health?region=eu&{param}={urllib.parse.quote(URL_KEY + '/+')}"
    cfg = config_mod.loads(yaml.safe_dump({"checks": [{"name": "a", "type": "http", "url": url}]}))
    assert URL_KEY + "/+" in cfg.secrets and "eu" not in cfg.secrets
    assert URL_KEY not in Redactor(cfg.secrets).text(url)
