"""/status, /status/<check> and /history through the Flask test client, against loopback targets and
real stores: shared by several locations, a state store that is down, the streak start as `since`."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from pathlib import Path

import pytest
from service_target import Target, free_port, serving, write_config

from monitor import config as config_mod
from monitor.app import create_app
from monitor.pipeline import Monitor


@pytest.fixture
def target() -> Target:
    with serving() as t:
        yield t


def _config(tmp_path: Path, target: Target, location: str = "test-loopback", extra: str = "") -> config_mod.Config:
    path = write_config(tmp_path, target, hold=False)
    text = path.read_text().replace("location: test-loopback", f"location: {location}")
    text = text.replace("    url: " + target.url + "/down\n", f"    url: {target.url}/down\n{extra}")
    out = tmp_path / f"{location}.yaml"
    out.write_text(text)
    return config_mod.load(out)


def _ts(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_two_locations_sharing_the_stores_show_as_cells_of_one_row(tmp_path: Path, target: Target) -> None:
    """Monitors in `us-a` and `eu-b` write one history: /status of either has a row per check and a
    cell per location, each with its own bar; the headline is the worst cell's state."""
    for loc in ("us-a", "eu-b"):
        m = Monitor(_config(tmp_path, target, loc))
        try:
            m.run()
        finally:
            m.close()
    client = create_app(_config(tmp_path, target, "us-a")).test_client()
    doc = client.get("/status?format=json").json
    assert doc["locations"] == ["eu-b", "us-a"]
    down = next(c for c in doc["checks"] if c["name"] == "down")
    assert [c["location"] for c in down["locations"]] == ["eu-b", "us-a"]
    assert all(len(c["bar"]) == 1 and c["bar"][0]["class"] == "unavailable" for c in down["locations"])
    assert down["state"] == "firing" and down["locations"][0]["message"].startswith("HTTP 503")
    web = next(c for c in doc["checks"] if c["name"] == "web")
    assert [c["availability"]["1h"] for c in web["locations"]] == [1.0, 1.0]
    promised = {"state", "failure_class", "message", "diagnosis", "dedup_key", "since", "consecutive_failures",
                "consecutive_passes", "pending_messages", "slo", "locations"}  # docs/publishing.md
    assert promised <= set(down) and down["dedup_key"] == "down/unavailable"
    assert {"state", "since", "message", "diagnosis", "bar", "availability", "p50_ms", "p95_ms", "age_s",
            "trace_id", "attempts"} <= set(down["locations"][0])


