"""`synthmon serve` and `synthmon demo`: the same gunicorn setup as the container, started from the CLI.

`serve --every N` adds the embedded scheduler: a thread in the worker that starts a scheduled run
(due checks only, as `POST /run` does) every N seconds, for running without Cloud Scheduler.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from monitor.config import Config

log = logging.getLogger("synthmon.serve")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEMO_CONFIG = EXAMPLES / "demo.yaml"


class _Gunicorn(BaseApplication):
    """gunicorn with monitor/gunicorn_conf.py's settings, loading the app in the worker."""

    def __init__(self, load_app: Callable[[], Any], overrides: dict[str, Any]) -> None:
        self._load_app = load_app
        self._overrides = overrides
        super().__init__()

    def load_config(self) -> None:
        from monitor import gunicorn_conf

        settings = {k: v for k, v in vars(gunicorn_conf).items() if k in self.cfg.settings}
        for key, value in {**settings, **self._overrides}.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._load_app()


def scheduler(service: Any, every_s: float, stop: threading.Event) -> threading.Thread:
    """Start a daemon thread that runs the due checks now and then every `every_s` seconds."""

    from monitor.pipeline import ShuttingDown

    def loop() -> None:
        while not stop.is_set():
            try:
                service.run(None, trigger="scheduler", scheduled=True)
            except ShuttingDown:
                return
            except Exception:  # a failed run must not end the schedule; the next tick tries again
                log.exception("scheduled run failed")
            stop.wait(every_s)

    thread = threading.Thread(target=loop, name="synthmon-scheduler", daemon=True)
    thread.start()
    return thread


def _worker_app(config: Config, every_s: float | None) -> Any:
    from monitor import logs
    from monitor.app import EXTENSION, create_app
    from probes.redact import Redactor

    token = os.environ.get("SYNTHMON_API_TOKEN") or None
    logs.setup(sys.stdout, logging.INFO, redact=Redactor(set(config.secrets) | ({token} if token else set())))
    app = create_app(config, token=token)
    if every_s:
        scheduler(app.extensions[EXTENSION], every_s, threading.Event())
    return app


def serve(config: Config, *, host: str = "127.0.0.1", port: int = 8080, every_s: float | None = None) -> int:
    """Serve the app under gunicorn until SIGTERM/SIGINT; returns gunicorn's exit status.

    gunicorn leaves through sys.exit, in the arbiter and in each forked worker alike; only the
    arbiter turns that into a return value, a worker must go on exiting."""
    arbiter_pid = os.getpid()
    try:
        _Gunicorn(lambda: _worker_app(config, every_s), {"bind": f"{host}:{port}"}).run()
    except SystemExit as exc:
        if os.getpid() != arbiter_pid:
            raise
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def _demo_target() -> Any:
    """examples/demo_target.py, which ships with the source tree, not with the wheel."""
    import importlib.util

    path = EXAMPLES / "demo_target.py"
    spec = importlib.util.spec_from_file_location("demo_target", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise SystemExit(f"synthmon demo runs from a source checkout: {path} is missing")
    module = importlib.util.module_from_spec(spec)
    sys.modules["demo_target"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _backfill(config: Config) -> None:
    """Thirty minutes of synthetic history (marked as such) into an empty demo history."""
    import time

    from monitor.demo_history import backfill
    from monitor.history import HistoryError, open_history

    s = config.sinks
    hist = open_history(s.history, s.state, s.history_days, s.project_id)
    try:
        n = backfill(config, hist, time.time())
    except HistoryError as exc:
        log.warning("demo history not back-filled: %s", exc)
        return
    finally:
        hist.close()
    if n:
        print(f"synthmon demo: wrote {n} SYNTHETIC results (30 minutes, faded on /status) into an empty history",
              file=sys.stderr, flush=True)


def demo(*, port: int = 8080, target_port: int = 8081, every_s: float = 15.0,
         config_path: str | os.PathLike[str] = DEMO_CONFIG) -> int:
    """Start the demo target on loopback and serve the monitor against it with the embedded scheduler."""
    from monitor import config as config_mod

    demo_mod = _demo_target()
    target = demo_mod.start("127.0.0.1", target_port)
    owner_pid = os.getpid()
    try:
        environ = {**os.environ, "SYNTHMON_DEMO_URL": target.http_url, "SYNTHMON_DEMO_WS_URL": target.ws_url}
        config = config_mod.load(config_path, environ)
        _backfill(config)
        print(f"synthmon demo: target {target.http_url} (faults: POST {target.http_url}/_demo/fault?mode=NAME); "
              f"status page http://localhost:{port}/status", file=sys.stderr, flush=True)
        return serve(config, host="127.0.0.1", port=port, every_s=every_s)
    finally:
        if os.getpid() == owner_pid:  # not in the forked gunicorn worker, which does not own it
            target.stop()
