"""The HTTP service: /run for Cloud Scheduler, /probe for on-call, /status, /metrics, /healthz.

Routes stay thin: check the request, call `Monitor.run`, render. A request never names a target: /probe
accepts only configured check names, and anything else is a 400 before any probe starts.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from monitor.config import Config
from monitor.pages.views import EXTENSION
from monitor.pipeline import Monitor, ShuttingDown
from probes.checks import NAME
from probes.result import RunReport

log = logging.getLogger("synthmon.app")

PROBE_PARAMS = ("check", "publish")
MAX_QUERY_BYTES = 2048
MAX_CHECK_PARAMS = 32
MAX_BODY_BYTES = 64 * 1024  # no route reads a body; a large one is refused before anything runs
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}")


class Service:
    """The monitor behind the routes, plus the runs in progress (for /status and shutdown logs)."""

    def __init__(self, monitor: Monitor, token: str | None) -> None:
        self.monitor = monitor
        self.token = token.encode() if token else None
        self._lock = threading.Lock()
        self._active: dict[int, dict[str, Any]] = {}
        self._next = 0

    def run(self, names: Iterable[str] | None, *, trigger: str, scheduled: bool = False,
            publish: bool = True) -> RunReport:
        wanted = list(names) if names is not None else list(self.monitor.config.check_names)
        with self._lock:
            self._next += 1
            key = self._next
            self._active[key] = {"trigger": trigger, "checks": wanted, "started": time.monotonic()}
        try:
            return self.monitor.run(wanted, scheduled=scheduled, publish=publish)
        finally:
            with self._lock:
                del self._active[key]

    def active(self) -> list[dict[str, Any]]:
        """Runs in progress: trigger, requested checks and seconds since they started."""
        now = time.monotonic()
        with self._lock:
            return [{"trigger": a["trigger"], "checks": a["checks"], "running_s": round(now - a["started"], 1)}
                    for a in self._active.values()]

    def authorized(self, headers: Any) -> bool:
        if self.token is None:
            return True
        # On Cloud Run, IAM takes `Authorization` for the ID token unless the caller moves it to
        # `X-Serverless-Authorization`; so the app token may also come in its own header.
        supplied = headers.get("X-Synthmon-Token", "")
        auth = headers.get("Authorization", "")
        if not supplied and auth[:7].lower() == "bearer ":
            supplied = auth[7:].strip()
        return hmac.compare_digest(supplied.encode(), self.token)


def create_app(config: Config, *, monitor: Monitor | None = None, clock: Callable[[], float] | None = None,
               token: str | None = None) -> Flask:
    """The Flask app for `config`. `token` (SYNTHMON_API_TOKEN at the edge) guards every route but
    /healthz and /openapi.json; `monitor` and `clock` replace the real ones in tests."""
    if monitor is None:
        monitor = Monitor(config, clock=clock or time.time)
    service = Service(monitor, token)
    app = Flask("synthmon")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = service
    _routes(app)
    return app


def from_env() -> Flask:
    """The production entry point (`gunicorn 'monitor.app:from_env()'`): config from $SYNTHMON_CONFIG."""
    import os
    import sys

    from monitor import config as config_mod
    from monitor import logs
    from probes.redact import Redactor

    config = config_mod.load(config_mod.default_path())
    token = os.environ.get("SYNTHMON_API_TOKEN") or None
    logs.setup(sys.stdout, logging.INFO, redact=Redactor(set(config.secrets) | ({token} if token else set())))
    return create_app(config, token=token)


def _error(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify({"error": message, **extra}), status


class _Rejected(Exception):
    """A /probe request that names anything but configured checks; answered 400, nothing run."""


def _probe_request(valid: tuple[str, ...]) -> tuple[list[str] | None, bool]:
    """(names or None for all, publish) from the query string. Nothing here touches the network."""
    if len(request.query_string) > MAX_QUERY_BYTES:
        raise _Rejected(f"query string longer than {MAX_QUERY_BYTES} bytes")
    args = request.args
    if any(k not in PROBE_PARAMS for k in args):
        raise _Rejected("unknown parameter; allowed: check (repeatable), publish")
    names = args.getlist("check")
    if len(names) > MAX_CHECK_PARAMS:
        raise _Rejected(f"more than {MAX_CHECK_PARAMS} check parameters")
    for name in names:
        if not NAME.fullmatch(name):
            raise _Rejected("check must be the name of a configured check, never a URL or path")
        if name not in valid:
            raise _Rejected(f"unknown check {name!r}")
    publish_values = args.getlist("publish")
    if len(publish_values) > 1 or (publish_values and publish_values[0] not in ("0", "1")):
        raise _Rejected("publish must be given once, as 0 or 1")
    return (names or None), publish_values != ["0"]


def _service() -> Service:
    return current_app.extensions[EXTENSION]


def _guard() -> Any:
    """Before every request: refuse large bodies, then check the API token (if one is set)."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return _error(413, f"request body over {MAX_BODY_BYTES} bytes")
    if request.endpoint in ("healthz", "openapi") or _service().authorized(request.headers):
        return None
    body, status = _error(401, "missing or wrong API token")
    body.headers["WWW-Authenticate"] = 'Bearer realm="synthmon"'
    return body, status


