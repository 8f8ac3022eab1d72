"""Alerting against the demo target (issue 15): pages per outage, false pages under blips, time to page.

    .venv/bin/python bench/alerting.py [--healthy-runs 200] [--trials 20] [--scale 0.1] [--only NAME]

Everything real but the clock's scale: the demo target on loopback, the monitor's probes, publisher
and alert state machine (memory store), and for time to page the Pub/Sub emulator of the Cloud SDK.
Durations are scaled by `--scale` (0.1: a 60 s cadence runs every 6 s, a 5 s retry delay is 0.5 s,
a 2 s blip 0.2 s); time-to-page figures are reported as measured and scaled back (divided by the
scale, which overstates the parts that do not scale: probing and publishing, a few ms each).

The retries are the runner's own (monitor/runner.py): a failed check is probed again after
`retry_delay_s` before it counts as failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path[0] = str(ROOT)
sys.path.insert(0, str(ROOT / "examples"))

import demo_target as demo  # noqa: E402

from monitor.config import Config, loads  # noqa: E402
from monitor.pipeline import Monitor  # noqa: E402
from monitor.publish import Publisher, build_publisher  # noqa: E402
from monitor.state import MemoryStore  # noqa: E402
from probes import registry  # noqa: E402

PUBSUB = Path("/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator")
DEPENDENTS = ("backend-ready", "auth-health", "auth-verify", "golden-path")


def config_text(target: demo.DemoTarget, scale: float, *, depends: bool, retries: int,
                sinks: str = "{state: 'memory://'}", only_backend: bool = False) -> str:
    """The demo config (examples/demo.yaml) with the contract's defaults scaled: the backend and the
    four checks behind it, failure_threshold 1, one retry after retry_delay_s."""
    dep = "depends_on: [backend-health], " if depends else ""
    url = target.http_url
    checks = [f"- {{name: backend-health, type: http, url: '{url}/health'}}"]
    if not only_backend:
        checks += [
            f"- {{name: backend-ready, type: http, {dep}url: '{url}/api/health/ready?force=true'}}",
            f"- {{name: auth-health, type: http, {dep}url: '{url}/auth/health', expect: {{json: {{status: healthy}}}}}}",
            f"- {{name: auth-verify, type: http, {dep}url: '{url}/auth/verify', login: {{url: '{url}/auth/login', "
            f"json: {{email: {demo.DEMO_EMAIL}, password: {demo.DEMO_PASSWORD}}}}}, expect: {{json: {{valid: true}}}}}}",
            f"- {{name: golden-path, type: websocket, {dep}url: '{target.ws_url}', login: {{url: '{url}/auth/login', "
            f"json: {{email: {demo.DEMO_EMAIL}, password: {demo.DEMO_PASSWORD}}}, token_field: access_token}}, "
            "token_in: subprotocol, handshake: auto, send: {type: user_message, payload: {content: hi}}, "
            "events: {required: [agent_started, agent_completed], first_event_timeout_s: 1}}",
        ]
    return f"""
location: bench
sinks: {sinks}
defaults: {{timeout_s: 2, interval_s: {max(1.0, 60 * scale):g}, retries: {retries},
           retry_delay_s: {5 * scale:g}, failure_threshold: 1}}
