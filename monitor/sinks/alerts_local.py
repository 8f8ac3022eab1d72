"""The embedded default alert sink: each transition as one JSON line in a local file and in the log.

Success is the line written; a file that cannot be written keeps the alert pending for the next run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("synthmon.sinks.alerts_local")


class AlertsFile:
    name = "local"

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def send(self, messages: Sequence[dict[str, Any]], *, deadline: float) -> list[str]:
        """Append each message's body; the ids written (all, or none when the file is unwritable)."""
        if not messages:
            return []
        for m in messages:
            body = m["body"]
            log.warning("alert %s %s: %s", body["check"], body.get("transition", body["state"]),
                        body["message"], extra={"run_id": body.get("run_id"), "alert": body})
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.writelines(json.dumps(m["body"], separators=(",", ":")) + "\n" for m in messages)
        except OSError as exc:
            log.error("cannot append alerts to %s: %s", self.path, exc)
            return []
        return [m["id"] for m in messages]
