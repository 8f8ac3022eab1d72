"""The on-call pages in Debian's Chromium, as a person uses them: the real `synthmon serve` (gunicorn,
embedded scheduler) against the demo target, a 503 injected and healed while the page is open."""

from __future__ import annotations

import os
import shutil
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import demo_target as demo_mod
import pytest
from service_target import Process, free_port, wait_http

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
EVIL = "<script>window.__pwned=1</script>"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM) and not shutil.which("chromium"):
        pytest.fail("Chromium missing: `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"),
                               args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[str, demo_mod.DemoTarget]]:
    target = demo_mod.start("127.0.0.1", 0)
    config = tmp_path / "synthmon.yaml"
    config.write_text(f"""location: browser-loopback
sinks:
  metrics: [local]
  state: sqlite:///{tmp_path}/state/state.db
  results_file: {tmp_path}/state/results.jsonl
  alerts_file: {tmp_path}/state/alerts.jsonl
defaults: {{timeout_s: 2, interval_s: 1, retries: 0, failure_threshold: 2}}
checks:
  - name: backend-health
    type: http
    url: {target.http_url}/health
    expect: {{status: [200]}}
  - name: echo
    type: http
    url: "{target.http_url}/health?q={EVIL}"
    expect: {{status: [200]}}
""")
    port = free_port()
    proc = Process([sys.executable, "-m", "monitor", "serve", "--config", str(config), "--port", str(port),
                    "--every", "1"], cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/healthz", proc=proc)
        yield base, target
    finally:
        proc.stop()
        target.stop()


def fault(target: demo_mod.DemoTarget, mode: str) -> None:
    req = urllib.request.Request(f"{target.http_url}/_demo/fault?mode={mode}", method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200


def reload_until(page: Any, url: str, selector: str, timeout_s: float = 30) -> Any:
    """Open `url` again until `selector` is on it (a person pressing reload), within a deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        page.goto(url)
        found = page.query_selector(selector)
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"{selector} not on {url} within {timeout_s} s"
        page.wait_for_timeout(300)  # between reloads, not a wait for the outcome


def test_a_503_shows_red_with_its_message_opens_an_incident_and_resolves(
        browser: Any, service: tuple[str, demo_mod.DemoTarget], tmp_path: Path) -> None:
    """service_503: a red bar and `HTTP 503` on /status without reload; the bar opens the result;
    /status/<check> lists the incident, open, then resolved after healing; `<script>` stays text."""
    base, target = service
    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"screenshots in {shots}")
    page = browser.new_page(viewport={"width": 390, "height": 800}, device_scale_factor=2)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    cell = '#check-backend-health [data-location="browser-loopback"]'

    page.goto(base + "/status?refresh=1")
    page.wait_for_selector(f'{cell} .bar a[data-class="ok"]', timeout=30_000)
    page.screenshot(path=str(shots / "1-ok.png"), full_page=True)

    fault(target, "service_503")
    # The page refreshes itself in place: no reload here.
    page.wait_for_selector(f'{cell} .bar a[data-class="unavailable"]', timeout=30_000)
    page.wait_for_function(f"document.querySelector('{cell}').innerText.includes('HTTP 503')", timeout=30_000)
    page.wait_for_selector('#check-backend-health[data-state="firing"]', timeout=30_000)
    text = page.locator(cell).inner_text()
    assert "unavailable" in text and "failing since" in text
    # A locator, not an element handle: the page replaces its <main> while we look at it.
    red = page.locator(f'{cell} .bar a[data-class="unavailable"]').last
    assert red.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(198, 40, 40)"
    page.screenshot(path=str(shots / "2-503.png"), full_page=True)

    red.click()
    page.wait_for_selector("#result")
    result = page.inner_text("#result")
    assert "HTTP 503" in result and "unavailable" in result and "fail" in result
    page.screenshot(path=str(shots / "3-result.png"), full_page=True)

    reload_until(page, base + "/status/backend-health", '#incidents tr[data-open="true"]')
    assert "unavailable" in page.inner_text("#incidents") and "HTTP 503" in page.inner_text("#failures")
    assert page.query_selector("svg polyline[data-phase=total]") is not None
    page.screenshot(path=str(shots / "4-incident.png"), full_page=True)

    fault(target, "none")
    reload_until(page, base + "/status/backend-health", '#incidents tr[data-open="false"]')
    assert page.query_selector('#incidents tr[data-open="true"]') is None
    page.screenshot(path=str(shots / "5-resolved.png"), full_page=True)

    page.goto(base + "/status")
    page.wait_for_selector('#check-backend-health[data-state="ok"]', timeout=30_000)
    assert EVIL in page.inner_text("#check-echo .target")
    assert page.evaluate("window.__pwned") is None and dialogs == []
    page.screenshot(path=str(shots / "6-healed.png"), full_page=True)


def test_the_page_refreshes_in_place_and_keeps_the_scroll_position(
        browser: Any, service: tuple[str, demo_mod.DemoTarget]) -> None:
    """Scrolled down on a phone-sized window, the page takes in new results and stays where it was."""
    base, _ = service
    page = browser.new_page(viewport={"width": 360, "height": 300})
    page.goto(base + "/status?refresh=1")
    page.wait_for_selector('#check-echo .bar a[data-class="ok"]', timeout=30_000)
    # Half-way down: at the very bottom a page that gets one line shorter must move.
    page.evaluate("window.scrollTo(0, (document.documentElement.scrollHeight - window.innerHeight) / 2)")
    y = page.evaluate("window.scrollY")
    assert y > 0
    page.evaluate("document.querySelector('main').dataset.old = '1'")
    page.wait_for_function("!document.querySelector('main').dataset.old", timeout=15_000)  # replaced
    assert page.evaluate("window.scrollY") == y
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