checks:
""" + "\n".join("  " + c for c in checks) + "\n"


class Collect:
    """An alert sink that keeps every message it is given."""

    name = "local"

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def send(self, messages: Any, *, deadline: float) -> list[str]:
        self.bodies.extend(m["body"] for m in messages)
        return [m["id"] for m in messages]


def monitor_for(config: Config, sink: Collect) -> Monitor:
    probes = registry({c.type for c in config.checks})
    return Monitor(config, publisher=Publisher(config, MemoryStore(), alert_sinks=[sink]), probes=probes)


def pages(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in bodies if b["transition"] == "firing" and b["severity"] == "critical"]


def pages_per_outage(target: demo.DemoTarget, scale: float) -> dict[str, Any]:
    """service_503 behind the backend and its four dependents, for three runs; with and without depends_on."""
    out: dict[str, Any] = {}
    for depends in (True, False):
        sink = Collect()
        monitor = monitor_for(loads(config_text(target, scale, depends=depends, retries=1)), sink)
        try:
            target.set_fault()
            for _ in range(2):
                monitor.run()
            target.set_fault("service_503")
            for _ in range(3):
                monitor.run()
            target.set_fault()
            for _ in range(2):
                monitor.run()
        finally:
            target.set_fault()
            monitor.close()
        paged = pages(sink.bodies)
        out["with depends_on" if depends else "without depends_on"] = {
            "pages": len(paged), "paged_checks": [b["check"] for b in paged],
            "affected": paged[0]["affected"] if paged else [],
            "resolved": sum(b["transition"] == "resolved" for b in sink.bodies)}
    return out


def false_pages(target: demo.DemoTarget, scale: float, runs: int) -> dict[str, Any]:
    """Every other run starts inside a blip of service_503 lasting 2 s (scaled), so that without the
    retry each blip is a page of its own (the run after it passes and resolves); with and without."""
    out: dict[str, Any] = {}
    blip_s = 2 * scale
    for retries in (1, 0):
        sink = Collect()
        monitor = monitor_for(loads(config_text(target, scale, depends=True, retries=retries)), sink)
        failed_attempts = 0
        try:
            for i in range(runs):
                if i % 2:
                    monitor.run()
                    continue
                target.set_fault("service_503")
                heal = threading.Timer(blip_s, target.set_fault)
                heal.start()
                report = monitor.run()
                heal.join()
                failed_attempts += sum(1 for r in report.results for a in r.details.get("attempts", [])
                                       if not a["ok"])
        finally:
            target.set_fault()
            monitor.close()
        out[f"retries={retries}"] = {"runs": runs, "blips": (runs + 1) // 2, "blip_s": blip_s, "retry_delay_s": 5 * scale,
                                     "failed_attempts": failed_attempts, "pages": len(pages(sink.bodies))}
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pubsub_emulator() -> Iterator[str]:
    port = _free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([str(PUBSUB), "--host=127.0.0.1", f"--port={port}"], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("Pub/Sub emulator did not start") from None
                time.sleep(0.05)  # polling for readiness
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        log.close()


def time_to_page(target: demo.DemoTarget, scale: float, trials: int, seed: int) -> dict[str, Any]:
    """A hard fault (service_503) at a uniformly random moment between scheduled runs of the
    embedded scheduler's cadence; fault → the firing message received from the Pub/Sub emulator."""
    if not PUBSUB.exists():
        return {"skipped": f"{PUBSUB} not installed"}
    emulator = pubsub_emulator()
    host = next(emulator)
    os.environ["PUBSUB_EMULATOR_HOST"] = host
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    project, topic = "bench", "synthmon-alerts"
    publisher_client, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic_path = publisher_client.topic_path(project, topic)
    sub_path = subscriber.subscription_path(project, "bench-sub")
    publisher_client.create_topic(name=topic_path)
    subscriber.create_subscription(name=sub_path, topic=topic_path)
    arrivals: list[tuple[float, dict[str, Any]]] = []
    cond = threading.Condition()

    def on_message(message: Any) -> None:
        with cond:
            arrivals.append((time.monotonic(), json.loads(message.data)))
            cond.notify_all()
        message.ack()

    streaming = subscriber.subscribe(sub_path, on_message)
    cadence = max(1.0, 60 * scale)
    config = loads(config_text(target, scale, depends=True, retries=1, only_backend=True,
                               sinks=f"{{state: 'memory://', alerts: [pubsub], project_id: {project}, "
                                     f"alert_topic: {topic}}}"))
    monitor = Monitor(config, publisher=build_publisher(config), probes=registry({"http"}))
    stop = threading.Event()
    ticks: list[float] = []

    def scheduler() -> None:  # the embedded scheduler: a scheduled run every `cadence` seconds
        start = time.monotonic()
        k = 0
        while not stop.is_set():
            ticks.append(time.monotonic())
            monitor.run(scheduled=True)
            k += 1
            stop.wait(max(0.0, start + k * cadence - time.monotonic()))

    rng = random.Random(seed)
    thread = threading.Thread(target=scheduler, daemon=True)
    thread.start()
    measured: list[float] = []

    def wait_for(state: str, after: int) -> tuple[float, dict[str, Any]]:
        with cond:
            ok = cond.wait_for(lambda: any(b["state"] == state for _, b in arrivals[after:]),
                               timeout=10 * cadence)
            if not ok:
                raise RuntimeError(f"no {state} message within {10 * cadence:g} s")
            return next((t, b) for t, b in arrivals[after:] if b["state"] == state)

    try:
        for _ in range(trials):
            with cond:
                seen = len(arrivals)
            while not ticks:
                time.sleep(0.01)  # polling for the first run
            last_tick = ticks[-1]
            fault_at = last_tick + rng.uniform(0, cadence)
            time.sleep(max(0.0, fault_at - time.monotonic()))  # the random moment itself
            fault_at = time.monotonic()
            target.set_fault("service_503")
            paged_at, _ = wait_for("firing", seen)
            measured.append(paged_at - fault_at)
            with cond:
                seen = len(arrivals)
            target.set_fault()
            wait_for("resolved", seen)
    finally:
        stop.set()
        thread.join(timeout=30)
        target.set_fault()
        monitor.close()
        streaming.cancel()
        subscriber.close()
        publisher_client.transport.close()
        next(emulator, None)
    return {"trials": trials, "cadence_s": cadence, "retry_delay_s": 5 * scale,
            "measured_s": {"median": statistics.median(measured), "worst": max(measured), "best": min(measured)},
            "scaled_back_s": {"median": statistics.median(measured) / scale, "worst": max(measured) / scale},
            "goal_worst_s": f"one interval + timeout + retry delay + publishing, about 70 s (scaled: {70 * scale:g} s)",
            "all_s": [round(m, 3) for m in measured]}


