"""monitor.traces: the Cloud Trace link of a result's trace id."""

from __future__ import annotations

import urllib.parse

import pytest

from monitor.traces import trace_url
from probes.trace import new_trace


def test_trace_url_names_project_and_trace() -> None:
    """The console's trace list page, filtered to the project and opened on the trace."""
    tid = new_trace().trace_id
    url = trace_url("netra-staging", tid)
    parts = urllib.parse.urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "console.cloud.google.com", "/traces/list")
    assert urllib.parse.parse_qs(parts.query) == {"project": ["netra-staging"], "tid": [tid]}
    assert url == f"https://console.cloud.google.com/traces/list?project=netra-staging&tid={tid}"


def test_domain_scoped_project_is_quoted() -> None:
    """A domain-scoped project id (example.com:proj) keeps its colon, quoted in the query."""
    url = trace_url("example.com:my-project", "0af7651916cd43dd8448eb211c80319c")
    assert "project=example.com%3Amy-project" in url


@pytest.mark.parametrize("trace_id", ["", "0AF7651916CD43DD8448EB211C80319C", "0af7651916cd43dd",
                                      "0af7651916cd43dd8448eb211c80319c&x=1"])
def test_rejects_what_is_not_a_trace_id(trace_id: str) -> None:
    """Upper case, short ids and injected query text are refused, not linked."""
    with pytest.raises(ValueError):
        trace_url("netra-staging", trace_id)


@pytest.mark.parametrize("project", ["", "Proj", "a b", "p/../x"])
def test_rejects_malformed_project(project: str) -> None:
    """A project id Google would not accept is refused."""
    with pytest.raises(ValueError):
        trace_url(project, "0af7651916cd43dd8448eb211c80319c")
