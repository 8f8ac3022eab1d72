"""The local alert sink: JSON lines in a file, nothing delivered when the file cannot be written."""

from __future__ import annotations

import json
from typing import Any

from monitor.sinks.alerts_local import AlertsFile


def msg(i: int) -> dict[str, Any]:
    return {"id": f"m{i}", "body": {"check": "api", "state": "firing", "message": "down", "n": i},
            "sinks": ["local"], "claimed_by": "r", "claimed_at": 0.0}


def test_appends_one_json_line_per_alert(tmp_path: Any) -> None:
    """Each message body becomes one JSON line, appended across calls."""
    sink = AlertsFile(str(tmp_path / "dir/alerts.jsonl"))
    assert sink.send([msg(1), msg(2)], deadline=0) == ["m1", "m2"]
    assert sink.send([msg(3)], deadline=0) == ["m3"]
    lines = (tmp_path / "dir/alerts.jsonl").read_text().splitlines()
    assert [json.loads(line)["n"] for line in lines] == [1, 2, 3]


def test_unwritable_file_delivers_nothing(tmp_path: Any) -> None:
    """A path that cannot be a file reports no delivery, so the alerts stay pending."""
    (tmp_path / "alerts.jsonl").mkdir()
    assert AlertsFile(str(tmp_path / "alerts.jsonl")).send([msg(1)], deadline=0) == []
