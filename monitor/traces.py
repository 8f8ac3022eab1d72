"""Links from a probe result to the backend's trace of that probe in Cloud Trace; pure."""

from __future__ import annotations

import re
import urllib.parse

_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]|[a-z0-9.-]+:[a-z][a-z0-9-]{4,28}[a-z0-9]")


def trace_url(project_id: str, trace_id: str) -> str:
    """The Cloud Trace page of `trace_id` (a result's `details.trace_id`) in `project_id`.

    ValueError for a trace id that is not 32 lowercase hex digits or a malformed project id, so
    that a page or an alert never links to something the result did not say.
    """
    if not _TRACE_ID.fullmatch(trace_id):
        raise ValueError(f"not a W3C trace id: {trace_id!r}")
    if not _PROJECT_ID.fullmatch(project_id):
        raise ValueError(f"not a Google Cloud project id: {project_id!r}")
    query = urllib.parse.urlencode({"project": project_id, "tid": trace_id})
    return f"https://console.cloud.google.com/traces/list?{query}"


def link(project_id: str | None, trace_id: object) -> str | None:
    """`trace_url`, or None when there is no project or the id is not a trace id."""
    if not project_id or not isinstance(trace_id, str):
        return None
    try:
        return trace_url(project_id, trace_id)
    except ValueError:
        return None
