"""The body expectations of an HTTP check (`expect.body_contains`, `body_not_contains`,
`body_regex`, `json`): pure functions from the decoded body to the first unmet one."""

from __future__ import annotations

import json
from typing import Any

from probes.checks import HttpExpect
from probes.redact import clip


def body_problem(expect: HttpExpect, text: str) -> str | None:
    """What the body fails first, as an `assertion` message; None when every expectation holds."""
    if expect.body_contains is not None and expect.body_contains not in text:
        return f"body does not contain {expect.body_contains!r}"
    if expect.body_not_contains is not None and expect.body_not_contains in text:
        return f"body contains {expect.body_not_contains!r}"
    if expect.body_regex is not None and not expect.body_regex.search(text):
        return f"body does not match /{expect.body_regex.pattern}/"
    if expect.json:
        return _json_mismatch(text, expect.json)
    return None


_MISSING = object()


def _json_mismatch(text: str, expected: tuple[tuple[str, Any], ...]) -> str | None:
    try:
        doc = json.loads(text)
    except ValueError:
        return "body is not JSON"
    except RecursionError:  # json.loads recurses per nesting level: "[" * 100000 is a valid prefix
        return "body is not JSON (nested too deeply)"
    for path, want in expected:
        got = _dig(doc, path)
        if got is _MISSING:
            return f"JSON path {path} not found"
        if got != want:
            return f"JSON path {path} is {clip(json.dumps(got), 80)}, expected {clip(json.dumps(want), 80)}"
    return None


def _dig(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.lstrip("-").isdecimal() and -len(doc) <= int(part) < len(doc):
            # isdecimal, not isdigit: "²" is a digit that int() rejects
            doc = doc[int(part)]
        else:
            return _MISSING
    return doc