REGIONS = ("us-central1", "europe-west1", "asia-northeast1")


def regions(scale: float, trials: int, seed: int) -> dict[str, Any]:
    """Issue 16: three monitors (one per region, each probing its own view of staging: a demo target
    of its own) share one SQLite state file, quorum 2, schedulers a third of a cadence apart. A fault
    in one region's view, then in all: critical pages per incident, and fault → global page."""
    cadence = max(1.0, 60 * scale)
    targets = [demo.start(spacing_s=0) for _ in REGIONS]
    sink = Collect()
    tmp = tempfile.TemporaryDirectory()
    monitors = []
    for region, target in zip(REGIONS, targets, strict=True):
        text = config_text(target, scale, depends=True, retries=1, only_backend=True,
                           sinks=f"{{state: 'sqlite:///{tmp.name}/shared.db'}}")
        config = loads(text.replace("location: bench", f"location: {region}\nalerting: {{quorum: 2, "
                                    f"locations: [{', '.join(REGIONS)}]}}"))
        store = build_publisher(config).store
        monitors.append(Monitor(config, publisher=Publisher(config, store, alert_sinks=[sink]),
                                probes=registry({"http"})))
    stop = threading.Event()

    def scheduler(monitor: Monitor, offset: float) -> None:
        start = time.monotonic() + offset
        k = 0
        while not stop.wait(max(0.0, start + k * cadence - time.monotonic())):
            monitor.run(scheduled=True)  # each location keeps its own schedule in the shared store
            k += 1

    threads = [threading.Thread(target=scheduler, args=(m, i * cadence / 3), daemon=True)
               for i, m in enumerate(monitors)]
    for th in threads:
        th.start()
    rng = random.Random(seed)

    def settle(predicate: Callable[[], bool], limit_s: float) -> bool:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.01)  # polling the sink
        return False

    one_region: list[int] = []
    all_regions: list[int] = []
    to_global: list[float] = []
    try:
        for _ in range(trials):
            seen = len(sink.bodies)
            targets[0].set_fault("service_503")
            time.sleep(2 * cadence)  # the experiment: every region runs at least twice
            one_region.append(len(pages(sink.bodies[seen:])))
            targets[0].set_fault()
            time.sleep(2 * cadence)
            seen = len(sink.bodies)
            time.sleep(rng.uniform(0, cadence))  # a random moment between the runs
            fault_at = time.monotonic()
            for target in targets:
                target.set_fault("service_503")
            if settle(lambda seen=seen: bool(pages(sink.bodies[seen:])), 10 * cadence):
                to_global.append(time.monotonic() - fault_at)
            time.sleep(2 * cadence)
            all_regions.append(len(pages(sink.bodies[seen:])))
            for target in targets:
                target.set_fault()
            time.sleep(2 * cadence)
    finally:
        stop.set()
        for th in threads:
            th.join(timeout=30)
        for m in monitors:
            m.close()
        for target in targets:
            target.stop()
        tmp.cleanup()
    return {"trials": trials, "cadence_s": cadence, "quorum": 2,
            "critical_pages_one_region_fault": one_region, "critical_pages_all_region_fault": all_regions,
            "to_global_page_s": {"median": statistics.median(to_global), "worst": max(to_global),
                                 "scaled_back_median": statistics.median(to_global) / scale,
                                 "scaled_back_worst": max(to_global) / scale} if to_global else None,
            "regional_warnings": sum(b["scope"] == "regional" and b["transition"] == "firing" for b in sink.bodies)}


SECTIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "pages_per_outage": lambda t, a: pages_per_outage(t, a.scale),
    "false_pages": lambda t, a: false_pages(t, a.scale, a.healthy_runs),
    "time_to_page": lambda t, a: time_to_page(t, a.scale, a.trials, a.seed),
    "regions": lambda t, a: regions(a.scale, a.region_trials, a.seed),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--healthy-runs", type=int, default=200)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--region-trials", type=int, default=10)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append")
    args = parser.parse_args()
    target = demo.start(spacing_s=0)
    results: dict[str, Any] = {}
    try:
        for name, fn in SECTIONS.items():
            if args.only and name not in args.only:
                continue
            started = time.monotonic()
            results[name] = fn(target, args)
            results[name]["wall_s"] = round(time.monotonic() - started, 1)
            print(json.dumps({name: results[name]}, indent=1), flush=True)
    finally:
        target.stop()
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "alerting.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
