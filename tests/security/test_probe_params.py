"""`/probe` reaches configured checks only: every other shape of parameter is a 400 before any probe."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from service_target import Target, serving, write_config

from monitor import config as config_mod
from monitor.app import EXTENSION, MAX_CHECK_PARAMS, MAX_QUERY_BYTES, create_app

VALID = ["web", "down"]
EVIL = "http://169.254.169.254/computeMetadata/v1/"


def q(value: str, key: str = "check") -> str:
    """One parameter, percent-encoded the way a client would send it."""
    return f"{urllib.parse.quote(key, safe='')}={urllib.parse.quote(value, safe='')}"


URLS = [q(v) for v in (
    EVIL, "https://example.com/health", "//example.com/", "http:/example.com", "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO", "ws://127.0.0.1:1/ws", "wss://example.com/ws",
    "postgresql://probe:pw@127.0.0.1:5432/probe", "javascript:alert(1)", "data:text/plain,web",
    "http://web", "web:80", "web#frag", "web?x=1",
)] + ["check=http://127.0.0.1:1/ok", "check=http%3A%2F%2F127.0.0.1%3A1%2F"]
HOSTS = [q(v) for v in (
    "localhost", "127.0.0.1", "127.1", "0", "0x7f000001", "2130706433", "[::1]", "::1",
    "169.254.169.254", "metadata.google.internal", "web.example.com", "example.com", "localhost:8080",
)]
AT_SIGNS = [q(v) for v in ("web@127.0.0.1", "@web", "web@", "user:pass@web", "down@example.com")] + [
    "check=web@127.0.0.1", "check=web%40127.0.0.1"]
DOT_DOT = [q(v) for v in ("..", "../web", "web/..", "web/../down", "./web", "..\\web", "web/", "/web",
                          "web\\down")] + ["check=..%2F..%2Fetc%2Fpasswd", "check=%2e%2e", "check=%2E%2E%2F",
                                           "check=..%5c..%5c"]
ENCODED = [
    "check=%2577eb",  # %77 = w: decodes to "%77eb", which a second decoding would make "web"
    "check=%25%37%37eb", "check=%252e%252e%252f", "check=http%253A%252F%252F127.0.0.1",
    "check=web%2540127.0.0.1", "check=%2577%2565%2562", "check=%c0%ae%c0%ae%c0%af",  # overlong UTF-8 "../"
    "check=%ff%fe", "check=web%00", "check=web%00.example.com", "check=web%0a", "check=web%0d%0aHost:%20x",
    "check=web%09", "check=%20web", "check=web%20", "check=+web", "check=web+", "check=web;url=http://x",
    "check=web%3Burl%3Dhttp://x", "check=web%26url%3Dhttp://x", "check=%77%65%62%2F",
]
LOOKALIKES = [q(v) for v in (
    "w\u0435b",  # Cyrillic ie
    "\uff57\uff45\uff42",  # fullwidth
    "web\u200b", "\u200bweb", "\ufeffweb", "we\u0301b", "\u24e6\u24d4\u24d1", "WEB", "Web",
    "web\u2024example", "web\uff0eexample", "d\u043ewn",  # Cyrillic o
    "\u202eweb", "web\u00a0", "w\u0117b", "\U0001d430\U0001d41e\U0001d41b",  # mathematical bold
    "web\u3002example", "\u0131web",  # dotless i
)]
UNKNOWN_PARAMS = [
    q(EVIL, "url"), q(EVIL, "target"), q("127.0.0.1", "host"), q(EVIL, "redirect"), q(EVIL, "callback"),
    q("postgresql://u:p@h/d", "dsn"), "check=web&" + q(EVIL, "url"), q(EVIL, "url") + "&check=web",
    "Check=web", "CHECK=web", "check%00=web", "check%20=web", "=web", "check.url=" + EVIL, "check[]=web",
    "check[0]=web", "checks=web", "check=web&publish=0&" + q(EVIL, "url"), "x", "check", "&&&url=x",
    q("web", "\u0441heck"),  # Cyrillic es
]
REPEATED = [
    "check=web&" + q(EVIL), q(EVIL) + "&check=web", "check=web&check=down&check=web%40evil",
    "check=web&check=&check=down", "check=web&publish=0&publish=0", "check=web&publish=0&publish=1",
    "publish=1&publish=1", "check=web&" + q("../down"),
]
OVERSIZED = [
    q("a" * 64), q("web" + "a" * 61), q("a" * 63),  # a valid name's length, but not a configured one
    q("a" * (MAX_QUERY_BYTES + 1)), "check=web&" + q("x" * MAX_QUERY_BYTES, "pad"),
    q("web") + "&" + "publish=" + "0" * 5000, q("w" * 100_000),
]
TOO_MANY = [
    "&".join(["check=web"] * (MAX_CHECK_PARAMS + 1)),
    "&".join(["check=web", "check=down"] * (MAX_CHECK_PARAMS // 2 + 1)),
    "&".join(f"p{i}=1" for i in range(400)),
    "&".join(["check=web"] * 200),
    "check=web&" + "&".join(["x=1"] * 300),
]
BAD_QUERIES = URLS + HOSTS + AT_SIGNS + DOT_DOT + ENCODED + LOOKALIKES + UNKNOWN_PARAMS + REPEATED + OVERSIZED + TOO_MANY


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    with serving() as t:
        t.release.set()
        yield t


@pytest.fixture
def app(tmp_path: Path, target: Target) -> Flask:
    return create_app(config_mod.load(write_config(tmp_path, target, hold=False)))


def assert_nothing_ran(app: Flask, target: Target) -> None:
    monitor = app.extensions[EXTENSION].monitor
    assert target.total == 0, dict(target.hits)
    assert monitor.latest == {} and monitor.last_report is None
    assert not Path(monitor.config.sinks.results_file).exists()


@pytest.mark.parametrize("query", BAD_QUERIES)
def test_anything_but_configured_names_is_a_400(app: Flask, target: Target, query: str) -> None:
    """URLs, hosts, `@`, `..`, encoded, look-alike, unknown, repeated, oversized or too many parameters: 400, nothing run."""
    target.hits.clear()
    client = app.test_client()
    for method in (client.get, client.post):
        r = method("/probe?" + query)
        assert r.status_code == 400, (query, r.status_code, r.get_data(as_text=True)[:200])
        assert r.is_json and r.json["valid_checks"] == VALID
    assert_nothing_ran(app, target)


@pytest.mark.parametrize("path", [
    "/probe/" + EVIL, "/probe/web", "/probe/..%2fstatus", "/probe%2f..%2fhealthz", "/probe;check=web",
    "/probe/%2e%2e/run", "//probe?check=web", "/Probe?check=web", "/PROBE?check=web",
])
def test_other_paths_run_nothing(app: Flask, target: Target, path: str) -> None:
    """Paths that merely look like /probe are 404s (or a plain 400 for a bad request line) and run nothing."""
    target.hits.clear()
    r = app.test_client().get(path)
    assert r.status_code in (400, 404), (path, r.status_code)
    assert_nothing_ran(app, target)


@pytest.mark.parametrize("kwargs", [
    {"json": {"check": EVIL, "url": EVIL}},
    {"data": {"check": EVIL, "url": EVIL}},
    {"data": "check=" + EVIL, "content_type": "application/x-www-form-urlencoded"},
    {"headers": {"X-Forwarded-Host": "169.254.169.254", "Referer": EVIL, "X-Original-URL": EVIL}},
])
def test_body_and_headers_never_choose_a_target(app: Flask, target: Target, kwargs: dict) -> None:
    """Only the query string selects checks: a body or header naming a URL still runs just the configured `web`."""
    target.hits.clear()
    r = app.test_client().post("/probe?check=web&publish=0", **kwargs)
    assert r.status_code == 200 and [x["name"] for x in r.json["results"]] == ["web"]
    assert dict(target.hits) == {"/ok": 1}


def test_run_ignores_query_parameters(app: Flask, target: Target) -> None:
    """POST /run with a URL in its query runs the configured checks only."""
    target.hits.clear()
    r = app.test_client().post("/run?" + q(EVIL) + "&" + q(EVIL, "url"))
    assert r.status_code == 200 and sorted(x["name"] for x in r.json["results"]) == ["down", "web"]
    assert set(target.hits) == {"/ok", "/down"}
