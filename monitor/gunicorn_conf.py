"""gunicorn settings for Cloud Run (`gunicorn --config python:monitor.gunicorn_conf ...`).

One worker with threads: the monitor's in-flight set and latest results live in one process, and a
run is I/O-bound. No worker timeout (a golden path may legitimately take minutes; Cloud Run's own
request timeout bounds it). On SIGTERM Cloud Run waits 10 s before SIGKILL, so runs in progress get
`graceful_timeout` to finish and whatever is still running just before then is logged as abandoned.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

bind = f"{os.environ.get('SYNTHMON_BIND_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8080')}"
workers = 1
worker_class = "gthread"
threads = int(os.environ.get("SYNTHMON_THREADS", "8"))
timeout = 0
graceful_timeout = int(os.environ.get("SYNTHMON_GRACEFUL_S", "8"))  # Cloud Run: SIGKILL 10 s after SIGTERM
keepalive = 5
accesslog = None  # Cloud Run logs every request itself
control_socket_disable = True  # gunicorn >= 25: no gunicornc socket in $HOME, nothing to share between instances
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "monitor.logs.JsonFormatter"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
    "root": {"handlers": ["stdout"], "level": "WARNING"},
    "loggers": {
        "gunicorn.error": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        # With a logconfig_dict gunicorn logs every request; Cloud Run's request log already has them.
        "gunicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
    },
}


def post_worker_init(worker: Any) -> None:
    """Wrap the worker's SIGTERM handler so that a shutdown says which runs it waits for or drops."""
    previous = signal.getsignal(signal.SIGTERM)
    # A worker that failed to boot has no app to close.
    service = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("synthmon")
    grace_s = max(0.5, float(worker.cfg.graceful_timeout) - 0.5)

    watching = threading.Event()  # the arbiter may signal more than once

    def on_sigterm(signum: int, frame: Any) -> None:
        if service is not None and not watching.is_set():
            watching.set()
            _watch_shutdown(service, grace_s)
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)


def _watch_shutdown(service: Any, grace_s: float) -> None:
    log = logging.getLogger("synthmon.shutdown")
    active = service.active()
    if not active:
        log.info("SIGTERM: no run in progress; stopping")
        return
    log.warning("SIGTERM: waiting up to %.1f s for %d run(s) in progress", grace_s, len(active))

    def report() -> None:
        left = service.active()
        if left:
            log.error("shutdown: abandoning %d run(s) still in progress: %s", len(left),
                      "; ".join(f"{a['trigger']} ({', '.join(a['checks'])})" for a in left),
                      extra={"abandoned": left})

    timer = threading.Timer(grace_s, report)
    timer.daemon = True
    timer.start()


def worker_int(worker: Any) -> None:
    """SIGINT or SIGQUIT (Ctrl-C sends SIGINT to the whole process group): stop at once. The checks
    in flight are cancelled, so their requests answer 503 and the request threads end, instead of
    the interpreter waiting for them at exit until the arbiter kills the worker."""
    service = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("synthmon")
    if service is None or getattr(worker, "_synthmon_quitting", False):
        return  # the arbiter's SIGQUIT may follow the terminal's SIGINT
    worker._synthmon_quitting = True
    active = service.active()
    logging.getLogger("synthmon.shutdown").warning(
        "interrupted: cancelling %d run(s) in progress%s", len(active),
        "".join(f"; {a['trigger']} ({', '.join(a['checks'])})" for a in active))
    service.monitor.close()


def worker_exit(server: Any, worker: Any) -> None:
    """Close the monitor's clients once the worker's runs are over: a Pub/Sub publisher left
    running keeps retrying on its own threads. Undelivered alerts stay in the store's outbox."""
    # A worker that failed to boot has no app to close.
    service = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("synthmon")
    if service is not None:
        service.monitor.close()
