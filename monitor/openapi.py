"""The OpenAPI 3 document of the service's routes, served at /openapi.json (and fuzzed against the app)."""

from __future__ import annotations

from typing import Any

from monitor.history_stats import SINCE_PATTERN
from probes.checks import NAME
from probes.result import FAILURE_CLASSES

_NUM_OR_NULL = {"type": ["number", "null"]}
_STR_OR_NULL = {"type": ["string", "null"]}

_RESULT = {
    "type": "object",
    "required": ["name", "type", "ok", "target", "latency_ms", "phases_ms", "failure", "details", "diagnosis"],
    "properties": {
        "name": {"type": "string"}, "type": {"type": "string"}, "ok": {"type": "boolean"},
        "target": {"type": "string"}, "latency_ms": _NUM_OR_NULL,
        "phases_ms": {"type": "object", "additionalProperties": {"type": "number"}},
        "failure": {"oneOf": [{"type": "null"}, {
            "type": "object", "required": ["class", "message"],
            "properties": {"class": {"enum": list(FAILURE_CLASSES)}, "message": {"type": "string"}}}]},
        "details": {"type": "object"}, "diagnosis": _STR_OR_NULL,
    },
}
_REPORT = {
    "type": "object",
    "required": ["run_id", "started_at", "finished_at", "location", "ok", "results", "skipped"],
    "properties": {
        "run_id": {"type": "string"}, "started_at": {"type": "string"}, "finished_at": {"type": "string"},
        "location": {"type": "string"}, "ok": {"type": "boolean"}, "duration_ms": {"type": "number"},
        "results": {"type": "array", "items": {"$ref": "#/components/schemas/ProbeResult"}},
        "skipped": {"type": "array", "items": {
            "type": "object", "required": ["name", "reason"],
            "properties": {"name": {"type": "string"}, "reason": {"enum": ["in_progress", "not_due"]}}}},
    },
}
_ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "string"}, "valid_checks": {"type": "array", "items": {"type": "string"}}},
}
_STATUS_CHECK = {
    "type": "object", "required": ["name", "type", "state", "ok"],
    "properties": {
        "name": {"type": "string"}, "type": {"type": "string"}, "interval_s": {"type": "number"},
        "state": {"enum": ["ok", "failing", "firing", "degraded", "blocked", "maintenance", "unknown"]}, "ok": {"type": ["boolean", "null"]},
        "latency_ms": _NUM_OR_NULL, "failure_class": _STR_OR_NULL, "message": _STR_OR_NULL,
        "diagnosis": _STR_OR_NULL, "since": _STR_OR_NULL,
        "consecutive_failures": {"type": ["integer", "null"]},
        "locations": {"type": "array", "items": {"type": "object"}},
    },
}
_STATUS = {
    "type": "object", "required": ["location", "last_run", "runs_in_progress", "checks"],
    "properties": {
        "location": {"type": "string"}, "last_run": {"type": ["object", "null"]},
        "runs_in_progress": {"type": "array", "items": {"type": "object"}},
        "checks": {"type": "array", "items": {"$ref": "#/components/schemas/CheckStatus"}},
    },
}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def document(check_names: tuple[str, ...], max_checks: int, *, auth: bool = False) -> dict[str, Any]:
    """The document for a service whose configured checks are `check_names`."""
    name_schema: dict[str, Any] = {"type": "string", "pattern": f"^{NAME.pattern}$"}
    if check_names:
        name_schema["enum"] = list(check_names)
    report = _json("RunReport", "the run report (200 even when checks fail)")
    bad = _json("Error", "a parameter is not allowed; nothing was run")
    denied = {"401": _json("Error", "missing or wrong API token")} if auth else {}
    failed = {"500": _json("Error", "synthmon itself could not run")}
    probe_params = [
        {"name": "check", "in": "query", "required": False, "style": "form", "explode": True,
         "description": "a configured check name (repeatable); none means every check",
         "schema": {"type": "array", "maxItems": max_checks, "items": name_schema}},
        {"name": "publish", "in": "query", "required": False,
         "description": "0 for a dry run: no metrics, no alert state", "schema": {"enum": ["0", "1"]}},
    ]
    too_big = _json("Error", "request body over 64 KiB; nothing was run")
    probe_op = {"parameters": probe_params,
                "responses": {"200": report, "400": bad, "413": too_big, **denied, **failed}}
    paths = _paths(probe_op, report, denied, failed)
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "synthmon", "version": "1", "description": "Synthetic monitor service (README.md, docs/service.md)"},
        "paths": paths,
        "components": {"schemas": {"ProbeResult": _RESULT, "RunReport": _REPORT, "Error": _ERROR,
                                   "CheckStatus": _STATUS_CHECK, "Status": _STATUS}},
    }
    if auth:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    doc["paths"].update(_on_call_paths(name_schema, bad, denied))
    return doc


