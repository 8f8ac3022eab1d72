"""Structured JSON log lines that Cloud Logging understands (`severity`, `message`, extra fields)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import IO, Any

_SEVERITY = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARNING", "ERROR": "ERROR", "CRITICAL": "CRITICAL"}
_EXTRA_FIELDS = ("run_id", "check", "report", "alert", "series", "abandoned", "caller")


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Any = None) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, "DEFAULT"),
            "message": record.getMessage(),
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "logger": record.name,
        }
        for key in _EXTRA_FIELDS:
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        if self.redact is not None:
            entry = self.redact.scrub(entry)
        return json.dumps(entry, default=str, separators=(",", ":"))


def setup(stream: IO[str] | None = None, level: int = logging.INFO, redact: Any = None) -> None:
    """Send synthmon's logs as JSON lines to `stream` (stdout by default), redacted."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter(redact))
    root = logging.getLogger("synthmon")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