def caller(headers: Any) -> str | None:
    """Who called, for the log only: the `email` claim of the Google ID token that Cloud Run IAM
    verified. Cloud Run passes that token on with its signature removed, so it is read here, never
    verified, and never used for a decision. `X-Serverless-Authorization` first: when both headers
    are sent, it is the one Cloud Run checks."""
    for header in ("X-Serverless-Authorization", "Authorization"):
        value = headers.get(header, "")
        parts = value[7:].strip().split(".") if value[:7].lower() == "bearer " else []
        if len(parts) != 3:
            continue
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except (ValueError, binascii.Error):
            continue
        email = claims.get("email") if isinstance(claims, dict) else None
        if isinstance(email, str) and _EMAIL.fullmatch(email):
            return email
    return None


def _log_request(trigger: str, report: RunReport, publish: bool) -> None:
    who = caller(request.headers)
    log.info("%s by %s: run %s, %d checks%s", trigger, who or "an unidentified caller", report.run_id,
             len(report.results) + len(report.skipped), "" if publish else " (dry run)",
             extra={"run_id": report.run_id, "caller": who})


def run() -> Any:
    report = _service().run(None, trigger="POST /run", scheduled=True, publish=True)
    _log_request("POST /run", report, True)
    return jsonify(report.to_dict())


def probe() -> Any:
    service = _service()
    valid = service.monitor.config.check_names
    try:
        names, publish = _probe_request(valid)
    except _Rejected as exc:
        return _error(400, str(exc), valid_checks=list(valid))
    report = service.run(names, trigger=f"{request.method} /probe", publish=publish)
    _log_request(f"{request.method} /probe", report, publish)
    return jsonify(report.to_dict())


def healthz() -> Any:
    return jsonify({"status": "ok", "checks": len(_service().monitor.config.checks)})


def metrics() -> Any:
    from monitor.sinks import prometheus

    m = _service().monitor
    body = prometheus.render(list(m.published.values()), m.config.location,
                             duration_ms=m.last_published.duration_ms if m.last_published else None,
                             checks={c.name: c for c in m.config.checks},
                             counters=next((s for s in getattr(m.publisher, "metric_sinks", ())
                                            if isinstance(s, prometheus.Counters)), None))
    return Response(body, content_type=prometheus.CONTENT_TYPE)


def openapi() -> Any:
    from monitor import openapi as openapi_mod

    service = _service()
    return jsonify(openapi_mod.document(service.monitor.config.check_names, MAX_CHECK_PARAMS,
                                        auth=service.token is not None))


def _http_error(exc: HTTPException) -> Any:
    body, status = _error(exc.code or 500, exc.description or exc.name)
    for key, value in exc.get_headers():  # e.g. Allow on a 405 (RFC 9110)
        if key.lower() != "content-type":
            body.headers[key] = value
    return body, status


def _shutting_down(exc: ShuttingDown) -> Any:
    # Ctrl-C or SIGINT: the checks in flight were cancelled; say so instead of a 500 with a traceback.
    log.warning("%s %s: %s", request.method, request.path, exc)
    return _error(503, f"synthmon is shutting down: {exc}")


def _internal(exc: Exception) -> Any:
    # Flask's last resort: the run could not happen at all (5xx only then).
    log.exception("request %s %s failed", request.method, request.path)
    return _error(500, f"synthmon could not run: {exc.__class__.__name__}")


def _routes(app: Flask) -> None:
    app.before_request(_guard)
    app.add_url_rule("/run", view_func=run, methods=["POST"])
    app.add_url_rule("/probe", view_func=probe, methods=["GET", "POST"])
    app.add_url_rule("/healthz", view_func=healthz, methods=["GET"])
    app.add_url_rule("/metrics", view_func=metrics, methods=["GET"])
    app.add_url_rule("/openapi.json", view_func=openapi, methods=["GET"])
    _on_call_routes(app)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ShuttingDown, _shutting_down)
    app.register_error_handler(Exception, _internal)


def _on_call_routes(app: Flask) -> None:
    """/status, /status/<check>, /status/<check>/<run_id> and /history (monitor.pages, monitor.history)."""
    from monitor.pages import views

    app.add_url_rule("/status", view_func=views.status, methods=["GET"])
    app.add_url_rule("/status/<check>", view_func=views.status_check, methods=["GET"])
    app.add_url_rule("/status/<check>/<run_id>", view_func=views.status_result, methods=["GET"])
    app.add_url_rule("/history", view_func=views.history, methods=["GET"])
    app.register_error_handler(views._BadFormat, views._bad_format)