def _on_call_paths(name: dict[str, Any], bad: dict[str, Any], denied: dict[str, Any]) -> dict[str, Any]:
    page = {"application/json": {"schema": {"type": "object"}}, "text/html": {"schema": {"type": "string"}}}
    fmt = {"name": "format", "in": "query", "required": False, "schema": {"enum": ["json", "html"]}}
    missing = {"400": _json("Error", "format must be json or html"),
               "404": _json("Error", "not a configured check, or no such result"),
               "503": _json("Error", "the history store cannot be read")}
    check = {"name": "check", "in": "path", "required": True, "schema": name}
    return {
        "/status/{check}": {"get": {"summary": "Latency by phase, incidents and last failures of one check",
                                    "parameters": [check, fmt],
                                    "responses": {"200": {"description": "check page", "content": page},
                                                  **missing, **denied}}},
        "/status/{check}/{run_id}": {"get": {
            "summary": "One recorded result: message, phases, trace id",
            "parameters": [check, {"name": "run_id", "in": "path", "required": True,
                                   "schema": {"type": "string", "maxLength": 64}}, fmt],
            "responses": {"200": {"description": "the result", "content": page}, **missing, **denied}}},
        "/history": {"get": {
            "summary": "Recorded results of one configured check, newest first (bounded)",
            "parameters": [{"name": "check", "in": "query", "required": True, "schema": name},
                           {"name": "since", "in": "query", "required": False,
                            "description": "90m, 24h, 7d, ISO 8601 or epoch seconds (default 1h)",
                            "schema": {"type": "string", "pattern": SINCE_PATTERN}},
                           {"name": "limit", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 5000}}],
            "responses": {"200": {"description": "results", "content": {"application/json": {
                "schema": {"type": "object", "required": ["check", "results"]}}}},
                "400": bad, "503": missing["503"], **denied}}},
    }


def _paths(probe_op: dict[str, Any], report: dict[str, Any], denied: dict[str, Any],
           failed: dict[str, Any]) -> dict[str, Any]:
    return {
        "/run": {"post": {"summary": "Run every due check and publish (Cloud Scheduler's target)",
                          "responses": {"200": report, **denied, **failed}}},
        "/probe": {"get": {"summary": "Run the named checks now", **probe_op},
                   "post": {"summary": "Run the named checks now", **probe_op}},
        "/healthz": {"get": {"summary": "Liveness of synthmon itself; runs no probe", "security": [],
                             "responses": {"200": {"description": "alive", "content": {"application/json": {
                                 "schema": {"type": "object", "required": ["status"],
                                            "properties": {"status": {"const": "ok"},
                                                           "checks": {"type": "integer"}}}}}}}}},
        "/status": {"get": {"summary": "Per check and location: state, last failure, history bar, availability",
                            "responses": {"200": {"description": "status", "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Status"}},
                                "text/html": {"schema": {"type": "string"}}}}, **denied}}},
        "/metrics": {"get": {"summary": "Prometheus text of the latest published results",
                             "responses": {"200": {"description": "Prometheus exposition format",
                                                   "content": {"text/plain": {"schema": {"type": "string"}}}},
                                           **denied}}},
        "/openapi.json": {"get": {"summary": "This document", "security": [],
                                  "responses": {"200": {"description": "OpenAPI 3.1",
                                                        "content": {"application/json": {"schema": {}}}}}}},
    }
