"""The embedded default sink: each run report appended as one JSON line to a local file."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from probes.result import RunReport

log = logging.getLogger("synthmon.sinks.local")


class ResultsFile:
    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def write(self, report: RunReport) -> bool:
        """Append the report; False (logged) when the file cannot be written."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(report.to_dict(), separators=(",", ":")) + "\n")
            return True
        except OSError as exc:
            log.error("cannot append the run report to %s: %s", self.path, exc)
            return False