def test_since_is_the_start_of_the_failure_streak_as_in_the_alert(tmp_path: Path, target: Target) -> None:
    """failure_threshold 2: the alert fires on the second failure but its `since`, and /status's,
    is the first failure; the SLO budget is computed with the stated formula."""
    cfg = _config(tmp_path, target, extra="    failure_threshold: 2\n    slo: {objective: 0.9, window_days: 7}\n")
    app = create_app(cfg)
    client = app.test_client()
    for _ in range(2):
        client.get("/probe?check=down&check=web")
    alerts = [json.loads(line) for line in Path(cfg.sinks.alerts_file).read_text().splitlines()]
    firing = [a for a in alerts if a["state"] == "firing"]
    assert len(firing) == 1
    down = next(c for c in client.get("/status?format=json").json["checks"] if c["name"] == "down")
    assert abs(_ts(down["since"]) - _ts(firing[0]["since"])) < 1.0
    assert down["locations"][0]["bar"][0]["at"] <= down["since"] <= down["locations"][0]["bar"][1]["at"]
    assert down["slo"]["results"] == 2 and down["slo"]["budget_left"] == pytest.approx(1 - 1.0 / 0.1)
    html = client.get("/status", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "HTTP 503" in html and "budget left" in html


def test_state_store_down_shows_unknown_and_fails_fast(tmp_path: Path, target: Target,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Firestore state on a closed port: /status says `unknown` (never ok) and names the error; the
    next request does not wait out the store's timeout again."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
    path = write_config(tmp_path, target, hold=False)
    history = tmp_path / "history.db"
    text = re.sub(r"  state: .*", f"  project_id: demo-test\n  history: sqlite:///{history}\n"
                  "  state: firestore://(default)/s", path.read_text())
    path.write_text(text)
    client = create_app(config_mod.load(path)).test_client()
    client.get("/probe?check=web")  # the run survives the store; history records the pass
    started = time.monotonic()
    doc = client.get("/status?format=json").json
    took = time.monotonic() - started
    web = doc["checks"][0]
    assert web["locations"][0]["ok"] is True and web["state"] == "unknown"
    assert any("alert state" in e for e in doc["errors"])
    assert took < 1.0, f"/status waited {took:.1f} s for a store known to be down"


def test_history_json_is_bounded_and_for_configured_checks_only(tmp_path: Path, target: Target) -> None:
    """/history: unknown checks and parameters are 400; limit caps the answer; newest first."""
    client = create_app(_config(tmp_path, target)).test_client()
    for _ in range(3):
        client.get("/probe?check=down")
    assert client.get("/history?check=nope").status_code == 400
    assert client.get("/history?check=down&url=http://x").status_code == 400
    assert client.get("/history?check=down&limit=5001").status_code == 400
    assert client.get("/history?check=down&since=891901909841").json["count"] == 0  # far future: none
    doc = client.get("/history?check=down&since=1h&limit=2").json
    assert doc["count"] == 2 and doc["truncated"] is True
    at = [r["at"] for r in doc["results"]]
    assert at == sorted(at, reverse=True) and doc["results"][0]["failure_class"] == "unavailable"
    one = client.get(f"/status/down/{doc['results'][0]['run_id']}?format=json").json
    assert one["message"].startswith("HTTP 503") and one["phases_ms"]
    assert client.get("/status/down/nope").status_code == 404
    assert client.get("/status/nope").status_code == 404
    page = client.get("/status/down?format=json").json
    assert page["incidents"][0]["open"] is True and len(page["failures"]) == 3
    assert page["incidents"][0]["message"].startswith("HTTP 503")


def test_alert_states_are_read_defensively() -> None:
    """Known states pass through; `ok` with a failed last result is `failing`; a state this page
    does not know, an unreadable store, or no result at all is `unknown`."""
    from monitor.history import Row
    from monitor.pages.status import state_of

    passed = Row(ts=1.0, location="a", check="c", ok=True, cls=None, message=None, latency_ms=1.0, run_id="r")
    failed = Row(ts=1.0, location="a", check="c", ok=False, cls="timeout", message="m", latency_ms=1.0, run_id="r")
    assert [state_of(s, failed, False) for s in ("firing", "blocked", "degraded", "maintenance")] == [
        "firing", "blocked", "degraded", "maintenance"]
    assert state_of("ok", failed, False) == "failing" and state_of(None, passed, False) == "ok"
    assert state_of("quorum-pending", passed, False) == "unknown"
    assert state_of("ok", passed, True) == "unknown" and state_of("ok", None, False) == "unknown"


def test_failure_trace_ids_link_to_cloud_trace_on_pages_and_in_the_alert(tmp_path: Path, target: Target) -> None:
    """With sinks.project_id set, the failing probe's trace id links to its Cloud Trace page on
    /status, /status/<check> and the result page, and the alert message carries the same link."""
    path = write_config(tmp_path, target, hold=False)
    path.write_text(path.read_text().replace("sinks:\n", "sinks:\n  project_id: synthmon-test\n"))
    cfg = config_mod.load(path)
    app = create_app(cfg)
    client = app.test_client()
    try:
        report = client.post("/probe?check=down").get_json()
        trace_id = report["results"][0]["details"]["trace_id"]
        url = f"https://console.cloud.google.com/traces/list?project=synthmon-test&tid={trace_id}"
        cell = next(c for c in client.get("/status?format=json").get_json()["checks"] if c["name"] == "down")
        assert cell["locations"][0]["trace_url"] == url
        failures = client.get("/status/down?format=json").get_json()["failures"]
        assert failures[0]["trace_id"] == trace_id and failures[0]["trace_url"] == url
        page = client.get("/status/down", headers={"Accept": "text/html"}).get_data(as_text=True)
        assert f'href="{url.replace("&", "&amp;")}"' in page
        result = client.get(f"/status/down/{report['run_id']}?format=json").get_json()
        assert result["trace_url"] == url
        alerts = [json.loads(x) for x in Path(cfg.sinks.alerts_file).read_text().splitlines()]
        [firing] = [a for a in alerts if a["check"] == "down" and a["transition"] == "firing"]
        assert (firing["trace_id"], firing["trace_url"]) == (trace_id, url)
    finally:
        app.extensions["synthmon"].monitor.close()


def test_status_shows_the_open_and_the_next_maintenance_window(tmp_path: Path, target: Target) -> None:
    """A recurring window open now says until when and when it opens next; a one-off window in the
    future is closed with its start as the next opening; both show on the HTML page."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = (now - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = (now + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    after = (now + dt.timedelta(days=2, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = write_config(tmp_path, target, hold=False)
    path.write_text(path.read_text() + f"""maintenance:
  - {{checks: [down], rrule: "DTSTART:{start.replace('-', '').replace(':', '')}\\nRRULE:FREQ=DAILY", duration_s: 600,
     reason: daily restart}}
  - {{checks: [], start: "{later}", end: "{after}", reason: DB upgrade}}
""")
    app = create_app(config_mod.load(path))
    client = app.test_client()
    try:
        daily, upgrade = client.get("/status?format=json").get_json()["maintenance"]
        assert _ts(daily["open_until"]) == pytest.approx(_ts(start) + 600)
        assert _ts(daily["next_start"]) == pytest.approx(_ts(start) + 86400)
        assert (upgrade["open_until"], upgrade["checks"]) == (None, "all")
        assert _ts(upgrade["next_start"]) == pytest.approx(_ts(later))
        page = client.get("/status", headers={"Accept": "text/html"}).get_data(as_text=True)
        assert "daily restart" in page and "open now, until" in page and "DB upgrade" in page
    finally:
        app.extensions["synthmon"].monitor.close()
